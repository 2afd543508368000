"""Lecture 10: fooling images and adversarial examples: the smallest change that moves a class."""
from __future__ import annotations

import torch

from . import targets
from .hooks import device_of, frozen
from .models import as_model
from .objectives import PUBLISHED_STD, images_for, log_prob
from .optimize import Optimized, optimize_image, start_image
from .parameterizations import is_pixels

__all__ = ["fooling_image", "fgsm", "pixel_change"]


def pixel_change(model, x0: torch.Tensor, x1: torch.Tensor) -> dict:
    """The size of the change from x0 to x1 in pixel units (0..1 per channel), per image.

    Parameters
    ----------
    model : Model or nn.Module
    x0, x1 : tensor, N x C x H x W, the model's normalized input

    Returns
    -------
    dict
        {"linf": the largest |change| (N), "l2": |change|_2 (N)}; times 255 for 8-bit steps.
    """
    model = as_model(model)
    d = model.unnormalize(x1) - model.unnormalize(x0)
    return {"linf": d.abs().flatten(1).amax(1).cpu(), "l2": d.flatten(1).norm(dim=1).cpu()}


def _classes(model, x: torch.Tensor, target, method: str) -> list[int]:
    """One class index per image, resolved as attribution resolves targets (names, None for the
    predicted class, one per image); a unit is refused."""
    return targets.classes_only(targets.per_image(model, x, target), target, method)


def fooling_image(model, image, target, *, lr: float = PUBLISHED_STD, max_steps: int = 100,
                  confidence: float | None = None, size: int | None = None, seed: int = 0, **kwargs) -> Optimized:
    """Change `image` until the model's top-1 class is `target` (and, with `confidence`, its
    probability reaches that level), by steps of lr * g / |g|_2 on the target's log-probability,
    clamped to valid pixels (CS231n: lr 1 normalized unit = 0.226 pixels, usually < 100 steps;
    CS231n ascends the raw score, which can raise the true class with the target).

    Parameters
    ----------
    model : Model or nn.Module
    image : tensor, picture, "randn" or "zeros"
        The start: a normalized batch, a picture, or noise of side `size` (one image per target
        of a list).
    target : int, str, or one per image
    lr : float
        Pixel units.
    max_steps : int
    confidence : float, optional
    size, seed : int
    **kwargs
        Anything else of `optimize_image` (optimizer="sgd_l2" unless given) but `param`: the
        attack changes the start's pixels.

    Returns
    -------
    Optimized
        `info` holds, per image: "success" (reached), "probability" of the target, "linf" and
        "l2" (the change in pixel units, see `pixel_change`).

    Raises
    ------
    ValueError
        For a `param` other than "pixels".
    """
    if not is_pixels(kwargs.get("param", "pixels")):
        raise ValueError(f"fooling_image changes the start image's pixels; param={kwargs['param']!r} does not "
                         "apply (leave it out; for a class image drawn through a spectrum use ll.visualize_class)")
    model = as_model(model)
    device = device_of(model)
    gen = torch.Generator().manual_seed(seed)
    start = model.normalize(start_image(model, image, images_for(target), size, gen, device))
    idx = torch.tensor(_classes(model, start, target, "a fooling image"), device=start.device)

    def reached(scores: torch.Tensor) -> torch.Tensor:
        ok = scores.argmax(1) == idx
        if confidence is not None:
            ok &= torch.softmax(scores, 1).gather(1, idx[:, None])[:, 0] >= confidence
        return ok

    kwargs.setdefault("optimizer", "sgd_l2")
    result = optimize_image(model, log_prob(idx), start, steps=max_steps, lr=lr, stop=reached, size=size, seed=seed,
                            **kwargs)
    with torch.no_grad(), frozen(model.net):
        scores = model.net(result.image)
    result.info.update(success=reached(scores).cpu(),
                       probability=torch.softmax(scores, 1).gather(1, idx[:, None])[:, 0].cpu(),
                       **pixel_change(model, start, result.image))
    return result


def fgsm(model, x, target=None, eps: float = 8 / 255) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): x + eps * sign(grad of -log p(target | x)),
    in pixel units, clamped to valid pixels.

    Parameters
    ----------
    model : Model or nn.Module
    x : tensor or picture
    target : int, str, one per image, or None
        The true class; None: the predicted class.
    eps : float
        Pixel units (8/255 as torchattacks).

    Returns
    -------
    tensor, N x C x H x W
        The adversarial batch, normalized.
    """
    model = as_model(model)
    x0 = model.as_input(x)
    return optimize_image(model, -log_prob(_classes(model, x0, target, "FGSM")), x0, steps=1, optimizer="sign",
                          lr=eps, progress=False).image
