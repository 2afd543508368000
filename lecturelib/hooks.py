"""Recording what happens inside a network, and leaving it exactly as it was.

`capture` records activations (and, after a backward pass, their gradients) of named layers.
Every hook it adds is removed when the `with` block ends, also when an exception or a
KeyboardInterrupt ends it, so re-running a cell never stacks hooks.
"""
from __future__ import annotations

import contextlib
import weakref
from typing import Iterable, Iterator

import torch
from torch import nn

from .models import as_model, get_layer

__all__ = ["capture", "Recording", "frozen", "hook_count", "device_of"]


def device_of(model) -> torch.device:
    """The device of a model's parameters (the CPU for a model without any).

    Parameters
    ----------
    model : Model or nn.Module

    Returns
    -------
    torch.device
    """
    return next(iter(as_model(model).net.parameters()), torch.zeros(1)).device


class Recording:
    """What `capture` saw; `rec[name]` is `rec.activations[name]`.

    Parameters
    ----------
    names : list of str
        The layers recorded.

    Attributes
    ----------
    activations : dict of str to tensor
        Each layer's output from its last call (N x C x H x W for conv layers).
    gradients : dict of str to tensor
        d(whatever you backpropagated)/d(that output), filled once you call `.backward()` inside
        the block.
    calls : dict of str to int
        How often each layer was called (a ReLU module reused inside a block is called more than
        once per forward).
    """

    def __init__(self, names: list[str]):
        self.names = names
        self.activations: dict[str, torch.Tensor] = {}
        self.gradients: dict[str, torch.Tensor] = {}
        self.calls: dict[str, int] = {n: 0 for n in names}

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.activations[name]

    def __repr__(self) -> str:
        shapes = {n: tuple(a.shape) for n, a in self.activations.items()}
        return f"Recording(activations={shapes}, gradients={list(self.gradients)})"


@contextlib.contextmanager
def capture(model, layers: str | Iterable[str], detach: bool = False) -> Iterator[Recording]:
    """Record the outputs of `layers` while the block runs; the hooks are removed when the block
    exits, however it exits.

        with ll.capture(model, ["features.3", "features.12"]) as rec:
            score = model(x)[0, 281]
            score.backward()          # optional: fills rec.gradients
        rec.activations["features.12"]  # 1 x 512 x 13 x 13

    Parameters
    ----------
    model : Model or nn.Module
    layers : str or iterable of str
        Dotted layer names, e.g. "features.12".
    detach : bool
        Store detached copies (no graph kept; gradients are then not recorded).

    Yields
    ------
    Recording

    Raises
    ------
    KeyError
        For an unknown layer name (before any hook is added).
    TypeError
        If a recorded layer returns something other than one tensor.
    """
    net = as_model(model).net
    names = [layers] if isinstance(layers, str) else list(layers)
    modules = [get_layer(net, n) for n in names]  # unknown names raise before any hook is added
    rec = Recording(names)
    handles = []

    def make_hook(name):
        def hook(module, inputs, output):
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"layer {name!r} returns {type(output).__name__}, not a tensor; "
                                f"capture a layer that returns one tensor")
            rec.calls[name] += 1
            rec.activations[name] = output.detach() if detach else output
            if output.requires_grad and not detach:
                # a tensor hook lives and dies with this tensor; it reaches `rec` through a weak
                # reference, since rec holds the tensor: a cycle would keep every recorded
                # activation and gradient alive until Python's garbage collector ran
                def save_grad(grad, name=name, rec_ref=weakref.ref(rec)):
                    alive = rec_ref()
                    if alive is not None:
                        alive.gradients[name] = grad.detach()
                output.register_hook(save_grad)
        return hook

    try:
        for name, module in zip(names, modules):
            handles.append(module.register_forward_hook(make_hook(name)))
        yield rec
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def frozen(net: nn.Module) -> Iterator[nn.Module]:
    """Inside the block: eval mode and no parameter gradients. Both are restored afterwards,
    so methods that optimize or differentiate an input never change the model.

    Parameters
    ----------
    net : nn.Module

    Yields
    ------
    nn.Module
        `net` itself.
    """
    was_training = net.training
    flags = [(p, p.requires_grad) for p in net.parameters()]
    try:
        net.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        yield net
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        net.train(was_training)


def hook_count(model) -> int:
    """The number of forward, forward-pre and backward hooks on all modules (0 for a clean model).

    Parameters
    ----------
    model : Model or nn.Module

    Returns
    -------
    int
    """
    net = as_model(model).net
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(getattr(m, "_backward_pre_hooks", {})) for m in net.modules())
