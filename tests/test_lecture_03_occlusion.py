"""Lecture 03 (notebooks/03_occlusion.ipynb): its claim on the real ImageNet network
(EfficientNet-Lite0), as the notebook asserts it: occlusion maps put their mass on the object
(hand-drawn boxes of 8 sample photos) more than a flat map does. The claim is asserted on the trained
network and fails on an untrained copy of the same network (seeded random weights), explained for
the trained network's classes."""
import torch

import lecturelib as ll
from claims_helpers import CATS
from lecturelib import attribution as at


def box_shares(model, reference, window=32, stride=32):
    names = list(ll.sample_boxes())
    xs = torch.cat([model.preprocess(n) for n in names])
    with torch.no_grad():
        classes = reference(xs).argmax(1).tolist()  # the trained network's classes, for both
    occ = at.occlusion(model, xs, classes, window=window, stride=stride, progress=False)[:, 0]
    masks = torch.stack([model.box_mask(n) for n in names])
    return at.mass_in_mask(occ, masks), masks.float().mean((1, 2))


def test_03_occlusion_mass_on_the_object_on_real_weights_not_untrained():
    trained = ll.load_model("efficientnet_lite0", device="cpu")
    share, area = box_shares(trained, trained)
    assert int((share > area).sum()) >= 6 and float(share.mean()) >= float(area.mean()) + 0.10, (share, area)
    untrained = ll.load_model("efficientnet_lite0", device="cpu", pretrained=False)
    share0, _ = box_shares(untrained, trained)
    assert not (int((share0 > area).sum()) >= 6 and float(share0.mean()) >= float(area.mean()) + 0.10), share0


def _cat_share(model, window=64, stride=32):
    """Section 1's most-probable-class map: the share of window places where a domestic cat class is
    still the network's top class on chelsea."""
    scan = ll.occlude.occlusion_scan(model, model.preprocess("chelsea"), window=window, stride=stride, progress=False)
    winner, _ = scan.most_probable()
    return sum(int((winner == k).sum()) for k in CATS) / winner.numel()


def test_03_hiding_part_of_chelsea_leaves_a_cat_class_on_top_on_real_weights_not_untrained():
    """The notebook's reading of its first, patchwork map: hiding part of the cat moves probability
    between cat classes, so nearly every window leaves a cat class on top (notebook: >= 90 % of the
    places at window 32, stride 16). An untrained copy names no cat anywhere."""
    assert _cat_share(ll.load_model("efficientnet_lite0", device="cpu")) >= 0.9
    assert _cat_share(ll.load_model("efficientnet_lite0", device="cpu", pretrained=False)) < 0.5
