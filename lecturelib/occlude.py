"""Occlusion sensitivity (Zeiler & Fergus 2014): hide a square of the image, see how much the class's
probability drops.

    ll.occlusion(model, x, target, window=15, stride=8)   # N x 1 x H x W map of drops
    occ = Occluder(model, x[:1], target)                   # one image, its class and p(x) resolved once
    occ.drops([(row, col), ...], window)                   # the drops for a batch of window places
    scan = occlusion_scan(model, x[:1], window=32, stride=16)  # every class's probability at every place
    scan.map(c), scan.most_probable()                      # any class's map; the top class per place

The clean image runs through the network once: those scores give p(x) and, for target None, the
class to explain. The occluded copies then run whole ("naive") or layer by layer on only the box the
window changed (lecturelib.incremental). `ll.widgets.occlusion_probe` moves one window with sliders
through the same `Occluder`.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import targets
from .hooks import frozen
from .incremental import Incremental, Unsupported
from .inputs import batch
from .models import as_model

__all__ = ["occlusion", "occlusion_scan", "OcclusionScan", "Occluder", "fill_value", "positions", "OCCLUSION_METHODS"]

OCCLUSION_METHODS = ("auto", "incremental", "naive", "approximate")


def fill_value(model, x: torch.Tensor, baseline: str | float) -> torch.Tensor:
    """What an occluding window shows, as an image like `x`.

    Parameters
    ----------
    model : Model or nn.Module
    x : tensor, N x C x H x W, the model's normalized input
    baseline : str or float
        "mean" (0 in the normalized input: the data set's mean colour), "gray" (pixel 0.5),
        "blur" (the image blurred), or a number (in the normalized input).

    Returns
    -------
    tensor, N x C x H x W, normalized input

    Raises
    ------
    ValueError
        For any other baseline.
    """
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
    """Where a window starts along one side: every `stride` pixels, and flush with the far edge.

    Parameters
    ----------
    size, window, stride : int
        The side's length, the window's side and the step, in pixels.

    Returns
    -------
    list of int
        The start positions, in pixels.
    """
    pos = list(range(0, size - window + 1, stride))
    if pos[-1] != size - window:  # cover the last rows/columns too
        pos.append(size - window)
    return pos


def _grid(h: int, w: int, window: int, stride: int) -> list[tuple[int, int]]:
    return [(r, c) for r in positions(h, window, stride) for c in positions(w, window, stride)]


def _check(h: int, w: int, window, stride, batch_size: int, method: str) -> None:
    if not isinstance(window, int) or not isinstance(stride, int):
        raise TypeError(f"window and stride are whole numbers of pixels; got {window!r}, {stride!r}")
    if window < 1 or window > min(h, w):
        raise ValueError(f"window {window} must be between 1 and the image size {min(h, w)}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1 pixel; got {stride}")
    if stride > window:
        raise ValueError(f"stride {stride} > window {window} would leave pixels never occluded; use stride <= window")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    if method not in OCCLUSION_METHODS:
        raise ValueError(f"method is one of {OCCLUSION_METHODS}; got {method!r}")


def _paint(drops: list, places: list, window: int, drop: torch.Tensor, count: torch.Tensor) -> None:
    """Add each place's drop to the pixels its window covers, and count the windows."""
    for d, (r, c) in zip(drops, places):
        drop[r:r + window, c:c + window] += d
        count[r:r + window, c:c + window] += 1


def _classes(model, target, n: int) -> list:
    """The class of each of n images, resolved (`targets.resolve`; None: the image's predicted class)."""
    return targets.classes_only(targets.resolve(model, target, n), target, "occlusion (a class's probability)")


@torch.no_grad()
def occlusion(model, x, target=None, window: int = 15, stride: int = 8, baseline: str | float = "mean",
              batch_size: int = 8, progress: bool | None = None, method: str = "auto",
              tau: float = 0.8, drill: float = 0.25) -> torch.Tensor:
    """Occlusion sensitivity (Zeiler & Fergus 2014): how much the target class's probability drops
    when a square of the image is hidden.

    A `window` x `window` patch filled with `baseline` slides over the image by `stride`; at each
    place the drop of the softmax probability, p(x) - p(x occluded), is recorded. Each pixel gets
    the mean drop over the windows that cover it.

    Parameters
    ----------
    model : Model or nn.Module
    x : tensor, N x C x H x W, the model's normalized input (or a picture, with an ll.Model)
    target : int, str, None, or a list of them
        The class of each image (None: its predicted class); a unit is refused.
    window, stride : int
        The patch's side and its step, in pixels (stride <= window, so every pixel is covered).
    baseline : str or float
        The fill (see `fill_value`).
    batch_size : int
        Occluded copies per forward pass.
    progress : bool, optional
        A progress bar (None: when there are more than 8 batches).
    method : str
        "naive": every occluded copy runs through the whole network.
        "incremental": each layer is recomputed only on the box the window changed
        (lecturelib.incremental); the same map up to float rounding.
        "approximate": incremental with every box capped at `tau` x its layer's size, and the
        fine stride used only where a first pass at twice the stride found the top `drill`
        fraction of the map (elsewhere the coarse pass stands). `python -m lecturelib bench`
        measures its speed and its SSIM to the exact map on your machine.
        "auto": incremental or naive, whichever ran one timed batch faster (after a warm-up
        batch each); a network torch.fx cannot read runs naive.
    tau, drill : float
        The settings of "approximate", each in (0, 1].

    Returns
    -------
    tensor, N x 1 x H x W
        Signed: positive where hiding the pixels lowers the probability.

    Raises
    ------
    TypeError
        If `window` or `stride` is not an int.
    ValueError
        For a window larger than the image, a stride below 1 or above the window, a batch_size
        below 1, an unknown method or baseline, tau or drill outside (0, 1], or a unit target.
    """
    model, x = batch(model, x)
    h, w = x.shape[2:]
    _check(h, w, window, stride, batch_size, method)
    if method == "approximate" and not (0 < tau <= 1 and 0 < drill <= 1):
        raise ValueError(f"approximate occlusion needs 0 < tau <= 1 and 0 < drill <= 1; got tau={tau}, drill={drill}")
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
    """Occluded copies of one image and the drop of one class's probability.

    After construction `.c` is the class and `.p0` its probability on the clean image (one
    forward pass). A network torch.fx cannot read gets a warning and runs "naive".

    Parameters
    ----------
    model : Model or nn.Module
    x : tensor, 1 x C x H x W, the model's normalized input
    target : int, str or None
        The image's class (None: its predicted class).
    fill : str, float or tensor
        What a window shows: a baseline of `fill_value`, or a 1 x C x H x W tensor (normalized).
    method : str
        "naive", "incremental", "auto" (try both, keep the faster) or "approximate" (tau < 1).
    tau : float
        The cap on each changed box, as a fraction of its layer's size (1: exact; see `Incremental`).

    Raises
    ------
    ValueError
        For a unit target, or tau outside (0, 1].
    """

    def __init__(self, model, x: torch.Tensor, target=None, fill: str | float | torch.Tensor = "mean",
                 method: str = "incremental",
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
            self.p = torch.softmax(scores, 1)[0]   # every class's probability on the clean image
            self.p0 = self.p[self.c]

    def occluded(self, places: list, window: int) -> torch.Tensor:
        """One copy of x per place, with the fill in the window there.

        Parameters
        ----------
        places : list of (int, int)
            The window's top-left corners (row, col), in pixels.
        window : int
            The window's side, in pixels.

        Returns
        -------
        tensor, B x C x H x W, normalized input (B = len(places))
        """
        batch = self.x.repeat(len(places), 1, 1, 1)
        for j, (r, c) in enumerate(places):
            batch[j, :, r:r + window, c:c + window] = self.fill[0, :, r:r + window, c:c + window]
        return batch

    @torch.no_grad()
    def probabilities(self, places: list, window: int, method: str | None = None) -> torch.Tensor:
        """Every class's probability with a window at each place.

        Parameters
        ----------
        places, window
            As in `occluded`.
        method : str, optional
            "naive" runs whole copies, any other the incremental passes (None: the occluder's).

        Returns
        -------
        tensor, B x K (B = len(places), K classes), on the image's device
        """
        method = method or self.method
        if method == "naive" or self.incremental is None:
            scores = self.net(self.occluded(places, window))
        else:
            rows, cols = (torch.tensor(v, device=self.x.device) for v in zip(*places))
            scores = self.incremental(self.fill, rows, cols, window)
            self.notes.update(self.incremental.notes)
            self.incremental.notes.clear()
        return torch.softmax(scores, 1)

    def drops(self, places: list, window: int, method: str | None = None) -> list[float]:
        """p(x) - p(x occluded) of the occluder's class, for a window at each place.

        Parameters
        ----------
        places, window, method
            As in `probabilities`.

        Returns
        -------
        list of float
            One drop of probability per place.
        """
        return (self.p0 - self.probabilities(places, window, method)[:, self.c]).tolist()  # one transfer per batch

    def batches(self, places: list, window: int, batch_size: int = 8, progress: bool | None = None,
                desc: str = "occlusion"):
        """Every class's probability for `places`, a batch at a time: yields (places, B x K tensor).

        With method "auto", batches 0 and 1 warm up, 2 and 3 are timed (one each way), and the
        faster way runs the rest. Layers that ran in full are named in one warning at the end.

        Parameters
        ----------
        places, window
            As in `occluded`.
        batch_size : int
            Places per forward pass.
        progress : bool, optional
            A progress bar (None: when there are more than 8 batches).
        desc : str
            The progress bar's label.
        """
        chunks = [places[k:k + batch_size] for k in range(0, len(places), batch_size)]
        if progress or (progress is None and len(chunks) > 8):
            from tqdm.auto import tqdm
            chunks = tqdm(chunks, desc=desc, leave=True)
        for j, chunk in enumerate(chunks):
            method = self.method
            if method == "auto":  # batches 0 and 1 warm up, 2 and 3 are timed; then the faster way goes on
                method = ("incremental", "naive")[j % 2]
            t = time.perf_counter()
            probs = self.probabilities(chunk, window, method)
            if self.method == "auto" and j in (2, 3):
                self.seconds[method] = (time.perf_counter() - t) / len(chunk)
                if j == 3:
                    self.method = min(self.seconds, key=self.seconds.get)
            yield chunk, probs
        if self.notes:   # one line, whatever the number of nodes
            kinds = {}
            for node, kind in self.notes.items():
                kinds.setdefault(kind, []).append(node)
            warnings.warn(f"incremental occlusion: {len(self.notes)} traced node(s) run in full, not on a box (the same "
                          f"map, with less speed-up): " + ", ".join(f"{k} x{len(v)} ({v[0]}{', ...' if len(v) > 1 else ''})"
                                                                    for k, v in kinds.items()), stacklevel=4)
        self.notes.clear()

    def accumulate(self, places: list, window: int, batch_size: int = 8, progress: bool | None = None,
                   desc: str = "occlusion") -> tuple[torch.Tensor, torch.Tensor]:
        """The sum of drops of the occluder's class and the count of windows at every pixel, over
        `places` (run as in `batches`).

        Returns
        -------
        (tensor, tensor)
            The drops and the counts, each H x W.
        """
        h, w = self.x.shape[2:]
        drop = torch.zeros(h, w, device=self.x.device)
        count = torch.zeros(h, w, device=self.x.device)
        for chunk, probs in self.batches(places, window, batch_size, progress, desc):
            _paint((self.p0 - probs[:, self.c]).tolist(), chunk, window, drop, count)  # one transfer per batch
        return drop, count


@dataclass
class OcclusionScan:
    """What `occlusion_scan` returns: every class's probability with the window at each place.

    Attributes
    ----------
    places : list of (int, int)
        The window's top-left corners (row, col), row by row over `rows` x `cols`.
    rows, cols : list of int
        The window's positions along each side, in pixels (`positions`).
    probs : tensor, P x K
        Each class's probability with the window at each place (P = len(places)).
    p : tensor, K
        Each class's probability on the clean image.
    window : int
    size : (int, int)
        The image's height and width.
    """

    places: list
    rows: list
    cols: list
    probs: torch.Tensor
    p: torch.Tensor
    window: int
    size: tuple

    def map(self, c: int) -> torch.Tensor:
        """Class `c`'s occlusion map, as `occlusion` draws it for one image: 1 x 1 x H x W, the mean
        drop p_c(x) - p_c(x occluded) over the windows that cover each pixel."""
        drop = torch.zeros(self.size, device=self.probs.device)
        count = torch.zeros(self.size, device=self.probs.device)
        _paint((self.p[c] - self.probs[:, c]).tolist(), self.places, self.window, drop, count)
        return (drop / count)[None, None]

    def most_probable(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Zeiler & Fergus's third map (2014, fig. 7): the class the network predicts with the window
        at each place, and its probability, each len(rows) x len(cols) (row i, column j: the window
        whose top-left corner is (rows[i], cols[j]))."""
        p, k = self.probs.max(1)
        return k.view(len(self.rows), len(self.cols)).cpu(), p.view(len(self.rows), len(self.cols)).cpu()


@torch.no_grad()
def occlusion_scan(model, x, window: int = 15, stride: int = 8, baseline: str | float = "mean",
                   batch_size: int = 8, progress: bool | None = None, method: str = "auto") -> OcclusionScan:
    """Slide a window over one image, as `occlusion` does, and keep every class's probability at every
    place: the maps of any class (`.map(c)`) and the most probable class (`.most_probable()`) from one
    sweep.

    Parameters
    ----------
    model : Model or nn.Module
    x : tensor, 1 x C x H x W, the model's normalized input (or a picture, with an ll.Model)
    window, stride, baseline, batch_size, progress : as in `occlusion`
    method : str
        "auto", "incremental" or "naive", as in `occlusion` (the same probabilities).

    Returns
    -------
    OcclusionScan

    Raises
    ------
    TypeError, ValueError
        As `occlusion`; and for more than one image or method "approximate".
    """
    model, x = batch(model, x)
    h, w = x.shape[2:]
    _check(h, w, window, stride, batch_size, method)
    if len(x) != 1 or method == "approximate":
        raise ValueError(f"occlusion_scan takes one image and an exact method; got {len(x)} images, method {method!r}")
    with frozen(model.net):
        occluder = Occluder(model, x, None, fill_value(model, x, baseline), method)
        rows, cols = positions(h, window, stride), positions(w, window, stride)
        places = [(r, c) for r in rows for c in cols]
        probs = torch.cat([p for _, p in occluder.batches(places, window, batch_size, progress, "occlusion scan")])
    return OcclusionScan(places, rows, cols, probs, occluder.p, window, (h, w))
