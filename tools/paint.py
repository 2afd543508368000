"""Paint the course's style image for lecture 09: brush strokes along a flow field, night-sky colours.

Run once (the result is committed; notebook 09 and the tests check its SHA-256):

    python tools/paint.py                  # writes data/painting/painting.png and SHA256SUMS
    python tools/paint.py --seed 3 --out /tmp/other.png   # another painting (not the course's)

The flow: a few swirls (vortices, each turning the strokes around its centre) added to a smoothed
random vector field. Each stroke starts at a random point and follows the flow (Euler steps along the
field's direction) for a few dozen pixels. Strokes are laid coarse to fine: wide ones first, then
narrower ones on top. Each is drawn three times: a darker, wider edge, the body, and a thin lighter
ridge beside its centre line, so it reads as a ridge of paint. Colours come from a night-sky palette
(navy, ultramarine, cobalt, cyan, pale blue, pale yellow, yellow), lighter around two "stars" and
along the swirls' bands. numpy, scipy and Pillow only; the same seed gives the same bytes.
"""
from __future__ import annotations

import argparse
import hashlib
import pathlib

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "painting" / "painting.png"
SIZE = 512
# Dark to light. Nothing of the content photo's browns, greys and orange.
PALETTE = np.array([(12, 20, 60), (24, 42, 128), (36, 78, 178), (58, 128, 206), (96, 186, 216),
                    (176, 222, 232), (246, 240, 186), (242, 208, 56)], float)
# (x, y, radius, turn): swirl centres in px; turn > 0 counter-clockwise
SWIRLS = [(150, 170, 150, 1.0), (360, 260, 140, -1.0), (250, 420, 120, 1.0), (430, 90, 80, -1.0)]
STARS = [(150, 170, 34), (430, 90, 26)]   # bright cores (x, y, radius) at two swirl centres
WIDTHS = [(16, 260), (10, 700), (6, 1500), (3, 1700)]   # (brush width px, how many strokes), coarse to fine


def flow(rng: np.random.Generator, n: int = SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stroke direction at every pixel, and how strongly each pixel is swirled.

    Returns
    -------
    (vx, vy, band) : three n x n float arrays
        A unit vector field and a swirl strength in [0, 1] (1 at a swirl's ring).
    """
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    vx = gaussian_filter(rng.normal(size=(n, n)), 40) * 60 + 1.0       # a smooth drift to the right
    vy = gaussian_filter(rng.normal(size=(n, n)), 40) * 60 + 0.25
    band = np.zeros((n, n))
    for cx, cy, r, turn in SWIRLS:
        dx, dy = xx - cx, yy - cy
        d = np.hypot(dx, dy) + 1e-6
        ring = np.exp(-((d - 0.55 * r) / (0.45 * r)) ** 2)          # strongest on a ring around the centre
        vx += 3.0 * turn * ring * (-dy / d)
        vy += 3.0 * turn * ring * (dx / d)
        band = np.maximum(band, np.exp(-((d - 0.6 * r) / (0.18 * r)) ** 2))
    norm = np.hypot(vx, vy) + 1e-9
    return vx / norm, vy / norm, band


def colour_at(x: float, y: float, band: np.ndarray, tone: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A palette colour for a stroke starting at (x, y): light near stars and on swirl bands, dark elsewhere."""
    i, j = int(np.clip(y, 0, SIZE - 1)), int(np.clip(x, 0, SIZE - 1))
    level = 0.8 + 2.6 * tone[i, j] + 3.0 * band[i, j] + rng.normal(0, 0.7)
    for sx, sy, r in STARS:
        level += 6.0 * np.exp(-((x - sx) ** 2 + (y - sy) ** 2) / (2 * r ** 2))
    k = int(np.clip(round(level), 0, len(PALETTE) - 1))
    return np.clip(PALETTE[k] + rng.normal(0, 10, 3), 0, 255)


def streamline(x: float, y: float, vx: np.ndarray, vy: np.ndarray, length: float, step: float = 3.0) -> list:
    """Points from (x, y) along the field for `length` px (stops at the border)."""
    pts = [(x, y)]
    for _ in range(int(length / step)):
        i, j = int(y), int(x)
        if not (0 <= i < SIZE and 0 <= j < SIZE):
            break
        x, y = x + step * vx[i, j], y + step * vy[i, j]
        pts.append((x, y))
    return pts


def paint(seed: int = 0) -> Image.Image:
    """The painting: SIZE x SIZE RGB, the same for the same seed."""
    rng = np.random.default_rng(seed)
    vx, vy, band = flow(rng)
    tone = gaussian_filter(rng.normal(size=(SIZE, SIZE)), 24)
    tone = (tone - tone.min()) / (tone.max() - tone.min())
    yy = np.linspace(0, 1, SIZE)[:, None, None]
    ground = (1 - yy) * PALETTE[1] + yy * PALETTE[0]                   # underpainting: ultramarine to navy
    img = Image.fromarray(np.broadcast_to(ground, (SIZE, SIZE, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for width, count in WIDTHS:
        for _ in range(count):
            x, y = rng.uniform(-10, SIZE + 10, 2)
            pts = streamline(x, y, vx, vy, length=rng.uniform(4, 9) * width + 10)
            if len(pts) < 3:
                continue
            c = colour_at(x, y, band, tone, rng)
            dark, light = tuple(int(v) for v in 0.55 * c), tuple(int(v) for v in np.minimum(255, 1.3 * c + 30))
            draw.line(pts, fill=dark, width=width + 2, joint="curve")                 # the stroke's dark edge
            draw.line(pts, fill=tuple(int(v) for v in c), width=width, joint="curve")  # its body
            ridge = [(px - 0.25 * width, py - 0.25 * width) for px, py in pts]          # light from the top left
            draw.line(ridge, fill=light, width=max(1, width // 4), joint="curve")
    return img


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=pathlib.Path, default=OUT)
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    paint(args.seed).save(args.out, optimize=True)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    if args.out.resolve() == OUT.resolve():
        (OUT.parent / "SHA256SUMS").write_text(f"{digest}  {OUT.relative_to(ROOT)}\n")
    print(f"{args.out}: {args.out.stat().st_size // 1024} kB, SHA-256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
