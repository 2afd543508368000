"""What a method explains, or an optimization makes large: the target, in one place.

Every method of the course takes a `target` in one of these forms:

    None                    the predicted class of each image
    281 or "tabby"          a class index, or a class name (names need an ll.Model)
    [281, None, "tabby"]    one of those per image
    "features.12:37"        a unit: channel 37 of layer features.12, its activation averaged over
                            the channel's positions (attribution and optimization alike)
    "features.12:37:6:6"    one neuron: channel 37 at row 6, column 6

`unit(model, target)` reads the unit forms, `class_indices` resolves classes against the scores,
and `per_image` resolves a batch's target once, on the clean images, so that noisy or
interpolated copies of an image all explain the same class.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .hooks import frozen
from .models import as_model, get_layer

__all__ = ["Unit", "unit", "class_indices", "per_image"]

_FORM = "a unit target is 'layer:channel' or 'layer:channel:row:col'"


@dataclass(frozen=True)
class Unit:
    """Channel `channel` of layer `layer`; with `row` and `col`, the single neuron there."""
    layer: str
    channel: int
    row: int | None = None
    col: int | None = None

    def value(self, a: torch.Tensor) -> torch.Tensor:
        """N values from the layer's N×C×H×W activation: the channel's mean over its positions
        (the one spatial reduction of the course), or the neuron's activation."""
        if a.ndim != 4 or not 0 <= self.channel < a.shape[1]:
            raise IndexError(f"{self.layer} has {a.shape[1] if a.ndim > 1 else 0} channels (output shape {tuple(a.shape)}); "
                             f"channel {self.channel} is not one of them")
        if self.row is None:
            return a[:, self.channel].mean(dim=(1, 2))
        if not (0 <= self.row < a.shape[2] and 0 <= self.col < a.shape[3]):
            raise IndexError(f"{self.layer} is {a.shape[2]}×{a.shape[3]}; neuron ({self.row}, {self.col}) is outside it")
        return a[:, self.channel, self.row, self.col]


def unit(model, target) -> Unit | None:
    """The `Unit` a 'layer:channel[:row:col]' target names, or None for any other form."""
    if not isinstance(target, str) or ":" not in target:
        return None
    layer, *idx = target.split(":")
    get_layer(as_model(model).net, layer)  # an unknown layer raises here, with the closest names
    try:
        idx = [int(i) for i in idx]
    except ValueError:
        raise ValueError(f"{_FORM}; got {target!r}") from None
    if len(idx) not in (1, 3):
        raise ValueError(f"{_FORM}; got {target!r}")
    return Unit(layer, *idx)


def class_indices(model, target, logits: torch.Tensor) -> torch.Tensor:
    """One class index per row of the N×classes `logits`; None picks that row's top class."""
    n, classes = logits.shape[0], logits.shape[1]
    if target is None:
        return logits.argmax(1)
    targets = list(target) if isinstance(target, (list, tuple)) or (
        isinstance(target, torch.Tensor) and target.ndim == 1) else [target] * n
    if len(targets) != n:
        raise ValueError(f"got {len(targets)} targets for a batch of {n} images")
    model = as_model(model)
    out = [p if t is None else model.class_index(t) for t, p in zip(targets, logits.argmax(1).tolist())]
    for i in out:
        if not 0 <= i < classes:
            raise IndexError(f"class index {i} is out of range: the model has classes 0..{classes - 1}")
    return torch.tensor(out, device=logits.device)


def per_image(model, x: torch.Tensor, target) -> list:
    """`target` resolved once on the clean batch `x`: one class index per image, or the unit
    target repeated."""
    model = as_model(model)
    if unit(model, target) is not None:
        return [target] * len(x)
    with torch.no_grad(), frozen(model.net):
        return class_indices(model, target, model.net(x)).tolist()
