"""Lecture 11 (notebooks/11_embeddings.ipynb): its claims as the notebook asserts them: on the course
model `digits`, training halves the errors of a linear probe on held-out digits compared with their
pixels (an untrained copy's code is only about as good as the pixels); on EfficientNet-Lite0, its codes
group unseen shapes by class far better than their pixels do.

On `digits` the fixture `trained` (conftest.py) runs the claim on the trained model and on its
untrained control, where it must fail (claims_helpers.check).

On EfficientNet-Lite0 each claim is checked on the trained network AND shown to fail on the untrained
control (`ll.load_model("efficientnet_lite0", pretrained=False)`: the same architecture, seeded random
weights): a claim that an untrained network also meets would say nothing about training.
"""
import numpy as np
import torch

import lecturelib as ll
from claims_helpers import check, model


# ---------------------------------------------------------------- 11: a linear probe on the digits
def _claim_11_training_halves_the_probe_errors(net):
    from sklearn.linear_model import LogisticRegression
    from lecturelib.coursemodels import digits_data
    (train_x, train_y), (test_x, test_y) = digits_data("train"), digits_data("test")

    def wrong(train, test):
        clf = LogisticRegression(max_iter=3000).fit(np.asarray(train), train_y.numpy())
        return round((1 - clf.score(np.asarray(test), test_y.numpy())) * len(test_y))

    pixels = wrong(train_x.flatten(1), test_x.flatten(1))
    code = wrong(ll.features(net, net.normalize(train_x), "7"), ll.features(net, net.normalize(test_x), "7"))
    return code <= pixels / 2, {"pixels wrong": pixels, "code wrong": code, "of": len(test_y)}


def test_11_training_halves_the_linear_probe_errors_on_held_out_digits(trained):
    # measured: pixels 14 of 360 wrong, trained code 4 (or fewer), untrained code 11
    check(_claim_11_training_halves_the_probe_errors(model("digits", trained)), trained)


# ---------------------------------------------------------------- 11: nearest neighbours
def _neighbours_sharing_class(vectors, labels, k=5):
    return sum(float((labels[ll.nearest(vectors, q, k)] == labels[q]).float().mean())
               for q in range(len(vectors))) / len(vectors)


def test_11_lite0_codes_group_unseen_shapes_far_better_than_pixels_and_the_control_does_not(lite0, control):
    from lecturelib.coursemodels import shapes_data
    pix, lab, _ = shapes_data(120, seed=21)
    big = torch.nn.functional.interpolate(pix, size=64, mode="bilinear", align_corners=False).clamp(0, 1)
    pixels = _neighbours_sharing_class(pix.flatten(1), lab)
    trained = _neighbours_sharing_class(ll.features(lite0, lite0.normalize(big), "_avg_pooling"), lab)
    untrained = _neighbours_sharing_class(ll.features(control, control.normalize(big), "_avg_pooling"), lab)
    # measured: pixels 0.24, Lite0 0.70, control 0.22 (chance 0.25)
    assert trained > 0.6 and trained > pixels + 0.3, (trained, pixels)
    assert not (untrained > 0.6 or untrained > pixels + 0.3), (untrained, pixels)
