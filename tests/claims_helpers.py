"""Plain helpers shared by the lecture claim files (tests/test_lecture_*.py); the fixtures they share
(`trained`, `photos`, the networks) are in conftest.py, which has pytest rewrite the asserts here too.

On the course models (`shapes`, `digits`): `model(name, trained)` loads the trained model or its
untrained control, and `check(claim, trained)` requires a claim, a `_claim_*`'s (holds, what was
measured), to hold on the trained model and to fail on the control (Adebayo et al.'s sanity check
applied to our own lessons: a claim that random weights also pass is not a claim about training).

On EfficientNet-Lite0's 8 sample photos with drawn boxes (lectures 04, 04b and 05): the layer their
Grad-CAM reads, the boxed class of each photo, the share a centred blob puts in each box, and the rank
correlation of two batches of maps. `CATS`: ImageNet's domestic cats (lectures 07 and 09).
"""
import torch

import lecturelib as ll
from lecturelib import attribution as at

CAM_LAYER = "_act1"  # Lite0's head, 7×7×1280
CATS = [281, 282, 283, 284, 285]   # ImageNet's domestic cats


def model(name, trained):
    return ll.load_model(name, device="cpu", pretrained=trained)


def check(claim, trained):
    """The claim holds on the trained model and fails on the untrained control."""
    holds, measured = claim
    if trained:
        assert holds, f"the lesson's claim fails on the trained model: {measured}"
    else:
        assert not holds, f"the claim also holds on untrained weights, so it does not show training: {measured}"


def _boxed_classes(model, photos):
    x, _, names, boxes = photos
    with torch.no_grad():
        logits = model(x)
    return [max(boxes[n]["classes"], key=lambda k: float(logits[i, k])) for i, n in enumerate(names)]


def _centre_share(masks):
    r = torch.arange(masks.shape[-1]) + 0.5 - masks.shape[-1] / 2
    blob = torch.exp(-(r[:, None] ** 2 + r[None] ** 2) / (2 * (masks.shape[-1] / 4) ** 2))
    return at.mass_in_mask(blob.expand(len(masks), -1, -1), masks)


def _rank_corr(u, v):
    u, v = u.flatten(1).argsort(1).argsort(1).float(), v.flatten(1).argsort(1).argsort(1).float()
    u, v = u - u.mean(1, keepdim=True), v - v.mean(1, keepdim=True)
    return (u * v).sum(1) / (u.norm(dim=1) * v.norm(dim=1) + 1e-12)
