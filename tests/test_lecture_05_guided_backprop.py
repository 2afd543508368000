"""Lecture 05 (notebooks/05_guided_backprop.ipynb): its claims on the course's ImageNet network
(efficientnet_lite0), as the notebook asserts them, and the same measurement on the untrained control
(`load_model("efficientnet_lite0", pretrained=False)`: same architecture, seeded random weights).

A claim about what the network learned must hold on Lite0 and fail on the control. A claim about a
*method* (guided backprop ignores the class and the top layers) holds on both, and the test says so.
"""
import warnings

import pytest
import torch

from claims_helpers import CAM_LAYER, _boxed_classes, _centre_share, _rank_corr
from lecturelib import attribution as at


# Lite0 and its control on the default device (conftest's `*_on_default_device`), unlike the session
# fixtures of conftest (CPU), so that `make test-gpu` runs the attribution claims on CUDA.
@pytest.fixture(scope="module")
def lite0(lite0_on_default_device):
    return lite0_on_default_device


@pytest.fixture(scope="module")
def control(control_on_default_device):
    return control_on_default_device


# ------------------------------------------------------------------------------------ 05: guided backprop
_REPORTS = {}


def _rule_report(model, photos):
    """Lecture 05's table for the 8 photos (computed once per model: two tests read it)."""
    if model.pretrained in _REPORTS:
        return _REPORTS[model.pretrained]
    x, masks, _, _ = photos
    ts = _boxed_classes(model, photos)
    other = ts[1:] + ts[:1]
    g, gb = at.max_abs(at.saliency(model, x, ts)), at.max_abs(at.guided_backprop(model, x, ts))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ggc = at.max_abs(at.guided_grad_cam(model, x, ts, CAM_LAYER))
        ggc_other = at.max_abs(at.guided_grad_cam(model, x, other, CAM_LAYER))
    _REPORTS[model.pretrained] = {
        "gradient vs guided": float(_rank_corr(g, gb).mean()),
        "box: guided": float(at.mass_in_mask(gb, masks).mean()),
        "box: guided Grad-CAM": float(at.mass_in_mask(ggc, masks).mean()),
        "centre": float(_centre_share(masks).mean()),
        "other class: guided": float(_rank_corr(gb, at.max_abs(at.guided_backprop(model, x, other))).mean()),
        "other class: gradient": float(_rank_corr(g, at.max_abs(at.saliency(model, x, other))).mean()),
        "other class: guided Grad-CAM": float(_rank_corr(ggc, ggc_other).mean())}
    return _REPORTS[model.pretrained]


def test_05_guided_rule_changes_the_picture_and_guided_gradcam_finds_the_box(lite0, control, photos):
    r = _rule_report(lite0, photos)
    assert r["gradient vs guided"] < 0.35, r  # measured 0.23: the ReLU6 rule is not silently skipped
    assert r["box: guided Grad-CAM"] > max(r["centre"], r["box: guided"]), r  # 0.73 > 0.60, 0.62
    r = _rule_report(control, photos)
    assert not r["gradient vs guided"] < 0.35, r  # untrained: 0.50
    assert not r["box: guided Grad-CAM"] > r["centre"], r  # untrained: 0 (Grad-CAM empty)


def test_05_guided_backprop_ignores_the_class_trained_or_not(lite0, control, photos):
    """A property of the method, not of learning: guided backprop's map for another class is the
    same map (rank correlation > 0.95), the gradient's is not, on Lite0 and on the control alike."""
    for model in (lite0, control):
        r = _rule_report(model, photos)
        assert r["other class: guided"] > 0.95 > 0.7 > r["other class: gradient"], (model.pretrained, r)


def test_05_guided_gradcam_follows_the_class_where_guided_backprop_does_not(lite0, photos):
    """Guided Grad-CAM's class-specificity, measured as the notebook measures it: asked for another
    photo's class, its map changes, while guided backprop's stays the same."""
    r = _rule_report(lite0, photos)
    assert r["other class: guided Grad-CAM"] < r["other class: guided"] - 0.05, r


def test_05_deconvnet_does_not_see_the_image_on_a_network_without_max_pooling(lite0, control, photos):
    """The deconvnet ignores the forward pass at ReLUs; with no max-pooling switches (Lite0
    downsamples by stride-2 convolutions) nothing on the way back reads the image: two photos give
    bit-identical pictures, trained or not. Guided backprop keeps the forward masks and differs."""
    x, _, _, _ = photos
    for model in (lite0, control):
        assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.net.modules())
        for t in (281, "_blocks.10._act1:292"):
            assert torch.equal(at.deconvnet(model, x[:1], t), at.deconvnet(model, x[1:2], t)), (model.pretrained, t)
            assert not torch.equal(at.guided_backprop(model, x[:1], t), at.guided_backprop(model, x[1:2], t))


def test_05_guided_backprop_survives_randomizing_the_top_layers(lite0, photos):
    x, _, _, _ = photos
    x, t = x[:4], _boxed_classes(lite0, photos)[:4]
    gb, g = at.max_abs(at.guided_backprop(lite0, x, t)), at.max_abs(at.saliency(lite0, x, t))
    twin = at.randomized(lite0, 2)  # _fc and _conv_head
    assert float(_rank_corr(gb, at.max_abs(at.guided_backprop(twin, x, t))).mean()) > 0.95
    assert float(_rank_corr(g, at.max_abs(at.saliency(twin, x, t))).mean()) < 0.6


def test_05_relu6_rule_blocks_the_ceiling():
    x = torch.tensor([-1.0, 0.5, 6.0, 7.0], requires_grad=True)
    with at.backward_rule("guided"):
        h = torch.nn.functional.relu6(x)
    h.backward(torch.tensor([1.0, -1.0, 1.0, 1.0]))
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 0.0]
    x.grad = None
    with at.backward_rule("guided"):
        h = torch.nn.ReLU6()(x)
    h.backward(torch.tensor([1.0, 2.0, 1.0, 1.0]))
    assert x.grad.tolist() == [0.0, 2.0, 0.0, 0.0]
