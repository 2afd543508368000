import pytest
import torch
from torch import nn

import lecturelib as ll


def tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def test_capture_activations_and_gradients():
    net = tiny()
    x = torch.randn(1, 1, 4, 4, requires_grad=True)
    with ll.capture(net, ["0", "1"]) as rec:
        out = net(x)
        out[0, 1].backward()
    assert rec.activations["0"].shape == (1, 2, 4, 4)
    assert torch.equal(rec["1"], torch.relu(rec["0"]))
    # d out[1] / d relu-output is the linear layer's row, reshaped
    assert torch.allclose(rec.gradients["1"].flatten(), net[3].weight[1])
    assert ll.hook_count(net) == 0


def test_capture_frees_what_it_recorded_without_the_garbage_collector():
    """The gradient hook reaches the recording weakly: dropping the recording frees the recorded
    activation at once (a reference cycle kept ~20 MB per backward pass of a 224-px batch alive
    until Python's cyclic collector ran, and it rarely runs in a loop of tensor work)."""
    import gc
    import weakref
    net = tiny()
    gc.disable()
    try:
        with ll.capture(net, "1") as rec:
            net(torch.randn(2, 1, 4, 4, requires_grad=True)).sum().backward()
        assert "1" in rec.gradients
        alive = weakref.ref(rec.activations["1"])
        del rec
        assert alive() is None
    finally:
        gc.enable()


def test_capture_removes_hooks_on_error_and_unknown_layer():
    net = tiny()
    with pytest.raises(RuntimeError):
        with ll.capture(net, "0"):
            net(torch.randn(1, 1, 4, 4))
            raise RuntimeError("boom")
    assert ll.hook_count(net) == 0
    with pytest.raises(KeyError, match="'0'"):
        with ll.capture(net, "O"):
            pass
    assert ll.hook_count(net) == 0


def test_capture_counts_reused_modules():
    relu = nn.ReLU()
    net = nn.Sequential(relu, nn.Identity(), relu)
    with ll.capture(net, "0") as rec:
        net(torch.randn(2, 3))
    assert rec.calls["0"] == 2


def test_frozen_restores_state():
    net = tiny().train()
    net[0].weight.requires_grad_(False)
    with ll.frozen(net):
        assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert net.training and not net[0].weight.requires_grad and net[0].bias.requires_grad
