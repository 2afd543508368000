"""Attribution: which input pixels explain a score.

Every method takes `(model, x, target, ...)` and returns a signed tensor:
    model   an `ll.Model` (then `x` may also be an image and `target` a class name) or an nn.Module
    x       N×C×H×W normalized input
    target  class index, class name, None (the predicted class), one of those per image, or a
            unit of a layer: "features.12:37" (channel 37, averaged over its positions) or "features.12:37:6:6"
            (the single neuron at row 6, column 6). A unit target backpropagates from that layer
            with every other activation there set to zero.

Input-shaped methods return N×C×H×W; map methods (Grad-CAM, occlusion) return N×1×H×W.
`max_abs(attr)` gives the N×H×W map of Simonyan et al. (largest magnitude over colour channels).

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
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from . import targets
from .hooks import capture, frozen
from .incremental import Incremental, Unsupported
from .models import Model, as_model

__all__ = ["saliency", "guided_backprop", "deconvnet", "grad_cam", "guided_grad_cam", "occlusion",
           "integrated_gradients", "smoothgrad", "max_abs", "grabcut", "backward_rule", "mass_in_mask",
           "weight_layers", "randomized", "completeness_warning"]


# ------------------------------------------------------------------------------------ inputs and targets
def _door(model, x) -> tuple[Model, torch.Tensor]:
    """Every method starts here: the model as an ll.Model (a bare nn.Module becomes a plain one)
    and x as a detached float N×C×H×W batch on the model's device (pictures are preprocessed)."""
    model = as_model(model)
    x = model.as_input(x)
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"x must be a float N×C×H×W batch; got shape {tuple(x.shape)}, dtype {x.dtype} "
                         f"(one image: x[None])")
    return model, x.detach()


def score(model, x: torch.Tensor, target=None) -> torch.Tensor:
    """The N scores to explain: class scores S_c(x) before softmax, or a unit's value
    (lecturelib.targets: a channel's mean over its positions, or one neuron)."""
    model = as_model(model)
    net = model.net
    u = targets.unit(model, target)
    if u is None:
        logits = net(x)
        if logits.ndim != 2:
            raise ValueError(f"the model returns shape {tuple(logits.shape)}, not N×classes")
        idx = targets.class_indices(model, target, logits)
        return logits.gather(1, idx[:, None])[:, 0]
    with capture(net, u.layer) as rec:
        net(x)
    return u.value(rec.activations[u.layer])


def _gradient(model, x: torch.Tensor, target, mode: TorchFunctionMode | None = None) -> torch.Tensor:
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
    """min(relu(x), top) forward (top = ∞: ReLU; 6: ReLU6); backward by `rule`, where the unit
    passes the signal when 0 < x < top:
         backprop  g · [0 < x < top]          (the ordinary gradient)
         deconvnet relu(g)                    (Zeiler & Fergus: ignore the forward signal)
         guided    relu(g) · [0 < x < top]    (Springenberg et al.: both)"""

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
    """∞ for a ReLU call, the ceiling for ReLU6 and hardtanh(x, 0, top), None for anything else."""
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
    by the rule (see `_Rule`). `.relus` counts those seen; `.others` names other activations met."""

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


def _rule_gradient(model, x, target, rule: str, method: str) -> torch.Tensor:
    mode = backward_rule(rule)
    grad = _gradient(*_door(model, x), target, mode)
    if mode.others:
        warnings.warn(f"{method}: the model uses {', '.join(sorted(mode.others))}; the {method} rule applies only "
                      f"at ReLUs, so the gradient passes through those activations unchanged", stacklevel=3)
    if mode.relus == 0:
        warnings.warn(f"{method}: the model has no ReLU, so this is the plain gradient", stacklevel=3)
    return grad


# ------------------------------------------------------------------------------------ gradient methods
def saliency(model, x, target=None) -> torch.Tensor:
    """∂S_c/∂x (Simonyan et al. 2014): N×C×H×W, signed. `max_abs(saliency(...))` is the paper's map."""
    return _gradient(*_door(model, x), target)


def max_abs(attr: torch.Tensor) -> torch.Tensor:
    """N×C×H×W → N×H×W: the largest magnitude over colour channels (Simonyan et al.)."""
    return attr.abs().amax(dim=1)


def guided_backprop(model, x, target=None) -> torch.Tensor:
    """Guided backpropagation (Springenberg et al. 2015): N×C×H×W."""
    return _rule_gradient(model, x, target, "guided", "guided backprop")


def deconvnet(model, x, target=None) -> torch.Tensor:
    """Deconvnet reconstruction (Zeiler & Fergus 2014) expressed as a backward rule: N×C×H×W."""
    return _rule_gradient(model, x, target, "deconvnet", "deconvnet")


def grad_cam(model, x, target=None, layer: str | None = None) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017): ReLU(Σ_k α_k A^k) with α_k the spatial mean of ∂S_c/∂A^k,
    upsampled (bilinear) to the input: N×1×H×W, non-negative. `layer`: a dotted name whose
    output is N×K×h×w (e.g. squeezenet1_1 "features.12", resnet18 "layer4")."""
    if layer is None:
        raise TypeError("grad_cam needs layer=..., the name of a convolutional layer (see model.layer_names())")
    model, x = _door(model, x)
    net = model.net
    with frozen(net), torch.enable_grad(), capture(net, layer) as rec:
        s = score(model, x.clone().requires_grad_(True) + 0, target)
        s.sum().backward()
    a, g = rec.activations[layer].detach(), rec.gradients.get(layer)
    if a.ndim != 4 or g is None:
        raise ValueError(f"layer {layer!r} gives output shape {tuple(a.shape)}; Grad-CAM needs a conv layer's N×K×h×w")
    cam = F.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True))
    empty = [i for i in range(len(cam)) if not cam[i].any()]
    if empty:
        warnings.warn(f"Grad-CAM is zero everywhere for image(s) {empty}: the score has no positive evidence at "
                      f"{layer!r} (a final ReLU, as in SqueezeNet, gives a class with no evidence zero gradient)",
                      stacklevel=2)
    return F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)


def guided_grad_cam(model, x, target=None, layer: str | None = None) -> torch.Tensor:
    """Guided backprop × Grad-CAM (Selvaraju et al.): N×C×H×W, sharp and class-discriminative."""
    return guided_backprop(model, x, target) * grad_cam(model, x, target, layer)


def smoothgrad(model, x, target=None, samples: int = 25, noise: float = 0.15, batch_size: int = 25,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """SmoothGrad (Smilkov et al. 2017): the mean gradient over `samples` noisy copies of each image,
    noise sd = `noise` × (max − min) of the image (PAIR defaults: 0.15, 25 samples). N×C×H×W."""
    model, x = _door(model, x)
    if samples < 1 or batch_size < 1:
        raise ValueError(f"samples and batch_size must be ≥ 1; got {samples}, {batch_size}")
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


COMPLETENESS_TOLERANCE = 0.01


def completeness_warning(delta: float, gap: float, steps: int, power: float = 1.0) -> str:
    return (f"integrated gradients: the attributions miss completeness by {abs(delta):.3g} of S(x) − S(x') = {gap:.3g} "
            f"({abs(delta) / max(abs(gap), 1e-12):.1%}, above {COMPLETENESS_TOLERANCE:.0%}) with steps={steps}, "
            f"power={power:g}; use more steps" + (", or power=3 (points crowded near the baseline)" if power == 1 else ""))


def integrated_gradients(model, x, target=None, baseline=None, steps: int = 50, batch_size: int = 50,
                         return_delta: bool = False, power: float = 1.0):
    """Integrated gradients (Sundararajan et al. 2017): (x − x') · ∫₀¹ ∂S/∂x(x' + α(x − x')) dα,
    the integral by the midpoint rule with `steps` points, evaluated `batch_size` at a time.

    power: the path points are α = u^power for evenly spaced midpoints u, each gradient weighted by
    dα/du = power·u^(power−1) (the same integral, written in u). 1 (default) is the paper's even
    spacing; 3 crowds the points near the baseline, where a trained ImageNet network's score does
    almost all of its changing (on efficientnet_lite0 and a grey baseline: 64 steps with power=3
    meet completeness to < 1 %, even spacing misses by about 10 % at 200 steps).

    baseline x': None → zeros in normalized space (the mean colour, a grey image), a number, or a
    tensor like x. Returns N×C×H×W; with return_delta, also the completeness error per image,
    Σ attributions − (S(x) − S(x')), which shrinks as `steps` grows. The error is always checked:
    above 1 % of |S(x) − S(x')| a warning says so and suggests more steps (a real ImageNet network,
    with its sharp ReLU6 corners, needs far more steps than a small course model)."""
    model, x = _door(model, x)
    if steps < 1 or batch_size < 1 or power <= 0:
        raise ValueError(f"steps and batch_size must be ≥ 1 and power > 0; got {steps}, {batch_size}, {power}")
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


# ------------------------------------------------------------------------------------ occlusion
def _baseline_value(model, x: torch.Tensor, baseline) -> torch.Tensor:
    """The occluder's fill, N×C×H×W: 'mean' (0 in normalized space: the data set's mean colour),
    'gray' (pixel 0.5), 'blur' (the image blurred), or a number (in normalized space)."""
    if isinstance(baseline, (int, float)):
        return torch.full_like(x, float(baseline))
    if baseline == "mean":
        return torch.zeros_like(x)
    if baseline == "gray":
        return model.normalize(torch.full_like(x, 0.5))
    if baseline == "blur":
        k = max(3, (min(x.shape[2:]) // 8) | 1)
        return F.avg_pool2d(F.pad(x, [k // 2] * 4, mode="replicate"), k, stride=1)
    raise ValueError(f"baseline is 'mean', 'gray', 'blur' or a number; got {baseline!r}")


def _positions(size: int, window: int, stride: int) -> list[int]:
    pos = list(range(0, size - window + 1, stride))
    if pos[-1] != size - window:  # cover the last rows/columns too
        pos.append(size - window)
    return pos


OCCLUSION_METHODS = ("auto", "incremental", "naive", "approximate")


@torch.no_grad()
def occlusion(model, x, target=None, window: int = 15, stride: int = 8, baseline="mean",
              batch_size: int = 8, progress: bool | None = None, method: str = "auto",
              tau: float = 0.8, drill: float = 0.25) -> torch.Tensor:
    """Occlusion sensitivity (Zeiler & Fergus 2014): slide a `window`×`window` patch filled with
    `baseline` over the image with `stride`; at each place record the drop of the target class's
    softmax probability, p(x) − p(x occluded). Each pixel gets the mean drop over the windows that
    cover it. Returns N×1×H×W, signed (positive: hiding it lowers the probability).

    method  "naive": every occluded copy runs through the whole network, `batch_size` at a time
            (8: on EfficientNet-Lite0 at 224 px a batch adds about 0.2 GB naive, 0.35 GB incremental);
            "incremental": each layer is recomputed only on the box the window changed
            (lecturelib.incremental); the same map up to float rounding;
            "approximate": incremental with every box capped at `tau` × its layer's size, and the
            fine stride used only where a first pass at twice the stride found the top `drill`
            fraction of the map (elsewhere that coarse pass stands). The defaults (τ 0.8, drill
            0.25) kept SSIM 0.94 (median of 32) to the exact map on the trained `shapes` model;
            `python -m lecturelib bench` measures speed and SSIM on yours;
            "auto": incremental or naive, whichever ran the faster of one timed batch each, after
            a warm-up batch each (a network torch.fx cannot read runs naive).
    `progress` shows a bar (default: when there are more than 8 batches)."""
    model, x = _door(model, x)
    net = model.net
    h, w = x.shape[2:]
    if not isinstance(window, int) or not isinstance(stride, int):
        raise TypeError(f"window and stride are whole numbers of pixels; got {window!r}, {stride!r}")
    if window < 1 or window > min(h, w):
        raise ValueError(f"window {window} must be between 1 and the image size {min(h, w)}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1 pixel; got {stride}")
    if stride > window:
        raise ValueError(f"stride {stride} > window {window} would leave pixels never occluded; use stride ≤ window")
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1; got {batch_size}")
    if method not in OCCLUSION_METHODS:
        raise ValueError(f"method is one of {OCCLUSION_METHODS}; got {method!r}")
    if method == "approximate" and not (0 < tau <= 1 and 0 < drill <= 1):
        raise ValueError(f"approximate occlusion needs 0 < tau ≤ 1 and 0 < drill ≤ 1; got tau={tau}, drill={drill}")
    fill = _baseline_value(model, x, baseline)
    maps = []
    with frozen(net):
        for i, c in enumerate(targets.per_image(model, x, target)):
            occluder = _Occluder(net, x[i:i + 1], fill[i:i + 1], c, window, method, tau if method == "approximate" else 1.0)
            if method == "approximate":
                wide = min(2 * stride, window)  # every pixel still covered
                coarse = _positions(h, window, wide), _positions(w, window, wide)
                first = [(r, col) for r in coarse[0] for col in coarse[1]]
                drop, count = occluder.accumulate(first, batch_size, progress, f"occlusion {i + 1}/{x.shape[0]}, coarse")
                cut = torch.quantile(drop / count, 1 - drill)
                half = window // 2
                done = set(first)
                fine = [(r, col) for r in _positions(h, window, stride) for col in _positions(w, window, stride)
                        if (r, col) not in done and drop[r + half, col + half] / count[r + half, col + half] >= cut]
                drop2, count2 = occluder.accumulate(fine, batch_size, progress, f"occlusion {i + 1}/{x.shape[0]}, fine")
                drop, count = drop + drop2, count + count2
            else:
                places = [(r, col) for r in _positions(h, window, stride) for col in _positions(w, window, stride)]
                drop, count = occluder.accumulate(places, batch_size, progress, f"occlusion {i + 1}/{x.shape[0]}")
            maps.append(drop / count)
    return torch.stack(maps)[:, None]


class _Occluder:
    """Probability drops of one image's class `c` for batches of window places, by one method."""

    def __init__(self, net, x, fill, c, window, method, tau):
        self.net, self.x, self.fill, self.c, self.window = net, x, fill, c, window
        self.p0 = torch.softmax(net(x), 1)[0, c]
        self.method, self.incremental, self.seconds = method, None, {}
        if method != "naive":
            try:
                self.incremental = Incremental(net, x, tau)
            except Unsupported as e:
                then = {"auto": "auto chose naive: every occluded copy runs through the whole network",
                        "incremental": "occlusion runs naive: every occluded copy through the whole network "
                                       "(the same map, without the speed-up)",
                        "approximate": "approximate occlusion computes each window through the whole network "
                                       "(no box is capped); the coarse pass and the fine drill-down still apply"}
                warnings.warn(f"{e}; {then[method]}", stacklevel=3)
                self.method = "naive"

    def drops(self, chunk: list, method: str) -> list:
        if method == "naive" or self.incremental is None:
            batch = self.x.repeat(len(chunk), 1, 1, 1)
            k = self.window
            for j, (r, col) in enumerate(chunk):
                batch[j, :, r:r + k, col:col + k] = self.fill[0, :, r:r + k, col:col + k]
            scores = self.net(batch)
        else:
            rows, cols = (torch.tensor(v, device=self.x.device) for v in zip(*chunk))
            scores = self.incremental(self.fill, rows, cols, self.window)
        return (self.p0 - torch.softmax(scores, 1)[:, self.c]).tolist()  # one transfer per batch

    def accumulate(self, places: list, batch_size: int, progress, desc: str):
        """Sum of drops and count of windows at every pixel, over `places`."""
        h, w = self.x.shape[2:]
        drop = torch.zeros(h, w, device=self.x.device)
        count = torch.zeros(h, w, device=self.x.device)
        chunks = [places[k:k + batch_size] for k in range(0, len(places), batch_size)]
        if progress or (progress is None and len(chunks) > 8):
            from tqdm.auto import tqdm
            chunks = tqdm(chunks, desc=desc, leave=False)
        for j, chunk in enumerate(chunks):
            method = self.method
            if method == "auto":  # batches 0 and 1 warm up, 2 and 3 are timed; then the faster way goes on
                method = ("incremental", "naive")[j % 2]
            t = time.perf_counter()
            drops = self.drops(chunk, method)
            if self.method == "auto" and j in (2, 3):
                self.seconds[method] = (time.perf_counter() - t) / len(chunk)
                if j == 3:
                    self.method = min(self.seconds, key=self.seconds.get)
            for d, (r, col) in zip(drops, chunk):
                drop[r:r + self.window, col:col + self.window] += d
                count[r:r + self.window, col:col + self.window] += 1
        if self.incremental is not None:
            for note in dict.fromkeys(self.incremental.notes):
                warnings.warn(f"incremental occlusion: {note}")
            self.incremental.notes.clear()
        return drop, count


# ------------------------------------------------------------------------------------ segmentation, scoring
def grabcut(image, saliency_map, foreground: float = 0.95, background: float = 0.30, iterations: int = 5) -> np.ndarray:
    """Segment an object from a saliency map, as Simonyan et al.: pixels above the `foreground`
    quantile of the map seed the object, those below the `background` quantile seed the
    background, and OpenCV's GrabCut decides the rest from colour. Returns an H×W bool mask.

    image: H×W×3 pixels (uint8 or floats in [0, 1]); saliency_map: H×W (or 1×H×W) non-negative."""
    import cv2
    img = np.asarray(image)
    img = (np.clip(img, 0, 1) * 255).astype(np.uint8) if img.dtype != np.uint8 else img
    sal = saliency_map.detach().cpu().numpy() if isinstance(saliency_map, torch.Tensor) else np.asarray(saliency_map)
    sal = np.squeeze(sal)
    if img.ndim != 3 or img.shape[2] != 3 or sal.shape != img.shape[:2]:
        raise ValueError(f"grabcut needs an H×W×3 image and an H×W map of the same size; got {img.shape} and {sal.shape}")
    if not 0 <= background < foreground <= 1:
        raise ValueError(f"need 0 ≤ background < foreground ≤ 1 quantiles; got {background}, {foreground}")
    hi, lo = np.quantile(sal, foreground), np.quantile(sal, background)
    mask = np.full(sal.shape, cv2.GC_PR_BGD, np.uint8)  # undecided: probably background
    mask[sal > hi] = cv2.GC_FGD
    mask[sal < lo] = cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(np.ascontiguousarray(img[..., ::-1]), mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


def mass_in_mask(attr_map: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fraction of each map's (non-negative) mass inside the object mask: N×H×W maps, N×H×W bool
    masks → N values. A uniform map scores the mask's area fraction."""
    m = attr_map.detach().float().clamp(min=0).reshape(mask.shape)
    total = m.sum(dim=(-2, -1)).clamp(min=1e-12)
    return (m * mask.to(m.device)).sum(dim=(-2, -1)) / total


# ------------------------------------------------------------------------------------ is it right?
def weight_layers(net) -> list:
    """The layers that hold learned weights a student counts as layers: convolutions and linear
    layers, in definition order (normalization layers are not counted: they rescale, they do not mix)."""
    norms = (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm)
    return [m for m in net.modules() if hasattr(m, "reset_parameters") and not isinstance(m, norms)
            and any(True for _ in m.parameters(recurse=False))]


def randomized(model, layers: int, seed: int = 0) -> Model:
    """A copy of `model` whose last `layers` weight layers (convolutions and linear layers, in
    definition order; `weight_layers`) have
    fresh random weights: the model-randomization sanity check of Adebayo et al. (2018).
    An explanation that barely changes when the top layers are randomized does not explain the model."""
    import copy
    twin = copy.deepcopy(as_model(model))
    resettable = weight_layers(twin.net)
    if not 0 <= layers <= len(resettable):
        raise ValueError(f"{model.name} has {len(resettable)} weight layers (convolutions and linear layers); "
                         f"got layers={layers}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in resettable[len(resettable) - layers:]:
            m.reset_parameters()
    twin.net.requires_grad_(False)
    twin.name = f"{model.name} (top {layers} layers randomized)"
    return twin


def pointing_game(model: Model, methods: dict, n: int = 40, seed: int = 123, tolerance: int = 1) -> dict:
    """Score attribution methods against the known object masks of the `shapes` course model.

    methods: {name: fn(model, x, targets) → N×H×W map (or N×C×H×W / N×1×H×W, reduced by max-abs)}.
    Uses the `n` images of `shapes_data(n, seed)` that the model classifies correctly, each
    explained for its true class. Masks are widened by `tolerance` pixels (edge pixels are half
    object at 32 px). Returns {name: {"mass": mean fraction of map mass on the object,
    "hits": fraction of maps whose peak is on the object}} plus "uniform" for a flat map."""
    from .coursemodels import shapes_data
    pixels, labels, masks = shapes_data(n, seed=seed)
    x = model.normalize(pixels.to(model.device))
    with torch.no_grad():
        keep = model(x).argmax(1).cpu() == labels
    x, labels, masks = x[keep], labels[keep], masks[keep]
    near = F.max_pool2d(masks.float()[:, None], 2 * tolerance + 1, 1, tolerance)[:, 0] > 0
    area = float(near.float().mean())  # a flat map puts this much mass on the object, and peaks there this often
    out = {"uniform": {"mass": area, "hits": area}}
    for name, fn in methods.items():
        m = fn(model, x, labels.tolist()).detach().cpu()
        m = max_abs(m) if m.ndim == 4 and m.shape[1] > 1 else m.reshape(len(x), *x.shape[2:])
        peak = m.flatten(1).argmax(1)
        out[name] = {"mass": float(mass_in_mask(m, near).mean()),
                     "hits": float(near.flatten(1)[torch.arange(len(m)), peak].float().mean())}
    return out
