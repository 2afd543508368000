"""The door every method goes through: the input batch checked once, and lengths given for 224 px
scaled to the model's size. Attribution, occlusion, the optimizations and the widgets use these.
(Targets, classes or units, are read by `targets`.)
"""
from __future__ import annotations

import torch

from .models import Model, as_model

__all__ = ["batch", "scaled"]


def batch(model, x) -> tuple[Model, torch.Tensor]:
    """The model as an ll.Model (a bare nn.Module becomes a plain one) and `x` as a detached float
    N x C x H x W batch on the model's device.

    Parameters
    ----------
    model : Model or nn.Module
    x : tensor or picture
        The model's normalized input (N x C x H x W), or a picture (name, path, PIL image,
        array), which goes through `model.preprocess`. `model.as_input` warns when a tensor looks
        like pixels in [0, 1] that were never normalized.

    Returns
    -------
    (Model, tensor)

    Raises
    ------
    ValueError
        If `x` is not a float N x C x H x W batch.
    """
    model = as_model(model)
    x = model.as_input(x)
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"x must be a float N x C x H x W batch; got shape {tuple(x.shape)}, dtype {x.dtype} "
                         f"(one image: x[None])")
    return model, x.detach()


def scaled(value: float, model: Model, reference: int = 224) -> float:
    """A length given for `reference` px input, scaled to the model's input size (unchanged when
    the model has none, as a bare nn.Module)."""
    side = model.input_size or reference
    return value * side / reference
