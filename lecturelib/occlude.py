"""Occlusion sensitivity (Zeiler & Fergus 2014): hide a square of the image, see how much the class's
probability drops.

    ll.occlusion(model, x, target, window=15, stride=8)   # N×1×H×W map of drops
    occ = Occluder(model, x[:1], target)                   # one image, its class and p(x) resolved once
    occ.drops([(row, col), ...], window)                   # the drops for a batch of window places

The clean image runs through the network once: those scores give p(x) and, for target None, the
class to explain. The occluded copies then run whole ("naive") or layer by layer on only the box the
window changed (lecturelib.incremental). `ll.widgets.occlusion_probe` moves one window with sliders
through the same `Occluder`.
"""
from __future__ import annotations

import time
import warnings

import torch
import torch.nn.functional as F

from . import targets
from .hooks import frozen
from .incremental import Incremental, Unsupported
from .models import as_model

__all__ = ["occlusion", "Occluder", "fill_value", "positions", "OCCLUSION_METHODS"]

OCCLUSION_METHODS = ("auto", "incremental", "naive", "approximate")


def fill_value(model, x: torch.Tensor, baseline) -> torch.Tensor:
    """The occluder's fill, N×C×H×W: 'mean' (0 in normalized space: the data set's mean colour),
    'gray' (pixel 0.5), 'blur' (the image blurred), or a number (in normalized space)."""
    if isinstance(baseline, (int, float)):
        return torch.full_like(x, float(baseline))
    if baseline == "mean":
        return torch.zeros_like(x)
    if baseline == "gray":
        return as_model(model).normalize(torch.full_like(x, 0.5))
    if baseline == "blur":
        k = max(3, (min(x.shape[2:]) // 8) | 1)
        return F.avg_pool2d(F.pad(x, [k // 2] * 4, mode="replicate"), k, stride=1)
    raise ValueError(f"baseline is 'mean', 'gray', 'blur' or a number; got {baseline!r}")


def positions(size: int, window: int, stride: int) -> list[int]:
    """Where a window starts along one side: every `stride` pixels, and flush with the far edge."""
    pos = list(range(0, size - window + 1, stride))
    if pos[-1] != size - window:  # cover the last rows/columns too
        pos.append(size - window)
    return pos


def _grid(h: int, w: int, window: int, stride: int) -> list[tuple[int, int]]:
    return [(r, c) for r in positions(h, window, stride) for c in positions(w, window, stride)]


def _classes(model, target, n: int) -> list:
    """The class of each of n images, resolved (`targets.resolve`; None: the image's predicted class)."""
    classes = targets.resolve(model, target, n)
    if isinstance(classes, targets.Unit):
        raise ValueError(f"occlusion measures a class's probability; a unit target ({target!r}) is for the "
                         f"gradient methods")
    return classes


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
    model = as_model(model)
    x = model.as_input(x).detach()
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"x must be a float N×C×H×W batch; got shape {tuple(x.shape)}, dtype {x.dtype} "
                         f"(one image: x[None])")
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
    fill = fill_value(model, x, baseline)
    maps = []
    with frozen(model.net):
        for i, t in enumerate(_classes(model, target, len(x))):
            occluder = Occluder(model, x[i:i + 1], t, fill[i:i + 1], method, tau if method == "approximate" else 1.0)
            desc = f"occlusion {i + 1}/{x.shape[0]}"
            if method == "approximate":
                first = _grid(h, w, window, min(2 * stride, window))  # twice the stride: every pixel still covered
                drop, count = occluder.accumulate(first, window, batch_size, progress, f"{desc}, coarse")
                cut = torch.quantile(drop / count, 1 - drill)
                half, done = window // 2, set(first)
                fine = [(r, c) for r, c in _grid(h, w, window, stride)
                        if (r, c) not in done and drop[r + half, c + half] / count[r + half, c + half] >= cut]
                drop2, count2 = occluder.accumulate(fine, window, batch_size, progress, f"{desc}, fine")
                drop, count = drop + drop2, count + count2
            else:
                drop, count = occluder.accumulate(_grid(h, w, window, stride), window, batch_size, progress, desc)
            maps.append(drop / count)
    return torch.stack(maps)[:, None]


class Occluder:
    """Occluded copies of one image `x` (1×C×H×W) and the drop of one class's probability.

    target   that image's class (index, name, or None for its predicted class)
    fill     what a window shows: a baseline name or number (see `fill_value`), or a 1×C×H×W tensor
    method   "naive", "incremental", "auto" (try both, keep the faster) or "approximate" (tau < 1)
    After construction: `.c` the class, `.p0` its probability on the clean image (one forward pass)."""

    def __init__(self, model, x: torch.Tensor, target=None, fill="mean", method: str = "incremental",
                 tau: float = 1.0):
        model = as_model(model)
        classes = _classes(model, target, 1)
        self.net, self.x = model.net, x
        self.fill = fill if isinstance(fill, torch.Tensor) else fill_value(model, x, fill)
        self.method, self.incremental, self.seconds, self.notes = method, None, {}, {}
        with torch.no_grad():
            if method != "naive":
                try:
                    self.incremental = Incremental(self.net, x, tau)  # runs the clean image once
                except Unsupported as e:
                    then = {"auto": "auto chose naive: every occluded copy runs through the whole network",
                            "incremental": "occlusion runs naive: every occluded copy through the whole network "
                                           "(the same map, without the speed-up)",
                            "approximate": "approximate occlusion computes each window through the whole network "
                                           "(no box is capped); the coarse pass and the fine drill-down still apply"}
                    warnings.warn(f"{e}; {then[method]}", stacklevel=3)
                    self.method = "naive"
            scores = self.incremental.clean_scores if self.incremental is not None else self.net(x)
            self.c = int(targets.indices(classes, scores)[0])
            self.p0 = torch.softmax(scores, 1)[0, self.c]

    def occluded(self, places: list, window: int) -> torch.Tensor:
        """One copy of x per (row, col) in `places`, with the fill in the window there: B×C×H×W."""
        batch = self.x.repeat(len(places), 1, 1, 1)
        for j, (r, c) in enumerate(places):
            batch[j, :, r:r + window, c:c + window] = self.fill[0, :, r:r + window, c:c + window]
        return batch

    @torch.no_grad()
    def drops(self, places: list, window: int, method: str | None = None) -> list[float]:
        """p(x) − p(x occluded) for a window at each (row, col) of `places` (top-left corners)."""
        method = method or self.method
        if method == "naive" or self.incremental is None:
            scores = self.net(self.occluded(places, window))
        else:
            rows, cols = (torch.tensor(v, device=self.x.device) for v in zip(*places))
            scores = self.incremental(self.fill, rows, cols, window)
            self.notes.update(dict.fromkeys(self.incremental.notes))
            self.incremental.notes.clear()
        return (self.p0 - torch.softmax(scores, 1)[:, self.c]).tolist()  # one transfer per batch

    def accumulate(self, places: list, window: int, batch_size: int = 8, progress=None, desc: str = "occlusion"):
        """Sum of drops and count of windows at every pixel (two H×W tensors), over `places`."""
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
            drops = self.drops(chunk, window, method)
            if self.method == "auto" and j in (2, 3):
                self.seconds[method] = (time.perf_counter() - t) / len(chunk)
                if j == 3:
                    self.method = min(self.seconds, key=self.seconds.get)
            for d, (r, c) in zip(drops, chunk):
                drop[r:r + window, c:c + window] += d
                count[r:r + window, c:c + window] += 1
        for note in self.notes:
            warnings.warn(f"incremental occlusion: {note}")
        self.notes.clear()
        return drop, count
