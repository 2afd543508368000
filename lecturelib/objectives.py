"""Objectives: what an image optimization makes large, one value per image.

An objective reads a dict of activations: each layer it names, OUTPUT ("") for the class scores
and INPUT for the image itself (N x C x H x W pixels in [0, 1], before any transform). One-line
forms (`objective`): a class index or name (its score before softmax), "layer:channel" (the
channel's mean), "layer:channel:row:col" (one neuron), "layer" (the layer's 0.5*|a|^2, DeepDream).
Penalties are objectives on the image: `l2()`, `tv()`, `alpha_norm(a)`. They compose:
`class_score("tabby") - 0.02 * l2()`, `match(...) + 1e3 * style(...)`.

To add an objective: write a function here that returns `Objective(fn, layers, name)`.
"""
from __future__ import annotations

from typing import Callable

import torch

from . import targets
from .hooks import capture, frozen
from .models import Model, as_model

__all__ = ["Objective", "objective", "class_score", "log_prob", "channel", "neuron", "layer_norm", "smooth",
           "match", "gram", "style", "l2", "tv", "alpha_norm", "penalty", "codes", "ZERO", "OUTPUT", "INPUT",
           "GREY", "PUBLISHED_STD"]

OUTPUT = ""          # the key of the network's output (class scores) among what an objective sees
INPUT = "<input>"    # the key of the image itself (N x C x H x W pixels, before the transforms): for penalties
PUBLISHED_STD = 0.226  # one unit of the ImageNet-normalized space of the published settings, in pixels
GREY = 0.5           # mid-grey: where the L2 and alpha-norm priors pull the pixels, and where starts are centred


class Objective:
    """A score to maximize, one value per image, that composes with + - * and sum().

    Parameters
    ----------
    fn : callable
        fn(acts) -> tensor of N values; `acts` maps each name in `layers` to that layer's output,
        OUTPUT to the class scores (N x K) and INPUT to the image (N x C x H x W pixels).
    layers : sequence of str
        The layers `fn` reads (the loop records exactly these).
    name : str
        A readable name (progress bars, titles).
    bind : callable, optional
        bind(model) -> Objective, for objectives that need the model (classes given by name).
    """

    def __init__(self, fn: Callable[[dict], torch.Tensor], layers=(), name: str = "objective",
                 bind: Callable[[Model], Objective] | None = None):
        self.fn, self.layers, self.name, self._bind = fn, tuple(dict.fromkeys(layers)), name, bind

    def __call__(self, acts: dict) -> torch.Tensor:
        return self.fn(acts)

    def bind(self, model) -> Objective:
        """This objective with class names resolved on `model` (itself when there are none)."""
        return self if self._bind is None else self._bind(as_model(model))

    def __add__(self, other):
        if isinstance(other, (int, float)) and other == 0:  # sum() starts from 0
            return self
        if not isinstance(other, Objective):
            return NotImplemented
        bind = (lambda m: self.bind(m) + other.bind(m)) if self._bind or other._bind else None
        return Objective(lambda a: self(a) + other(a), self.layers + other.layers, f"{self.name} + {other.name}",
                         bind)

    __radd__ = __add__

    def __mul__(self, k):
        if not isinstance(k, (int, float)):
            return NotImplemented
        bind = (lambda m: k * self.bind(m)) if self._bind else None
        return Objective(lambda a: k * self(a), self.layers, f"{k:g}*{self.name}", bind)

    __rmul__ = __mul__

    def __neg__(self):
        return -1 * self

    def __sub__(self, other):
        return self + (-other)

    def __repr__(self) -> str:
        return f"Objective({self.name})"


def _layer(acts: dict, name: str) -> torch.Tensor:
    a = acts[name]
    if a.ndim != 4:
        raise ValueError(f"layer {name!r} outputs shape {tuple(a.shape)}; unit objectives need N x C x H x W")
    return a


def _label(index) -> str:
    return str(index.tolist() if isinstance(index, torch.Tensor) else index)


def _named(index) -> bool:
    """Whether a class target holds a name (resolved later, on the model)."""
    return isinstance(index, str) or (isinstance(index, (list, tuple)) and any(isinstance(i, str) for i in index))


def _by_name(make: Callable, index, what: str) -> Objective:
    """An objective over classes given by name: it needs `bind(model)` before use."""
    name = f"{what}[{_label(index)}]"   # kept once bound: "score[tarantula]" reads better than "score[76]"

    def unbound(acts):
        raise ValueError(f"{name} names a class: give it to ll.optimize_image (or call "
                         f".bind(model)) so the name can be looked up")

    def bind(model):
        idx = [model.class_index(i) for i in index] if isinstance(index, (list, tuple)) else model.class_index(index)
        bound = make(idx)
        return Objective(bound.fn, bound.layers, name)
    return Objective(unbound, (), name, bind)


def _one_per_image(index, scores: torch.Tensor) -> torch.Tensor:
    """Class indices as an N x 1 column for N x K scores: one class for all images, or one per image."""
    idx = torch.as_tensor(index, device=scores.device).reshape(-1, 1)
    if len(idx) not in (1, len(scores)):
        raise ValueError(f"{len(idx)} classes for {len(scores)} images: give one class for all, or one per image")
    return idx.expand(len(scores), 1)


def class_score(index) -> Objective:
    """The score S_c of a class before softmax.

    Parameters
    ----------
    index : int, str, or sequence of them
        One class for every image, or one per image; names are resolved on the model the
        objective is used with.

    Returns
    -------
    Objective
    """
    if _named(index):
        return _by_name(class_score, index, "score")

    def fn(acts):
        return acts[OUTPUT].gather(1, _one_per_image(index, acts[OUTPUT]))[:, 0]
    return Objective(fn, (), f"score[{_label(index)}]")


def log_prob(index) -> Objective:
    """log p(c | x): the class score minus the log-sum-exp of all scores, so raising it also
    pushes every other class down.

    Parameters
    ----------
    index : int, str, or sequence of them
        As in `class_score`.

    Returns
    -------
    Objective
    """
    if _named(index):
        return _by_name(log_prob, index, "log p")

    def fn(acts):
        return torch.log_softmax(acts[OUTPUT], 1).gather(1, _one_per_image(index, acts[OUTPUT]))[:, 0]
    return Objective(fn, (), f"log p[{_label(index)}]")


def channel(layer: str, ch: int) -> Objective:
    """The mean activation of channel `ch` of `layer` over its positions (`targets.Unit`).

    Returns
    -------
    Objective
    """
    def fn(acts):
        return targets.Unit(layer, ch).value(_layer(acts, layer))
    return Objective(fn, (layer,), f"{layer}:{ch}")


def neuron(layer: str, ch: int, row: int | None = None, col: int | None = None) -> Objective:
    """One neuron: channel `ch` of `layer` at (`row`, `col`); None means the centre.

    Returns
    -------
    Objective
    """
    def fn(acts):
        a = _layer(acts, layer)
        r = a.shape[2] // 2 if row is None else row
        c = a.shape[3] // 2 if col is None else col
        return targets.Unit(layer, ch, r, c).value(a)
    return Objective(fn, (layer,), f"{layer}:{ch}:{row}:{col}")


def layer_norm(layer: str) -> Objective:
    """0.5*|a|^2 of the whole layer, per image. Its gradient with respect to the activations is
    the activations themselves ("whatever you see, see more of it": DeepDream).

    Returns
    -------
    Objective
    """
    return Objective(lambda acts: 0.5 * acts[layer].pow(2).flatten(1).sum(1), (layer,), f"0.5*|{layer}|^2")


def smooth(features: torch.Tensor, temperature: float | None) -> torch.Tensor:
    """Wang, Li & Vasconcelos (2021): K * softmax(features / temperature) over all of one image's
    activations at a layer (K of them, every channel and position).

    The factor K makes the result average 1 whatever the layer's size (the paper's softmax sums
    to 1; the factor only rescales the losses). For a spread of activations much smaller than the
    temperature the map is nearly linear, 1 + (F - mean) / T; where the largest activations exceed
    the rest by many T it is nearly an arg-max.

    Parameters
    ----------
    features : tensor, N x ...
    temperature : float > 0, or None
        None returns `features` unchanged.

    Returns
    -------
    tensor of the shape of `features`

    Raises
    ------
    ValueError
        If the temperature is not a positive number.
    """
    if temperature is None:
        return features
    if not temperature > 0:
        raise ValueError(f"the softmax temperature must be a positive number; got {temperature!r}")
    flat = features.flatten(1)
    return (flat.shape[1] * torch.softmax(flat / temperature, 1)).reshape(features.shape)


def match(layer: str, target: torch.Tensor, temperature: float | None = None) -> Objective:
    """-|phi(x) - phi0|^2 (summed squared error) against a target code at `layer`.

    Parameters
    ----------
    layer : str
    target : tensor, 1 x ... or N x ...
        The code phi0 (detached here).
    temperature : float, optional
        Compare smoothed codes (`smooth`); the target must be smoothed the same way.

    Returns
    -------
    Objective
    """
    target = target.detach()
    return Objective(lambda acts: -(smooth(acts[layer], temperature) - target).pow(2).flatten(1).sum(1), (layer,),
                     f"match {layer}")


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices G = F F^T / (C*H*W), with F the C x (H*W) matrix of one image.

    Parameters
    ----------
    features : tensor, N x C x H x W

    Returns
    -------
    tensor, N x C x C
    """
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style(layer: str, target_gram: torch.Tensor, temperature: float | None = None) -> Objective:
    """-E_l, Gatys et al.'s style loss at one layer.

    E_l = sum((G - A)^2) / (4 N^2 M^2) with the raw Gram matrices of N filters over M positions;
    with `gram`'s 1/(N*M) scaling that is sum((G - A)^2) / 4.

    Parameters
    ----------
    layer : str
    target_gram : tensor, 1 x C x C or N x C x C
        A, the style image's Gram matrix (detached here).
    temperature : float, optional
        G of the smoothed features (`smooth`); A must be made the same way.

    Returns
    -------
    Objective
    """
    target_gram = target_gram.detach()
    return Objective(lambda acts: -(gram(smooth(_layer(acts, layer), temperature)) - target_gram
                                    ).pow(2).flatten(1).sum(1) / 4, (layer,), f"style {layer}")


# Penalties: objectives on the image (INPUT, pixels), to be subtracted: `score - 0.02 * l2()`.
def l2() -> Objective:
    """|x - 0.5|^2: the sum of squares of the image's distance from mid-grey, per image (weight
    decay; CS231n's lambda*|I|^2 on the normalized image, whose zero is about the mean colour).

    Returns
    -------
    Objective
    """
    return Objective(lambda acts: (acts[INPUT] - GREY).pow(2).flatten(1).sum(1), (), "|x - 0.5|^2")


def tv() -> Objective:
    """Total variation: the sum of squared differences of neighbouring pixels, per image.

    Returns
    -------
    Objective
    """
    def fn(acts):
        x = acts[INPUT]
        return ((x[:, :, 1:] - x[:, :, :-1]).pow(2).flatten(1).sum(1)
                + (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).flatten(1).sum(1))
    return Objective(fn, (), "TV(x)")


def alpha_norm(alpha: float = 6.0) -> Objective:
    """sum(|x - 0.5|^alpha) per image: Mahendran & Vedaldi's alpha-norm prior (alpha = 6), which
    keeps pixels in range.

    Returns
    -------
    Objective
    """
    return Objective(lambda acts: (acts[INPUT] - GREY).abs().pow(alpha).flatten(1).sum(1), (),
                     f"|x - 0.5|_{alpha:g}^{alpha:g}")


ZERO = Objective(lambda acts: acts[INPUT].new_zeros(len(acts[INPUT])), (), "0")  # no penalty


def penalty(weights: dict, alpha: float = 6.0) -> Objective:
    """sum(weight * penalty) over the non-zero weights of {"l2", "tv", "alpha_norm"}, as one objective.

    Parameters
    ----------
    weights : dict
        {"l2": float, "tv": float, "alpha_norm": float}; any may be missing or 0.
    alpha : float
        The exponent of `alpha_norm`.

    Returns
    -------
    Objective
        ZERO when every weight is 0.
    """
    terms = {"l2": l2, "tv": tv, "alpha_norm": lambda: alpha_norm(alpha)}
    return sum((w * terms[k]() for k, w in weights.items() if w), ZERO)


def is_class_list(spec) -> bool:
    """Whether an objective's one-line form is one class per image: a list, tuple or 1-D tensor."""
    return isinstance(spec, (list, tuple)) or (isinstance(spec, torch.Tensor) and spec.dim() == 1)


def images_for(spec) -> int:
    """How many images an objective's one-line form asks for: one per class of a list, else 1."""
    return len(spec) if is_class_list(spec) else 1


def objective(model, spec) -> Objective:
    """An `Objective` from its one-line form (see the module docstring).

    Parameters
    ----------
    model : Model or nn.Module
    spec : int, str, a list / 1-D tensor of classes, or Objective
        A class index or name, one class per image, "layer:channel", "layer:channel:row:col",
        "layer", or an Objective (returned bound to the model: class names resolved).

    Returns
    -------
    Objective

    Raises
    ------
    TypeError
        If `spec` has none of these forms.
    """
    if isinstance(spec, Objective):
        return spec.bind(model)
    model = as_model(model)
    if isinstance(spec, str) and ":" in spec:
        u = targets.unit(model, spec)
        return channel(u.layer, u.channel) if u.row is None else neuron(u.layer, u.channel, u.row, u.col)
    if isinstance(spec, str) and spec in model.layer_names():
        return layer_norm(spec)
    if isinstance(spec, (str, int)):
        return class_score(model.class_index(spec))
    if is_class_list(spec):
        return class_score([model.class_index(c) for c in spec])
    raise TypeError(f"cannot make an objective from {spec!r}: use a class (index or name) or a list of them, "
                    "'layer', 'layer:channel', 'layer:channel:row:col' or an ll.objectives.Objective")


def codes(model: Model, x: torch.Tensor, layers) -> dict:
    """The code of `x` at each layer: {layer: its output}, detached, the model left as it was.

    Parameters
    ----------
    model : Model
    x : tensor, N x C x H x W, the model's normalized input
    layers : sequence of str

    Returns
    -------
    dict of str to tensor
    """
    with torch.no_grad(), frozen(model.net), capture(model, list(layers), detach=True) as rec:
        model.net(x)
    return dict(rec.activations)
