"""Lecture 08: DeepDream (Mordvintsev et al. 2015), whatever a layer sees, amplified."""
from __future__ import annotations

from .objectives import layer_norm
from .optimize import Optimized, optimize_image

__all__ = ["deepdream"]


def deepdream(model, image, layer: str, *, octaves: int = 4, octave_scale: float = 1.4, steps: int = 10,
              lr: float | None = None, jitter: int = 32, **kwargs) -> Optimized:
    """Amplify whatever `layer` sees: ascend 0.5*|a|^2 (so the gradient at the layer is the
    activation itself), coarse to fine over octaves, with jitter, clamped.

    Defaults are Google's notebook: 4 octaves of scale 1.4, 10 steps each of 1.5 / mean|g| on
    the 0-255 scale ("sgd_mean"), jitter 32 px.

    Parameters
    ----------
    model : Model or nn.Module
    image : tensor or picture
        The start: a normalized N x C x H x W batch or a picture.
    layer : str
    octaves, octave_scale, steps, lr, jitter
        As in `optimize_image` (`steps` per octave).
    **kwargs
        Anything else of `optimize_image`.

    Returns
    -------
    Optimized
    """
    return optimize_image(model, layer_norm(layer), image, steps=steps, optimizer="sgd_mean", lr=lr, jitter=jitter,
                          octaves=octaves, octave_scale=octave_scale, **kwargs)
