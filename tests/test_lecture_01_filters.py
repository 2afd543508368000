"""Lecture 01 (notebooks/01_filters.ipynb): its claims on the `digits` course model, on a logistic
regression's templates, and on EfficientNet-Lite0's first-layer filters.

On the course models (`shapes`, `digits`) each claim is measured as the notebook asserts it, on the
trained model and on an untrained copy of the same architecture, where it must FAIL (Adebayo et al.'s
sanity check applied to our own lessons: a claim that random weights also pass is not a claim about
training). The fixture `trained` (conftest.py) runs such a test twice, ids `trained` and
`untrained-control`; each `_claim_*` returns (holds, what was measured) and `check`
(claims_helpers.py) requires it to hold on the trained model and not on the control.

On EfficientNet-Lite0 each claim is checked on the trained network AND shown to fail on the untrained
control (`ll.load_model("efficientnet_lite0", pretrained=False)`: the same architecture, seeded random
weights): a claim that an untrained network also meets would say nothing about training.

One measurement is a fact about the data, not about training (the best patch lines up with any
filter, trained or random): the test says so and asserts it on both.

The notebook asserts these at student settings (`make course`); here the same claims run in the test
suite, so a change to lecturelib or a course model that breaks a lesson fails a named test.
"""
import numpy as np
import torch

from claims_helpers import check, model
from lecturelib.coursemodels import digits_data


# ------------------------------------------------------------------------------------ the course model (digits) and a linear classifier
def test_01_best_patch_lines_up_with_any_filter_a_fact_about_the_data(digits_model):
    # What 01 shows: in 9-D, ~90,000 patches cover every direction, so the best patch points along
    # w/|w| for trained and random filters alike. Asserted on both: the test cannot tell them apart.
    pix, _ = digits_data("train")
    p = torch.nn.functional.unfold(digits_model.normalize(pix), 3, padding=1).transpose(1, 2).reshape(-1, 9)
    p = torch.nn.functional.normalize(p[p.norm(dim=1) > 1e-6], dim=1)
    medians = []
    for net in (digits_model, model("digits", False)):
        w = torch.nn.functional.normalize(net.layer("0").weight.reshape(32, 9), dim=1)
        medians.append(float((p @ w.T).max(0).values.median()))
    assert min(medians) >= 0.85 and abs(medians[0] - medians[1]) < 0.05, medians


def _claim_01_linear_templates_are_class_differences(coef, X, y):
    means = np.stack([X[y == c].mean(0) for c in range(10)]) - X.mean(0)
    a = (coef - coef.mean(1, keepdims=True)) / coef.std(1, keepdims=True)
    b = (means - means.mean(1, keepdims=True)) / means.std(1, keepdims=True)
    r = a @ b.T / a.shape[1]
    return bool((r.argmax(1) == np.arange(10)).all() and np.diag(r).min() > 0.9), np.round(np.diag(r), 2)


def test_01_linear_templates_are_class_differences(trained):
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    d = load_digits()
    X, y = d.data / 16, d.target
    coef = (LogisticRegression(max_iter=2000, C=0.05).fit(X, y).coef_ if trained
            else np.random.default_rng(0).normal(size=(10, 64)))
    check(_claim_01_linear_templates_are_class_differences(coef, X, y), trained)


# ---------------------------------------------------------------- 01: first-layer filters
def _stem_stats(model):
    """Median grey share and mean neighbour correlation of the stem's effective (BN-scaled) filters."""
    conv, bn = model.layer("_conv_stem"), model.layer("_bn0")
    w = (conv.weight * (bn.weight / (bn.running_var + bn.eps).sqrt())[:, None, None, None]).double()
    share = (w.mean(1, keepdim=True).expand_as(w) ** 2).sum((1, 2, 3)) / (w ** 2).sum((1, 2, 3))
    c = w - w.mean((1, 2, 3), keepdim=True)
    pairs = (c[..., 1:, :] * c[..., :-1, :]).sum((1, 2, 3)) + (c[..., :, 1:] * c[..., :, :-1]).sum((1, 2, 3))
    smooth = (pairs / 36) / ((c ** 2).sum((1, 2, 3)) / 27)
    return float(share.median()), float(smooth.mean())


def test_01_stem_filters_are_mostly_grey_and_smooth_unlike_random_ones(lite0, control):
    share, smooth = _stem_stats(lite0)
    assert share > 0.47 and smooth > 0.2, (share, smooth)  # measured: 0.53, 0.31
    c_share, c_smooth = _stem_stats(control)
    assert not (c_share > 0.47 or c_smooth > 0.2), (c_share, c_smooth)  # measured: 0.34, -0.02
