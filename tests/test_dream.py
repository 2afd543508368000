"""Lecture 08: DeepDream."""

import lecturelib as ll
from lecturelib.coursemodels import shapes_data


def test_deepdream_raises_the_layer_norm(shapes_model):
    pixels, _, _ = shapes_data(1, seed=3)
    r = ll.deepdream(shapes_model, shapes_model.normalize(pixels), "7", octaves=2, steps=10, jitter=2,
                     progress=False)
    assert r.image.shape == (1, 3, 32, 32)
    assert r.history[-1] > 2 * r.history[0]
