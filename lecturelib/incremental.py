"""Occlusion that does not repeat itself: incremental inference (Nakandala, Kumar & Papakonstantinou,
"Incremental and Approximate Inference for Faster Occlusion-based Deep CNN Explanations", SIGMOD 2019).

An occluding window changes a small square of the input. A convolution or pooling layer's output
changes only where its kernel saw a change, so from layer to layer the changed box grows by the
kernel and shrinks with the stride: the window's *projective field*. Hence:

  1. run the clean image once and keep every layer's output;
  2. for a batch of windows, compute each layer only on its changed box, reading the halo that the
     kernel needs from the cached clean map, and pass on just that box;
  3. where a box has grown to the whole map, or at a layer that mixes all positions (global pooling,
     flatten, a linear layer), finish with the ordinary forward pass.

    inc = Incremental(net, x)                   # trace the network, run the clean image once
    logits = inc(fill, rows, cols, window)      # B windows -> B x classes, as if each occluded copy ran whole
    inc.boxes                                   # what the last call computed, layer by layer (a `Box` each)

Exact (tau=1): the same numbers as running each occluded copy, up to float rounding. With tau < 1
(approximate) no box grows beyond tau x its layer's size; the change that would spread further is
ignored. The network is read with torch.fx; it is never changed and no hook is added. A layer this
module cannot compute on a box runs in full, and `notes` says which ({node: its kind}).
"""
from __future__ import annotations

import math
import operator
from typing import Callable, NamedTuple

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

__all__ = ["Incremental", "Unsupported", "Box"]

_POINTWISE_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.Hardswish,
                      nn.Hardsigmoid, nn.Identity, nn.Dropout, nn.Dropout2d, nn.BatchNorm2d)
_POINTWISE_FUNCTIONS = {F.relu, torch.relu, F.relu6, torch.sigmoid, torch.tanh, F.silu, F.gelu, F.leaky_relu,
                        F.hardswish, torch.nn.functional.dropout}
_POINTWISE_METHODS = {"relu", "sigmoid", "tanh", "relu_", "sigmoid_", "tanh_", "contiguous"}
# binary operations, element by element; the in-place ones are computed out of place
_ELEMENTWISE = {operator.add: operator.add, operator.iadd: operator.add, torch.add: torch.add,
                operator.mul: operator.mul, operator.imul: operator.mul, torch.mul: torch.mul,
                operator.sub: operator.sub, operator.isub: operator.sub, torch.sub: torch.sub}
_INPLACE_FUNCTIONS = {operator.iadd, operator.imul, operator.isub, operator.itruediv}


class Unsupported(Exception):
    """The network cannot be read for incremental inference (the caller runs the plain method)."""


class Box(NamedTuple):
    """What the last incremental call computed at one conv or linear layer, per window.

    Attributes
    ----------
    size : (int, int) or None
        The layer's output map, (h, w); None for a linear layer.
    box : (int, int) or None
        The part of it computed, (h, w); None for a linear layer.
    macs : int
        Multiply-adds computed.
    full_macs : int
        Multiply-adds of the whole map (what the plain forward computes).
    """
    size: tuple | None
    box: tuple | None
    macs: int
    full_macs: int


class Sliding(NamedTuple):
    """A layer that slides a kernel over its input (a convolution or a max pool).

    Attributes
    ----------
    kernel, stride, padding, dilation : (int, int)
        Per axis (rows, cols), in positions of the layer's input.
    pad : float
        What the padding holds: 0 for a convolution, -inf for a max pool.
    op : callable
        The layer on an unpadded region, B x C x h x w -> B x C' x h' x w'.
    """
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    pad: float
    op: Callable


class Patch:
    """A layer's output for a batch of windows, where it differs from the clean output.

    Parameters
    ----------
    values : tensor, B x C x h x w
        The changed box of each window.
    r0, c0 : tensor of B ints
        Where each box's top-left corner sits in the layer's map (row, column).
    """

    def __init__(self, values: torch.Tensor, r0: torch.Tensor, c0: torch.Tensor):
        self.values, self.r0, self.c0 = values, r0, c0


def _region(clean: torch.Tensor, patch: Patch | None, rows: torch.Tensor, cols: torch.Tensor, pad=None) -> torch.Tensor:
    """Rows x cols (B x h and B x w absolute indices) of the map that is `clean` (1 x C x H x W) with
    `patch` written over it, as B x C x h x w. Indices outside the map read `pad` (a conv's zero
    padding, a max pool's -inf); with pad None they must be inside."""
    if (patch is not None and patch.values.shape[2:] == (rows.shape[1], cols.shape[1])
            and torch.equal(rows[:, 0], patch.r0) and torch.equal(cols[:, 0], patch.c0)):
        return patch.values  # the region is the box itself (a 1x1 conv's input, say): nothing to gather
    height, width = clean.shape[2:]
    rc, cc = rows.clamp(0, height - 1), cols.clamp(0, width - 1)
    out = clean[0][:, rc[:, :, None], cc[:, None, :]].transpose(0, 1)            # B x C x h x w
    if patch is not None:
        ph, pw = patch.values.shape[2:]
        pr, pc = rows - patch.r0[:, None], cols - patch.c0[:, None]
        inside = ((pr >= 0) & (pr < ph))[:, :, None] & ((pc >= 0) & (pc < pw))[:, None, :]
        b = torch.arange(len(rows), device=rows.device)[:, None, None]
        new = patch.values[b, :, pr.clamp(0, ph - 1)[:, :, None], pc.clamp(0, pw - 1)[:, None, :]]   # B x h x w x C
        out = torch.where(inside[:, None], new.permute(0, 3, 1, 2), out)
    if pad is not None:
        valid = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
        out = out.masked_fill(~valid[:, None], pad)
    return out


def _pair(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _geometry(module: nn.Module) -> Sliding | None:
    """The `Sliding` geometry of a layer that slides a window, or None if it is not one this module handles."""
    if type(module) is nn.Conv2d and module.padding_mode == "zeros" and not isinstance(module.padding, str):
        def conv(region):
            return F.conv2d(region, module.weight, module.bias, module.stride, 0, module.dilation, module.groups)
        return Sliding(_pair(module.kernel_size), _pair(module.stride), _pair(module.padding), _pair(module.dilation),
                       0.0, conv)
    if type(module) is nn.MaxPool2d and not module.return_indices:
        k, d = _pair(module.kernel_size), _pair(module.dilation)
        s = _pair(module.stride if module.stride is not None else module.kernel_size)

        def pool(region):
            return F.max_pool2d(region, k, s, 0, d)
        return Sliding(k, s, _pair(module.padding), d, -math.inf, pool)
    return None


def _constant_pad(node, module) -> tuple[int, int] | None:
    """(top, left) of a constant padding of a map's last two axes (nn.ZeroPad2d, nn.ConstantPad2d,
    F.pad(x, [left, right, top, bottom]) in "constant" mode), or None for anything else."""
    if isinstance(module, (nn.ZeroPad2d, nn.ConstantPad2d)):
        pads = module.padding
    elif node.op == "call_function" and node.target is F.pad:
        pads = node.args[1] if len(node.args) > 1 else node.kwargs.get("pad")
        mode = node.args[2] if len(node.args) > 2 else node.kwargs.get("mode", "constant")
        if mode != "constant" or not isinstance(pads, (tuple, list)) or len(pads) != 4 \
                or not all(isinstance(p, int) for p in pads):
            return None
    else:
        return None
    left, right, top, bottom = pads
    return (top, left) if min(pads) >= 0 else None  # a negative pad crops: not a shift


class Incremental:
    """Occluded forward passes of `net` around one clean image, each layer computed only on the
    box the window changed.

    Construction traces `net` with torch.fx and runs the clean image once. After each call,
    `boxes` says what it computed ({layer: Box}) and `notes` which traced nodes ran in full
    ({node: its kind}).

    Parameters
    ----------
    net : nn.Module
        In eval mode; it is never changed and no hook is added.
    x : tensor, 1 x C x H x W, the model's normalized input
    tau : float
        In (0, 1]: 1 is exact; below 1 caps every changed box at tau x its layer's size.

    Raises
    ------
    ValueError
        If tau is outside (0, 1].
    Unsupported
        If torch.fx cannot trace `net`, it takes more than one input or returns more than one
        tensor, or it writes in place into a value that is also read elsewhere.
    """

    def __init__(self, net: nn.Module, x: torch.Tensor, tau: float = 1.0):
        if not 0 < tau <= 1:
            raise ValueError(f"tau is a fraction of each layer's size in (0, 1] (1: exact); got {tau}")
        try:
            self.graph = torch.fx.symbolic_trace(net).graph
        except Exception as e:  # control flow on tensor values, or a module torch.fx cannot read
            raise Unsupported(f"torch.fx cannot trace {type(net).__name__}: {str(e).splitlines()[0]}") from None
        self.tau = tau
        self.modules = {node: net.get_submodule(node.target)  # each layer looked up once, by torch.fx's name
                        for node in self.graph.nodes if node.op == "call_module"}
        self.notes: dict[str, str] = {}   # traced node that ran in full: its kind
        self.boxes: dict[str, Box] = {}
        self._check_inplace()
        self.batched: set = set()  # nodes that carry the batch dimension (they depend on the input)
        self.clean: dict = {}
        with torch.no_grad():
            for node in self.graph.nodes:
                if node.op == "placeholder":
                    if self.clean:
                        raise Unsupported(f"{type(net).__name__}.forward takes more than one input")
                    self.clean[node] = x
                    self.batched.add(node)
                elif node.op == "get_attr":
                    self.clean[node] = operator.attrgetter(node.target)(net)
                elif node.op != "output":
                    self.clean[node] = self._call(node, *self._args(node, self.clean.__getitem__))
                    if any(a in self.batched for a in node.all_input_nodes):
                        self.batched.add(node)
                else:
                    self.output = node.args[0]
        if not isinstance(self.output, torch.fx.Node):
            raise Unsupported(f"{type(net).__name__} returns {type(self.output).__name__}, not one tensor")

    @property
    def clean_scores(self) -> torch.Tensor:
        """The network's output on the clean image, 1 x classes (computed once, when constructed)."""
        return self.clean[self.output]

    # ---------------------------------------------------------------- reading the graph
    def _check_inplace(self):
        """An in-place operation whose input is also read elsewhere would make the cached clean
        values depend on the order of reads: refuse it (torchvision's models never do this)."""
        for node in self.graph.nodes:
            module = self.modules.get(node)
            inplace = (getattr(module, "inplace", False) or node.kwargs.get("inplace", False)
                       or node.target in _INPLACE_FUNCTIONS
                       or (node.op in ("call_method", "call_function") and str(getattr(node.target, "__name__", node.target)).endswith("_")))
            if inplace and node.args and isinstance(node.args[0], torch.fx.Node) and len(node.args[0].users) > 1:
                raise Unsupported(f"{node.name} writes in place into {node.args[0].name}, which is also read elsewhere")

    @staticmethod
    def _args(node, value):
        return torch.fx.node.map_arg(node.args, value), torch.fx.node.map_arg(node.kwargs, value)

    def _call(self, node, args, kwargs):
        if node.op == "call_module":
            return self.modules[node](*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        return getattr(args[0], node.target)(*args[1:], **kwargs)  # call_method

    # ---------------------------------------------------------------- the occluded passes
    @torch.no_grad()
    def __call__(self, fill: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, window: int) -> torch.Tensor:
        """Scores for B occluded copies of x, as if each ran through the whole network.

        Copy b has the window x window square of `fill` at (rows[b], cols[b]) written over x.

        Parameters
        ----------
        fill : tensor, 1 x C x H x W, normalized input
            What the windows show.
        rows, cols : tensor of B ints
            The windows' top-left corners, in pixels.
        window : int
            The window's side, in pixels.

        Returns
        -------
        tensor, B x classes
        """
        span = torch.arange(window, device=rows.device)
        self.boxes = {}
        state = {}  # node -> Patch, or a full B x ... tensor; a node missing here is unchanged (its clean value)
        for node in self.graph.nodes:
            if node.op == "placeholder":
                state[node] = Patch(_region(fill, None, rows[:, None] + span, cols[:, None] + span), rows, cols)
            elif node.op not in ("get_attr", "output") and any(a in state for a in node.all_input_nodes):
                state[node] = self._step(node, state, len(rows))
        if self.output not in state:
            return self.clean[self.output].expand(len(rows), *self.clean[self.output].shape[1:])
        return self._full(self.output, state, len(rows))

    def _full(self, node, state, batch: int) -> torch.Tensor:
        """The node's output for every window, as a full B x ... tensor."""
        s = state.get(node)
        if isinstance(s, Patch):  # B copies of the clean map with each box written in: a copy, as naive's batch
            out = self.clean[node].expand(batch, *self.clean[node].shape[1:]).clone()
            h, w = s.values.shape[2:]
            for b, (r, c) in enumerate(zip(s.r0.tolist(), s.c0.tolist())):
                out[b, :, r:r + h, c:c + w] = s.values[b]
            return out
        if s is not None:
            return s
        value = self.clean[node]
        return value.expand(batch, *value.shape[1:]) if node in self.batched else value

    def _step(self, node, state, batch: int):
        module = self.modules.get(node)
        inputs = [state.get(a) for a in node.all_input_nodes]
        if not any(isinstance(s, torch.Tensor) for s in inputs):  # only boxes come in
            source = state.get(node.args[0]) if node.args and isinstance(node.args[0], torch.fx.Node) else None
            geometry = _geometry(module) if module is not None else None
            if geometry is not None and isinstance(source, Patch) and len(node.all_input_nodes) == 1:
                return self._windowed(node, source, geometry)
            shift = _constant_pad(node, module)
            if shift is not None and isinstance(source, Patch) and len(node.all_input_nodes) == 1:
                top, left = shift  # the padded border is constant: the box only moves
                return Patch(source.values, source.r0 + top, source.c0 + left)
            if isinstance(source, Patch) and len(node.all_input_nodes) == 1 and self._pointwise(node, module):
                args, kwargs = self._args(node, lambda a: source.values)
                return Patch(self._call(node, args, kwargs), source.r0, source.c0)
            if node.op == "call_function" and (node.target in _ELEMENTWISE or self._is_channel_cat(node)):
                union = self._union(node, state)
                if union is not None:
                    return union
            if not (module is not None and isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Linear,
                                                                 nn.Flatten))
                    or node.target in (torch.flatten, F.adaptive_avg_pool2d, torch.mean)):
                what = type(module).__name__ if module is not None else str(getattr(node.target, "__name__", node.target))
                self.notes[node.name] = what   # cannot be computed on a box: it runs in full
        target = _ELEMENTWISE.get(node.target, node.target) if node.op == "call_function" else None
        args, kwargs = self._args(node, lambda a: self._full(a, state, batch))
        if target is not None and target is not node.target:  # an in-place add on broadcast inputs: out of place
            return target(*args, **kwargs)
        out = self._call(node, args, kwargs)
        self._record(node, module, out.shape[2:] if isinstance(out, torch.Tensor) and out.ndim == 4 else None)
        return out

    def _pointwise(self, node, module) -> bool:
        if module is not None:
            return isinstance(module, _POINTWISE_MODULES) and not module.training
        if node.op == "call_function":
            if node.target in _ELEMENTWISE:  # with a number: element by element
                return all(not isinstance(a, torch.fx.Node) for a in node.args[1:])
            return node.target in _POINTWISE_FUNCTIONS and not node.kwargs.get("training", False)
        return node.op == "call_method" and node.target in _POINTWISE_METHODS

    @staticmethod
    def _is_channel_cat(node) -> bool:
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        return node.target is torch.cat and dim in (1, -3)

    def _span(self, lo, hi, size: int):
        """Fixed box length over the batch for changed ranges [lo, hi] (inclusive), and each start."""
        n = int((hi - lo + 1).max())
        cap = max(1, math.ceil(self.tau * size))
        if n > cap:  # approximate: keep the middle of the change
            n, lo = cap, (lo + hi + 1) // 2 - cap // 2
        return n, lo.clamp(max=size - n).clamp(min=0)

    def _windowed(self, node, patch: Patch, layer: Sliding):
        out_size = self.clean[node].shape[2:]
        spans = []
        for axis, start in enumerate((patch.r0, patch.c0)):
            k_eff = layer.dilation[axis] * (layer.kernel[axis] - 1) + 1
            s, p = layer.stride[axis], layer.padding[axis]
            first, last = start, start + patch.values.shape[2 + axis] - 1        # changed input range
            lo = (-((-(first + p - k_eff + 1)) // s)).clamp(min=0)             # ceil((first + p - k + 1) / s)
            hi = ((last + p) // s).clamp(max=out_size[axis] - 1)
            n, begin = self._span(lo, hi, out_size[axis])
            rows_in = begin[:, None] * s - p + torch.arange((n - 1) * s + k_eff, device=begin.device)
            spans.append((n, begin, rows_in))
        (nh, r0, rows), (nw, c0, cols) = spans
        out = layer.op(_region(self.clean[node.args[0]], patch, rows, cols, layer.pad))
        self._record(node, self.modules[node], out_size, (nh, nw))
        if (nh, nw) == tuple(out_size):
            return out  # the box is the whole map: from here the forward runs in full
        return Patch(out, r0, c0)

    def _union(self, node, state):
        """An element-wise operation or a channel concatenation of maps of one size: computed on the
        smallest box that holds every input's box."""
        parts = list(node.args[0]) if node.target is torch.cat else list(node.args[:2])
        clean = self.clean[node]
        size = clean.shape[2:] if isinstance(clean, torch.Tensor) and clean.ndim == 4 else None
        patches = [state[a] for a in parts if isinstance(a, torch.fx.Node) and a in state]
        if size is None or any(isinstance(a, torch.fx.Node) and self.clean[a].shape[2:] != size for a in parts):
            return None
        spans = []
        for axis in (0, 1):
            starts = [p.r0 if axis == 0 else p.c0 for p in patches]
            lo = torch.stack(starts).min(0).values
            hi = torch.stack([s + p.values.shape[2 + axis] - 1 for s, p in zip(starts, patches)]).max(0).values
            n, begin = self._span(lo, hi, size[axis])
            spans.append((n, begin, begin[:, None] + torch.arange(n, device=begin.device)))
        (nh, r0, rows), (nw, c0, cols) = spans
        values = [_region(self.clean[a], state.get(a), rows, cols) if isinstance(a, torch.fx.Node) else a for a in parts]
        if node.target is torch.cat:
            out = torch.cat(values, 1)
        else:
            out = _ELEMENTWISE[node.target](*values, *node.args[2:], **node.kwargs)
        return out if (nh, nw) == tuple(size) else Patch(out, r0, c0)

    def _record(self, node, module, out_size, box=None):
        """Remember each conv/linear layer's map size and computed box, and its multiply-adds per
        window: computed here, and for the whole map (what the plain method computes)."""
        if isinstance(module, nn.Conv2d):
            per_position = module.weight[0].numel() * module.out_channels
            full = per_position * out_size[0] * out_size[1]
            box = tuple(out_size) if box is None else box
            self.boxes[node.name] = Box(tuple(out_size), box, per_position * box[0] * box[1], full)
        elif isinstance(module, nn.Linear):
            macs = module.in_features * module.out_features
            self.boxes[node.name] = Box(None, None, macs, macs)

    def flops_ratio(self) -> float:
        """Multiply-adds of the plain forward / those of the last incremental call (conv and linear
        layers): the saving in arithmetic.

        Returns
        -------
        float
        """
        computed = sum(b.macs for b in self.boxes.values())
        return sum(b.full_macs for b in self.boxes.values()) / max(computed, 1)
