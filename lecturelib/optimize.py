"""Optimizing over images: keep the network fixed, treat the image as the parameters, follow a gradient.

Lectures 06-10 are all one loop, `render`, fed four callables (the shape of lucent's render_vis):

    objective   what to make large, per image, from the activations. One-line forms: a class
                index or name ("ostrich": its score before softmax), "features.12:37" (channel 37,
                averaged over space), "features.12:37:6:6" (one neuron), "features.10" (the
                layer's ½‖a‖², DeepDream). Penalties are objectives on the image itself: l2(),
                tv(), alpha_norm(α). All of them compose: `class_score("tabby") - 0.02 * l2()`,
                `match(...) + 1e3 * style(...)`.
    param       what the optimizer changes and how it becomes an image: `Pixels` (the image
                itself; the blur every k steps and the clamping to valid pixels happen to it
                after each step) or `Fourier` (a colour-decorrelated, 1/f-scaled spectrum through a
                sigmoid: smoother pictures, always valid; Olah et al. 2017)
    transforms  callables (image, generator) → image, applied before the forward at every step,
                so the gradient is averaged over them: `roll` (jitter), `random_scale`,
                `random_rotate` (`robust_transforms`: lucent's set for feature visualization)
    optimizer   a torch optimizer over the parameterization's tensors, by name in `make_optimizer`:
                "adam", "lbfgs", "sgd", and the rescaled step rules "sgd_l2", "sgd_mean", "sign"

`optimize_image(model, objective, ...)` turns the lectures' settings (l2=, jitter=, blur_every=,
optimizer=, octaves=, ...) into these callables and runs `render` once per octave.

Pixel units. The image being optimized is made of pixels in [0, 1]; the network sees it through
its own normalization, (pixel − mean) / std. So a step size, a penalty weight or a noise level
means the same picture on every network, whatever its normalization (EfficientNet-Lite divides by
0.50, torchvision's ImageNet networks by about 0.226). The published settings cited next to each
default are given in ImageNet-normalized units; they are converted with PUBLISHED_STD: a length
× 0.226, a squared penalty ÷ 0.226². The model never changes: the loop runs inside `ll.frozen` and `ll.capture`,
which restore flags and remove hooks however it ends, and an interrupt (the stop button) returns
the image reached so far.
"""
from __future__ import annotations

import contextlib
import functools
import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from . import targets
from .hooks import capture, device_of, frozen
from .models import Model, as_model

__all__ = ["optimize_image", "render", "Optimized", "Objective", "objective", "class_score", "log_prob", "channel",
           "neuron", "layer_norm", "match", "gram", "style", "l2", "tv", "alpha_norm", "ZERO", "OUTPUT", "INPUT",
           "roll", "random_scale", "random_rotate", "robust_transforms", "apply_transforms", "make_optimizer",
           "Rescaled", "set_lr", "seeing_pixels", "PUBLISHED_STD", "GREY", "Run", "visualize_class", "maximize_activation", "invert", "deepdream", "style_transfer",
           "fooling_image", "fgsm", "pixel_change", "STYLE_SETTINGS", "style_settings", "smooth", "Pixels", "Fourier", "Phase",
           "PARAMETERIZATIONS"]

OUTPUT = ""          # the key of the network's output (class scores) among what an objective sees
INPUT = "<input>"    # the key of the image itself (N×C×H×W pixels, before the transforms): for penalties
PUBLISHED_STD = 0.226  # one unit of the ImageNet-normalized space of the published settings, in pixels
GREY = 0.5           # mid-grey: where the L2 and α-norm priors pull the pixels, and where starts are centred


# ------------------------------------------------------------------------------------ objectives
class Objective:
    """A score to maximize: `fn(acts)` → N values, one per image, where `acts` maps each layer
    name in `layers` to its output, OUTPUT ("") to the network's output (class scores) and INPUT
    to the image. Objectives compose: `a + b`, `a - b`, `3 * a`, `-a`, `sum([a, b])`.
    `bind(model)` resolves what needs the model (class names); `objective(model, ...)` calls it."""

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
        return Objective(lambda a: k * self(a), self.layers, f"{k:g}·{self.name}", bind)

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
        raise ValueError(f"layer {name!r} outputs shape {tuple(a.shape)}; unit objectives need N×C×H×W")
    return a


def _label(index) -> str:
    return str(index.tolist() if isinstance(index, torch.Tensor) else index)


def _named(index) -> bool:
    """Whether a class target holds a name (resolved later, on the model)."""
    return isinstance(index, str) or (isinstance(index, (list, tuple)) and any(isinstance(i, str) for i in index))


def _by_name(make: Callable, index, what: str) -> Objective:
    """An objective over classes given by name: it needs `bind(model)` before use."""
    def unbound(acts):
        raise ValueError(f"{what}[{_label(index)}] names a class: give it to ll.optimize_image (or call "
                         f".bind(model)) so the name can be looked up")

    def bind(model):
        idx = [model.class_index(i) for i in index] if isinstance(index, (list, tuple)) else model.class_index(index)
        return make(idx)
    return Objective(unbound, (), f"{what}[{_label(index)}]", bind)


def _one_per_image(index, scores: torch.Tensor) -> torch.Tensor:
    """Class indices as an N×1 column for N×K scores: one class for all images, or one per image."""
    idx = torch.as_tensor(index, device=scores.device).reshape(-1, 1)
    if len(idx) not in (1, len(scores)):
        raise ValueError(f"{len(idx)} classes for {len(scores)} images: give one class for all, or one per image")
    return idx.expand(len(scores), 1)


def class_score(index) -> Objective:
    """The score S_c before softmax; `index` is one class or one per image (indices, or names
    resolved on the model the objective is used with)."""
    if _named(index):
        return _by_name(class_score, index, "score")

    def fn(acts):
        return acts[OUTPUT].gather(1, _one_per_image(index, acts[OUTPUT]))[:, 0]
    return Objective(fn, (), f"score[{_label(index)}]")


def log_prob(index) -> Objective:
    """log p(c | x): the class score minus the log-sum-exp of all scores (raising it also pushes
    every other class down). Classes as in `class_score`."""
    if _named(index):
        return _by_name(log_prob, index, "log p")

    def fn(acts):
        return torch.log_softmax(acts[OUTPUT], 1).gather(1, _one_per_image(index, acts[OUTPUT]))[:, 0]
    return Objective(fn, (), f"log p[{_label(index)}]")


def channel(layer: str, ch: int) -> Objective:
    """The mean activation of channel `ch` of `layer` over its positions (`targets.Unit`)."""
    def fn(acts):
        return targets.Unit(layer, ch).value(_layer(acts, layer))
    return Objective(fn, (layer,), f"{layer}:{ch}")


def neuron(layer: str, ch: int, row: int | None = None, col: int | None = None) -> Objective:
    """One neuron: channel `ch` at (row, col) of `layer` (default: the centre)."""
    def fn(acts):
        a = _layer(acts, layer)
        r = a.shape[2] // 2 if row is None else row
        c = a.shape[3] // 2 if col is None else col
        return targets.Unit(layer, ch, r, c).value(a)
    return Objective(fn, (layer,), f"{layer}:{ch}:{row}:{col}")


def layer_norm(layer: str) -> Objective:
    """½‖a‖² of the whole layer, per image: its gradient with respect to the activations is the
    activations themselves ("whatever you see, see more of it": DeepDream)."""
    return Objective(lambda acts: 0.5 * acts[layer].pow(2).flatten(1).sum(1), (layer,), f"½‖{layer}‖²")


def smooth(features: torch.Tensor, temperature: float | None) -> torch.Tensor:
    """Wang, Li & Vasconcelos (2021): a softmax over all of one image's activations at a layer
    (every channel and position), of features / temperature, times their number K so that the
    result averages 1 whatever the layer's size (the paper's softmax sums to 1; the factor only
    rescales the losses). `None` leaves the features as they are.
    What the softmax does depends on the activations' spread against the temperature (adding one
    number to every activation changes nothing): for a spread much smaller than T it is nearly
    linear, 1 + (F − mean)/T; where the largest activations exceed the rest by many T, nearly an
    arg-max."""
    if temperature is None:
        return features
    if not temperature > 0:
        raise ValueError(f"the softmax temperature must be a positive number; got {temperature!r}")
    flat = features.flatten(1)
    return (flat.shape[1] * torch.softmax(flat / temperature, 1)).reshape(features.shape)


def match(layer: str, target: torch.Tensor, temperature: float | None = None) -> Objective:
    """−‖φ(x) − φ₀‖² (summed squared error) for the layer's target code φ₀ (1×… or N×…);
    with a temperature, φ is the smoothed code (`smooth`), and so must φ₀ be."""
    target = target.detach()
    return Objective(lambda acts: -(smooth(acts[layer], temperature) - target).pow(2).flatten(1).sum(1), (layer,),
                     f"match {layer}")


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices N×C×C of N×C×H×W features: G = F Fᵀ / (C·H·W), F the C×(H·W) matrix of one image."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style(layer: str, target_gram: torch.Tensor, temperature: float | None = None) -> Objective:
    """−E_l, Gatys et al.'s style loss at one layer: E_l = Σ(G − A)² / (4 N² M²) with the raw
    Gram matrices of N filters over M positions; with `gram`'s 1/(N·M) scaling that is Σ(G − A)²/4.
    With a temperature, G is the Gram matrix of the smoothed features (`smooth`), and so must A be."""
    target_gram = target_gram.detach()
    return Objective(lambda acts: -(gram(smooth(_layer(acts, layer), temperature)) - target_gram
                                    ).pow(2).flatten(1).sum(1) / 4, (layer,), f"style {layer}")


# Penalties: objectives on the image (INPUT, pixels), to be subtracted: `score - 0.02 * l2()`.
def l2() -> Objective:
    """‖x − ½‖², the sum of squares of the image's distance from mid-grey, per image (weight decay;
    CS231n's λ‖I‖² on the normalized image, whose zero is about the mean colour)."""
    return Objective(lambda acts: (acts[INPUT] - GREY).pow(2).flatten(1).sum(1), (), "‖x − ½‖²")


def tv() -> Objective:
    """Total variation: the sum of squared differences of neighbouring pixels, per image."""
    def fn(acts):
        x = acts[INPUT]
        return ((x[:, :, 1:] - x[:, :, :-1]).pow(2).flatten(1).sum(1)
                + (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).flatten(1).sum(1))
    return Objective(fn, (), "TV(x)")


def alpha_norm(alpha: float = 6.0) -> Objective:
    """‖x − ½‖_α^α = Σ|x − ½|^α per image: Mahendran & Vedaldi's α-norm prior (α = 6) keeps pixels
    in range."""
    return Objective(lambda acts: (acts[INPUT] - GREY).abs().pow(alpha).flatten(1).sum(1), (),
                     f"‖x − ½‖_{alpha:g}^{alpha:g}")


ZERO = Objective(lambda acts: acts[INPUT].new_zeros(len(acts[INPUT])), (), "0")  # no penalty


def _penalty(weights: dict, alpha: float) -> Objective:
    """Σ weight·penalty over the weighted ones of {"l2", "tv", "alpha_norm"}, as one objective."""
    terms = {"l2": l2, "tv": tv, "alpha_norm": lambda: alpha_norm(alpha)}
    return sum((w * terms[k]() for k, w in weights.items() if w), ZERO)


def objective(model, spec) -> Objective:
    """An `Objective` from its one-line form (see the module doc); an Objective passes through,
    bound to the model (class names resolved)."""
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
    raise TypeError(f"cannot make an objective from {spec!r}: use a class index, 'layer', 'layer:channel', "
                    f"'layer:channel:row:col' or an ll.optimize.Objective")


# ------------------------------------------------------------------------------------ transforms
# A transform is fn(x, gen) → image: x is N×C×H×W pixels, gen the run's torch.Generator, the
# only source of randomness (so a seed gives the same picture and nothing global is touched).
def roll(shift: int) -> Callable:
    """Jitter: a circular shift by up to `shift` px each way, drawn anew at every step (CS231n,
    Google's DeepDream). The image itself never moves: only what the network sees."""
    def transform(x, gen):
        dy, dx = (int(s) for s in torch.randint(-shift, shift + 1, (2,), generator=gen))
        return torch.roll(x, [dy, dx], dims=(2, 3))
    return transform


def random_scale(factors=tuple(1 + k / 50 for k in range(-5, 6))) -> Callable:
    """Resize (bilinear) by one of `factors`, drawn at every step (lucent: 0.9 … 1.1)."""
    def transform(x, gen):
        f = factors[int(torch.randint(len(factors), (1,), generator=gen))]
        return F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)
    return transform


def random_rotate(degrees: float = 10.0) -> Callable:
    """Rotate about the centre by an angle uniform in ±`degrees`, drawn at every step (lucent:
    ±10°); corners are filled by reflection. For square images."""
    def transform(x, gen):
        a = math.radians((2 * float(torch.rand((), generator=gen)) - 1) * degrees)
        theta = x.new_tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]])
        grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return transform


def robust_transforms(shift: int = 8, degrees: float = 10.0) -> list:
    """Lucent's transforms for feature visualization (without its padding): jitter, scale
    0.9-1.1, rotate ±`degrees`, a smaller jitter. Pictures that survive them are less noisy."""
    return [roll(shift), random_scale(), random_rotate(degrees), roll(max(1, shift // 2))]


def apply_transforms(transforms, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """x through each transform in turn."""
    for t in transforms:
        x = t(x, gen)
    return x


# ------------------------------------------------------------------------------------ parameterizations
# A parameterization is made by `param(start, gen)` (start: the N×C×H×W image in pixels at this
# octave; gen: the run's generator) and has `params` (the tensors the optimizer changes), `image()`
# (→ N×C×H×W pixels, differentiable) and `after_step(i)` (work after step i: projections).
class Pixels:
    """The image itself (pixels) is the parameter. After each step: a Gaussian blur every
    `blur_every` steps (σ `blur_sigma`; Yosinski et al.), then clamping to [low, high] (the valid
    range [0, 1]; with max_change also the L∞ ball around the start: projected gradient ascent)."""

    def __init__(self, start: torch.Tensor, gen: torch.Generator | None = None, *, low=None, high=None,
                 blur_every: int = 0, blur_sigma: float = 0.5):
        # standard layout: a picture may come channels-last, whose gradient L-BFGS cannot flatten
        self.x = start.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
        self.params = [self.x]
        self.low, self.high, self.blur_every, self.blur_sigma = low, high, blur_every, blur_sigma

    def image(self) -> torch.Tensor:
        return self.x

    @torch.no_grad()
    def after_step(self, i: int) -> None:
        if self.blur_every and (i + 1) % self.blur_every == 0:
            self.x.copy_(_blur(self.x, self.blur_sigma))
        if self.low is not None:
            self.x.copy_(torch.maximum(torch.minimum(self.x, self.high), self.low))


# The square root of ImageNet's colour covariance, as published with lucid (Olah et al., 2017).
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])


def _one_over_f(h: int, w: int) -> torch.Tensor:
    """1/frequency for each entry of an h×w real FFT (the lowest frequency for the constant term)."""
    freq = torch.sqrt(torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.rfftfreq(w)[None] ** 2)
    return 1.0 / freq.clamp(min=1.0 / max(h, w))


class Fourier:
    """A spectrum scaled by 1/frequency (natural images' falloff) per decorrelated colour channel;
    the image is sigmoid(colour mix(inverse FFT)), so it is always a valid picture: no clamp, no
    blur. It starts from noise (sd `sd`) drawn from `gen`, whatever `start` holds."""

    def __init__(self, start: torch.Tensor, gen: torch.Generator, *, sd: float = 0.01):
        n, c, h, w = start.shape
        self.scale, self.size = _one_over_f(h, w).to(start.device), (h, w)
        spectrum = torch.randn(n, c, h, w // 2 + 1, 2, generator=gen) * sd
        self.spectrum = spectrum.to(start.device).requires_grad_(True)
        self.params = [self.spectrum]

    def image(self) -> torch.Tensor:
        return self.picture(torch.view_as_complex(self.spectrum) * self.scale)

    def picture(self, spectrum: torch.Tensor) -> torch.Tensor:
        """The image (pixels) of a (complex) spectrum: inverse FFT, colour mix, sigmoid."""
        img = torch.fft.irfft2(spectrum, s=self.size, norm="ortho")
        if img.shape[1] == 3:
            mix = _COLOR_SQRT.to(img.device) / _COLOR_SQRT.norm(dim=0).max()
            img = torch.einsum("ij,njhw->nihw", mix, img)
        return torch.sigmoid(img)

    def after_step(self, i: int) -> None:
        pass


class Phase(Fourier):
    """Only the phase is optimized (MaCo, Fel et al. 2023): every frequency keeps the 1/frequency
    magnitude of natural images, scaled so the picture has a fixed `contrast` (the standard
    deviation before the sigmoid), so the optimization can move edges and textures around but
    cannot pile energy into the high frequencies that fool only the network it was made on.
    It starts from a random phase drawn from `gen`, whatever `start` holds."""

    def __init__(self, start: torch.Tensor, gen: torch.Generator, *, contrast: float = 1.0):
        n, c, h, w = start.shape
        scale, self.size = _one_over_f(h, w).to(start.device), (h, w)
        self.magnitude = contrast * scale / scale.pow(2).mean().sqrt()   # a random phase then has sd ≈ contrast
        phase = torch.rand(n, c, h, w // 2 + 1, generator=gen) * 2 * math.pi - math.pi
        self.phase = phase.to(start.device).requires_grad_(True)
        self.params = [self.phase]

    def image(self) -> torch.Tensor:
        return self.picture(torch.polar(self.magnitude.expand_as(self.phase), self.phase))


# param= takes these names, or any callable (start, gen) → parameterization (a class, a partial).
PARAMETERIZATIONS = {"pixels": Pixels, "fourier": Fourier, "phase": Phase}


# ------------------------------------------------------------------------------------ optimizers
_OPTIMIZERS = ("adam", "lbfgs", "sgd", "sgd_l2", "sgd_mean", "sign")
_DEFAULT_LR = {  # in pixel units
    "adam": lambda numel: 0.05,          # lucent's feature visualization (for the Fourier parameters)
    "lbfgs": lambda numel: 1.0,          # torch's default; the line length comes from curvature
    "sgd": lambda numel: 1.0,
    # CS231n: 25 normalized units at 3×224×224 = 25 × 0.226 pixels; the same per-pixel step at other sizes
    "sgd_l2": lambda numel: 25.0 * PUBLISHED_STD * math.sqrt(numel / (3 * 224 * 224)),
    "sgd_mean": lambda numel: 1.5 / 255,  # Google's DeepDream: 1.5/mean|g| on the 0-255 scale
    "sign": lambda numel: 8 / 255,       # FGSM, torchattacks' ε
}


def _rescale(grad: torch.Tensor, how: str) -> torch.Tensor:
    """Per-image step directions: g/‖g‖₂ (CS231n), g/mean|g| (DeepDream), sign(g) (FGSM)."""
    flat = grad.flatten(1)
    if how == "sgd_l2":
        return grad / (flat.norm(dim=1).view(-1, 1, 1, 1) + 1e-12)
    if how == "sgd_mean":
        return grad / (flat.abs().mean(1).view(-1, 1, 1, 1) + 1e-12)
    if how == "sign":
        return grad.sign()
    return grad


class Rescaled(torch.optim.SGD):
    """Plain SGD on a gradient rescaled per image (`rule`: "sgd_l2", "sgd_mean" or "sign", see
    `_rescale`)."""

    def __init__(self, params, lr: float, rule: str):
        super().__init__(params, lr=lr)
        self.rule = rule

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = _rescale(p.grad, self.rule)
        return super().step(closure)


def make_optimizer(name, params, lr: float | None = None, numel: int = 3 * 224 * 224):
    """The step rule by name over `params`: "adam", "lbfgs" (one evaluation per step), "sgd"
    (lr·g), "sgd_l2" (lr·g/‖g‖₂), "sgd_mean" (lr·g/mean|g|), "sign" (lr·sign(g)); or `name` is
    fn(params) → torch optimizer.
    lr=None: the rule's published default (`_DEFAULT_LR`) for images of `numel` values each."""
    if callable(name):
        return name(params)
    lr = _DEFAULT_LR[name](numel) if lr is None else lr
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "lbfgs":
        return torch.optim.LBFGS(params, lr=lr, max_iter=1)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    return Rescaled(params, lr, name)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


# ------------------------------------------------------------------------------------ the loop
@dataclass
class Optimized:
    """What `optimize_image` returns.

    image        N×C×H×W result in the model's normalized space, like every input of the course
                 (detached; `model.deprocess(r.image[:1])`, pixels: `model.unnormalize(r.image)`)
    history      the objective (mean over the batch, before penalties) at every step
    penalties    the penalty (mean over the batch) at every step
    snapshots    {step: image} at the steps asked for (step 0 = the start), normalized as `image`
    steps        steps taken
    interrupted  True when a KeyboardInterrupt ended the loop early
    info         method-specific results (fooling: success, probability, size of the change)
    """

    image: torch.Tensor
    history: list = field(default_factory=list)
    penalties: list = field(default_factory=list)
    snapshots: dict = field(default_factory=dict)
    steps: int = 0
    interrupted: bool = False
    info: dict = field(default_factory=dict)


class Run:
    """The loop's bookkeeping: the result so far, the last image, which images are done (`done`,
    N bools), snapshots at chosen steps, the progress bar."""

    def __init__(self, start: torch.Tensor, snapshots=(), bar=None):
        self.result, self.image, self.snapshots, self.bar = Optimized(image=start), start, snapshots, bar
        self.done = torch.zeros(len(start), dtype=torch.bool, device=start.device)
        if 0 in snapshots:
            self.result.snapshots[0] = start.detach().cpu().clone()

    @torch.no_grad()
    def record(self, param, value: torch.Tensor, penalty: torch.Tensor) -> None:
        self.image = param.image().detach()
        r = self.result
        r.history.append(float(value.mean()))
        r.penalties.append(float(penalty.mean()))
        r.steps += 1
        if r.steps in self.snapshots:
            r.snapshots[r.steps] = self.image.cpu().clone()
        if self.bar is not None:
            self.bar.update(1)


def render(net, rec, objective: Objective, param, optimizer, transforms=(), *, steps: int, gen: torch.Generator,
           run: Run, penalty: Objective = ZERO, stop: Callable | None = None, lr_end: float | None = None) -> None:
    """The loop: `steps` steps of `optimizer` on `param`'s tensors, maximizing objective − penalty
    of `param.image()` as the network sees it through `transforms`. `net` takes pixels (the model
    behind its normalization, `seeing_pixels`). `rec` is an `ll.capture` of the
    layers the objectives read; `run` keeps what each step gave (`Run`). `stop`: scores N×K → N
    bools, images that are done stop changing. `lr_end`: the rate for the last 10 % of the steps."""
    for i in range(steps):
        if lr_end is not None and i == math.ceil(0.9 * steps):
            set_lr(optimizer, lr_end)
        img = param.image()                                    # N×C×H×W pixels
        out = net(apply_transforms(transforms, img, gen))      # jitter, scale, rotate: seen, not kept
        acts = {**rec.activations, OUTPUT: out, INPUT: img}
        value, cost = _per_image(objective(acts), img), penalty(acts)
        run.done |= _stopped(stop, out.detach())
        if bool(run.done.all()):
            break
        optimizer.zero_grad(set_to_none=True)
        loss = (cost - value)[~run.done].sum()                 # done images get no gradient
        loss.backward()
        _warn_if_dead(param.params, objective, run)
        optimizer.step(lambda: loss)                           # L-BFGS asks for a closure; one evaluation
        param.after_step(i)                                    # pixels: blur every k steps, clamp
        run.record(param, value, cost)


def _per_image(value: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    if value.shape != (len(img),):
        raise ValueError(f"the objective must give one value per image; got shape {tuple(value.shape)}")
    return value


def _stopped(stop: Callable | None, scores: torch.Tensor) -> torch.Tensor:
    if stop is None:
        return torch.zeros(len(scores), dtype=torch.bool, device=scores.device)
    return torch.as_tensor(stop(scores), device=scores.device).reshape(-1)


def _warn_if_dead(params, obj: Objective, run: Run) -> None:
    """At the first step: warn about images whose gradient is exactly zero (they cannot change)."""
    if run.result.steps:
        return
    grads = [p.grad.flatten(1).abs().amax(1) for p in params if p.grad is not None and len(p.grad) == len(run.done)]
    if not grads:
        return
    dead = (torch.stack(grads).amax(0) == 0) & ~run.done
    if bool(dead.any()):
        warnings.warn(f"{obj.name}: the gradient is exactly zero at the start for image(s) "
                      f"{dead.nonzero()[:, 0].tolist()}, so they cannot change (a unit behind a ReLU that is off "
                      f"everywhere). Start elsewhere (init='randn', another seed, a photo) or pick another unit",
                      stacklevel=4)


def _progress_bar(progress: bool | None, total: int, desc: str):
    """A tqdm bar of `total` steps, by default only for runs of 50 steps or more."""
    if not (total >= 50 if progress is None else progress):
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc[:40], leave=False)


@contextlib.contextmanager
def _interruptible(run: Run):
    """The stop button ends the loop and keeps the image reached so far; the progress bar closes."""
    try:
        yield
    except KeyboardInterrupt:
        run.result.interrupted = True
        print(f"interrupted after {run.result.steps} steps: returning the image reached so far")
    finally:
        if run.bar is not None:
            run.bar.close()


def seeing_pixels(model: Model) -> Callable:
    """The network as a function of pixels: x ↦ net((x − mean) / std)."""
    return lambda pixels: model.net(model.normalize(pixels))


def _start(model, init, n: int, size: int | None, gen: torch.Generator, device) -> torch.Tensor:
    """The first image in pixels: a normalized tensor or a picture (through the model), or 'zeros'
    (mid-grey), 'randn', 'uniform' (noise around mid-grey, see `_STARTS`)."""
    if not isinstance(init, str) or init not in _STARTS:
        return model.unnormalize(model.as_input(init).detach().to(device).float())
    side = size or model.input_size
    if side is None:
        raise ValueError(f"{model.name} is a plain nn.Module: give size=, or init as an N×C×H×W tensor")
    return _STARTS[init]((n, model.channels, side, side), gen).to(device)


# CS231n's starts, randn (class visualization) and uniform(0, 1) (feature inversion), are in
# normalized units: here × 0.226 around mid-grey ("zeros": the normalized zero, about the mean colour)
_STARTS = {"zeros": lambda shape, gen: torch.full(shape, GREY),
           "randn": lambda shape, gen: GREY + PUBLISHED_STD * torch.randn(shape, generator=gen),
           "uniform": lambda shape, gen: GREY + PUBLISHED_STD * torch.rand(shape, generator=gen)}


_MAX_CHANGE = "max_change bounds the change from the start image: use param='pixels' and octaves=1"


def _check(optimizer, param, init, steps: int, octaves: int, jitter: int, blur_every: int, stop, max_change) -> None:
    if optimizer not in _OPTIMIZERS and not callable(optimizer):
        raise ValueError(f"optimizer must be one of {_OPTIMIZERS} or fn(params) → torch optimizer; got {optimizer!r}")
    if not (isinstance(param, str) and param in PARAMETERIZATIONS) and not callable(param):
        raise ValueError(f"param must be one of {sorted(PARAMETERIZATIONS)} or fn(start, gen) → parameterization; "
                         f"got {param!r}")
    if steps < 0 or octaves < 1 or jitter < 0 or blur_every < 0:
        raise ValueError(f"steps ≥ 0, octaves ≥ 1, jitter ≥ 0 and blur_every ≥ 0; got {steps}, {octaves}, "
                         f"{jitter}, {blur_every}")
    if stop is not None and optimizer == "lbfgs":
        raise ValueError("stop= needs a step rule that takes one step at a time; L-BFGS does not support it")
    if max_change is not None and (param != "pixels" or octaves > 1):
        raise ValueError(_MAX_CHANGE)
    if param in ("fourier", "phase") and (octaves > 1 or not isinstance(init, str)):
        raise ValueError(f"the {param} parameterization starts from noise at one scale: use init='randn', octaves=1")


def _parameterization(param, base, clamp: bool, max_change, blur_every: int, blur_sigma: float) -> Callable:
    """`param` as fn(start, gen) → parameterization, with the settings that it uses."""
    if param != "pixels":
        return PARAMETERIZATIONS[param] if isinstance(param, str) else param
    low = high = None
    if clamp or max_change is not None:
        low, high = base.new_zeros(1, 1, 1, 1), base.new_ones(1, 1, 1, 1)
    if max_change is not None:
        low, high = torch.maximum(low, base - max_change), torch.minimum(high, base + max_change)
    return functools.partial(Pixels, low=low, high=high, blur_every=blur_every, blur_sigma=blur_sigma)


def _octaves(base: torch.Tensor, octaves: int, scale: float, run: Run):
    """Coarse to fine: the start of each octave, the start image at that size plus the detail added
    so far (the last image minus the previous octave's start, upsampled)."""
    prev = prev_base = None
    for k in reversed(range(octaves)):
        hw = tuple(max(1, round(s / scale ** k)) for s in base.shape[2:])
        base_o = base if hw == tuple(base.shape[2:]) else F.interpolate(base, hw, mode="bilinear", align_corners=False)
        start = base_o if prev is None else base_o + F.interpolate(prev - prev_base, hw, mode="bilinear",
                                                                   align_corners=False)
        run.image = start                                    # the result, if no step is taken
        yield start
        prev, prev_base = run.image, base_o


def optimize_image(model, objective_spec, init="randn", *, n: int = 1, size: int | None = None, steps: int = 100,
                   optimizer="adam", lr: float | None = None, lr_end: float | None = None,
                   l2: float = 0.0, tv: float = 0.0, alpha_norm: float = 0.0, alpha: float = 6.0,
                   blur_every: int = 0, blur_sigma: float = 0.5, jitter: int = 0, transforms=(), clamp: bool = True,
                   max_change: float | None = None, octaves: int = 1, octave_scale: float = 1.4, param="pixels",
                   stop: Callable[[torch.Tensor], torch.Tensor] | None = None, snapshots=(), seed: int = 0,
                   progress: bool | None = None) -> Optimized:
    """Maximize `objective(x) − penalties(x)` over images x with `render`; the model stays as it is.

    init        a picture or N×C×H×W tensor to start from, or "zeros", "randn", "uniform" (then
                `n` images of side `size`, default the model's input size)
    steps       steps per octave; `optimizer` is "adam", "lbfgs", "sgd" (lr·g), "sgd_l2" (lr·g/‖g‖₂),
                "sgd_mean" (lr·g/mean|g|) or "sign" (lr·sign(g), lr in pixel units) (`make_optimizer`),
                or fn(params) → torch optimizer; lr=None takes the published default of the step
                rule (`_DEFAULT_LR`); `lr_end` replaces `lr` for the last 10 % of steps
    l2, tv, alpha_norm, alpha   penalty weights: `l2()`, `tv()`, `alpha_norm(alpha)` (or put them
                in the objective: `class_score(3) - 0.02 * l2()`; then `history` includes them)
    blur_every, blur_sigma      Gaussian blur of the image every k steps (pixels only)
    jitter      largest random circular shift in pixels, drawn anew each step (`roll`)
    transforms  more fn(x, gen) → x applied, after the jitter, before each forward
                (`robust_transforms()`, `random_scale`, `random_rotate`, your own)
    clamp       keep every pixel in the valid range [0, 1] after each step (pixels only)
    max_change  keep every pixel within this distance (pixel units, L∞) of the start image: with
                many steps that is projected gradient ascent (PGD); pixels and one octave only
    octaves     >1: optimize at sizes shrinking by `octave_scale`, coarse to fine; each finer
                octave starts from the start image plus the detail added so far
    param       "pixels", "fourier" (Olah et al.), "phase" (MaCo: the phase of a fixed natural
                spectrum), or fn(start, gen) → parameterization (see `Pixels`)
    stop        fn(class scores N×K) → N bools: images that are done stop changing; the loop
                ends when all are done
    snapshots   steps at which to keep a copy of the image
    seed        seeds the start noise and the transforms (nothing global is touched)
    """
    model = as_model(model)
    obj = objective(model, objective_spec)
    _check(optimizer, param, init, steps, octaves, jitter, blur_every, stop, max_change)
    gen = torch.Generator().manual_seed(seed)
    base = _start(model, init, n, size, gen, device_of(model))           # pixels
    make_param = _parameterization(param, base, clamp, max_change, blur_every, blur_sigma)
    penalty = _penalty(dict(l2=l2, tv=tv, alpha_norm=alpha_norm), alpha)
    transforms = ([roll(jitter)] if jitter else []) + list(transforms)
    run = Run(base, snapshots, _progress_bar(progress, steps * octaves, obj.name))
    layers = [k for k in obj.layers + penalty.layers if k not in (OUTPUT, INPUT)]
    with _interruptible(run), frozen(model.net), capture(model, layers) as rec, torch.enable_grad():
        for start in _octaves(base, octaves, octave_scale, run):
            p = make_param(start, gen)
            opt = make_optimizer(optimizer, p.params, lr, numel=start[0].numel())
            render(seeing_pixels(model), rec, obj, p, opt, transforms, steps=steps, gen=gen, run=run,
                   penalty=penalty, stop=stop, lr_end=lr_end)
    result = run.result                                                  # back to the course's normalized space
    result.image = model.normalize(run.image.detach())
    result.snapshots = {k: model.normalize(v) for k, v in result.snapshots.items()}
    result.info["done"] = run.done.cpu()
    return result


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur, kernel ±3σ (odd, at most the image side)."""
    from torchvision.transforms.functional import gaussian_blur
    kernel = min(2 * math.ceil(3 * sigma) + 1, 2 * ((min(x.shape[2:]) - 1) // 2) + 1)
    return gaussian_blur(x, [kernel, kernel], [sigma, sigma]) if kernel > 1 else x


# ------------------------------------------------------------------------------------ the lecture methods
def _scaled(value: float, model: Model, reference: int = 224) -> float:
    """A length given for 224 px ImageNet input, scaled to this model's input size."""
    side = model.input_size or reference
    return value * side / reference


def maximize_activation(model, unit, *, steps: int = 100, lr: float | None = None, l2: float = 1e-3 / PUBLISHED_STD**2,
                        blur_every: int = 10, blur_sigma: float = 0.5, jitter: int | None = None,
                        init="randn", **kwargs) -> Optimized:
    """The image that maximizes a class score or a unit (`"features.12:37"`, `"features.12:37:6:6"`,
    or any objective): gradient ascent with L2 decay, periodic blur and jitter.

    Defaults are CS231n's class visualization for squeezenet1_1 at 224 px, in pixel units: 100
    steps of lr·g/‖g‖₂ with lr 25 × 0.226 ≈ 5.7, l2 1e-3 ÷ 0.226² ≈ 0.02, blur σ 0.5 every 10
    steps, jitter 16 px, clamped. For other
    input sizes the step (lr=None: an L2 length ∝ √pixels) and the jitter scale with the side,
    so a pixel moves as much. The start is random noise: from a zero image a unit behind a ReLU
    is usually off and gets no gradient. Other starts (a photo) and other seeds give other
    facets of the same unit."""
    model = as_model(model)
    jitter = round(_scaled(16, model)) if jitter is None else jitter
    kwargs.setdefault("optimizer", "sgd_l2")
    return optimize_image(model, unit, init, steps=steps, lr=lr, l2=l2, blur_every=blur_every,
                          blur_sigma=blur_sigma, jitter=jitter, **kwargs)


def visualize_class(model, target, **kwargs) -> Optimized:
    """The image that maximizes the score S_c of class `target` (index or name) before softmax,
    argmax_I S_c(I) − λ‖I‖² (Simonyan et al. 2014). Settings as `maximize_activation`, and like
    CS231n the start is noise: Simonyan's zero image (init="zeros") gives SqueezeNet no gradient
    for a class whose score map is ≤ 0 everywhere (its last layer is a ReLU).
    A list of classes gives one image per class, in one batch: each image has its own start
    noise, and its own step (the rescaled step rules work per image)."""
    model = as_model(model)
    if isinstance(target, (list, tuple)) or (isinstance(target, torch.Tensor) and target.dim() > 0):
        idx = [model.class_index(t) for t in target]
        kwargs.setdefault("n", len(idx))
    else:
        idx = model.class_index(target)
    return maximize_activation(model, class_score(idx), **kwargs)


def _codes(model: Model, x: torch.Tensor, layers) -> dict:
    with torch.no_grad(), frozen(model.net), capture(model, list(layers), detach=True) as rec:
        model.net(x)
    return dict(rec.activations)


def invert(model, image, layer: str, *, steps: int = 200, content_weight: float = 6e-2,
           tv: float = 2e-2 / PUBLISHED_STD**2, l2: float = 0.0, alpha_norm: float = 0.0, alpha: float = 6.0,
           init="uniform", optimizer: str = "adam", lr: float = 0.3 * PUBLISHED_STD,
           lr_end: float | None = 0.03 * PUBLISHED_STD, **kwargs) -> Optimized:
    """Reconstruct an image from its code φ₀ = φ(x₀) at `layer` (Mahendran & Vedaldi 2015):
    maximize −w‖φ(x) − φ₀‖² − λ_TV·TV(x) − λ_α‖x‖_α^α.

    Defaults are CS231n's feature inversion (squeezenet1_1, 192 px), in pixel units: content weight
    6e-2, TV 2e-2 ÷ 0.226², a uniform start (0.226 × uniform(0, 1) around mid-grey), 200 Adam
    steps, the rate lowered ×0.1 for the last 10 %, but from 0.3 × 0.226 instead of their 3.0 ×
    0.226: measured on squeezenet1_1 (random weights, features.3,
    .7, .12) and the trained `shapes` model (layers 1, 4, 9), 0.3 ends with a lower feature loss and
    a lower TV at every layer, while 3.0 leaves late-layer reconstructions as noise.
    tv=0 gives the unregularized reconstruction; alpha_norm > 0 adds the α-norm prior (α = 6)."""
    model = as_model(model)
    x0 = model.as_input(image)
    target = _codes(model, x0, [layer])[layer]
    return optimize_image(model, content_weight * match(layer, target), init, n=len(x0), size=x0.shape[-1],
                          steps=steps, optimizer=optimizer, lr=lr, lr_end=lr_end, tv=tv, l2=l2,
                          alpha_norm=alpha_norm, alpha=alpha, **kwargs)


def deepdream(model, image, layer: str, *, octaves: int = 4, octave_scale: float = 1.4, steps: int = 10,
              lr: float | None = None, jitter: int = 32, **kwargs) -> Optimized:
    """DeepDream (Mordvintsev et al. 2015): amplify whatever `layer` sees, ½‖a‖² (so the gradient
    at the layer is the activation itself), coarse to fine over octaves, with jitter, clamped.

    Defaults are Google's notebook: 4 octaves of scale 1.4, 10 steps each of 1.5/mean|g| on the
    0-255 scale, jitter ±32 px."""
    return optimize_image(model, layer_norm(layer), image, steps=steps, optimizer="sgd_mean", lr=lr, jitter=jitter,
                          octaves=octaves, octave_scale=octave_scale, **kwargs)


# Published layer choices and weights for style transfer. Weights are for this module's losses:
# content = w·Σ(F − P)², style = w_l·Σ(G − A)²/4 (Gatys), TV = λ·Σ squared differences.
STYLE_SETTINGS = {
    # CS231n (squeezenet1_1 `features`): content layer 3, style layers 1, 4, 6, 7, preset 3 (192/192 px):
    # content 6e-2, style (300000, 1000, 15, 3), TV 2e-2 (÷ 0.226² in pixels). Their style loss has no ¼, so the
    # weights here are ×4.
    "squeezenet1_1": dict(content_layer="features.3", style_layers=("features.1", "features.4", "features.6",
                                                                     "features.7"),
                          content_weight=6e-2, style_weights=(1.2e6, 4000.0, 60.0, 12.0), tv=2e-2 / PUBLISHED_STD**2,
                          size=192),
    # Gatys et al. (vgg19): content conv4_2, style conv1_1 … conv5_1 [torchvision indices inferred]. Weights
    # converted from the PyTorch tutorial (content 1 on MSE at 512 px, style 1e6 on MSE of Grams) [I].
    # Not yet checked on real weights.
    "vgg19": dict(content_layer="features.21", style_layers=("features.0", "features.5", "features.10",
                                                             "features.19", "features.28"),
                  content_weight=1 / (512 * 64 * 64), style_weights=(977.0, 244.0, 61.0, 15.3, 15.3), tv=0.0,
                  size=512),
}


def _chain(net: torch.nn.Module, prefix: str = "") -> list[str]:
    """The network's building blocks in order: its children, with plain containers
    (Sequential, ModuleList) opened up, so "_blocks" gives "_blocks.0", "_blocks.1", …"""
    names = []
    for name, child in net.named_children():
        full = f"{prefix}{name}"
        if isinstance(child, (torch.nn.Sequential, torch.nn.ModuleList)):
            names += _chain(child, full + ".")
        else:
            names.append(full)
    return names


def style_settings(model, size: int = 192, n_style: int = 5, probe_seed: int = 0, smoothing: float | None = None,
                   relative: bool = True) -> dict:
    """Layers and weights for `style_transfer` on any network: the published ones for the networks
    in `STYLE_SETTINGS`, otherwise a rule that needs no name.

    The rule: the blocks of the network (`_chain`) with weights and a feature map larger than
    1 × 1 at `size` px, in order. Style layers: `n_style` of them evenly spaced over the first
    three quarters (Gatys: conv1_1 … conv5_1 of VGG-19 spans its first ~80 %); content layer: the
    one at 45 % of the depth (Gatys's conv4_2 sits at ~58 % of VGG-19, CS231n's SqueezeNet layer
    at ~25 %). Weights: each style term, and the content term, is divided by its size on a fixed
    probe image (seeded uniform noise, blurred), so every layer starts at the same scale whatever
    the network's activation sizes. Style 1 and content 10 per term: on efficientnet_lite0
    (chelsea in the style of a stained-tissue texture, 192 px, 200 steps) content 0.1 was all
    texture, 10 a textured cat that efficientnet_lite2 calls "tabby" (p ≈ 0.7), 1000 the photo
    with coloured fringes. For the networks in `STYLE_SETTINGS` only `size` is replaced.

    `smoothing` adds `temperatures` for `style_transfer` (Wang et al.'s softmax, see `smooth`) on
    the content layer and the style layers after the first (smoothing the first, which sees
    colours, lost them on efficientnet_lite0; the authors, too, found smoothing the deeper layers
    best), and computes the weights on the smoothed probe codes. The temperature of a layer is
    `smoothing` × the std of its activations on the probe (`relative=True`), or `smoothing` itself
    (`relative=False`: the paper's softmax is temperature 1). Smoothing always uses the depth rule:
    the published weights are for plain features."""
    model = as_model(model)
    if model.name in STYLE_SETTINGS and smoothing is None:
        return dict(STYLE_SETTINGS[model.name], size=size)
    blocks = [b for b in _chain(model.net) if next(model.layer(b).parameters(), None) is not None]
    gen = torch.Generator().manual_seed(probe_seed)
    probe = _blur(torch.rand(1, model.channels, size, size, generator=gen), 2.0).to(device_of(model))
    codes = _codes(model, model.normalize(probe), blocks)
    maps = [b for b in blocks if codes[b].ndim == 4 and codes[b].shape[2] * codes[b].shape[3] > 1]
    if len(maps) < 2:
        raise ValueError(f"{model.name} has fewer than two blocks with feature maps: give style_layers= by hand")
    reach = max(1, round(0.75 * (len(maps) - 1)))
    picks = sorted({round(i * reach / max(1, n_style - 1)) for i in range(n_style)})
    style_layers = tuple(maps[i] for i in picks)
    content_layer = maps[round(0.45 * (len(maps) - 1))]
    temps = {} if smoothing is None else {
        k: smoothing * (float(codes[k].std()) if relative else 1.0) for k in (*style_layers[1:], content_layer)}
    codes = {k: smooth(a, temps.get(k)) for k, a in codes.items()}
    style_weights = tuple(1.0 / max(float(gram(codes[name]).pow(2).sum() / 4), 1e-12) for name in style_layers)
    content_weight = 10.0 / max(float(codes[content_layer].pow(2).sum()), 1e-12)
    smoothed = {} if smoothing is None else dict(temperatures=temps)
    return dict(content_layer=content_layer, style_layers=style_layers, content_weight=content_weight,
                style_weights=style_weights, tv=0.0, size=size, **smoothed)


def _prepare(model: Model, img, size: int) -> torch.Tensor:
    """A normalized N×C×H×W tensor as it is; a picture resized and cropped to `size`."""
    return model.as_input(img) if isinstance(img, torch.Tensor) and img.ndim == 4 else model.preprocess(img, size)


def style_transfer(model, content, style_image, *, style_layers, style_weights, content_layer: str | None = None,
                   content_weight: float = 0.0, tv: float = 0.0, size: int = 192, style_size: int | None = None, steps: int = 200,
                   optimizer: str = "adam", lr: float = 0.3 * PUBLISHED_STD, lr_end: float | None = 0.03 * PUBLISHED_STD,
                   init=None, temperatures: dict | None = None,
                   **kwargs) -> Optimized:
    """Gatys et al. (2016): an image with the content code of `content` at `content_layer` and the
    Gram matrices of `style_image` at `style_layers`. Maximizes
    −α·Σ(F − P)² − Σ_l w_l E_l − λ_TV·TV.  `content=None` synthesizes a texture from style alone.

    Layers and weights for any network: `**ll.optimize.style_settings(model)` (the published ones
    in `STYLE_SETTINGS` where they exist, a depth rule otherwise).
    `temperatures` ({layer: T}) compares those layers' features after `smooth` (Wang et al. 2021):
    the Gram matrices and the content code are then those of softmax(F / T).
    Defaults are CS231n's loop (200 Adam steps, the rate ×0.1 for the last 10 %, starting from
    the content image; from noise for a texture) but from 0.3 × 0.226 pixels instead of their
    3.0 × 0.226, as in `invert`:
    on squeezenet1_1 at 192 px, 0.3 ended with a lower objective for content weights ×0.01, ×1 and
    ×100 (−182 vs −257, −1477 vs −2527, −7152 vs −82393) and without 3.0's pixel noise."""
    model = as_model(model)
    style_layers = list(style_layers)
    if len(style_weights) != len(style_layers):
        raise ValueError(f"{len(style_layers)} style layers but {len(style_weights)} style weights")
    temps = dict(temperatures or {})
    unused = set(temps) - set(style_layers) - {content_layer}
    if unused:
        raise ValueError(f"temperatures for {sorted(unused)}, which are neither style layers {style_layers} nor the "
                         f"content layer {content_layer!r}: a temperature smooths one of those")
    xs = _prepare(model, style_image, style_size or size)
    grams = {k: gram(smooth(a, temps.get(k))) for k, a in _codes(model, xs, style_layers).items()}
    total = sum(w * style(layer, grams[layer], temps.get(layer)) for layer, w in zip(style_layers, style_weights))
    if content is not None:
        if content_layer is None:
            raise ValueError("with a content image, give content_layer= (e.g. STYLE_SETTINGS[name]['content_layer'])")
        xc = _prepare(model, content, size)
        code = smooth(_codes(model, xc, [content_layer])[content_layer], temps.get(content_layer))
        total = total + content_weight * match(content_layer, code, temps.get(content_layer))
        init = xc if init is None else init
    init = "uniform" if init is None else init
    return optimize_image(model, total, init, size=size, steps=steps, optimizer=optimizer, lr=lr, lr_end=lr_end,
                          tv=tv, **kwargs)


def pixel_change(model, x0: torch.Tensor, x1: torch.Tensor) -> dict:
    """Size of the change from x0 to x1 in pixel units (0..1 per channel), per image:
    {"linf": largest |Δ|, "l2": ‖Δ‖₂}. Multiply by 255 for 8-bit steps."""
    model = as_model(model)
    d = model.unnormalize(x1) - model.unnormalize(x0)
    return {"linf": d.abs().flatten(1).amax(1).cpu(), "l2": d.flatten(1).norm(dim=1).cpu()}


def _classes(model, x: torch.Tensor, target) -> list[int]:
    """One class index per image, resolved as attribution resolves targets (names, None for the
    predicted class, one per image); a unit target is refused: these methods need a class."""
    classes = targets.per_image(model, x, target)
    if isinstance(classes[0], targets.Unit):
        raise ValueError(f"fooling and FGSM aim at a class (index or name), not a unit; got {target!r}")
    return classes


def fooling_image(model, image, target, *, lr: float = PUBLISHED_STD, max_steps: int = 100,
                  confidence: float | None = None,
                  size: int | None = None, seed: int = 0, **kwargs) -> Optimized:
    """Change `image` (a picture, a batch, or "randn"/"zeros" noise) until the model's top-1 class
    is `target` (and, with `confidence`, its probability reaches that level), by steps of
    lr·g/‖g‖₂ (CS231n: lr 1 normalized unit = 0.226 pixels, usually < 100 steps) on the target's
    log-probability, clamped to
    valid pixels. (CS231n ascends the raw score; on `shapes` that failed for 1 image in 20
    because the true class rose with the target.)

    `info` holds per image: "success" (reached), "probability" of the target, "linf" and "l2"
    (the change in pixel units, see `pixel_change`)."""
    model = as_model(model)
    device = device_of(model)
    start = model.normalize(_start(model, image, 1, size, torch.Generator().manual_seed(seed), device))
    idx = torch.tensor(_classes(model, start, target), device=start.device)

    def reached(scores: torch.Tensor) -> torch.Tensor:
        ok = scores.argmax(1) == idx
        if confidence is not None:
            ok &= torch.softmax(scores, 1).gather(1, idx[:, None])[:, 0] >= confidence
        return ok

    kwargs.setdefault("optimizer", "sgd_l2")
    result = optimize_image(model, log_prob(idx), start, steps=max_steps, lr=lr, stop=reached, size=size, seed=seed,
                            **kwargs)
    with torch.no_grad(), frozen(model.net):
        scores = model.net(result.image)
    result.info.update(success=reached(scores).cpu(),
                       probability=torch.softmax(scores, 1).gather(1, idx[:, None])[:, 0].cpu(),
                       **pixel_change(model, start, result.image))
    return result


def fgsm(model, x, target=None, eps: float = 8 / 255) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): one step of size `eps` in pixel units
    (8/255 as torchattacks) along the sign of the gradient of the loss −log p(target | x),
    clamped to valid pixels. `target` is the true class (index, name, one per image) or None for
    the predicted class. Returns the adversarial N×C×H×W batch."""
    model = as_model(model)
    x0 = model.as_input(x)
    return optimize_image(model, -log_prob(_classes(model, x0, target)), x0, steps=1, optimizer="sign", lr=eps,
                          progress=False).image
