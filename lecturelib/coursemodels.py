"""The course's own small models, small enough to train on a CPU, shipped inside the package.

digits       a small CNN on scikit-learn's 8x8 handwritten digits (1 channel, 10 classes)
shapes       a small CNN on synthetic 32x32 photos of one shape on clutter; every image comes with
             the shape's pixel mask, so attribution maps can be scored against the truth.
shapes_twin  the same network trained on the same data from another random start (seed 1):
             a second, independent opinion on the same task

`python -m lecturelib train digits|shapes|shapes_twin` reproduces a weights file and prints its accuracy.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

__all__ = ["SPECS", "digits_data", "shapes_data", "build", "load_course_net", "train", "accuracy"]


@dataclass(frozen=True)
class Spec:
    """How one course model is built, fed and trained (the values of SPECS).

    Attributes
    ----------
    build : callable
        () -> a fresh nn.Module with random weights.
    categories : tuple of str
        The class names, in output order.
    mean, std : tuple of float
        Per-channel normalization of pixels in [0, 1]: (pixel - mean) / std.
    size : int
        The input side in px.
    epochs, lr, batch, seed : int, float, int, int
        Training settings (Adam, one-cycle schedule).
    mirror : bool
        Augment with left-right mirrored images (the class does not change).
    """

    build: Callable[[], nn.Module]
    categories: tuple
    mean: tuple
    std: tuple
    size: int
    epochs: int
    lr: float
    batch: int = 64
    seed: int = 0
    mirror: bool = False  # augment with left-right mirrored images (the class does not change)


def _digits_net() -> nn.Module:
    return nn.Sequential(  # 8x8x1
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),  # 4x4
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * 16, 10))


def _shapes_net() -> nn.Module:
    return nn.Sequential(  # 32x32x3
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16x16
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 8x8
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),                   # 8x8, receptive field 32 px
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 4))


SHAPES = ("circle", "square", "triangle", "cross")
SPECS = {
    "digits": Spec(_digits_net, tuple(str(d) for d in range(10)), (0.3,), (0.4,), 8, epochs=15, lr=3e-3),
    "shapes": Spec(_shapes_net, SHAPES, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 32, epochs=10, lr=3e-3,
                   mirror=True),
    # The same network and data trained from another random start: a second opinion on `shapes`
    # (lecture 06 asks whether one model's class visualizations are recognized by the other).
    "shapes_twin": Spec(_shapes_net, SHAPES, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 32, epochs=10, lr=3e-3,
                        seed=1, mirror=True),
}


def build(name: str) -> nn.Module:
    """A fresh network of course model `name` (a key of SPECS), with random weights from torch's
    global generator."""
    return SPECS[name].build()


# ------------------------------------------------------------------------------------ data
def digits_data(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's handwritten digits, one part of a fixed 80/20 split.

    Parameters
    ----------
    split : str
        "train" (80 %) or "test" (20 %).

    Returns
    -------
    pixels : tensor, N x 1 x 8 x 8
        In [0, 1].
    labels : tensor of int, N

    Raises
    ------
    ValueError
        For another `split`.
    """
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    cut = int(0.8 * len(y))
    idx = order[:cut] if split == "train" else order[cut:]
    if split not in ("train", "test"):
        raise ValueError(f"split is 'train' or 'test'; got {split!r}")
    return x[idx], y[idx]


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list:
    if kind == "square":
        corners = [angle + np.pi / 4 + k * np.pi / 2 for k in range(4)]
        return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in corners]
    if kind == "triangle":
        return [(cx + r * np.cos(angle + k * 2 * np.pi / 3), cy + r * np.sin(angle + k * 2 * np.pi / 3)) for k in range(3)]
    if kind == "cross":  # a plus sign: 12 corners, arm half-width r/3
        w = r / 3
        pts = [(w, r), (w, w), (r, w), (r, -w), (w, -w), (w, -r), (-w, -r), (-w, -w), (-r, -w), (-r, w), (-w, w), (-w, r)]
        c, s = np.cos(angle), np.sin(angle)
        return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in pts]
    raise ValueError(kind)


def shapes_data(n: int, seed: int = 0, size: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`n` synthetic images of one shape each, with the shape's mask; the same for the same `seed`.

    Each holds one filled circle, square, triangle or cross (classes balanced, order shuffled),
    at a random place, size, angle and colour, on a colour gradient with random lines and dots.

    Parameters
    ----------
    n : int
    seed : int
    size : int
        The side S in px.

    Returns
    -------
    pixels : tensor, n x 3 x S x S
        In [0, 1].
    labels : tensor of int, n
        Indices into SHAPES.
    masks : tensor of bool, n x S x S
        True on the shape.
    """
    from PIL import Image, ImageDraw
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(SHAPES))
    scale, big = 4, size * 4
    images = np.empty((n, size, size, 3), np.float32)
    masks = np.empty((n, size, size), bool)
    for i, label in enumerate(labels):
        c0, c1 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        t = np.linspace(0, 1, size)
        t = t[None, :, None] if rng.random() < 0.5 else t[:, None, None]
        bg = np.clip(c0 * (1 - t) + c1 * t + np.zeros((size, size, 3)), 0, 1)
        canvas = Image.fromarray((bg * 255).astype(np.uint8)).resize((big, big), Image.BILINEAR)
        draw = ImageDraw.Draw(canvas)
        for _ in range(rng.integers(2, 6)):  # clutter: thin lines and small dots
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            if rng.random() < 0.6:
                p = rng.uniform(0, big, 4)
                draw.line([(p[0], p[1]), (p[2], p[3])], fill=colour, width=int(rng.integers(3, 7)))
            else:
                x, y, r = *rng.uniform(0, big, 2), rng.uniform(3, 7)
                draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
        r = rng.uniform(0.22, 0.34) * big
        cx, cy = rng.uniform(r + 2, big - r - 2, 2)
        angle = rng.uniform(0, 2 * np.pi)
        colour = rng.uniform(0, 1, 3)
        under = bg[int(cy / scale), int(cx / scale)]
        if np.abs(colour - under).sum() < 0.9:  # keep the shape visible against its background
            colour = np.where(under > 0.5, under - 0.6, under + 0.6).clip(0, 1)
        mask = Image.new("L", (big, big), 0)
        for d, value in ((draw, tuple(int(v * 255) for v in colour)), (ImageDraw.Draw(mask), 255)):
            if SHAPES[label] == "circle":
                d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=value)
            else:
                d.polygon(_polygon(SHAPES[label], cx, cy, r, angle), fill=value)
        images[i] = np.asarray(canvas.resize((size, size), Image.BOX), np.float32) / 255
        masks[i] = np.asarray(mask.resize((size, size), Image.BOX)) >= 128
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels), torch.from_numpy(masks)


def _data(name: str, split: str):
    if name == "digits":
        return digits_data(split)
    x, y, _ = shapes_data(8000 if split == "train" else 2000, seed=0 if split == "train" else 1)
    return x, y


# ------------------------------------------------------------------------------------ weights
def weights_file(name: str) -> Path:
    """The path of course model `name`'s shipped weights (inside the package)."""
    return Path(str(resources.files("lecturelib") / "weights" / f"{name}.pt"))


def load_course_net(name: str, pretrained: bool = True, seed: int = 0) -> nn.Module:
    """The trained course network, or the same architecture with seeded random weights.

    Parameters
    ----------
    name : str
        A key of SPECS.
    pretrained : bool
        False: random weights seeded by `seed` (torch's global generator is left as it was), the
        untrained control a lesson's claim must fail on.
    seed : int

    Returns
    -------
    nn.Module
        A bare network (no normalization; `ll.load_model` wraps it).

    Raises
    ------
    FileNotFoundError
        If the trained weights are missing.
    """
    if not pretrained:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build(name)
    path = weights_file(name)
    if not path.exists():
        raise FileNotFoundError(f"course model weights {path} are missing; run: python -m lecturelib train {name}")
    net = build(name)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net


def _normalize(name: str, pixels: torch.Tensor) -> torch.Tensor:
    spec = SPECS[name]
    mean = torch.tensor(spec.mean).view(1, -1, 1, 1)
    std = torch.tensor(spec.std).view(1, -1, 1, 1)
    return (pixels - mean) / std


@torch.no_grad()
def accuracy(net: nn.Module, name: str, split: str = "test") -> float:
    """The fraction of a split of `name`'s data that `net` classifies correctly.

    Parameters
    ----------
    net : nn.Module
        A bare network (this function normalizes the pixels); it is put in eval mode.
    name : str
        A key of SPECS: whose data and normalization.
    split : str
        "test" (held out) or "train".

    Returns
    -------
    float
        In [0, 1].
    """
    x, y = _data(name, split)
    net.eval()
    pred = torch.cat([net(_normalize(name, xb)).argmax(1) for xb in x.split(500)])
    return float((pred == y).float().mean())


def train(name: str, out: Path | None = None, seed: int | None = None, epochs: int | None = None,
          log: Callable[[str], None] = print, on_epoch: Callable[[int, nn.Module], None] | None = None) -> float:
    """Train course model `name` from scratch (Adam, one-cycle schedule) and save its weights.

    Parameters
    ----------
    name : str
        A key of SPECS.
    out : Path, optional
        Where to save the state dict (None: the package's weights file).
    seed, epochs : int, optional
        None: the model's Spec.
    log : callable
        Receives one line per epoch and a summary.
    on_epoch : callable, optional
        on_epoch(epoch, net), called before the first epoch (epoch 0) and after each one, with
        the net in eval mode.

    Returns
    -------
    float
        Accuracy on the held-out test split.

    Raises
    ------
    ValueError
        If `name` is not a course model.
    """
    if name not in SPECS:
        raise ValueError(f"course models are {', '.join(SPECS)}; got {name!r}")
    spec = SPECS[name]
    epochs = spec.epochs if epochs is None else epochs
    seed = spec.seed if seed is None else seed
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    x, y = _data(name, "train")
    x = _normalize(name, x)
    net = build(name)
    opt = torch.optim.Adam(net.parameters(), lr=spec.lr)
    batch = spec.batch
    steps = epochs * ((len(y) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec.lr, total_steps=steps)
    g = torch.Generator().manual_seed(seed)
    if on_epoch is not None:
        on_epoch(0, net.eval())
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(y), generator=g)
        total = 0.0
        for idx in order.split(batch):
            xb = x[idx]
            if spec.mirror:
                flip = torch.rand(len(idx), generator=g) < 0.5
                xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(3), xb)
            loss = nn.functional.cross_entropy(net(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        log(f"{name} epoch {epoch + 1}/{epochs}: loss {total / len(y):.4f}")
        if on_epoch is not None:
            with torch.no_grad():
                on_epoch(epoch + 1, net.eval())
    acc = accuracy(net, name, "test")
    out = weights_file(name) if out is None else Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out)
    log(f"{name}: held-out accuracy {acc:.2%} in {time.perf_counter() - t0:.1f} s; saved {out} "
        f"({out.stat().st_size / 1024:.0f} KiB)")
    return acc
