"""Lecture 09: style transfer (Gatys et al. 2016): the content code of one image, the Gram
matrices of another. STYLE_SETTINGS holds the published layers and weights; `style_settings`
gives layers and weights for any network (the lecture's settings), used by notebook 09, `ll.bench`
and the tests alike.
"""
from __future__ import annotations

import torch

from .hooks import device_of
from .models import Model, as_model
from .objectives import PUBLISHED_STD, codes, gram, match, smooth, style
from .optimize import Optimized, optimize_image
from .transforms import blur

__all__ = ["style_transfer", "style_settings", "STYLE_SETTINGS", "blocks"]

# Published layer choices and weights. Weights are for this course's losses:
# content = w * sum((F - P)^2), style = w_l * sum((G - A)^2) / 4 (Gatys), TV = lambda * sum of squared differences.
STYLE_SETTINGS = {
    # CS231n (squeezenet1_1 `features`): content layer 3, style layers 1, 4, 6, 7, preset 3 (192/192 px):
    # content 6e-2, style (300000, 1000, 15, 3), TV 2e-2 (/ 0.226^2 in pixels). Their style loss has no 1/4,
    # so the weights here are x4.
    "squeezenet1_1": dict(content_layer="features.3", style_layers=("features.1", "features.4", "features.6",
                                                                     "features.7"),
                          content_weight=6e-2, style_weights=(1.2e6, 4000.0, 60.0, 12.0), tv=2e-2 / PUBLISHED_STD**2,
                          size=192),
    # Gatys et al. (vgg19): content conv4_2, style conv1_1 ... conv5_1 [torchvision indices inferred]. Weights
    # converted from the PyTorch tutorial (content 1 on MSE at 512 px, style 1e6 on MSE of Grams).
    # Not yet checked on real weights.
    "vgg19": dict(content_layer="features.21", style_layers=("features.0", "features.5", "features.10",
                                                             "features.19", "features.28"),
                  content_weight=1 / (512 * 64 * 64), style_weights=(977.0, 244.0, 61.0, 15.3, 15.3), tv=0.0,
                  size=512),
}


def blocks(net: torch.nn.Module, prefix: str = "") -> list[str]:
    """The network's building blocks in order: its children, with plain containers (Sequential,
    ModuleList) opened up, so "_blocks" gives "_blocks.0", "_blocks.1", ...

    Returns
    -------
    list of str
        Dotted layer names.
    """
    names = []
    for name, child in net.named_children():
        full = f"{prefix}{name}"
        if isinstance(child, (torch.nn.Sequential, torch.nn.ModuleList)):
            names += blocks(child, full + ".")
        else:
            names.append(full)
    return names


def style_settings(model, size: int = 192, n_style: int = 5, probe_seed: int = 0, smoothing: float | None = None,
                   relative: bool = True) -> dict:
    """Layers and weights for `style_transfer` on any network: the published ones for the networks
    in STYLE_SETTINGS (only `size` replaced), otherwise a rule that needs no name.

    The rule: the blocks of the network (`blocks`) with weights and a feature map larger than
    1 x 1 at `size` px, in order. Style layers: `n_style` of them evenly spaced over the first
    three quarters (Gatys's conv1_1 ... conv5_1 span about the first 80 % of VGG-19); content
    layer: the one at 45 % of the depth. Weights: each style term, and the content term, is
    divided by its size on a fixed probe image (seeded uniform noise, blurred), so every layer
    starts at the same scale whatever the network's activation sizes; then style 1 and content 10
    per term.

    Parameters
    ----------
    model : Model
    size : int
        The side (px) the weights are computed for.
    n_style : int
    probe_seed : int
    smoothing : float, optional
        Adds `temperatures` (Wang et al.'s softmax, see `objectives.smooth`) for the content
        layer and the style layers after the first (the first sees colours), and computes the
        weights on the smoothed probe codes; always the depth rule (the published weights are
        for plain features).
    relative : bool
        True: a layer's temperature is `smoothing` times the std of its activations on the
        probe; False: `smoothing` itself (the paper's softmax has temperature 1).

    Returns
    -------
    dict
        content_layer, style_layers, content_weight, style_weights, tv, size (and temperatures).

    Raises
    ------
    ValueError
        If the network has fewer than two blocks with feature maps.
    """
    model = as_model(model)
    if model.name in STYLE_SETTINGS and smoothing is None:
        return dict(STYLE_SETTINGS[model.name], size=size)
    names = [b for b in blocks(model.net) if next(model.layer(b).parameters(), None) is not None]
    gen = torch.Generator().manual_seed(probe_seed)
    probe = blur(torch.rand(1, model.channels, size, size, generator=gen), 2.0).to(device_of(model))
    probe_codes = codes(model, model.normalize(probe), names)
    maps = [b for b in names if probe_codes[b].ndim == 4 and probe_codes[b].shape[2] * probe_codes[b].shape[3] > 1]
    if len(maps) < 2:
        raise ValueError(f"{model.name} has fewer than two blocks with feature maps: give style_layers= by hand")
    reach = max(1, round(0.75 * (len(maps) - 1)))
    picks = sorted({round(i * reach / max(1, n_style - 1)) for i in range(n_style)})
    style_layers = tuple(maps[i] for i in picks)
    content_layer = maps[round(0.45 * (len(maps) - 1))]
    temps = {} if smoothing is None else {
        k: smoothing * (float(probe_codes[k].std()) if relative else 1.0) for k in (*style_layers[1:], content_layer)}
    probe_codes = {k: smooth(a, temps.get(k)) for k, a in probe_codes.items()}
    style_weights = tuple(1.0 / max(float(gram(probe_codes[name]).pow(2).sum() / 4), 1e-12) for name in style_layers)
    content_weight = 10.0 / max(float(probe_codes[content_layer].pow(2).sum()), 1e-12)
    smoothed = {} if smoothing is None else dict(temperatures=temps)
    return dict(content_layer=content_layer, style_layers=style_layers, content_weight=content_weight,
                style_weights=style_weights, tv=0.0, size=size, **smoothed)


def _prepare(model: Model, img, size: int) -> torch.Tensor:
    """A normalized N x C x H x W tensor as it is; a picture resized and cropped to `size`."""
    return model.as_input(img) if isinstance(img, torch.Tensor) and img.ndim == 4 else model.preprocess(img, size)


def style_transfer(model, content, style_image, *, style_layers, style_weights, content_layer: str | None = None,
                   content_weight: float = 0.0, tv: float = 0.0, size: int = 192, style_size: int | None = None,
                   steps: int = 200, optimizer: str = "adam", lr: float = 0.3 * PUBLISHED_STD,
                   lr_end: float | None = 0.03 * PUBLISHED_STD, init=None, temperatures: dict | None = None,
                   **kwargs) -> Optimized:
    """An image with the content code of `content` at `content_layer` and the Gram matrices of
    `style_image` at `style_layers`: maximize -alpha*sum((F - P)^2) - sum_l w_l*E_l - lambda_TV*TV.

    Layers and weights for any network: `**style_settings(model)`. Defaults are CS231n's loop
    (200 Adam steps, the rate x0.1 for the last 10 %, starting from the content image; from noise
    for a texture), from 0.3 * 0.226 pixels instead of their 3.0 * 0.226, as in `invert`.

    Parameters
    ----------
    model : Model or nn.Module
    content : tensor, picture or None
        None synthesizes a texture from the style alone.
    style_image : tensor or picture
    style_layers : sequence of str
    style_weights : sequence of float
        One per style layer.
    content_layer : str, optional
        Needed with a content image.
    content_weight, tv : float
    size, style_size : int
        Sides (px) of the content and style images (style_size None: `size`).
    steps, optimizer, lr, lr_end, init
        As in `optimize_image` (init None: the content image, or "uniform" noise for a texture).
    temperatures : dict, optional
        {layer: T}: compare those layers' features after `objectives.smooth` (Wang et al. 2021).
    **kwargs
        Anything else of `optimize_image`.

    Returns
    -------
    Optimized

    Raises
    ------
    ValueError
        If the weights do not match the layers, a temperature names a layer that is not used, or
        a content image comes without content_layer.
    """
    model = as_model(model)
    style_layers = list(style_layers)
    if len(style_weights) != len(style_layers):
        raise ValueError(f"{len(style_layers)} style layers but {len(style_weights)} style weights")
    temps = dict(temperatures or {})
    unused = set(temps) - set(style_layers) - {content_layer}
    if unused:
        raise ValueError(f"temperatures for {sorted(unused)}, which are neither style layers {style_layers} nor the "
                         f"content layer {content_layer!r}: a temperature smooths one of those")
    xs = _prepare(model, style_image, style_size or size)
    grams = {k: gram(smooth(a, temps.get(k))) for k, a in codes(model, xs, style_layers).items()}
    total = sum(w * style(layer, grams[layer], temps.get(layer)) for layer, w in zip(style_layers, style_weights))
    if content is not None:
        if content_layer is None:
            raise ValueError("with a content image, give content_layer= (e.g. STYLE_SETTINGS[name]['content_layer'])")
        xc = _prepare(model, content, size)
        code = smooth(codes(model, xc, [content_layer])[content_layer], temps.get(content_layer))
        total = total + content_weight * match(content_layer, code, temps.get(content_layer))
        init = xc if init is None else init
    init = "uniform" if init is None else init
    return optimize_image(model, total, init, size=size, steps=steps, optimizer=optimizer, lr=lr, lr_end=lr_end,
                          tv=tv, **kwargs)
