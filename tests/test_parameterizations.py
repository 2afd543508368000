"""Parameterizations: valid pictures, the registry, options that apply and options that are refused."""
import pytest
import torch

import lecturelib as ll
from lecturelib import objectives as ob, parameterizations as pz


def test_fourier_images_are_valid_and_raise_the_unit(shapes_model):
    r = ll.optimize_image(shapes_model, "8:21", "randn", param="fourier", steps=60, progress=False)
    low, high = shapes_model.valid_range()
    assert (r.image >= low - 1e-5).all() and (r.image <= high + 1e-5).all()
    assert r.history[-1] > 10 * abs(r.history[0])


def test_phase_keeps_its_magnitude_and_raises_the_unit(shapes_model):
    gen = torch.Generator().manual_seed(0)
    ph = pz.Phase(torch.zeros(1, 3, 32, 32), gen)
    before = ph.magnitude.clone()
    r = ll.optimize_image(shapes_model, "8:21", "randn", param="phase", steps=60, progress=False)
    low, high = shapes_model.valid_range()
    assert (r.image >= low - 1e-5).all() and (r.image <= high + 1e-5).all()
    assert r.history[-1] > 2 * abs(r.history[0])
    assert ph.params == [ph.phase] and torch.equal(ph.magnitude, before)   # only the phase is a parameter
    sd = torch.logit(ph.image()).std(dim=(2, 3))   # before the sigmoid: the contrast asked for
    assert ((sd > 0.5) & (sd < 1.5)).all(), sd
    with pytest.raises(ValueError, match="phase parameterization starts from noise"):
        ll.optimize_image(shapes_model, "8:21", torch.zeros(1, 3, 32, 32), param="phase", steps=1)


def test_a_new_parameterization_is_a_callable(shapes_model):
    """The loop's extension point: pixels = (tanh(p) + 1) / 2 are always a valid picture, so they
    need no clamp; param= takes fn(start, gen) → an object with params, image() (pixels) and
    after_step(i)."""
    class Tanh:
        def __init__(self, start, gen):
            self.p = torch.zeros_like(start).requires_grad_(True)
            self.params = [self.p]

        def image(self):
            return (torch.tanh(self.p) + 1) / 2

        def after_step(self, i):
            pass
    r = ll.optimize_image(shapes_model, "8:21", "zeros", param=Tanh, steps=30, progress=False)
    assert r.history[-1] > r.history[0] + 0.1
    low, high = shapes_model.valid_range(r.image)
    assert ((r.image >= low - 1e-5) & (r.image <= high + 1e-5)).all()
    with pytest.raises(ValueError, match="max_change"):
        ll.optimize_image(shapes_model, "8:21", "zeros", param=Tanh, max_change=0.1, steps=1)
    with pytest.raises(ValueError, match="param must be one of"):
        ll.optimize_image(shapes_model, "8:21", param="wavelets", steps=1)


def test_each_parameterization_takes_its_own_options_and_refuses_the_others(shapes_model):
    """The pixel options (clamp, max_change, blur) belong to Pixels: given with a spectral
    parameterization they are refused, never dropped; the registry names the built-in ones."""
    assert set(pz.PARAMETERIZATIONS) == {"pixels", "fourier", "phase"}
    for param in ("fourier", "phase"):
        for option in (dict(blur_every=4), dict(clamp=False), dict(max_change=0.1), dict(blur_sigma=1.0)):
            with pytest.raises(ValueError, match=f"param='{param}' does not take {next(iter(option))}.*'pixels'"):
                ll.optimize_image(shapes_model, "8:21", param=param, steps=1, progress=False, **option)
    # a lecture method's blur default is a pixel option: it is not passed to the spectrum
    kw = dict(steps=3, progress=False, seed=2)
    fourier = ll.visualize_class(shapes_model, "cross", param="fourier", **kw)
    by_hand = ll.optimize_image(shapes_model, "cross", param="fourier", optimizer="sgd_l2",
                                l2=1e-3 / ob.PUBLISHED_STD ** 2, jitter=round(16 * 32 / 224), **kw)
    assert torch.equal(fourier.image, by_hand.image)
    pixels = ll.optimize_image(shapes_model, "8:21", blur_every=1, blur_sigma=1.0, steps=2, progress=False)
    unblurred = ll.optimize_image(shapes_model, "8:21", steps=2, progress=False)
    assert not torch.equal(pixels.image, unblurred.image)
    with pytest.raises(ValueError, match="blur_every >= 0"):
        ll.optimize_image(shapes_model, "8:21", blur_every=-1, steps=1)
