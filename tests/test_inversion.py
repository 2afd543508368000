"""Lecture 07: feature inversion."""

import lecturelib as ll
from lecturelib.coursemodels import shapes_data


def test_inversion_error_falls_and_early_layers_keep_more(shapes_model):
    pixels, _, _ = shapes_data(1, seed=2)
    x = shapes_model.normalize(pixels)
    errors = {}
    for layer in ("1", "8"):
        r = ll.invert(shapes_model, x, layer, progress=False)
        assert abs(r.history[-1]) <= 0.1 * abs(r.history[0])
        errors[layer] = float((shapes_model.unnormalize(r.image) - pixels).pow(2).mean())
    assert errors["1"] < errors["8"]
