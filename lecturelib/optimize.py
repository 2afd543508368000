"""The one optimization loop of lectures 06-10: keep the network fixed, treat the image as the
parameters, follow a gradient.

`render` is the loop, fed four things (the shape of lucent's render_vis):

    objective   what to make large, per image (`ll.objectives`)
    param       what the optimizer changes and how it becomes an image (`ll.parameterizations`)
    transforms  what the network sees of it at each step (`ll.transforms`)
    optimizer   a step rule by name (STEP_RULES here: "adam", "lbfgs", "sgd", "sgd_l2",
                "sgd_mean", "sign") or any torch optimizer

`optimize_image(model, objective, ...)` turns the lectures' settings (l2=, jitter=, blur_every=,
optimizer=, octaves=, ...) into these and runs `render` once per octave. The lecture methods
built on it live in `featurevis` (06), `inversion` (07), `deepdream` (08), `styletransfer` (09)
and `fooling` (10).

Pixel units. The image being optimized is made of pixels in [0, 1]; the network sees it through
its own normalization, (pixel - mean) / std. So a step size, a penalty weight or a noise level
means the same picture on every network. The published settings cited next to each default are
given in ImageNet-normalized units and converted with PUBLISHED_STD: a length * 0.226, a squared
penalty / 0.226^2. The model never changes: the loop runs inside `ll.frozen` and `ll.capture`,
which restore flags and remove hooks however it ends, and an interrupt (the stop button) returns
the image reached so far.
"""
from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from . import parameterizations
from .hooks import capture, device_of, frozen
from .models import Model, as_model
from .objectives import GREY, INPUT, OUTPUT, PUBLISHED_STD, ZERO, Objective, images_for, objective, penalty as make_penalty
from .transforms import apply_transforms, roll

__all__ = ["optimize_image", "render", "Optimized", "Run", "STEP_RULES", "make_optimizer", "Rescaled", "set_lr",
           "seeing_pixels", "start_image"]


# ------------------------------------------------------------------------------------ step rules
def _per_image(direction: Callable) -> Callable:
    """g -> g / direction-size, with one size per image (the first dimension), for any shape of g."""
    def rescale(g):
        return g / (direction(g.flatten(1)).view(-1, *[1] * (g.dim() - 1)) + 1e-12)
    return rescale


class Rescaled(torch.optim.SGD):
    """Plain SGD on a rescaled gradient: lr * direction(g).

    Parameters
    ----------
    params : iterable of tensors
    lr : float
    direction : callable
        g -> the step direction (e.g. g / |g|_2 per image, sign(g)).
    """

    def __init__(self, params, lr: float, direction: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__(params, lr=lr)
        self.direction = direction

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = self.direction(p.grad)
        return super().step(closure)


# name: (the published rate in pixel units for images of `numel` values, fn(params, lr) -> optimizer)
STEP_RULES = {
    # lucent's feature visualization (for the Fourier parameters)
    "adam": (lambda numel: 0.05, lambda p, lr: torch.optim.Adam(p, lr=lr)),
    # torch's default; the line length comes from curvature; one evaluation per step
    "lbfgs": (lambda numel: 1.0, lambda p, lr: torch.optim.LBFGS(p, lr=lr, max_iter=1)),
    "sgd": (lambda numel: 1.0, lambda p, lr: torch.optim.SGD(p, lr=lr)),
    # CS231n: lr * g / |g|_2, 25 normalized units at 3x224x224 = 25 * 0.226 pixels; the same per-pixel
    # step at other sizes
    "sgd_l2": (lambda numel: 25.0 * PUBLISHED_STD * math.sqrt(numel / (3 * 224 * 224)),
               lambda p, lr: Rescaled(p, lr, _per_image(lambda f: f.norm(dim=1)))),
    # Google's DeepDream: lr * g / mean|g|, 1.5 on the 0-255 scale
    "sgd_mean": (lambda numel: 1.5 / 255, lambda p, lr: Rescaled(p, lr, _per_image(lambda f: f.abs().mean(1)))),
    # FGSM: lr * sign(g), torchattacks' epsilon
    "sign": (lambda numel: 8 / 255, lambda p, lr: Rescaled(p, lr, torch.sign)),
}


def make_optimizer(name, params, lr: float | None = None, numel: int = 3 * 224 * 224) -> torch.optim.Optimizer:
    """The step rule `name` over `params`.

    Parameters
    ----------
    name : str or callable
        A key of STEP_RULES, or fn(params) -> torch optimizer.
    params : list of tensors
    lr : float, optional
        None: the rule's published rate (pixel units) for images of `numel` values each.
    numel : int

    Returns
    -------
    torch.optim.Optimizer
    """
    if callable(name):
        return name(params)
    default, build = STEP_RULES[name]
    return build(params, default(numel) if lr is None else lr)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group of `optimizer` to `lr`."""
    for group in optimizer.param_groups:
        group["lr"] = lr


# ------------------------------------------------------------------------------------ the loop
@dataclass
class Optimized:
    """What `optimize_image` returns.

    Attributes
    ----------
    image : tensor, N x C x H x W
        The result in the model's normalized space, like every input of the course (detached;
        pixels: `model.unnormalize(r.image)`).
    history : list of float
        The objective (mean over the batch, before penalties) at every step.
    penalties : list of float
        The penalty (mean over the batch) at every step.
    snapshots : dict of int to tensor
        {step: image} at the steps asked for (step 0 = the start), normalized as `image`.
    steps : int
        Steps taken.
    interrupted : bool
        True when a KeyboardInterrupt ended the loop early.
    info : dict
        Method-specific results ("done": N bools; fooling: success, probability, size of the change).
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
    """`steps` steps of `optimizer` on `param`'s tensors, maximizing objective - penalty of
    `param.image()` as the network sees it through `transforms`.

    Parameters
    ----------
    net : callable
        Pixels -> class scores (the model behind its normalization: `seeing_pixels`).
    rec : ll.capture
        The capture of the layers the objectives read.
    objective, penalty : Objective
    param : parameterization (see `ll.parameterizations`)
    optimizer : torch.optim.Optimizer
    transforms : sequence of callables (x, gen) -> x
    steps : int
    gen : torch.Generator
    run : Run
        Keeps what each step gave; updated in place.
    stop : callable, optional
        Class scores N x K -> N bools: images that are done stop changing.
    lr_end : float, optional
        The rate for the last 10 % of the steps.
    """
    for i in range(steps):
        if lr_end is not None and i == math.ceil(0.9 * steps):
            set_lr(optimizer, lr_end)
        img = param.image()                                    # N x C x H x W pixels
        out = net(apply_transforms(transforms, img, gen))      # jitter, scale, rotate: seen, not kept
        acts = {**rec.activations, OUTPUT: out, INPUT: img}
        value, cost = _one_each(objective(acts), img), penalty(acts)
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


def _one_each(value: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
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
    desc = desc if len(desc) <= 40 else desc[:39] + "…"
    return tqdm(total=total, desc=desc, leave=True)   # stays at its final state, in saved notebooks too


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
            if not run.result.interrupted and run.bar.n < run.bar.total:   # `stop`: every image done early
                steps, started = run.bar.n, run.bar.start_t
                run.bar.reset(total=steps)          # a finished bar of the steps taken, not an unfinished one
                run.bar.start_t = started           # with the run's own time and rate
                run.bar.update(steps)
            run.bar.close()


def seeing_pixels(model: Model) -> Callable:
    """The network as a function of pixels: x -> net((x - mean) / std)."""
    return lambda pixels: model.net(model.normalize(pixels))


# CS231n's starts, randn (class visualization) and uniform(0, 1) (feature inversion), are in
# normalized units: here * 0.226 around mid-grey ("zeros": the normalized zero, about the mean colour)
_STARTS = {"zeros": lambda shape, gen: torch.full(shape, GREY),
           "randn": lambda shape, gen: GREY + PUBLISHED_STD * torch.randn(shape, generator=gen),
           "uniform": lambda shape, gen: GREY + PUBLISHED_STD * torch.rand(shape, generator=gen)}


def start_image(model, init, n: int, size: int | None, gen: torch.Generator, device) -> torch.Tensor:
    """The first image, in pixels.

    Parameters
    ----------
    model : Model
    init : str, tensor or picture
        "zeros" (mid-grey), "randn" or "uniform" (noise around mid-grey); a normalized tensor or a
        picture goes through `model.as_input`.
    n, size : int
        How many noise images, and their side (None: the model's input size).
    gen : torch.Generator
    device : torch.device

    Returns
    -------
    tensor, N x C x H x W pixels
    """
    if not isinstance(init, str) or init not in _STARTS:
        return model.unnormalize(model.as_input(init).detach().to(device).float())
    side = size or model.input_size
    if side is None:
        raise ValueError(f"{model.name} is a plain nn.Module: give size=, or init as an N x C x H x W tensor")
    return _STARTS[init]((n, model.channels, side, side), gen).to(device)


def _check(optimizer, param, init, steps: int, octaves: int, jitter: int, stop, max_change) -> None:
    if optimizer not in STEP_RULES and not callable(optimizer):
        raise ValueError(f"optimizer must be one of {tuple(STEP_RULES)} or fn(params) -> torch optimizer; "
                         f"got {optimizer!r}")
    if steps < 0 or octaves < 1 or jitter < 0:
        raise ValueError(f"steps >= 0, octaves >= 1 and jitter >= 0; got {steps}, {octaves}, {jitter}")
    if stop is not None and optimizer == "lbfgs":
        raise ValueError("stop= needs a step rule that takes one step at a time; L-BFGS does not support it")
    if max_change is not None and octaves > 1:
        raise ValueError("max_change bounds the change from the start image: use octaves=1")
    cls = parameterizations.PARAMETERIZATIONS.get(param, param) if isinstance(param, str) else param
    if getattr(cls, "from_noise", False) and (octaves > 1 or not isinstance(init, str)):
        raise ValueError(f"the {param} parameterization starts from noise at one scale: use init='randn', octaves=1")


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


def optimize_image(model, objective_spec, init="randn", *, n: int | None = None, size: int | None = None, steps: int = 100,
                   optimizer="adam", lr: float | None = None, lr_end: float | None = None,
                   l2: float = 0.0, tv: float = 0.0, alpha_norm: float = 0.0, alpha: float = 6.0,
                   jitter: int = 0, transforms=(), octaves: int = 1, octave_scale: float = 1.4,
                   param="pixels", clamp: bool | None = None, max_change: float | None = None,
                   blur_every: int | None = None, blur_sigma: float | None = None,
                   stop: Callable[[torch.Tensor], torch.Tensor] | None = None, snapshots=(), seed: int = 0,
                   progress: bool | None = None) -> Optimized:
    """Maximize objective(x) - penalties(x) over images x with `render`; the model stays as it is.

    Parameters
    ----------
    model : Model or nn.Module
    objective_spec : int, str, list of classes or Objective
        A class, one class per image, a unit, a layer or any objective (`ll.objectives.objective`).
    init : str, tensor or picture
        A picture or N x C x H x W normalized tensor to start from, or "zeros", "randn",
        "uniform" (then `n` images of side `size`, default the model's input size).
    n : int, optional
        How many noise images (None: one per class of a list, else 1).
    steps : int
        Steps per octave.
    optimizer : str or callable
        A step rule of STEP_RULES ("adam", "lbfgs", "sgd", "sgd_l2", "sgd_mean", "sign") or
        fn(params) -> torch optimizer.
    lr, lr_end : float, optional
        The rate in pixel units (None: the rule's published one); `lr_end` replaces it for the
        last 10 % of the steps.
    l2, tv, alpha_norm, alpha : float
        Penalty weights of `l2()`, `tv()`, `alpha_norm(alpha)` (or put them in the objective:
        `class_score(3) - 0.02 * l2()`; then `history` includes them).
    jitter : int
        Largest random circular shift in px, drawn anew each step (`transforms.roll`).
    transforms : sequence of callables (x, gen) -> x
        Applied after the jitter, before each forward (`transforms.robust_transforms()`, ...).
    octaves, octave_scale : int, float
        octaves > 1: optimize at sizes shrinking by `octave_scale`, coarse to fine; each finer
        octave starts from the start image plus the detail added so far.
    param : str or callable
        "pixels", "fourier" (Olah et al.), "phase" (MaCo), or a parameterization class or
        fn(start, gen) (see `ll.parameterizations`).
    clamp, max_change, blur_every, blur_sigma
        Options of param="pixels" (see `Pixels.maker`; unset: clamped, no bound, no blur). Given
        with a parameterization that does not take them, they are refused.
    stop : callable, optional
        Class scores N x K -> N bools: images that are done stop changing; the loop ends when
        all are done.
    snapshots : sequence of int
        Steps at which to keep a copy of the image.
    seed : int
        Seeds the start noise and the transforms (nothing global is touched).
    progress : bool, optional
        A progress bar (None: for runs of 50 steps or more).

    Returns
    -------
    Optimized

    Raises
    ------
    ValueError
        For an unknown step rule or parameterization, an option that does not apply, or
        settings out of range.
    """
    model = as_model(model)
    obj = objective(model, objective_spec)
    n = images_for(objective_spec) if n is None else n
    _check(optimizer, param, init, steps, octaves, jitter, stop, max_change)
    options = {k: v for k, v in dict(clamp=clamp, max_change=max_change, blur_every=blur_every,
                                     blur_sigma=blur_sigma).items() if v is not None}
    gen = torch.Generator().manual_seed(seed)
    base = start_image(model, init, n, size, gen, device_of(model))     # pixels
    make_param = parameterizations.make(param, base, options)
    penalty = make_penalty(dict(l2=l2, tv=tv, alpha_norm=alpha_norm), alpha)
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
