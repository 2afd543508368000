"""Receptive fields and the image patches that fire a unit most (Girshick et al. 2014, fig. 4).

`receptive_field(model, layer)` follows one forward pass and applies, at every convolution and
pooling call, the arithmetic of receptive fields (per axis, for kernel k, stride s, padding p,
dilation d, with k' = d(k - 1) + 1):

    size   r_out = r_in + (k' - 1)*j_in
    stride j_out = j_in*s
    centre c_out = c_in + ((k' - 1)/2 - p)*j_in      (centre of unit 0, in input pixels)

An explicit zero padding (F.pad, e.g. nn.ZeroPad2d before EfficientNet's stride-2 convolutions)
moves the centre by the padding before the map: c_out = c_in - p_before*j_in. Element-wise
operations (ReLU, batch norm, +, concatenation of branches as in SqueezeNet's Fire modules or
GoogLeNet's Inception blocks) take the union of their inputs' fields. It works on the calls
themselves (a TorchFunctionMode), so it needs no list of layer types and no model names.

`top_patches` scans a data set in batches with one forward hook and keeps, per channel, only the k
strongest activations seen so far: memory does not grow with the number of images. The forward pass
stops at the layer (nothing after it is needed), unless the layer's module runs more than once.
"""
from __future__ import annotations

from pathlib import Path
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from .hooks import capture, device_of, frozen
from .models import Model, as_model

__all__ = ["receptive_field", "empirical_receptive_field", "ReceptiveField", "top_patches", "TopPatches",
           "sample_crops", "imagenette"]


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of the units of one layer, in input pixels, per axis (rows, columns).

    Attributes
    ----------
    size, stride : (int, int)
        Side of the field; input pixels between neighbouring units.
    centre : (float, float)
        Centre of unit (0, 0), in pixel coordinates (pixel i spans [i, i + 1), centre i + 0.5).
    """

    size: tuple
    stride: tuple
    centre: tuple

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) in input pixels of unit (row, col)'s field, bottom/right
        exclusive. It may reach outside the image: that part is padding."""
        top = self.centre[0] + row * self.stride[0] - self.size[0] / 2
        left = self.centre[1] + col * self.stride[1] - self.size[1] / 2
        return round(top), round(left), round(top) + int(self.size[0]), round(left) + int(self.size[1])


# One axis of a field: (size, jump, centre). The input image: each pixel sees itself.
_PIXEL = (1.0, 1.0, 0.5)


def _pair(v, n: int = 2) -> tuple:
    return tuple(v) * (n // len(v)) if isinstance(v, (tuple, list)) else (v,) * n


def _through(field, kernel, stride, padding, dilation):
    out = []
    for (r, j, c), k, s, p, d in zip(field, _pair(kernel), _pair(stride), _pair(padding), _pair(dilation)):
        k_eff = d * (k - 1) + 1
        out.append((r + (k_eff - 1) * j, j * s, c + ((k_eff - 1) / 2 - p) * j))
    return tuple(out)


def _union(fields):
    if len(set(f[1] for f in fields)) != 1:
        raise ValueError("element-wise operation on maps with different strides")
    r, j, c = fields[0]
    lo = min(c - r / 2 for r, j, c in fields)
    hi = max(c + r / 2 for r, j, c in fields)
    return hi - lo, j, (lo + hi) / 2


def _spatial_args(name: str, args, kwargs):
    """(kernel, stride, padding, dilation) of a conv or pooling call, or None for other calls."""
    a = list(args) + [None] * 8
    kw = kwargs or {}
    if name == "conv2d":
        k = a[1].shape[-2:]
        stride, padding, dilation = kw.get("stride", a[3] or 1), kw.get("padding", a[4] or 0), kw.get("dilation", a[5] or 1)
        if padding == "valid":
            padding = 0
        elif padding == "same":
            padding = tuple((_pair(dilation)[i] * (k[i] - 1)) // 2 for i in range(2))
        return tuple(k), stride, padding, dilation
    if name in ("max_pool2d", "_max_pool2d", "max_pool2d_with_indices", "avg_pool2d"):
        k = kw.get("kernel_size", a[1])
        stride = kw.get("stride", a[2]) or k
        padding = kw.get("padding", a[3] if a[3] is not None else 0)
        dilation = kw.get("dilation", a[4] if name != "avg_pool2d" and a[4] is not None else 1)
        return k, stride, padding, dilation
    return None


class _Tracer(TorchFunctionMode):
    """Attach a field to every 4-D tensor computed from the input during the forward pass."""

    def __init__(self, x: torch.Tensor):
        super().__init__()
        self.fields = {id(x): (_PIXEL, _PIXEL)}
        self.keep = [x]  # keep tensors alive so their ids stay unique

    def field(self, t):
        return self.fields.get(id(t)) if isinstance(t, torch.Tensor) else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "")
        flat = [a for a in args if isinstance(a, torch.Tensor)] + [
            t for a in args if isinstance(a, (list, tuple)) for t in a if isinstance(t, torch.Tensor)]
        known = [self.field(t) for t in flat if self.field(t) is not None]
        result = out[0] if isinstance(out, tuple) and out and isinstance(out[0], torch.Tensor) else out
        if not known or not isinstance(result, torch.Tensor):
            return out
        spatial = _spatial_args(name, args, kwargs)
        if name == "pad" and result.ndim == 4 and len(args[1]) == 4:   # (left, right, top, bottom)
            before = (args[1][2], args[1][0])
            new = tuple((r, j, c - b * j) for (r, j, c), b in zip(known[0], before))
        elif spatial is not None:
            new = tuple(_through((known[0][i],), *[_pair(v)[i:i + 1] for v in spatial])[0] for i in range(2))
        elif result.ndim >= 3 and all(t.shape[-2:] == result.shape[-2:] for t in flat if self.field(t) is not None):
            new = tuple(_union([f[i] for f in known]) for i in range(2))
        else:
            return out  # the spatial layout ends here (flatten, adaptive pooling, resizing): no field
        self.fields[id(result)] = new
        self.keep.append(result)
        return out


def _probe(model: Model, size: int | None, dtype) -> torch.Tensor:
    """A 1 x C x S x S zero input for `model` (S: `size`, default the model's input size, else 224)."""
    size = size or model.input_size or 224
    return torch.zeros(1, model.channels, size, size, dtype=dtype, device=device_of(model))


def receptive_field(model, layer: str, size: int | None = None) -> ReceptiveField:
    """Analytic receptive field of the units of `layer` (a map, N x C x H x W; see the module
    doc), from one forward pass of a `size` x `size` px input (default: the model's input size).

    Returns
    -------
    ReceptiveField

    Raises
    ------
    ValueError
        If the layer's output is not a map reached through convolutions and pooling.
    """
    model = as_model(model)
    x = _probe(model, size, torch.float32)
    tracer = _Tracer(x)
    with torch.no_grad(), frozen(model.net), capture(model, layer) as rec:
        with tracer:
            model.net(x)
    f = tracer.field(rec.activations.get(layer))
    if f is None:
        raise ValueError(f"{layer!r} is not a spatial map reached through convolutions and pooling "
                         f"(e.g. after flattening or adaptive pooling every unit sees the whole image)")
    return ReceptiveField(size=tuple(round(a[0]) for a in f), stride=tuple(round(a[1]) for a in f),
                          centre=tuple(a[2] for a in f))


def empirical_receptive_field(model, layer: str, row: int, col: int, size: int | None = None) -> tuple:
    """(top, left, bottom, right), bottom/right exclusive, of the input pixels on which unit (row,
    col) of `layer` depends: the support of its input gradient, a check of `receptive_field`.

    The gradient is taken on a linear twin of the network (ReLU and ReLU6 pass everything, max
    pooling averages, conv weights and batch-norm scales are made positive, float64), so no path
    is switched off or cancelled and the support is the whole field. The model is not changed.

    Raises
    ------
    RuntimeError
        If the layer is not called in the forward pass.
    ValueError
        For a dilated max pooling (not supported).
    """
    model = as_model(model)
    net = model.net
    x = (_probe(model, size, torch.float64) + 1).requires_grad_(True)

    def stop(module, inputs, output):  # nothing after the layer is needed
        raise _Reached(output)
    handle = model.layer(layer).register_forward_hook(stop)
    try:
        with frozen(net), _Linear():
            net(x)
        raise RuntimeError(f"{layer!r} was not called in the forward pass")
    except _Reached as reached:
        a = reached.output
    finally:
        handle.remove()
    (g,) = torch.autograd.grad(a[0, :, row, col].sum(), x)
    support = g[0].abs().sum(0)
    rows, cols = support.sum(1).nonzero()[:, 0], support.sum(0).nonzero()[:, 0]
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


class _Reached(Exception):
    def __init__(self, output):
        super().__init__()
        self.output = output


class _Linear(TorchFunctionMode):
    """Float64; ReLUs (and ReLU6, a hardtanh) pass everything; max pooling averages (same geometry,
    padding counted as zeros); convolution weights and batch-norm scales are made positive."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in ("relu", "relu_", "relu6", "hardtanh", "hardtanh_"):
            return args[0]
        def f64(a):
            return a.double() if isinstance(a, torch.Tensor) and a.is_floating_point() else a
        args, kwargs = [f64(a) for a in args], {k: f64(v) for k, v in kwargs.items()}
        if name == "conv2d":
            args[1] = args[1].abs() + 1e-3
        if name == "batch_norm":
            if kwargs.get("weight") is not None:
                kwargs["weight"] = kwargs["weight"].abs() + 1e-3
            elif len(args) > 3 and args[3] is not None:
                args[3] = args[3].abs() + 1e-3
        if name in ("max_pool2d", "_max_pool2d"):
            k, s, p, d = _spatial_args(name, args, kwargs)
            ceil = kwargs.get("ceil_mode", args[5] if len(args) > 5 else False)
            if _pair(d) != (1, 1):
                raise ValueError("dilated max pooling is not supported by the empirical check")
            return F.avg_pool2d(args[0], k, s, p, ceil_mode=ceil, count_include_pad=True)
        return func(*args, **kwargs)


# ------------------------------------------------------------------------------------ top patches
@dataclass
class TopPatches:
    """What `top_patches` returns: the k strongest activations of each channel of `layer` over a
    data set.

    Attributes
    ----------
    channels : list of int
        The channels scanned.
    values, image, row, col : tensor, len(channels) x k
        Activations, strongest first; which image, and where in the layer's map each occurred.
    field : ReceptiveField
    images : tensor or sequence
        The data set (to cut the crops from).
    """

    layer: str
    channels: list
    values: torch.Tensor
    image: torch.Tensor
    row: torch.Tensor
    col: torch.Tensor
    field: ReceptiveField
    images: object

    def crops(self, channel: int, clip: bool = False) -> torch.Tensor | list[torch.Tensor]:
        """The receptive fields of `channel`'s top units, cut from their images (the model's
        normalized input): a k x C x S x S tensor (S: the field's size) where the part of a field
        outside its image is 0 (the mean colour), or with `clip=True` a list of the parts inside
        the image (smaller near borders). ValueError if `channel` was not scanned.
        """
        i = self.channels.index(channel)
        out = []
        for n, r, c in zip(self.image[i].tolist(), self.row[i].tolist(), self.col[i].tolist()):
            img = _item(self.images, n)
            top, left, bottom, right = self.field.box(r, c)
            h, w = img.shape[-2:]
            crop = img[:, max(0, top):min(h, bottom), max(0, left):min(w, right)]
            pad = (max(0, -left), max(0, right - w), max(0, -top), max(0, bottom - h))
            out.append(crop if clip else F.pad(crop, pad, value=0.0))
        return out if clip else torch.stack(out)

    def unique(self, k: int, same: float = 0.85) -> "TopPatches":
        """The same scan keeping, per channel, the first k patches that are not near-copies of one kept
        before (their crops' pixel correlation at least `same`): one spot of a photo cut from two
        overlapping crops comes back once. With too few, the rest fill in."""
        keep = []
        for ch in self.channels:
            c = self.crops(ch).flatten(1)
            c, kept = F.normalize(c - c.mean(1, keepdim=True), dim=1), []
            for j in range(len(c)):
                if len(kept) < k and all(float(c[j] @ c[i]) < same for i in kept):
                    kept.append(j)
            keep.append(kept + [j for j in range(len(c)) if j not in kept][:k - len(kept)])
        idx = torch.tensor(keep)
        return TopPatches(self.layer, self.channels, *(t.gather(1, idx) for t in (self.values, self.image, self.row,
                                                                                 self.col)), self.field, self.images)


def _item(images, n: int) -> torch.Tensor:
    x = images[n]
    return x[0] if x.ndim == 4 else x


def top_patches(model, images, layer: str, unit=None, k: int = 9, batch_size: int = 32,
                progress: bool | None = None, distinct: bool = False) -> TopPatches:
    """Scan `images` and keep the k largest activations of each chosen channel of `layer` (a map),
    with the image and position where each occurred (ties: the earlier image, then position).

    Parameters
    ----------
    model : Model or nn.Module
    images : tensor, N x C x H x W, or a sequence of C x H x W tensors
        The model's normalized input.
    unit : int or list of int, optional
        The channels to keep (None: all).
    k, batch_size : int
        Activations kept per channel; images per forward pass.
    progress : bool, optional
        A progress bar (None: when there are more than 8 batches).
    distinct : bool
        Keep at most one position per image (its strongest), so the k patches come from k
        different images: what to use when counting images.

    Returns
    -------
    TopPatches (ValueError if k < 1 or there are no images; IndexError for a channel the layer lacks)
    """
    model = as_model(model)
    net = model.net
    n = len(images)
    if k < 1 or n < 1:
        raise ValueError(f"need k >= 1 and at least one image; got k={k}, {n} images")
    device = device_of(model)
    field = receptive_field(model, layer, size=_item(images, 0).shape[-1])
    best_v = best_i = channels = None
    starts = range(0, n, batch_size)
    if progress is None:
        progress = len(starts) > 8
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc=f"scanning {layer}", leave=True)
    stop = None   # once the layer is known to run once per forward, the rest of the network is skipped

    def reached(module, inputs, output):
        raise _Reached(output)
    with torch.no_grad(), frozen(net), capture(model, layer, detach=True) as rec:
        try:
            for s in starts:
                xb = images[s:s + batch_size] if isinstance(images, torch.Tensor) else torch.stack(
                    [_item(images, i) for i in range(s, min(n, s + batch_size))])
                try:
                    net(xb.to(device))
                except _Reached:
                    pass
                a = rec.activations[layer]
                if stop is None and rec.calls[layer] == 1:
                    stop = model.layer(layer).register_forward_hook(reached)
                if channels is None:
                    channels = list(range(a.shape[1])) if unit is None else [unit] if isinstance(unit, int) else list(unit)
                    if any(not 0 <= c < a.shape[1] for c in channels):
                        raise IndexError(f"{layer} has {a.shape[1]} channels; got {channels}")
                    hw = a.shape[2] * a.shape[3]
                vals = a[:, channels].flatten(2)                                      # batch x channels x H*W
                pos = torch.arange(hw, device=vals.device).expand_as(vals)
                if distinct:   # each image offers only its strongest position
                    vals, pos = vals.max(2, keepdim=True)
                idx = torch.arange(s, s + len(vals), device=vals.device).view(-1, 1, 1) * hw + pos
                vals, idx = (t.transpose(0, 1).reshape(len(channels), -1) for t in (vals, idx))  # channels x rest
                if best_v is not None:
                    vals, idx = torch.cat([best_v, vals], 1), torch.cat([best_i, idx], 1)
                order = torch.sort(vals, dim=1, descending=True, stable=True).indices[:, :k]  # earlier wins a tie
                best_v, best_i = vals.gather(1, order), idx.gather(1, order)
        finally:
            if stop is not None:
                stop.remove()
    w = a.shape[3]
    return TopPatches(layer, channels, best_v.cpu(), (best_i // hw).cpu(), (best_i % hw // w).cpu(),
                      (best_i % w).cpu(), field, images)


def sample_crops(model, size: int = 96, scales: tuple[float, ...] = (1.0, 0.5, 0.25),
                 names: list[str] | None = None) -> torch.Tensor:
    """An offline data set for patch retrieval: square crops cut from the sample images `names`
    (default: all) on a grid at several scales, with half-overlapping positions.

    Parameters
    ----------
    size : int
        Side in px of each crop after `model.preprocess`.
    scales : sequence of float
        Crop side before resizing = scale * the image's shorter side (at least `size`).

    Returns
    -------
    tensor, N x C x S x S (the model's normalized input)
    """
    from .images import load_image, sample_names
    model = as_model(model)
    out = []
    for name in names or sample_names():
        img = load_image(name).convert("RGB")
        short = min(img.size)
        for scale in scales:
            side = max(size, int(short * scale))
            step = max(1, side // 2)
            for top in range(0, img.height - side + 1, step):
                for left in range(0, img.width - side + 1, step):
                    out.append(model.preprocess(img.crop((left, top, left + side, top + side)), size))
    return torch.cat(out)


def imagenette(model, n: int = 1000, size: int = 128, split: str = "val",
               root: str | Path | None = None) -> tuple[torch.Tensor, list[str]]:
    """An online data set for patch retrieval: `n` images of Imagenette (10 ImageNet classes,
    fast.ai), downloaded once (checked against torchvision's MD5), spread evenly over the split.

    Parameters
    ----------
    n, size : int
        How many images (at most the split's size); their side in px after preprocessing.
    split : str
        "train" or "val".
    root : str or Path, optional
        Where the data set is kept (default: the lecturelib cache, `images.cache_dir()`).

    Returns
    -------
    (tensor, list of str)
        The images (N x C x S x S, the model's normalized input) and each one's class name
        (RuntimeError if the data set is not there and cannot be downloaded).
    """
    from torchvision.datasets import Imagenette
    from .images import cache_dir
    model = as_model(model)
    root = Path(root) if root is not None else cache_dir() / "imagenette"
    try:
        ds = Imagenette(str(root), split=split, size="160px", download=not (root / "imagenette2-160").exists())
    except Exception as err:
        raise RuntimeError(f"could not get Imagenette into {root} ({type(err).__name__}: {err}). It needs the "
                           f"network once; offline, use ll.patches.sample_crops(model) instead") from err
    idx = torch.linspace(0, len(ds) - 1, min(n, len(ds))).round().long().tolist()
    pairs = [ds[i] for i in idx]  # (PIL image, class index)
    x = torch.cat([model.preprocess(img, size) for img, _ in pairs])
    return x, [ds.classes[label][0] for _, label in pairs]
