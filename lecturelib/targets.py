"""What a method explains, or an optimization makes large: the target, in one place.

Every method of the course takes a `target` in one of these forms:

    None                    the predicted class of each image
    281 or "tabby"          a class index, or a class name (names need an ll.Model)
    [281, None, "tabby"]    one of those per image
    "features.12:37"        a unit: channel 37 of layer features.12, its activation averaged over
                            the channel's positions (attribution and optimization alike)
    "features.12:37:6:6"    one neuron: channel 37 at row 6, column 6

Each method reads its target once, at the door: `resolve(model, target, n)` gives a `Unit` (`unit`
reads that form, checking the layer) or one class index per image, None for "the predicted
class", which `indices` settles against the scores. `per_image` settles it on the clean batch, so
that noisy or interpolated copies of an image all explain the same class. Past the door only
these resolved values travel (`attribution.score` takes them).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .hooks import frozen
from .models import as_model

__all__ = ["Unit", "unit", "resolve", "indices", "class_indices", "per_image"]

_FORM = "a unit target is 'layer:channel' or 'layer:channel:row:col'"


@dataclass(frozen=True)
class Unit:
    """Channel `channel` of layer `layer`; with `row` and `col`, the single neuron there.

    Parameters
    ----------
    layer : str
        A dotted layer name, e.g. "features.12".
    channel : int
    row, col : int, optional
        The neuron's position in the layer's map (None: the whole channel).
    """
    layer: str
    channel: int
    row: int | None = None
    col: int | None = None

    def value(self, a: torch.Tensor) -> torch.Tensor:
        """The unit's value for each image: the channel's mean over its positions (the one spatial
        reduction of the course), or the neuron's activation.

        Parameters
        ----------
        a : tensor, N x C x H x W
            The layer's activation.

        Returns
        -------
        tensor of N values

        Raises
        ------
        IndexError
            If the channel or the neuron is outside the layer's output.
        """
        if a.ndim != 4 or not 0 <= self.channel < a.shape[1]:
            raise IndexError(f"{self.layer} has {a.shape[1] if a.ndim > 1 else 0} channels (output shape {tuple(a.shape)}); "
                             f"channel {self.channel} is not one of them")
        if self.row is None:
            return a[:, self.channel].mean(dim=(1, 2))
        if not (0 <= self.row < a.shape[2] and 0 <= self.col < a.shape[3]):
            raise IndexError(f"{self.layer} is {a.shape[2]} x {a.shape[3]}; neuron ({self.row}, {self.col}) is outside it")
        return a[:, self.channel, self.row, self.col]


def unit(model, target) -> Unit | None:
    """The `Unit` a 'layer:channel[:row:col]' target names, or None for any other form.

    Parameters
    ----------
    model : Model or nn.Module
    target : any target form, or a Unit (returned as it is)

    Returns
    -------
    Unit or None

    Raises
    ------
    KeyError
        For an unknown layer (the message lists the closest names).
    ValueError
        If the string is not 'layer:channel' or 'layer:channel:row:col' with whole numbers.
    """
    if isinstance(target, Unit):
        return target
    if not isinstance(target, str) or ":" not in target:
        return None
    layer, *idx = target.split(":")
    as_model(model).layer(layer)
    try:
        idx = [int(i) for i in idx]
    except ValueError:
        raise ValueError(f"{_FORM}; got {target!r}") from None
    if len(idx) not in (1, 3):
        raise ValueError(f"{_FORM}; got {target!r}")
    return Unit(layer, *idx)


def _each(target, n: int) -> list:
    """One target per image: a list, tuple or 1-D tensor as given (it must hold n), anything else n times."""
    if isinstance(target, (list, tuple)) or (isinstance(target, torch.Tensor) and target.ndim == 1):
        if len(target) != n:
            raise ValueError(f"got {len(target)} targets for a batch of {n} images")
        return list(target)
    return [target] * n


def resolve(model, target, n: int) -> Unit | list:
    """`target` read once, for a batch of `n` images.

    Parameters
    ----------
    model : Model or nn.Module
    target : int, str, None, a list of them, or a unit
        Any form of the module docstring.
    n : int
        The number of images.

    Returns
    -------
    Unit or list
        A `Unit`, or one class index per image (None where it is that image's predicted class,
        which only the scores can tell: see `indices`).

    Raises
    ------
    ValueError
        If a list of targets does not hold `n` of them.
    """
    model = as_model(model)
    u = unit(model, target)
    if u is not None:
        return u
    return [None if t is None else model.class_index(t) for t in _each(target, n)]


def indices(classes, logits: torch.Tensor) -> torch.Tensor:
    """One class index per row of the N x classes `logits`, from resolved classes.

    Parameters
    ----------
    classes : int, None, or a list of them
        One index (or None) for every row, or one per row; None picks that row's top class.
    logits : tensor, N x classes

    Returns
    -------
    tensor of N ints

    Raises
    ------
    TypeError
        If a class is still a name or a unit (resolve it first).
    IndexError
        If an index is outside the model's classes.
    ValueError
        If a list does not hold one class per row.
    """
    if classes is None:
        return logits.argmax(1)
    chosen, size = _each(classes, logits.shape[0]), logits.shape[1]
    if any(isinstance(t, (str, Unit)) for t in chosen):
        raise TypeError(f"class indices are resolved: pass targets.resolve(model, target, n); got {classes!r}")
    out = [p if t is None else int(t) for t, p in zip(chosen, logits.argmax(1).tolist())]
    for i in out:
        if not 0 <= i < size:
            raise IndexError(f"class index {i} is out of range: the model has classes 0..{size - 1}")
    return torch.tensor(out, device=logits.device)


def classes_only(resolved, target, method: str) -> list:
    """`resolved` when it holds classes; a unit is refused with a message that names `method`.

    Parameters
    ----------
    resolved : Unit or list
        What `resolve` or `per_image` gave for `target`.
    target
        The target as it was given (for the message).
    method : str
        The method that needs a class (for the message).

    Returns
    -------
    list
        `resolved`, unchanged.

    Raises
    ------
    ValueError
        If `resolved` is a unit.
    """
    if isinstance(resolved, Unit) or (isinstance(resolved, list) and resolved and isinstance(resolved[0], Unit)):
        raise ValueError(f"{method} needs a class (an index or a name), not a unit of a layer; got {target!r} "
                         f"(units are for the gradient methods and ll.optimize_image)")
    return resolved


def class_indices(model, target, logits: torch.Tensor) -> torch.Tensor:
    """One class index per row of the N x classes `logits`, from a target in any class form.

    Parameters
    ----------
    model : Model or nn.Module
    target : int, str, None, or a list of them
        A class form of the module docstring (not a unit).
    logits : tensor, N x classes

    Returns
    -------
    tensor of N ints

    Raises
    ------
    ValueError
        For a unit target.
    """
    return indices(classes_only(resolve(model, target, logits.shape[0]), target, "a class score"), logits)


def per_image(model, x: torch.Tensor, target) -> list:
    """`target` resolved once on the clean batch `x`, as `attribution.score` takes it.

    Noisy or interpolated copies of an image then all explain the same class.

    Parameters
    ----------
    model : Model or nn.Module
    x : tensor, N x C x H x W, the model's normalized input
    target : any form of the module docstring

    Returns
    -------
    list
        One class index per image (None becomes the image's predicted class), or the `Unit`
        once per image.
    """
    model = as_model(model)
    resolved = resolve(model, target, len(x))
    if isinstance(resolved, Unit):
        return [resolved] * len(x)
    with torch.no_grad(), frozen(model.net):
        return indices(resolved, model.net(x)).tolist()
