"""Lectures 00, 01, 02 and 11: their claims on EfficientNet-Lite0, as the notebooks assert them.

Each claim is checked on the trained network AND shown to fail on the untrained control
(`ll.load_model("efficientnet_lite0", pretrained=False)`: the same architecture, seeded random
weights): a claim that an untrained network also meets would say nothing about training.
"""
import pytest
import torch

import lecturelib as ll
from lecturelib.patches import empirical_receptive_field


def test_lite0_is_the_default_and_its_weights_are_installed(lite0, control):
    assert ll.DEFAULT_MODEL == "efficientnet_lite0" and lite0.pretrained and not control.pretrained


# ---------------------------------------------------------------- 00: first predictions
def _top1_hits(model):
    boxes = ll.sample_boxes()
    x = torch.cat([model.preprocess(name) for name in boxes])
    with torch.no_grad():
        top1 = model(x).argmax(1).tolist()
    return sum(t in b["classes"] for t, b in zip(top1, boxes.values()))


def test_00_lite0_names_every_boxed_sample_photo_and_the_control_none(lite0, control):
    assert _top1_hits(lite0) == 8  # chelsea: a cat class; coffee: espresso; camera: tripod; ...
    assert _top1_hits(control) <= 1  # chance: 1–3 right classes of 1000 per photo


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


# ---------------------------------------------------------------- 02: receptive fields
@pytest.mark.parametrize("layer", ["_conv_stem", "_blocks.2", "_blocks.5", "_blocks.8"])
def test_02_receptive_field_goes_through_zero_pads_and_depthwise_convs(lite0, layer):
    # geometry, not a trained claim: it must hold for any weights (the control is the same architecture)
    size = 160  # a multiple of 32, where the SAME pads are those of 224 px (and the check is cheaper)
    rf = ll.receptive_field(lite0, layer, size=size)
    expected = {"_conv_stem": (3, 2), "_blocks.2": (19, 4), "_blocks.5": (83, 16), "_blocks.8": (211, 16)}[layer]
    assert (rf.size[0], rf.stride[0]) == expected
    for row, col in [(0, 0), (3, 3)]:
        box = tuple(min(max(v, 0), size) for v in rf.box(row, col))
        assert box == empirical_receptive_field(lite0, layer, row, col, size=size)


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
