"""Lecture 04 (notebooks/04_backprop_saliency.ipynb): its claims on the course's ImageNet network
(efficientnet_lite0), as the notebook asserts them, and the same measurement on the untrained control
(`load_model("efficientnet_lite0", pretrained=False)`: same architecture, seeded random weights).

A claim about what the network learned (Grad-CAM's mass in the drawn box) must hold on Lite0 and fail
on the control. The negative result, that plain saliency scores as well with random weights (what
puts it in the box is the image, not the model), is asserted as one: on both.
"""
import warnings

import pytest
import torch

from claims_helpers import CAM_LAYER, _boxed_classes, _centre_share
from lecturelib import attribution as at


# Lite0 and its control on the default device (conftest's `*_on_default_device`), unlike the session
# fixtures of conftest (CPU), so that `make test-gpu` runs the attribution claims on CUDA.
@pytest.fixture(scope="module")
def lite0(lite0_on_default_device):
    return lite0_on_default_device


@pytest.fixture(scope="module")
def control(control_on_default_device):
    return control_on_default_device


# ------------------------------------------------------------------------------------ 04: maps in the box
def _gradcam_beats_box_and_centre(model, photos) -> tuple[bool, dict]:
    x, masks, _, _ = photos
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an untrained network's Grad-CAM can be empty
        share = at.mass_in_mask(at.grad_cam(model, x, _boxed_classes(model, photos), CAM_LAYER)[:, 0], masks)
    area, centre = masks.float().mean(dim=(1, 2)), _centre_share(masks)
    numbers = {"share": float(share.mean()), "area": float(area.mean()), "centre": float(centre.mean())}
    return bool(share.mean() > centre.mean() and (share > area).all()), numbers


def test_04_gradcam_mass_in_box_beats_area_and_centre_blob(lite0, control, photos):
    holds, numbers = _gradcam_beats_box_and_centre(lite0, photos)
    assert holds, numbers  # measured: share 0.66, area 0.45, centre 0.60
    holds, numbers = _gradcam_beats_box_and_centre(control, photos)
    assert not holds, numbers  # untrained: share 0.36


def test_04_saliency_is_speckle_its_box_share_is_the_same_untrained(lite0, control, photos):
    """The negative result: plain saliency does not beat the centre blob, and scores as well
    with random weights (what puts it in the box is the image, not the model)."""
    x, masks, _, _ = photos
    share = {m.pretrained: float(at.mass_in_mask(at.max_abs(at.saliency(m, x, _boxed_classes(m, photos))), masks).mean())
             for m in (lite0, control)}
    assert share[True] < float(_centre_share(masks).mean()), share  # 0.52 < 0.60
    assert abs(share[True] - share[False]) < 0.05, share  # 0.52 vs 0.51


def test_04_smoothgrad_moves_mass_into_the_box_only_when_trained(lite0, control, photos):
    """SmoothGrad (noise 0.2, the notebook's samples at student settings are 50; 16 here) raises the
    share of the map in the box over plain saliency on Lite0, and that gain is gone untrained."""
    x, masks, _, _ = photos
    gain = {}
    for m in (lite0, control):
        ts = _boxed_classes(m, photos)
        sal = at.mass_in_mask(at.max_abs(at.saliency(m, x, ts)), masks).mean()
        sg = at.mass_in_mask(at.max_abs(at.smoothgrad(m, x, ts, samples=16, noise=0.2, batch_size=8)), masks).mean()
        gain[m.pretrained] = float(sg - sal)
    assert gain[True] > 0.03 and gain[False] < gain[True] - 0.03, gain


def test_04_smoothgrad_smooths_the_stem_gradient_not_the_pixels(lite0):
    """The negative result of section 5, as the notebook asserts it on chelsea: averaging noisy
    gradients makes the map one layer up (the stem's output) smoother, and the map at the pixels
    gains less than half as much (the stem's small kernels stamp their texture on every copy)."""
    import lecturelib as ll
    x = lite0.preprocess("chelsea")
    c = lite0.predict(x, k=1)[0].index

    def grads(xx):
        xx = xx.clone().requires_grad_(True)
        with ll.capture(lite0, "_bn0") as rec:
            lite0(xx)[:, c].sum().backward()
        return ll.max_abs(xx.grad.sum(0, keepdim=True)), ll.max_abs(rec.gradients["_bn0"].sum(0, keepdim=True))

    smooth = ll.evaluation.smoothness
    g = torch.Generator(device=x.device).manual_seed(0)
    plain = grads(x)
    noisy = grads(x + 0.2 * float(x.max() - x.min()) * torch.randn((16, *x.shape[1:]), generator=g, device=x.device))
    gain_pixels, gain_stem = (float(smooth(a) - smooth(b)) for a, b in zip(noisy, plain))
    assert gain_stem > 0.1 and gain_pixels < gain_stem / 2, (gain_pixels, gain_stem)
