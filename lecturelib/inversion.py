"""Lecture 07: what a layer keeps, by reconstructing an image from its code (Mahendran & Vedaldi 2015)."""
from __future__ import annotations

from .models import as_model
from .objectives import PUBLISHED_STD, codes, match
from .optimize import Optimized, optimize_image

__all__ = ["invert"]


def invert(model, image, layer: str, *, steps: int = 200, content_weight: float = 6e-2,
           tv: float = 2e-2 / PUBLISHED_STD**2, l2: float = 0.0, alpha_norm: float = 0.0, alpha: float = 6.0,
           init="uniform", optimizer: str = "adam", lr: float = 0.3 * PUBLISHED_STD,
           lr_end: float | None = 0.03 * PUBLISHED_STD, **kwargs) -> Optimized:
    """Reconstruct images from their code phi0 = phi(x0) at `layer`: maximize
    -w*|phi(x) - phi0|^2 - lambda_TV*TV(x) - lambda_alpha*|x|_alpha^alpha.

    Defaults are CS231n's feature inversion (squeezenet1_1, 192 px) in pixel units: content weight
    6e-2, TV 2e-2 / 0.226^2, a uniform start (0.226 * uniform(0, 1) around mid-grey), 200 Adam
    steps with the rate lowered x0.1 for the last 10 %; but the rate starts from 0.3 * 0.226
    instead of their 3.0 * 0.226 (the larger rate leaves late layers' reconstructions as noise).

    Parameters
    ----------
    model : Model or nn.Module
    image : tensor or picture
        x0: a normalized N x C x H x W batch or a picture.
    layer : str
    steps, content_weight, tv, l2, alpha_norm, alpha, init, optimizer, lr, lr_end
        As in `optimize_image` (tv=0: the unregularized reconstruction).
    **kwargs
        Anything else of `optimize_image`.

    Returns
    -------
    Optimized
        One reconstruction per image of x0.
    """
    model = as_model(model)
    x0 = model.as_input(image)
    target = codes(model, x0, [layer])[layer]
    return optimize_image(model, content_weight * match(layer, target), init, n=len(x0), size=x0.shape[-1],
                          steps=steps, optimizer=optimizer, lr=lr, lr_end=lr_end, tv=tv, l2=l2,
                          alpha_norm=alpha_norm, alpha=alpha, **kwargs)
