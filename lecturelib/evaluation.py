"""What to do with a finished attribution map: segment with it, score it against the truth, and check
that it depends on the model at all; and how to ask a second network what a picture shows.

    grabcut(image, saliency_map)             an object mask from a saliency map (Simonyan et al.)
    mass_in_mask(maps, masks)                the share of each map's mass on the object
    pointing_game(model, {name: method})     every method against the `shapes` model's known masks
    randomized(model, layers)                a copy with its top layers re-drawn (Adebayo et al.)
    judge_probabilities(judge, model, x)     a second network's class probabilities for model's input x
    verdict(judge, model, x, classes)        its rank of each class as drawn and after a blur, and the
                                             share of saturated pixels: a picture judged as a person sees it

The attribution methods themselves are in lecturelib.attribution (which also offers these names).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .models import Model, as_model

__all__ = ["grabcut", "mass_in_mask", "smoothness", "pointing_game", "randomized", "weight_layers", "judge_probabilities", "verdict", "verdict_table", "rank_of"]


# ------------------------------------------------------------------------------------ segmentation
def grabcut(image, saliency_map, foreground: float = 0.95, background: float = 0.30, iterations: int = 5) -> np.ndarray:
    """Segment an object from a saliency map, as Simonyan et al.

    Pixels above the `foreground` quantile of the map seed the object, those below the
    `background` quantile seed the background, and OpenCV's GrabCut decides the rest from colour.

    Parameters
    ----------
    image : array or PIL image, H x W x 3
        Pixels: uint8, or floats in [0, 1].
    saliency_map : tensor or array, H x W (or 1 x H x W)
        Non-negative.
    foreground, background : float
        Quantiles of the map, 0 <= background < foreground <= 1 (Simonyan et al.: 0.95, 0.30).
    iterations : int
        GrabCut's iterations.

    Returns
    -------
    array of bool, H x W
        The object mask.

    Raises
    ------
    ValueError
        If the image and the map do not match, or the quantiles are out of order.
    """
    import cv2
    img = np.asarray(image)
    img = (np.clip(img, 0, 1) * 255).astype(np.uint8) if img.dtype != np.uint8 else img
    sal = saliency_map.detach().cpu().numpy() if isinstance(saliency_map, torch.Tensor) else np.asarray(saliency_map)
    sal = np.squeeze(sal)
    if img.ndim != 3 or img.shape[2] != 3 or sal.shape != img.shape[:2]:
        raise ValueError(f"grabcut needs an H x W x 3 image and an H x W map of the same size; got {img.shape} and {sal.shape}")
    if not 0 <= background < foreground <= 1:
        raise ValueError(f"need 0 <= background < foreground <= 1 quantiles; got {background}, {foreground}")
    hi, lo = np.quantile(sal, foreground), np.quantile(sal, background)
    mask = np.full(sal.shape, cv2.GC_PR_BGD, np.uint8)  # undecided: probably background
    mask[sal > hi] = cv2.GC_FGD
    mask[sal < lo] = cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(np.ascontiguousarray(img[..., ::-1]), mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


# ------------------------------------------------------------------------------------ against the truth
def mass_in_mask(attr_map: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The share of each map's (non-negative) mass inside the object mask; a uniform map scores
    the mask's area fraction.

    Parameters
    ----------
    attr_map : tensor, N x H x W (or any shape with as many values)
        Negative values count as 0.
    mask : tensor of bool, N x H x W

    Returns
    -------
    tensor of N values in [0, 1]
    """
    m = attr_map.detach().float().clamp(min=0).reshape(mask.shape)
    total = m.sum(dim=(-2, -1)).clamp(min=1e-12)
    return (m * mask.to(m.device)).sum(dim=(-2, -1)) / total


def smoothness(maps: torch.Tensor, percentile: float = 99) -> torch.Tensor:
    """How alike neighbouring pixels of each map are: the correlation of every pixel with its right
    neighbour and with the one below, averaged (1: a smooth map; 0: independent speckle). Each map
    is first clipped at its `percentile`, as `plot.attribution` draws it, so a few extreme pixels
    do not decide the answer.

    Parameters
    ----------
    maps : tensor, N x H x W
        E.g. `max_abs` of a gradient.
    percentile : float in (0, 100]

    Returns
    -------
    tensor of N values in [-1, 1]
    """
    m = maps.detach().float().flatten(1)
    m = torch.minimum(m, torch.quantile(m, percentile / 100, dim=1, keepdim=True)).reshape(maps.shape)

    def corr(a, b):
        a, b = a.flatten(1) - a.flatten(1).mean(1, keepdim=True), b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
        return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-12)
    return (corr(m[:, :, :-1], m[:, :, 1:]) + corr(m[:, :-1], m[:, 1:])) / 2


def pointing_game(model: Model, methods: dict, n: int = 40, seed: int = 123, tolerance: int = 1) -> dict:
    """Score attribution methods against the known object masks of the `shapes` course model.

    Uses the images of `shapes_data(n, seed)` that the model classifies correctly, each explained
    for its true class.

    Parameters
    ----------
    model : Model
        The `shapes` course model.
    methods : dict of str to callable
        {name: fn(model, x, targets) -> N x H x W map}; N x C x H x W maps are reduced by max-abs
        over channels, N x 1 x H x W ones reshaped.
    n, seed : int
        How many images `shapes_data` draws, and its seed.
    tolerance : int
        Pixels by which the masks are widened (edge pixels are half object at 32 px).

    Returns
    -------
    dict
        {name: {"mass": mean share of map mass on the object, "hits": share of maps whose peak
        is on the object}}, plus "uniform" for a flat map.
    """
    from .coursemodels import shapes_data
    model = as_model(model)
    pixels, labels, masks = shapes_data(n, seed=seed)
    x = model.normalize(pixels.to(model.device))
    with torch.no_grad():
        keep = model(x).argmax(1).cpu() == labels
    x, labels, masks = x[keep], labels[keep], masks[keep]
    near = F.max_pool2d(masks.float()[:, None], 2 * tolerance + 1, 1, tolerance)[:, 0] > 0
    area = float(near.float().mean())  # a flat map puts this much mass on the object, and peaks there this often
    out = {"uniform": {"mass": area, "hits": area}}
    for name, fn in methods.items():
        m = fn(model, x, labels.tolist()).detach().cpu()
        if m.ndim == 4 and m.shape[1] > 1:
            m = m.abs().amax(dim=1)  # max-abs over colour channels (attribution.max_abs)
        m = m.reshape(len(x), *x.shape[2:])
        peak = m.flatten(1).argmax(1)
        out[name] = {"mass": float(mass_in_mask(m, near).mean()),
                     "hits": float(near.flatten(1)[torch.arange(len(m)), peak].float().mean())}
    return out


# ------------------------------------------------------------------------------------ does it depend on the model?
def weight_layers(net: torch.nn.Module) -> list[torch.nn.Module]:
    """The layers that hold learned weights a student counts as layers: convolutions and linear
    layers, in definition order (normalization layers are not counted: they rescale, they do not mix).

    Parameters
    ----------
    net : nn.Module

    Returns
    -------
    list of nn.Module
    """
    norms = (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm)
    return [m for m in net.modules() if hasattr(m, "reset_parameters") and not isinstance(m, norms)
            and any(True for _ in m.parameters(recurse=False))]


def randomized(model, layers: int, seed: int = 0) -> Model:
    """A copy of `model` whose last `layers` weight layers have fresh random weights: the
    model-randomization sanity check of Adebayo et al. (2018).

    An explanation that barely changes when the top layers are randomized does not explain the
    model. The original model is not changed.

    Parameters
    ----------
    model : Model or nn.Module
    layers : int
        How many weight layers (`weight_layers`, counted back from the output) get new weights.
    seed : int
        Seeds the new weights.

    Returns
    -------
    Model
        The copy, its name saying which layers were randomized.

    Raises
    ------
    ValueError
        If `layers` is not between 0 and the number of weight layers.
    """
    import copy
    model = as_model(model)
    twin = copy.deepcopy(model)
    resettable = weight_layers(twin.net)
    if not 0 <= layers <= len(resettable):
        raise ValueError(f"{model.name} has {len(resettable)} weight layers (convolutions and linear layers); "
                         f"got layers={layers}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in resettable[len(resettable) - layers:]:
            m.reset_parameters()
    twin.net.requires_grad_(False)
    twin.name = f"{model.name} (top {layers} layers randomized)"
    return twin


# ------------------------------------------------------------------------------------ a second opinion
@torch.no_grad()
def judge_probabilities(judge, model, x: torch.Tensor) -> torch.Tensor:
    """A second network's class probabilities for pictures made on `model`.

    The judge sees the same pixels, through its own normalization, at the image's own size. A
    picture made on one network is judged by another (the maker's own p proves nothing).

    Parameters
    ----------
    judge, model : Model or nn.Module
    x : tensor, N x C x H x W
        Pictures in `model`'s normalized input space.

    Returns
    -------
    tensor, N x K
        The judge's softmax probabilities.
    """
    judge, model = as_model(judge), as_model(model)
    return torch.softmax(judge.net(judge.normalize(model.unnormalize(x))), 1)


def rank_of(probs: torch.Tensor, classes) -> torch.Tensor:
    """The rank (1 = the top class) of each row's class in N x K probabilities.

    Parameters
    ----------
    probs : tensor, N x K
    classes : int or sequence of int
        One class for all rows, or one per row.

    Returns
    -------
    tensor of N ints
    """
    idx = torch.as_tensor(classes, device=probs.device).reshape(-1, 1).expand(len(probs), 1)
    return (probs > probs.gather(1, idx)).sum(1) + 1


@torch.no_grad()
def verdict(judge, model, x: torch.Tensor, classes, sigma: float = 2.0) -> dict:
    """How a second network sees pictures made on `model`, and whether that survives what photos survive.

    A picture that shows its class keeps it after a mild blur (sigma 2 px at 224 px, scaled to the
    image's size), as photos do; a pattern of high frequencies that fools any ImageNet network
    does not. Saturated pixels (within 1/255 of 0 or 1, per channel) are the other sign of such a
    pattern.

    Parameters
    ----------
    judge, model : Model
    x : tensor, N x C x H x W
        Pictures in `model`'s normalized input space.
    classes : int or sequence of int
        The class each picture should show (one for all, or one per picture).
    sigma : float
        The blur at 224 px.

    Returns
    -------
    dict
        "rank" and "rank_blurred": the judge's rank of the class (N ints, 1 = its top class), as
        drawn and after the blur; "saturated": the share of saturated values per picture (N floats);
        "probs": the judge's probabilities for the pictures as drawn (N x K).
    """
    from .transforms import blur
    judge, model = as_model(judge), as_model(model)
    pixels = model.unnormalize(x).clamp(0, 1)
    blurred = blur(pixels, sigma * pixels.shape[-1] / 224)
    probs = [torch.softmax(judge.net(judge.normalize(p)), 1) for p in (pixels, blurred)]
    saturated = ((pixels <= 1 / 255) | (pixels >= 254 / 255)).flatten(1).float().mean(1).cpu()
    return {"rank": rank_of(probs[0], classes).cpu(), "rank_blurred": rank_of(probs[1], classes).cpu(),
            "saturated": saturated, "probs": probs[0].cpu()}


def verdict_table(judge, model, pictures: dict, cls: int) -> dict:
    """Print `verdict` for named pictures, one row each, and return the rows.

    Parameters
    ----------
    judge, model : Model
    pictures : dict
        Name -> picture (1 x C x H x W, in `model`'s normalized input space).
    cls : int
        The class every picture should show.

    Returns
    -------
    dict
        Name -> {"rank": int, "blurred": int, "saturated": float}: the judge's rank of `cls` as drawn
        and after the blur (1 = its top class), and the share of saturated values.
    """
    judge = as_model(judge)
    for name, x in pictures.items():
        if x.dim() != 4 or len(x) != 1:
            raise ValueError(f"picture {name!r} has shape {tuple(x.shape)}; each must be one picture, 1 x C x H x W "
                             "(index a batch as x[i:i+1])")
    width = max(len(n) for n in pictures) + 2
    print(f"{judge.name}'s rank of {judge.categories[cls]!r} (1 = its top class):")
    print(f"  {'picture':{width}s} {'as drawn':>9s} {'blurred':>8s} {'saturated':>10s}")
    rows = {}
    for name, x in pictures.items():
        v = verdict(judge, model, x, cls)
        rows[name] = dict(rank=int(v["rank"][0]), blurred=int(v["rank_blurred"][0]), saturated=float(v["saturated"][0]))
        print(f"  {name:{width}s} {rows[name]['rank']:9d} {rows[name]['blurred']:8d} {100 * rows[name]['saturated']:8.1f} %")
    return rows
