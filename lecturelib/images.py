"""Images in, RGB PIL images out: sample names, paths, URLs, PIL images, arrays and tensors; and
the resize-and-crop geometry of `Model.preprocess`."""
from __future__ import annotations

import hashlib
import io
import os
import pathlib
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .lookup import unknown

if TYPE_CHECKING:
    import torch

__all__ = ["load_image", "sample_names", "MAX_SIDE"]

# Long side of an image after loading. Bigger photos are shrunk while they are decoded
# (JPEG draft mode) so a 50-megapixel upload does not need gigabytes of RAM.
MAX_SIDE = 2048
# Refuse to decode non-JPEG files above this many pixels (3 bytes each in RAM).
MAX_PIXELS = 120_000_000


def _skimage(name):
    def load():
        import skimage.data
        return getattr(skimage.data, name)()
    return load


def _grace_hopper():
    import matplotlib.cbook
    return Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg"))


def _sklearn(name):
    def load():
        from sklearn.datasets import load_sample_image
        return load_sample_image(name + ".jpg")
    return load


# Sample photos shipped inside installed packages: usable offline.
SAMPLES = {
    "chelsea": _skimage("chelsea"), "coffee": _skimage("coffee"), "astronaut": _skimage("astronaut"),
    "rocket": _skimage("rocket"), "hubble_deep_field": _skimage("hubble_deep_field"),
    "camera": _skimage("camera"), "cat": _skimage("cat"),
    "immunohistochemistry": _skimage("immunohistochemistry"),   # a stained tissue section: a colour texture
    "grace_hopper": _grace_hopper, "china": _sklearn("china"), "flower": _sklearn("flower"),
    "motorcycle": lambda: __import__("skimage.data").data.stereo_motorcycle()[0],  # the left view of a stereo pair
}


# The course's own pictures, loaded by name like the samples but not photos (`sample_names` lists the
# photos). "painting": lecture 09's style image, made by tools/paint.py; a clone has it in data/, a
# package installed from git (Colab) fetches the same file from the repository once. Checked by SHA-256.
PAINTING = "data/painting/painting.png"
PAINTING_SHA256 = "4310dd46996f1ad58815c1e9da21a9279deefbbf0e70d1552ef88a6ab16d9c43"
PAINTING_URL = "https://raw.githubusercontent.com/seeing-inside-convnets/course/main/" + PAINTING


def _painting(path=None) -> Image.Image:
    """The course painting from `path` (None: the clone's data/, else downloaded), its checksum verified."""
    path = pathlib.Path(path or pathlib.Path(__file__).resolve().parents[1] / PAINTING)
    path = path if path.exists() else _download(PAINTING_URL)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != PAINTING_SHA256:
        raise ValueError(f"{path} has SHA-256 {digest[:16]}..., not the course painting's {PAINTING_SHA256[:16]}...: "
                         f"restore it from the repository (data/painting/README.md says how it is made)")
    return _open_file(path)


COURSE_IMAGES = {"painting": _painting}


def sample_names() -> list[str]:
    """The names of the sample photos `load_image` takes (shipped in installed packages: offline).

    Returns
    -------
    list of str
        Sorted.
    """
    return sorted(SAMPLES)


def sample_boxes() -> dict:
    """Hand-drawn boxes of the object in 8 sample photos (data/sample_boxes.md says how they
    were drawn). `Model.box_mask(name)` maps one to a model's input.

    Returns
    -------
    dict
        {sample name: {"box": [left, top, right, bottom] in the original image's pixels,
        "object": what was boxed, "classes": [ImageNet indices of that object]}}.
    """
    import json
    from importlib import resources
    return json.loads((resources.files("lecturelib") / "weights" / "sample_boxes.json").read_text())["boxes"]


def cache_dir() -> pathlib.Path:
    """Where downloaded files are kept: $LECTURELIB_CACHE, or ~/.cache/lecturelib.

    Returns
    -------
    pathlib.Path
        The folder (it need not exist yet).
    """
    root = os.environ.get("LECTURELIB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lecturelib")
    return pathlib.Path(root)


def _download(url: str, timeout: float = 20) -> pathlib.Path:
    """Fetch a URL once into the cache (file name = hash of the URL); later calls reuse it."""
    suffix = pathlib.Path(urllib.parse.urlparse(url).path).suffix[:8]
    path = cache_dir() / "images" / (hashlib.sha256(url.encode()).hexdigest()[:20] + suffix)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            data = r.read()
    except OSError as e:
        raise OSError(f"could not download {url}: {e}. Check the address and your connection, "
                      f"or download the file yourself and pass its path.") from e
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def _open_file(path) -> Image.Image:
    path = pathlib.Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no image file at {str(path)!r} (working directory {os.getcwd()}); "
                                f"pass an existing path, a URL or a sample name: {', '.join(sample_names())}")
    try:
        img = Image.open(path)
        img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced scale; others: no-op
        if img.width * img.height > MAX_PIXELS:
            raise ValueError(f"{path} is {img.width}x{img.height} pixels, too large to decode in memory "
                             f"(limit {MAX_PIXELS:,}); save it smaller or as JPEG")
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"could not read {str(path)!r} as an image ({e}); "
                         f"it may be corrupt or not an image format Pillow knows (JPEG, PNG, ...)") from e
    return img


def _from_array(a: np.ndarray) -> Image.Image:
    """HxW, HxWx1/3/4 or CxHxW (C in 1/3/4) arrays; uint8 0..255, uint16 0..65535, bool, or floats in [0, 1]."""
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)):
        raise ValueError(f"an image array must be HxW, HxWxC or CxHxW with C in 1, 3, 4; got shape {a.shape}")
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint16:
        a = (a // 257).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError("the image array holds NaN or infinite values")
        lo, hi = float(a.min()), float(a.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(f"a float image must hold values in [0, 1]; this one spans [{lo:.3g}, {hi:.3g}]. "
                             f"Divide by 255 for 0-255 data, or use model.deprocess(x) for a normalized tensor")
        a = np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            raise ValueError(f"an integer image must hold values in 0..255; got [{a.min()}, {a.max()}]")
        a = a.astype(np.uint8)
    else:
        raise TypeError(f"cannot read an image array of dtype {a.dtype}")
    return Image.fromarray(a)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL image as RGB, turned upright as its EXIF orientation says.

    Transparency is laid on white; 16-bit and float greys are scaled, not clipped.

    Parameters
    ----------
    img : PIL.Image.Image
        Any mode (L, P, RGBA, I;16, F, CMYK, ...).

    Returns
    -------
    PIL.Image.Image
        Mode RGB.
    """
    img = ImageOps.exif_transpose(img)
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        if img.mode == "F" and a.max() <= 1:
            hi = 1.0
        return Image.fromarray(np.round(np.clip(a / hi, 0, 1) * 255).astype(np.uint8)).convert("RGB")
    if img.mode == "P" or img.mode in ("LA", "PA", "RGBA", "La", "RGBa") or "transparency" in img.info:
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def load_image(src: str | os.PathLike | Image.Image | np.ndarray | torch.Tensor | bytes,
               size: int | None = None) -> Image.Image:
    """Load an image as an RGB PIL image. Images larger than MAX_SIDE px on their long side are
    shrunk to it.

    Parameters
    ----------
    src : str, path, PIL image, array, tensor or bytes
        A sample name (see `sample_names()`: "chelsea", "coffee", "grace_hopper", ...) or
        "painting" (the course's style image, `COURSE_IMAGES`), a file
        path, an http(s) URL (downloaded once into the cache), a PIL image, a NumPy array
        (H x W, H x W x C or C x H x W; uint8, uint16, bool, or floats in [0, 1]), a torch tensor
        (C x H x W or 1 x C x H x W pixels in [0, 1]) or the bytes of an image file.
    size : int, optional
        Resize so that the shorter side is `size` px (aspect kept).

    Returns
    -------
    PIL.Image.Image
        Mode RGB.

    Raises
    ------
    KeyError
        For a name that is no sample, path or URL (the message lists close sample names).
    FileNotFoundError
        For a path with no file.
    OSError
        If a URL cannot be downloaded.
    ValueError
        For a file that is no readable image or too large, an array of the wrong shape or
        range, a batch of more than one image, an empty image, a size below 1, or a course
        painting whose checksum is not the course's.
    TypeError
        For anything else.
    """
    if isinstance(src, Image.Image):
        img = src
    elif isinstance(src, (str, os.PathLike)):
        s = str(src)
        if s in SAMPLES or s in COURSE_IMAGES:
            img = {**SAMPLES, **COURSE_IMAGES}[s]()
            img = img if isinstance(img, Image.Image) else _from_array(img)
        elif s.startswith(("http://", "https://")):
            img = _open_file(_download(s))
        elif os.sep in s or "/" in s or pathlib.Path(s).suffix or pathlib.Path(s).exists():
            img = _open_file(s)
        else:
            raise unknown("sample image", s, sample_names() + sorted(COURSE_IMAGES),
                          "Pass a sample name, a file path or a URL")
    elif isinstance(src, (bytes, bytearray)):
        img = Image.open(io.BytesIO(src))
    elif type(src).__module__.startswith("torch"):
        t = src.detach().cpu()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError(f"load_image takes one image; got a batch of {t.shape[0]} (shape {tuple(t.shape)})")
            t = t[0]
        img = _from_array(t.float().numpy() if t.is_floating_point() else t.numpy())
    elif isinstance(src, np.ndarray):
        img = _from_array(src)
    else:
        raise TypeError(f"load_image cannot read a {type(src).__name__}; pass a sample name, path, URL, "
                        f"PIL image, NumPy array or torch tensor")
    if img.width < 1 or img.height < 1:
        raise ValueError(f"the image is empty ({img.width}x{img.height} pixels)")
    img = to_rgb(img)
    if max(img.size) > MAX_SIDE:
        img.thumbnail((MAX_SIDE, MAX_SIDE), Image.BICUBIC)
    if size is not None:
        if size < 1:
            raise ValueError(f"size must be a positive number of pixels; got {size}")
        scale = size / min(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BICUBIC)
    return img


def square_crop(image_size: tuple[int, int], size: int) -> tuple[int, int, int, int]:
    """The geometry of `Model.preprocess` for a W x H image: resize so the shorter side is `size`,
    then cut the centred size x size square. `Model.box_mask` maps boxes with the same numbers.

    Parameters
    ----------
    image_size : (int, int)
        (W, H) in px, as PIL's `img.size`.
    size : int
        Side of the square in px.

    Returns
    -------
    (int, int, int, int)
        (w, h) of the resized image, and the (left, top) corner of the square in it.
    """
    scale = size / min(image_size)
    w, h = max(size, round(image_size[0] * scale)), max(size, round(image_size[1] * scale))
    return w, h, (w - size) // 2, (h - size) // 2


def resize_and_crop(img: Image.Image, size: int) -> Image.Image:
    """`img` resized so its shorter side is `size` px (Lanczos when shrinking, bicubic when
    enlarging), then centre-cropped to size x size (see `square_crop`).

    Returns
    -------
    PIL.Image.Image
    """
    w, h, left, top = square_crop(img.size, size)
    img = img.resize((w, h), Image.LANCZOS if size / min(img.size) < 1 else Image.BICUBIC)
    return img.crop((left, top, left + size, top + size))
