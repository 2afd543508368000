"""Transforms: what the network sees of the image at each step of an optimization, drawn anew.

A transform is fn(x, gen) -> image: x is N x C x H x W pixels, gen the run's torch.Generator, the
only source of randomness (a seed gives the same picture, and nothing global is touched). The
loop applies them before every forward, so the gradient is averaged over them; the image being
optimized never moves. To add one: write a function here that returns such a callable.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

__all__ = ["roll", "random_scale", "random_rotate", "random_blur", "robust_transforms", "apply_transforms", "blur"]


def _named(transform: Callable, name: str) -> Callable:
    """`transform`, with a name that says what it does and by how much (printed by the notebooks)."""
    transform.__name__ = transform.__qualname__ = name
    return transform


def roll(shift: int) -> Callable:
    """Jitter: a circular shift by up to `shift` px each way (CS231n, Google's DeepDream).

    Returns
    -------
    callable (x, gen) -> x
    """
    def transform(x, gen):
        dy, dx = (int(s) for s in torch.randint(-shift, shift + 1, (2,), generator=gen))
        return torch.roll(x, [dy, dx], dims=(2, 3))
    return _named(transform, f"roll({shift} px)")


def random_scale(factors=tuple(1 + k / 50 for k in range(-5, 6))) -> Callable:
    """Resize (bilinear) by one of `factors` (lucent: 0.9 ... 1.1).

    Returns
    -------
    callable (x, gen) -> x
    """
    def transform(x, gen):
        f = factors[int(torch.randint(len(factors), (1,), generator=gen))]
        return F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)
    return _named(transform, f"random_scale({min(factors):g}-{max(factors):g})")


def random_rotate(degrees: float = 10.0) -> Callable:
    """Rotate square images about the centre by an angle uniform in +-`degrees` (lucent: 10);
    corners are filled by reflection.

    Returns
    -------
    callable (x, gen) -> x
    """
    def transform(x, gen):
        a = math.radians((2 * float(torch.rand((), generator=gen)) - 1) * degrees)
        theta = x.new_tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]])
        grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return _named(transform, f"random_rotate({degrees:g} deg)")


def random_blur(max_sigma: float = 2.0) -> Callable:
    """Blur (Gaussian) by a sigma uniform in [0, `max_sigma`] px: the network must find the class
    in the coarse shapes too, not only in patterns finer than a photo keeps after a blur.

    Returns
    -------
    callable (x, gen) -> x
    """
    def transform(x, gen):
        sigma = float(torch.rand((), generator=gen)) * max_sigma
        return blur(x, sigma) if sigma >= 0.3 else x   # below 0.3 px a blur changes next to nothing
    return _named(transform, f"random_blur(up to {max_sigma:g} px)")


def robust_transforms(shift: int = 8, degrees: float = 10.0) -> list:
    """Lucent's transforms for feature visualization (without its padding): jitter by `shift`,
    scale 0.9-1.1, rotate +-`degrees`, jitter by `shift` // 2.

    Returns
    -------
    list of callables (x, gen) -> x
    """
    return [roll(shift), random_scale(), random_rotate(degrees), roll(max(1, shift // 2))]


def apply_transforms(transforms, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """x through each transform in turn.

    Parameters
    ----------
    transforms : sequence of callables (x, gen) -> x
    x : tensor, N x C x H x W pixels
    gen : torch.Generator

    Returns
    -------
    tensor, N x C x H' x W'
    """
    for t in transforms:
        x = t(x, gen)
    return x


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of standard deviation `sigma` px, kernel +-3 sigma (odd, at most the image side).

    Parameters
    ----------
    x : tensor, N x C x H x W
    sigma : float > 0

    Returns
    -------
    tensor of the shape of `x`
    """
    from torchvision.transforms.functional import gaussian_blur
    kernel = min(2 * math.ceil(3 * sigma) + 1, 2 * ((min(x.shape[2:]) - 1) // 2) + 1)
    return gaussian_blur(x, [kernel, kernel], [sigma, sigma]) if kernel > 1 else x
