"""Parameterizations: what the optimizer changes, and how that becomes an image.

A parameterization is made by `cls(start, gen, **options)` (start: the N x C x H x W image in
pixels at this octave; gen: the run's generator) and has

    params          the tensors the optimizer changes
    image()         -> N x C x H x W pixels, differentiable
    after_step(i)   work after step i (projections: blur, clamp)

Each class owns its options: `maker(base, **options)` checks them and returns fn(start, gen).
`make(param, base, options)` is the one door: it looks a name up in PARAMETERIZATIONS and refuses,
with a message, an option the parameterization does not take (no option is dropped silently).
To add a parameterization: write a class here with those members and a `maker`, and register it
in PARAMETERIZATIONS.
"""
from __future__ import annotations

import functools
import inspect
import math
from typing import Callable

import torch

from .transforms import blur

__all__ = ["Pixels", "Fourier", "Phase", "PARAMETERIZATIONS", "make", "is_pixels"]


class Pixels:
    """The image itself (pixels) is the parameter.

    After each step: a Gaussian blur every `blur_every` steps (sigma `blur_sigma` px; Yosinski et
    al. 2015), then clamping to [low, high].

    Parameters
    ----------
    start : tensor, N x C x H x W pixels
    gen : torch.Generator, optional (unused: the start is the image)
    low, high : tensor or None
        Bounds broadcast against the image (None: no clamping).
    blur_every : int
        0: never.
    blur_sigma : float
    """

    from_noise = False   # starts from `start`, at any scale (octaves)

    def __init__(self, start: torch.Tensor, gen: torch.Generator | None = None, *, low=None, high=None,
                 blur_every: int = 0, blur_sigma: float = 0.5):
        # standard layout: a picture may come channels-last, whose gradient L-BFGS cannot flatten
        self.x = start.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
        self.params = [self.x]
        self.low, self.high, self.blur_every, self.blur_sigma = low, high, blur_every, blur_sigma

    @classmethod
    def maker(cls, base: torch.Tensor, *, clamp: bool = True, max_change: float | None = None,
              blur_every: int = 0, blur_sigma: float = 0.5) -> Callable:
        """fn(start, gen) -> Pixels with these options.

        Parameters
        ----------
        base : tensor, N x C x H x W pixels
            The start image (the centre of the `max_change` ball).
        clamp : bool
            Keep every pixel in [0, 1] after each step.
        max_change : float, optional
            Keep every pixel within this distance (pixels, L-infinity) of `base`: projected
            gradient ascent.
        blur_every, blur_sigma : int, float
            A Gaussian blur of sigma px every `blur_every` steps (0: never).
        """
        if blur_every < 0 or not blur_sigma > 0:
            raise ValueError(f"blur_every >= 0 and blur_sigma > 0; got {blur_every}, {blur_sigma}")
        low = high = None
        if clamp or max_change is not None:
            low, high = base.new_zeros(1, 1, 1, 1), base.new_ones(1, 1, 1, 1)
        if max_change is not None:
            low, high = torch.maximum(low, base - max_change), torch.minimum(high, base + max_change)
        return functools.partial(cls, low=low, high=high, blur_every=blur_every, blur_sigma=blur_sigma)

    def image(self) -> torch.Tensor:
        return self.x

    @torch.no_grad()
    def after_step(self, i: int) -> None:
        if self.blur_every and (i + 1) % self.blur_every == 0:
            self.x.copy_(blur(self.x, self.blur_sigma))
        if self.low is not None:
            self.x.copy_(torch.maximum(torch.minimum(self.x, self.high), self.low))


# The square root of ImageNet's colour covariance, as published with lucid (Olah et al., 2017).
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])


def _one_over_f(h: int, w: int) -> torch.Tensor:
    """1/frequency for each entry of an h x w real FFT (the lowest frequency for the constant term)."""
    freq = torch.sqrt(torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.rfftfreq(w)[None] ** 2)
    return 1.0 / freq.clamp(min=1.0 / max(h, w))


class _Spectral:
    """What Fourier and Phase share: an image made from a spectrum by an inverse FFT, a colour mix
    and a sigmoid, so it is always a valid picture (no clamp, no blur). Both start from noise
    drawn from `gen` at one scale, whatever `start` holds."""

    from_noise = True

    def __init__(self, start: torch.Tensor):
        n, c, h, w = start.shape
        self.scale, self.size = _one_over_f(h, w).to(start.device), (h, w)
        self.spectrum_shape = (n, c, h, w // 2 + 1)

    @classmethod
    def maker(cls, base: torch.Tensor) -> Callable:
        """fn(start, gen) -> this parameterization. It takes no option here; its own (Fourier's
        `sd`, Phase's `contrast`) through param=functools.partial(cls, ...)."""
        return cls

    def picture(self, spectrum: torch.Tensor) -> torch.Tensor:
        """The image (pixels) of a complex N x C x H x (W/2+1) spectrum: inverse FFT, colour mix, sigmoid."""
        img = torch.fft.irfft2(spectrum, s=self.size, norm="ortho")
        if img.shape[1] == 3:
            mix = _COLOR_SQRT.to(img.device) / _COLOR_SQRT.norm(dim=0).max()
            img = torch.einsum("ij,njhw->nihw", mix, img)
        return torch.sigmoid(img)

    def after_step(self, i: int) -> None:
        pass


class Fourier(_Spectral):
    """A spectrum scaled by 1/frequency (natural images' falloff) per decorrelated colour channel
    (Olah et al. 2017): smoother pictures than pixels.

    Parameters
    ----------
    start : tensor, N x C x H x W (only its shape is used)
    gen : torch.Generator
    sd : float
        Standard deviation of the starting spectrum's noise.
    """

    def __init__(self, start: torch.Tensor, gen: torch.Generator, *, sd: float = 0.01):
        super().__init__(start)
        spectrum = torch.randn(*self.spectrum_shape, 2, generator=gen) * sd
        self.spectrum = spectrum.to(start.device).requires_grad_(True)
        self.params = [self.spectrum]

    def image(self) -> torch.Tensor:
        return self.picture(torch.view_as_complex(self.spectrum) * self.scale)


class Phase(_Spectral):
    """Only the phase is optimized (MaCo, Fel et al. 2023).

    Every frequency keeps the 1/frequency magnitude of natural images, scaled so the picture has a
    fixed `contrast` (the standard deviation before the sigmoid): the optimization can move edges
    and textures but cannot pile energy into the high frequencies.

    Parameters
    ----------
    start : tensor, N x C x H x W (only its shape is used)
    gen : torch.Generator
    contrast : float
    """

    def __init__(self, start: torch.Tensor, gen: torch.Generator, *, contrast: float = 1.0):
        super().__init__(start)
        self.magnitude = contrast * self.scale / self.scale.pow(2).mean().sqrt()   # a random phase: sd about contrast
        phase = torch.rand(*self.spectrum_shape, generator=gen) * 2 * math.pi - math.pi
        self.phase = phase.to(start.device).requires_grad_(True)
        self.params = [self.phase]

    def image(self) -> torch.Tensor:
        return self.picture(torch.polar(self.magnitude.expand_as(self.phase), self.phase))


# param= takes these names, or a class with `maker`, or any callable (start, gen) -> parameterization.
PARAMETERIZATIONS = {"pixels": Pixels, "fourier": Fourier, "phase": Phase}


def is_pixels(param) -> bool:
    """Whether `param` ("pixels", a class, or fn) is the plain pixel parameterization."""
    return param is Pixels or param == "pixels"


def make(param, base: torch.Tensor, options: dict) -> Callable:
    """`param` as fn(start, gen) -> parameterization, with the options that were given.

    Parameters
    ----------
    param : str, class with `maker`, or callable (start, gen) -> parameterization
        A name in PARAMETERIZATIONS.
    base : tensor, N x C x H x W pixels
        The start image.
    options : dict
        Only the options the caller set (e.g. {"blur_every": 4}).

    Returns
    -------
    callable (start, gen) -> parameterization

    Raises
    ------
    ValueError
        For an unknown name, or an option this parameterization does not take.
    """
    if isinstance(param, str):
        if param not in PARAMETERIZATIONS:
            raise ValueError(f"param must be one of {sorted(PARAMETERIZATIONS)} or fn(start, gen) -> "
                             f"parameterization; got {param!r}")
        name, param = param, PARAMETERIZATIONS[param]
    else:
        name = getattr(param, "__name__", repr(param))
    if not callable(param):
        raise ValueError(f"param must be one of {sorted(PARAMETERIZATIONS)} or fn(start, gen) -> "
                         f"parameterization; got {param!r}")
    maker = getattr(param, "maker", None)
    takes = [] if maker is None else [k for k in inspect.signature(maker).parameters if k != "base"]
    wrong = sorted(set(options) - set(takes))
    if wrong:
        owners = sorted(n for n, cls in PARAMETERIZATIONS.items()
                        if set(wrong) <= set(inspect.signature(cls.maker).parameters))
        raise ValueError(f"param={name!r} does not take {', '.join(wrong)} (options of "
                         f"{' and '.join(repr(o) for o in owners) or 'no parameterization'}); "
                         f"it takes {', '.join(takes) or 'none of the loop options'}: drop them or use "
                         f"param={owners[0] if owners else 'pixels'!r}")
    return param if maker is None else maker(base, **options)
