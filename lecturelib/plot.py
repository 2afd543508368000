"""Plots for the course. Every function takes `ax=` (draws into it; default: a new figure) and works in RGB.

Signed maps are drawn with a diverging colormap centred on zero (red +, blue -), so a sign is
never lost to min-max scaling; non-negative maps use "hot" from zero. A gradient's magnitude is
drawn by `attribution`: clipped at its 99th percentile, over the dimmed photo. When `model=` is
given and its weights are untrained, the figure says so in red.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["show", "heatmap", "overlay", "attribution", "grid", "compare", "to_display", "mark_untrained", "filters", "kernel_image",
           "feature_maps", "patches", "embedding"]


def to_display(img, model=None) -> np.ndarray:
    """An image as a float array of pixels in [0, 1] for imshow.

    Parameters
    ----------
    img : PIL image, array or tensor
        A PIL image or an H x W (x C) array (uint8 0..255, or floats in [0, 1]); or a
        C x H x W or 1 x C x H x W tensor: the model's normalized input when `model` is given,
        else pixels in [0, 1].
    model : Model, optional

    Returns
    -------
    ndarray, H x W x 3 (or x 4, or H x W for grey), clipped to [0, 1]
    """
    if isinstance(img, torch.Tensor):
        t = img.detach().float().cpu()
        if model is not None:
            return model.deprocess(t)
        t = t[0] if t.ndim == 4 else t
        a = t.permute(1, 2, 0).numpy() if t.ndim == 3 else t.numpy()
    else:
        a = np.asarray(img)
        if a.dtype == np.uint8:
            a = a / 255.0
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    return np.clip(a.astype(np.float32), 0, 1)


def mark_untrained(ax: plt.Axes, model) -> None:
    """Write 'untrained weights' in red on `ax` if `model` has random weights (`model.note`);
    nothing for a trained model or None."""
    note = getattr(model, "note", "")
    if note:
        ax.text(0.5, 0.02, note, transform=ax.transAxes, ha="center", va="bottom", fontsize=8,
                color="white", bbox=dict(facecolor="red", alpha=0.75, pad=1.5, linewidth=0))


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    return ax


def _titled(ax, title, model):
    ax.set_title(title or "")
    ax.axis("off")
    mark_untrained(ax, model)
    return ax


def show(img, title: str | None = None, ax: plt.Axes | None = None, model=None) -> plt.Axes:
    """Draw an image, without axis ticks.

    Parameters
    ----------
    img : PIL image, array or tensor
        See `to_display` (with `model`: a tensor is the model's normalized input).
    title : str, optional
    ax : matplotlib Axes, optional
    model : Model, optional
        Also marks the figure when its weights are untrained.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    a = to_display(img, model)
    ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1)
    return _titled(ax, title, model)


def _as_map(attr) -> np.ndarray:
    a = attr.detach().float().cpu().numpy() if isinstance(attr, torch.Tensor) else np.asarray(attr, dtype=np.float32)
    a = np.squeeze(a)
    if a.ndim == 3:  # C x H x W attribution: keep the channel of largest magnitude, with its sign
        idx = np.abs(a).argmax(0)
        a = np.take_along_axis(a, idx[None], 0)[0]
    if a.ndim != 2:
        raise ValueError(f"a heat map must be H x W or C x H x W; got shape {np.shape(attr)}")
    return a


def heatmap(attr, title: str | None = None, ax: plt.Axes | None = None, signed: bool | None = None,
            cmap: str | None = None, colorbar: bool = False, model=None) -> plt.Axes:
    """Draw an attribution map on a scale symmetric around 0 (signed) or from 0 (non-negative).

    Parameters
    ----------
    attr : tensor or array, H x W, C x H x W or 1 x C x H x W
        Channels are reduced to the value of largest magnitude, with its sign. Another shape: ValueError.
    title, ax : str, matplotlib Axes (optional)
    signed : bool, optional
        True: diverging map centred on 0 ("bwr"); False: "hot" from 0. None: signed if any
        value is negative.
    cmap, colorbar : str (optional), bool
    model : Model, optional
        Marks the figure when its weights are untrained.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    a = _as_map(attr)
    signed = bool((a < 0).any()) if signed is None else signed
    top = float(np.abs(a).max()) or 1.0
    im = ax.imshow(a, cmap=cmap or ("bwr" if signed else "hot"), vmin=-top if signed else 0, vmax=top)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return _titled(ax, title, model)


def _over(a: np.ndarray, m: np.ndarray, title, ax, model, cmap: str, alpha: float) -> plt.Axes:
    """Draw map `m` (H' x W', values in [0, 1]) over the picture `a` (see `to_display`); opacity alpha * m."""
    ax = _axes(ax)
    if m.shape != a.shape[:2]:
        m = torch.nn.functional.interpolate(torch.from_numpy(m)[None, None], size=a.shape[:2],
                                            mode="bilinear", align_corners=False)[0, 0].numpy()
    rgba = plt.get_cmap(cmap)(m)
    rgba[..., 3] = alpha * m
    ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1)
    ax.imshow(rgba)
    return _titled(ax, title, model)


def overlay(img, attr, title: str | None = None, ax: plt.Axes | None = None, alpha: float = 0.6,
            cmap: str = "jet", model=None) -> plt.Axes:
    """An image with a non-negative map (e.g. Grad-CAM) laid over it, resized to the image. Opacity
    grows with the map's value, so where the map is zero the image shows unchanged.

    Parameters
    ----------
    img, title, ax, cmap, model
        As in `attribution`.
    attr : tensor or array, H x W or C x H x W
        Negative values count as 0; scaled so its maximum is 1. Another shape: ValueError.
    alpha : float
        Opacity where the map is largest, in [0, 1].

    Returns
    -------
    matplotlib Axes
    """
    m = np.clip(_as_map(attr), 0, None)
    return _over(to_display(img, model), m / (float(m.max()) or 1.0), title, ax, model, cmap, alpha)


def attribution(img, attr, title: str | None = None, ax: plt.Axes | None = None, percentile: float = 99,
                dim: float = 0.35, cmap: str = "hot", model=None) -> plt.Axes:
    """A gradient-like map drawn as Simonyan et al. and Smilkov et al. draw it: its magnitude (the
    largest over colour channels), clipped at a high percentile and scaled to [0, 1], over the
    photo dimmed so the map stands out. Without the clip a few extreme pixels set the scale and
    the rest of the map is black.

    Parameters
    ----------
    img : PIL image, array or tensor
        The explained image; see `to_display` (with `model`: a tensor is its normalized input).
    attr : tensor or array, H x W, C x H x W or 1 x C x H x W
        Signed or not; its absolute value is drawn. Another shape: ValueError.
    title, ax, cmap : str, matplotlib Axes, str (all optional)
    percentile : float in (0, 100]
        Values above this percentile of the magnitude are drawn at full strength.
    dim : float
        The brightness of the photo, drawn in grey under the map, in [0, 1] (0: a black background).
    model : Model, optional
        Reads a tensor `img` as its normalized input; marks untrained weights.

    Returns
    -------
    matplotlib Axes
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100]; got {percentile}")
    m = np.abs(_as_map(attr))
    top = float(np.percentile(m, percentile)) or float(m.max()) or 1.0
    a = to_display(img, model)
    return _over(dim * (a[..., :3].mean(-1) if a.ndim == 3 else a), np.clip(m / top, 0, 1), title, ax, model, cmap, 1.0)


def grid(images, titles: list[str] | None = None, ncols: int | None = None, size: float = 2.0,
         suptitle: str | None = None, model=None, maps: bool = False) -> plt.Figure:
    """Many images (or maps, if `maps`) in a grid, drawn with `show` (or `heatmap`).

    Parameters
    ----------
    images : sequence
        Images as `show` takes them (or, with `maps=True`, maps as `heatmap` takes them).
    titles, suptitle : list of str, str (optional)
    ncols, size : int (default: up to 8), float
        Columns, and the side of each panel in inches.
    model : Model, optional
        Reads tensors as its normalized input; marks untrained weights.

    Returns
    -------
    matplotlib Figure
    """
    images = list(images)
    n = len(images)
    ncols = ncols or min(n, 8)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3 * bool(suptitle)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            (heatmap if maps else show)(images[i], title=None if titles is None else titles[i], ax=ax, model=model)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def compare(panels: dict, size: float = 2.6, model=None, suptitle: str | None = None) -> plt.Figure:
    """One row of titled panels, images and maps side by side.

    Parameters
    ----------
    panels : dict
        {title: image or map}. Images: PIL images, H x W x 3 arrays, and 3 x H x W tensors of
        pixels in [0, 1] (for the model's normalized input pass model.deprocess(x)). Maps:
        everything 2-D, drawn with `heatmap`.
    size, suptitle : float, str (optional)
        Side of each panel in inches; a title over the row.
    model : Model, optional
        Marks untrained weights (it does not read the panels).

    Returns
    -------
    matplotlib Figure
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size + 0.3), squeeze=False)
    for ax, (title, p) in zip(axes[0], panels.items()):
        shape = np.shape(p) if isinstance(p, (torch.Tensor, np.ndarray)) else None
        is_image = shape is None or (len(shape) == 3 and shape[-1] == 3) or (
            isinstance(p, torch.Tensor) and len(shape) == 3 and shape[0] == 3)
        (show(p, title, ax) if is_image else heatmap(p, title, ax))
        mark_untrained(ax, model)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def kernel_image(kernel: torch.Tensor) -> np.ndarray:
    """A kernel that reads the image (C x k x k) as a k x k (x C) picture, min-max scaled to [0, 1]."""
    k = kernel.detach().float().cpu()
    k = (k - k.min()) / (k.max() - k.min() + 1e-12)
    return k.permute(1, 2, 0).squeeze(-1).numpy()


def filters(layer, n: int | None = 64, ncols: int = 8, size: float = 0.9, in_channel: int = 0, title: str | None = None,
            model=None) -> plt.Figure:
    """The kernels of a conv layer as a grid.

    With 3 input channels each kernel is an RGB image, min-max scaled on its own to [0, 1] (a
    kernel's contrast, not its strength, is shown). Otherwise the slice for input channel
    `in_channel` is drawn signed (blue -, red +), each on its own symmetric scale. The title says which.

    Parameters
    ----------
    layer : nn.Conv2d or tensor
        The layer, or its weights (out x in x k x k; other shapes: ValueError).
    n : int, optional
        The first n kernels (None or 0: all).
    ncols, size : int, float
        Columns, and the side of each kernel's panel in inches.
    in_channel : int
        Which input channel to draw when there are not 3 (IndexError if there is none such).
    title : str, optional
        Instead of the one that says how the kernels are scaled.
    model : Model, optional
        Marks untrained weights.

    Returns
    -------
    matplotlib Figure
    """
    w = layer.weight if hasattr(layer, "weight") else layer
    w = w.detach().float().cpu()
    if w.ndim != 4:
        raise ValueError(f"expected conv weights out x in x k x k; got shape {tuple(w.shape)}")
    w = w[:n] if n else w
    rgb = w.shape[1] == 3
    if not rgb and not 0 <= in_channel < w.shape[1]:
        raise IndexError(f"in_channel {in_channel} is not one of the {w.shape[1]} input channels")
    nrows = math.ceil(len(w) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.5), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(w):
            continue
        if rgb:
            ax.imshow(kernel_image(w[i]), interpolation="nearest")
        else:
            k = w[i, in_channel]
            top = float(k.abs().max()) or 1.0
            ax.imshow(k.numpy(), cmap="bwr", vmin=-top, vmax=top, interpolation="nearest")
    how = ("RGB, each kernel min-max scaled to [0, 1]" if rgb else
           f"input channel {in_channel} of {w.shape[1]}, signed, each on its own scale")
    fig.suptitle(title or f"{len(w)} kernels {tuple(w.shape[2:])}: {how}", fontsize=9)
    mark_untrained(axes.flat[0], model)
    fig.tight_layout()
    return fig


def feature_maps(maps, titles: list[str] | None = None, ncols: int = 8, size: float = 1.3,
                 suptitle: str | None = None, model=None) -> plt.Figure:
    """Activation maps in a grid, each on its own grey scale from 0 (black; lower if it has
    negative values) to its maximum: where in the image each channel fires.

    Parameters
    ----------
    maps : tensor, C x H x W or 1 x C x H x W, or a list of H x W tensors
    titles, suptitle : list of str, str (optional)
    ncols, size : int, float
        Columns, and the side of each panel in inches.
    model : Model, optional
        Marks untrained weights.

    Returns
    -------
    matplotlib Figure
    """
    maps = list(maps[0] if isinstance(maps, torch.Tensor) and maps.ndim == 4 else maps)
    n = len(maps)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.4 * bool(suptitle)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            m = maps[i].detach().float().cpu().numpy()
            ax.imshow(m, cmap="gray", vmin=min(0.0, float(m.min())), vmax=float(m.max()) or 1.0)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    mark_untrained(axes.flat[0], model)
    fig.tight_layout()
    return fig


def patches(result, model, channels: list[int] | None = None, size: float = 1.0, k: int | None = None) -> plt.Figure:
    """Girshick-style grid: one row per channel of a `top_patches` result, its strongest crops
    left to right, each titled with its activation. Each crop is the unit's receptive field cut
    to the image (a deep unit's field can be larger than the image).

    Parameters
    ----------
    result : TopPatches
    model : Model
        The model it was computed with (its `deprocess` draws the crops).
    channels : list of int, optional
        Rows (default: the first 6 channels of the result).
    size : float
        Side of each panel in inches.
    k : int, optional
        Crops per row (default: all that were kept).

    Returns
    -------
    matplotlib Figure
    """
    channels = result.channels[:6] if channels is None else list(channels)
    k = k or result.values.shape[1]
    fig, axes = plt.subplots(len(channels), k, figsize=(size * k, size * len(channels) + 0.4), squeeze=False)
    for r, ch in enumerate(channels):
        crops = result.crops(ch, clip=True)
        i = result.channels.index(ch)
        for j, ax in enumerate(axes[r]):
            ax.axis("off")
            if j < len(crops):
                ax.imshow(model.deprocess(crops[j]), cmap="gray" if model.channels == 1 else None, vmin=0, vmax=1)
                ax.set_title(f"{float(result.values[i, j]):.2f}", fontsize=7)
        axes[r][0].text(-0.1, 0.5, f"{result.layer}:{ch}", transform=axes[r][0].transAxes, ha="right", va="center",
                        fontsize=8)
    s = result.field
    fig.suptitle(f"top {k} patches per channel of {result.layer} (receptive field {s.size[0]} px, stride {s.stride[0]})",
                 fontsize=9)
    mark_untrained(axes[0][0], model)
    fig.tight_layout()
    return fig


def embedding(points, images=None, labels=None, ax: plt.Axes | None = None, zoom: float = 0.4,
              title: str | None = None, model=None, thumbnails: int = 200) -> plt.Axes:
    """A 2-D embedding as a scatter coloured by `labels`, with thumbnails of images at their points.

    Parameters
    ----------
    points : tensor or array, N x 2
        E.g. t-SNE or PCA of `features` (another shape: ValueError).
    images : tensor, N x C x H x W, or a sequence of pixel arrays, optional
        A tensor is read as `model`'s normalized input when `model` is given.
    labels : sequence of int, optional
        One per point (a legend when there are at most 20 distinct ones).
    ax : matplotlib Axes, optional
    zoom : float
    title : str, optional
    model : Model, optional
        Reads `images`; marks untrained weights.
    thumbnails : int
        At most about this many thumbnails (every (N // thumbnails)-th image).

    Returns
    -------
    matplotlib Axes
    """
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage
    ax = _axes(ax)
    p = np.asarray(points.detach().cpu() if isinstance(points, torch.Tensor) else points, dtype=np.float32)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"points must be N x 2; got shape {p.shape}")
    lab = None if labels is None else np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    sc = ax.scatter(p[:, 0], p[:, 1], s=8, **({} if lab is None else dict(c=lab, cmap="tab10")))
    if lab is not None and len(np.unique(lab)) <= 20:
        ax.legend(*sc.legend_elements(), fontsize=7, loc="best", markerscale=0.8)
    if images is not None:
        step = max(1, len(p) // thumbnails)
        for i in range(0, len(p), step):
            img = to_display(images[i:i + 1] if isinstance(images, torch.Tensor) else images[i], model)
            ax.add_artist(AnnotationBbox(OffsetImage(img, zoom=zoom, cmap="gray" if img.ndim == 2 else None),
                                         p[i], frameon=False))
    ax.set_title(title or "")
    ax.set_xticks([])
    ax.set_yticks([])
    mark_untrained(ax, model)
    return ax
