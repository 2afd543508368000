"""Attribution: which input pixels explain a score.

Every method takes `(model, x, target, ...)` and returns a signed tensor:
    model   an `ll.Model` (then `x` may also be an image and `target` a class name) or an nn.Module
    x       N x C x H x W, the model's normalized input
    target  class index, class name, None (the predicted class), one of those per image, or a
            unit of a layer: "features.12:37" (channel 37, averaged over its positions) or "features.12:37:6:6"
            (the single neuron at row 6, column 6). A unit target backpropagates from that layer
            with every other activation there set to zero.

Input-shaped methods return N x C x H x W; map methods (Grad-CAM, occlusion) return N x 1 x H x W.
`max_abs(attr)` gives the N x H x W map of Simonyan et al. (largest magnitude over colour channels).

Occlusion, which needs no gradient, is in lecturelib.occlude; what to do with a finished map
(GrabCut, mass in a mask, the pointing game, the randomization check) is in lecturelib.evaluation.
Their names are here too, so that `at.occlusion` and `at.pointing_game` work after one import.

Guided backprop and deconvnet change the backward pass at every ReLU. They do it with a
TorchFunctionMode that sees every relu call of the forward pass (nn.ReLU modules, in-place ones as
in ResNet, one module called twice, and functional F.relu as in torchvision's GoogLeNet), so no
module hook is needed and nothing is left on the model. ReLU6 (min(max(x, 0), 6), EfficientNet-Lite's
and MobileNet's activation; nn.ReLU6 calls hardtanh(x, 0, 6)) is a ReLU with a ceiling and gets the
same rules, with "the unit passes the signal" meaning 0 < x < 6. Other activations (SiLU, GELU,
sigmoid, ...) get a warning: the rule cannot apply there, and their gradient is left as is.
"""
from __future__ import annotations

import contextlib
import math
import warnings

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from . import targets
from .evaluation import grabcut, mass_in_mask, pointing_game, randomized, weight_layers
from .hooks import capture, frozen
from .inputs import batch
from .models import Model, as_model
from .occlude import OCCLUSION_METHODS, occlusion

__all__ = ["saliency", "guided_backprop", "deconvnet", "grad_cam", "guided_grad_cam", "occlusion",
           "integrated_gradients", "smoothgrad", "max_abs", "score", "grabcut", "backward_rule", "mass_in_mask",
           "weight_layers", "randomized", "pointing_game", "completeness_warning", "OCCLUSION_METHODS"]


# ------------------------------------------------------------------------------------ inputs and targets
def score(model, x: torch.Tensor, target=None) -> torch.Tensor:
    """The N scores to explain, for a target already resolved (`targets.resolve`, `targets.per_image`).

    A `targets.Unit` gives the unit's value (a channel's mean, or one neuron); class indices give
    the class scores S_c(x) before softmax. Names and 'layer:channel' strings: resolve them first.

    Parameters
    ----------
    model : Model or nn.Module
    x : tensor, N x C x H x W, the model's normalized input
    target : Unit, int, list of int, or None
        A unit, or one class index for all images or one per image (None: the predicted class).

    Returns
    -------
    tensor of N values

    Raises
    ------
    ValueError
        If the model's output is not N x classes.
    """
    model = as_model(model)
    if isinstance(target, targets.Unit):
        with capture(model, target.layer) as rec:
            model.net(x)
        return target.value(rec.activations[target.layer])
    logits = model.net(x)
    if logits.ndim != 2:
        raise ValueError(f"the model returns shape {tuple(logits.shape)}, not N x classes")
    idx = targets.indices(target, logits)
    return logits.gather(1, idx[:, None])[:, 0]


def _gradient(model: Model, x: torch.Tensor, target, mode: TorchFunctionMode | None = None) -> torch.Tensor:
    """d score / d x for a batch (each image's score depends only on its own input in eval mode).
    With `mode` (a `backward_rule`), the forward pass runs inside it, so its ReLU rule shapes the backward."""
    with frozen(model.net), torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        with mode or contextlib.nullcontext():
            s = score(model, x + 0, target)  # + 0: a model whose first op is in-place must not write into the leaf
        (grad,) = torch.autograd.grad(s.sum(), x)
    return grad


# ------------------------------------------------------------------------------------ ReLU backward rules
class _Rule(torch.autograd.Function):
    """min(relu(x), top) forward (top = inf: ReLU; 6: ReLU6); backward by `rule`, where the unit
    passes the signal when 0 < x < top:
         backprop  g * [0 < x < top]          (the ordinary gradient)
         deconvnet relu(g)                    (Zeiler & Fergus: ignore the forward signal)
         guided    relu(g) * [0 < x < top]    (Springenberg et al.: both)"""

    @staticmethod
    def forward(ctx, x, rule, top=math.inf):
        ctx.rule = rule
        out = x.clamp(min=0) if top == math.inf else x.clamp(0, top)
        ctx.save_for_backward((x > 0) & (x < top))
        return out

    @staticmethod
    def backward(ctx, g):
        (positive,) = ctx.saved_tensors
        if ctx.rule == "backprop":
            return g * positive, None, None
        if ctx.rule == "deconvnet":
            return g.clamp(min=0), None, None
        return g.clamp(min=0) * positive, None, None


_RELUS = {F.relu, torch.relu, torch.Tensor.relu}
_RELUS_INPLACE = {F.relu_, torch.relu_, torch.Tensor.relu_}
_OTHER_ACTIVATIONS = {F.silu, F.gelu, F.elu, F.selu, F.celu, F.leaky_relu, F.hardswish, F.hardsigmoid,
                      F.hardtanh, F.mish, F.softplus, F.sigmoid, F.tanh, torch.sigmoid, torch.tanh,
                      torch.Tensor.sigmoid, torch.Tensor.tanh, F.prelu, F.rrelu, F.glu, F.logsigmoid}


def _relu_ceiling(func, args, kwargs) -> float | None:
    """inf for a ReLU call, the ceiling for ReLU6 and hardtanh(x, 0, top), None for anything else."""
    if func in _RELUS or func in _RELUS_INPLACE:
        return math.inf
    if func is F.relu6:
        return 6.0
    if func is F.hardtanh:
        low = args[1] if len(args) > 1 else kwargs.get("min_val", -1.0)
        high = args[2] if len(args) > 2 else kwargs.get("max_val", 1.0)
        return float(high) if low == 0 and high > 0 else None
    return None


class backward_rule(TorchFunctionMode):
    """Inside `with backward_rule("guided"):` every ReLU (and ReLU6) of a forward pass back-propagates
    by the rule (see `_Rule`). `.relus` counts the ReLU calls seen; `.others` names the other
    activations met (their gradient is left as is).

    Parameters
    ----------
    rule : str
        "backprop" (the ordinary gradient), "deconvnet" (Zeiler & Fergus) or "guided"
        (Springenberg et al.).

    Raises
    ------
    ValueError
        For an unknown rule.
    """

    def __init__(self, rule: str):
        super().__init__()
        if rule not in ("backprop", "deconvnet", "guided"):
            raise ValueError(f"rule is 'backprop', 'deconvnet' or 'guided'; got {rule!r}")
        self.rule, self.relus, self.others = rule, 0, set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        positional = {F.relu: 1, F.relu6: 1, F.hardtanh: 3}.get(func)  # where `inplace` sits among the arguments
        inplace = func in _RELUS_INPLACE or kwargs.get("inplace", False) or bool(
            positional and len(args) > positional and args[positional])
        top = _relu_ceiling(func, args, kwargs)
        if top is not None:
            self.relus += 1
            x = args[0]
            out = _Rule.apply(x, self.rule, top)
            # in-place variants also write into x, for code that ignores the return value
            return x.copy_(out) if inplace else out
        if func in _OTHER_ACTIVATIONS or func is F.hardtanh or func is F.relu6:
            self.others.add(getattr(func, "__name__", str(func)))
        return func(*args, **kwargs)


def _rule_gradient(model: Model, x: torch.Tensor, target, rule: str, method: str) -> torch.Tensor:
    mode = backward_rule(rule)
    grad = _gradient(model, x, target, mode)
    if mode.others:
        warnings.warn(f"{method}: the model uses {', '.join(sorted(mode.others))}; the {method} rule applies only "
                      f"at ReLUs, so the gradient passes through those activations unchanged", stacklevel=3)
    if mode.relus == 0:
        warnings.warn(f"{method}: the model has no ReLU, so this is the plain gradient", stacklevel=3)
    return grad


# ------------------------------------------------------------------------------------ gradient methods
def saliency(model, x, target=None) -> torch.Tensor:
    """The gradient dS_c/dx (Simonyan et al. 2014), signed; `max_abs(saliency(...))` is the paper's map.

    Parameters
    ----------
    model : Model or nn.Module
    x : tensor, N x C x H x W, the model's normalized input (or a picture, with an ll.Model)
    target : int, str, None, a list of them, or "layer:channel[:row:col]"
        What to explain (see the module docstring); None: each image's predicted class.

    Returns
    -------
    tensor, N x C x H x W
    """
    model, x = batch(model, x)
    return _gradient(model, x, targets.resolve(model, target, len(x)))


def max_abs(attr: torch.Tensor) -> torch.Tensor:
    """The largest magnitude over colour channels: Simonyan et al.'s map from a gradient.

    Parameters
    ----------
    attr : tensor, N x C x H x W

    Returns
    -------
    tensor, N x H x W
    """
    return attr.abs().amax(dim=1)


def guided_backprop(model, x, target=None) -> torch.Tensor:
    """Guided backpropagation (Springenberg et al. 2015): each ReLU passes back only positive
    signal, and only where its input was positive. A warning says when the model has no ReLU, or
    activations the rule cannot apply to (SiLU, GELU, ...).

    Parameters
    ----------
    model, x, target
        As in `saliency`.

    Returns
    -------
    tensor, N x C x H x W
    """
    model, x = batch(model, x)
    return _rule_gradient(model, x, targets.resolve(model, target, len(x)), "guided", "guided backprop")


def deconvnet(model, x, target=None) -> torch.Tensor:
    """Deconvnet reconstruction (Zeiler & Fergus 2014) as a backward rule: each ReLU passes back
    only positive signal, whatever its input was. Warns as `guided_backprop` does.

    Parameters
    ----------
    model, x, target
        As in `saliency`.

    Returns
    -------
    tensor, N x C x H x W
    """
    model, x = batch(model, x)
    return _rule_gradient(model, x, targets.resolve(model, target, len(x)), "deconvnet", "deconvnet")


def grad_cam(model, x, target=None, layer: str | None = None) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017): ReLU(sum_k alpha_k A^k), with alpha_k the spatial mean
    of dS_c/dA^k, upsampled (bilinear) to the input; non-negative. A warning names the images
    whose map is zero everywhere.

    Parameters
    ----------
    model, x, target
        As in `saliency`.
    layer : str
        A dotted layer name whose output is N x K x h x w (e.g. squeezenet1_1 "features.12",
        resnet18 "layer4"); required.

    Returns
    -------
    tensor, N x 1 x H x W

    Raises
    ------
    TypeError
        If `layer` is not given.
    ValueError
        If the layer's output is not N x K x h x w (or gets no gradient).
    """
    model, x = batch(model, x)
    return _cam(model, x, targets.resolve(model, target, len(x)), layer)


def _cam(model: Model, x: torch.Tensor, target, layer: str | None) -> torch.Tensor:
    if layer is None:
        raise TypeError("grad_cam needs layer=..., the name of a convolutional layer (see model.layer_names())")
    with frozen(model.net), torch.enable_grad(), capture(model, layer) as rec:
        s = score(model, x.clone().requires_grad_(True) + 0, target)
        s.sum().backward()
    a, g = rec.activations[layer].detach(), rec.gradients.get(layer)
    if a.ndim != 4 or g is None:
        raise ValueError(f"layer {layer!r} gives output shape {tuple(a.shape)}; Grad-CAM needs a conv layer's N x K x h x w")
    cam = F.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True))
    empty = [i for i in range(len(cam)) if not cam[i].any()]
    if empty:
        warnings.warn(f"Grad-CAM is zero everywhere for image(s) {empty}: the score has no positive evidence at "
                      f"{layer!r} (a final ReLU, as in SqueezeNet, gives a class with no evidence zero gradient)",
                      stacklevel=3)
    return F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)


def guided_grad_cam(model, x, target=None, layer: str | None = None) -> torch.Tensor:
    """Guided Grad-CAM (Selvaraju et al.): guided backprop x Grad-CAM, sharp and class-discriminative.

    Parameters
    ----------
    model, x, target, layer
        As in `grad_cam`.

    Returns
    -------
    tensor, N x C x H x W

    Raises
    ------
    TypeError, ValueError
        As in `grad_cam`.
    """
    model, x = batch(model, x)
    target = targets.resolve(model, target, len(x))
    cam = _cam(model, x, target, layer)
    return _rule_gradient(model, x, target, "guided", "guided backprop") * cam


def smoothgrad(model, x, target=None, samples: int = 25, noise: float = 0.15, batch_size: int = 25,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """SmoothGrad (Smilkov et al. 2017): the mean gradient over `samples` noisy copies of each image.

    Parameters
    ----------
    model, x, target
        As in `saliency`.
    samples, batch_size : int
        Noisy copies per image (PAIR's saliency library: 25), and per backward pass.
    noise : float
        The noise's standard deviation as a fraction of the image's range, max - min, in the
        normalized input (PAIR: 0.15).
    generator : torch.Generator, optional
        Draws the noise (default: a new one seeded with 0, so repeated calls agree).

    Returns
    -------
    tensor, N x C x H x W

    Raises
    ------
    ValueError
        If `samples` or `batch_size` is below 1.
    """
    model, x = batch(model, x)
    if samples < 1 or batch_size < 1:
        raise ValueError(f"samples and batch_size must be >= 1; got {samples}, {batch_size}")
    generator = generator or torch.Generator(device=x.device).manual_seed(0)
    out = []
    for xi, t in zip(x, targets.per_image(model, x, target)):
        sd = noise * float(xi.max() - xi.min())
        total = torch.zeros_like(xi)
        for start in range(0, samples, batch_size):
            m = min(batch_size, samples - start)
            noisy = xi[None] + sd * torch.randn((m, *xi.shape), generator=generator, device=x.device)
            total += _gradient(model, noisy, t).sum(0)
        out.append(total / samples)
    return torch.stack(out)


COMPLETENESS_TOLERANCE = 0.01  # the completeness error allowed, as a fraction of |S(x) - S(x')|


def completeness_warning(delta: float, gap: float, steps: int, power: float = 1.0) -> str:
    """The warning of `integrated_gradients` when completeness misses by over COMPLETENESS_TOLERANCE.

    Parameters
    ----------
    delta, gap : float
        The completeness error, sum of attributions - (S(x) - S(x')), and S(x) - S(x').
    steps, power
        The settings used, as in `integrated_gradients`.

    Returns
    -------
    str
    """
    return (f"integrated gradients: the attributions miss completeness by {abs(delta):.3g} of S(x) - S(x') = {gap:.3g} "
            f"({abs(delta) / max(abs(gap), 1e-12):.1%}, above {COMPLETENESS_TOLERANCE:.0%}) with steps={steps}, "
            f"power={power:g}; use more steps" + (", or power=3 (points crowded near the baseline)" if power == 1 else ""))


def integrated_gradients(model, x, target=None, baseline: float | torch.Tensor | None = None, steps: int = 50,
                         batch_size: int = 50, return_delta: bool = False,
                         power: float = 1.0) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Integrated gradients (Sundararajan et al. 2017): (x - x') * integral over alpha in [0, 1] of
    dS/dx(x' + alpha (x - x')), by the midpoint rule with `steps` points.

    Completeness: the attributions should sum to S(x) - S(x'). The error is always checked; above
    COMPLETENESS_TOLERANCE of |S(x) - S(x')| a warning suggests more steps (a real ImageNet
    network, with its sharp ReLU6 corners, needs far more than a small course model).

    Parameters
    ----------
    model, x, target
        As in `saliency`.
    baseline : float or tensor, optional
        x', in the normalized input: None is zeros (the mean colour, a grey image); a number
        fills the image; a tensor is broadcast to x's shape.
    steps, batch_size : int
        Points on the path, and points per backward pass.
    return_delta : bool
        Also return the completeness error per image.
    power : float
        The points are alpha = u^power for evenly spaced midpoints u, each gradient weighted by
        dalpha/du = power * u^(power - 1). 1 is the paper's even spacing; 3 crowds the points
        near the baseline, where a trained network's score changes most.

    Returns
    -------
    tensor, N x C x H x W
        The attributions; with `return_delta`, the pair (attributions, N errors), each error
        sum of attributions - (S(x) - S(x')), which shrinks as `steps` grows.

    Raises
    ------
    ValueError
        If `steps` or `batch_size` is below 1, or `power` is not positive.
    """
    model, x = batch(model, x)
    if steps < 1 or batch_size < 1 or power <= 0:
        raise ValueError(f"steps and batch_size must be >= 1 and power > 0; got {steps}, {batch_size}, {power}")
    base = torch.zeros_like(x) if baseline is None else (
        torch.full_like(x, float(baseline)) if isinstance(baseline, (int, float)) else baseline.to(x).expand_as(x))
    u = (torch.arange(steps, device=x.device, dtype=x.dtype) + 0.5) / steps
    alphas, weights = u ** power, power * u ** (power - 1)
    attrs, deltas = [], []
    for xi, bi, t in zip(x, base, targets.per_image(model, x, target)):
        total = torch.zeros_like(xi)
        for a, w in zip(alphas.split(batch_size), weights.split(batch_size)):
            path = bi[None] + a.view(-1, 1, 1, 1) * (xi - bi)[None]
            total += (_gradient(model, path, t) * w.view(-1, 1, 1, 1)).sum(0)
        attr = (xi - bi) * total / steps
        attrs.append(attr)
        with torch.no_grad(), frozen(model.net):
            s = score(model, torch.stack([xi, bi]), t)
        deltas.append(float(attr.sum() - (s[0] - s[1])))
        gap = float(s[0] - s[1])
        if abs(deltas[-1]) > COMPLETENESS_TOLERANCE * abs(gap):
            warnings.warn(completeness_warning(deltas[-1], gap, steps, power), stacklevel=2)
    attrs = torch.stack(attrs)
    return (attrs, torch.tensor(deltas)) if return_delta else attrs
