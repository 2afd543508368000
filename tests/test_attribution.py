"""The gradient methods (lecturelib.attribution): the ReLU rules on the lecture's worked example,
saliency, integrated gradients, SmoothGrad and Grad-CAM with known answers, their warnings and
errors, every method on real architectures, and a model left as it was. Occlusion is tested in
test_occlude.py, targets in test_targets.py, the evaluation of maps in test_evaluation.py."""
import gc
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lecturelib as ll
from lecturelib import attribution as at
from lecturelib.coursemodels import shapes_data
from relu_worked_example import EXPECTED, GRAD_ABOVE, RELU_IN, relu_then_linear


class FunctionalRelu(nn.Module):
    def forward(self, x):
        return F.relu(x, inplace=True)


@pytest.mark.parametrize("relu", [nn.ReLU(), nn.ReLU(inplace=True), FunctionalRelu()])
def test_relu_rules_worked_example(relu):
    net = relu_then_linear(relu)
    x = RELU_IN.reshape(1, 1, 3, 3)
    assert at.saliency(net, x, 0)[0, 0].tolist() == EXPECTED["backprop"]
    assert at.deconvnet(net, x, 0)[0, 0].tolist() == EXPECTED["deconvnet"]
    assert at.guided_backprop(net, x, 0)[0, 0].tolist() == EXPECTED["guided"]


class FunctionalRelu6(nn.Module):
    def forward(self, x):
        return F.relu6(x)


@pytest.mark.parametrize("relu6", [nn.ReLU6(), nn.ReLU6(inplace=True), nn.Hardtanh(0, 6), FunctionalRelu6()])
def test_relu6_rules_worked_example(relu6):
    """ReLU6 (EfficientNet-Lite's activation) passes the signal where 0 < x < 6: the worked example
    with two inputs moved above the ceiling (5 → 7, 4 → 6.5) loses their gradient in backprop and
    guided backprop, while the deconvnet, which ignores the forward signal, keeps it."""
    net = relu_then_linear(relu6)
    x = RELU_IN.clone()
    x[0, 2], x[2, 2] = 7.0, 6.5
    x = x.reshape(1, 1, 3, 3)
    expected = {k: [row[:] for row in v] for k, v in EXPECTED.items()}
    for k in ("backprop", "guided"):
        expected[k][0][2] = expected[k][2][2] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ReLU6 has a rule: no warning
        assert at.saliency(net, x, 0)[0, 0].tolist() == expected["backprop"]
        assert at.deconvnet(net, x, 0)[0, 0].tolist() == expected["deconvnet"]
        assert at.guided_backprop(net, x, 0)[0, 0].tolist() == expected["guided"]


def test_hardtanh_other_than_relu6_has_no_rule():
    net = relu_then_linear(nn.Hardtanh(-1, 1))
    with pytest.warns(UserWarning, match="hardtanh"):
        at.guided_backprop(net, RELU_IN.reshape(1, 1, 3, 3), 0)


@pytest.mark.parametrize("inplace", [False, True])
def test_relu_module_used_twice(inplace):
    relu = nn.ReLU(inplace=inplace)
    lin = nn.Linear(9, 1, bias=False)
    lin.weight.data = GRAD_ABOVE.reshape(1, 9)
    net = nn.Sequential(relu, relu, nn.Flatten(), lin)  # relu(relu(x)) = relu(x)
    x = RELU_IN.reshape(1, 1, 3, 3)
    assert at.guided_backprop(net, x, 0)[0, 0].tolist() == EXPECTED["guided"]
    assert at.deconvnet(net, x, 0)[0, 0].tolist() == EXPECTED["deconvnet"]
    if not inplace:  # plain autograd itself cannot differentiate relu_(relu_(x)): the first result is overwritten
        assert at.saliency(net, x, 0)[0, 0].tolist() == EXPECTED["backprop"]


def linear_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def test_saliency_and_ig_on_a_linear_model_are_exact():
    net = linear_net()
    x = torch.randn(2, 3, 6, 6)
    w = torch.autograd.functional.jacobian(lambda v: net(v[None])[0, 1], x[0])
    assert torch.allclose(at.saliency(net, x, 1)[0], w, atol=1e-6)
    ig, delta = at.integrated_gradients(net, x, 1, steps=3, return_delta=True)
    assert torch.allclose(ig[0], x[0] * w, atol=1e-5) and delta.abs().max() < 1e-4
    assert torch.allclose(at.smoothgrad(net, x, 1, samples=4)[0], w, atol=1e-5)  # noise cannot change a constant gradient


def test_grad_cam_equals_cam_on_gap_model():
    """With global average pooling then a linear layer, Grad-CAM's α_k is W_ck / (h·w): the CAM of Zhou et al."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 2))
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        a = net[1](net[0](x))
    expected = F.relu((net[4].weight[1].view(1, 5, 1, 1) / 64 * a).sum(1, keepdim=True))
    assert torch.allclose(at.grad_cam(net, x, 1, layer="1"), expected, atol=1e-6)
    net[4].weight.data[1] = -1.0  # every feature map is ≥ 0 and now counts against class 1
    with pytest.warns(UserWarning, match="zero everywhere"):
        assert not at.grad_cam(net, x, 1, layer="1").any()


def test_warns_where_the_rule_cannot_apply():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.SiLU(), nn.Flatten(), nn.LazyLinear(2))
    net(torch.zeros(1, 1, 5, 5))
    with pytest.warns(UserWarning, match="silu"):
        at.guided_backprop(net, torch.randn(1, 1, 5, 5), 0)
    with pytest.warns(UserWarning, match="no ReLU"):
        at.deconvnet(linear_net(), torch.randn(1, 3, 6, 6), 0)


def test_bad_input_errors():
    net = linear_net()
    x = torch.randn(1, 3, 6, 6)
    with pytest.raises(ValueError, match="N x C x H x W"):
        at.saliency(net, x[0], 0)
    with pytest.raises(IndexError, match="0..2"):
        at.saliency(net, x, 3)
    with pytest.raises(ValueError, match="window 7"):
        at.occlusion(net, x, 0, window=7)
    with pytest.raises(ValueError, match="stride"):
        at.occlusion(net, x, 0, window=3, stride=0)
    with pytest.raises(ValueError, match="never occluded"):
        at.occlusion(net, x, 0, window=2, stride=3)
    with pytest.raises(TypeError, match="class names need an ll.Model"):
        at.saliency(net, x, "tabby")
    with pytest.raises(TypeError, match="layer="):
        at.grad_cam(net, x, 0)


def assert_untouched(net, x, before):
    assert ll.hook_count(net) == 0
    assert not net.training
    with torch.no_grad():
        assert torch.equal(net(x), before)


@pytest.mark.parametrize("name,layer", [("resnet18", "layer4"), ("googlenet", "inception5b")])
def test_architectures_every_method(name, layer):
    model = ll.load_model(name, device="cpu")
    torch.manual_seed(0)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
    plain = at.saliency(model, x, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ReLUs only: no warning may fire
        rule = at._rule_gradient(model, x, 3, "backprop", "backprop")
        guided = at.guided_backprop(model, x, 3)
        deconv = at.deconvnet(model, x, 3)
    assert torch.allclose(rule, plain, atol=1e-5 * plain.abs().max())  # the replaced ReLUs are faithful
    scale = plain.abs().max()  # random deep nets have tiny input gradients: compare relative to them
    assert (guided - plain).abs().max() > 0.01 * scale and (deconv - plain).abs().max() > 0.01 * scale
    with at.backward_rule("guided") as mode, torch.no_grad():
        model(x)
    assert mode.relus >= 17  # in-place, reused (ResNet) and functional (GoogLeNet) ReLUs are all seen
    cam = at.grad_cam(model, x, 3, layer)
    assert cam.shape == (1, 1, 64, 64) and (cam >= 0).all()
    assert at.guided_grad_cam(model, x, 3, layer).shape == x.shape
    assert at.smoothgrad(model, x, 3, samples=2).shape == x.shape
    assert at.integrated_gradients(model, x, 3, steps=2).shape == x.shape
    assert at.occlusion(model, x, 3, window=32, stride=32).shape == (1, 1, 64, 64)
    assert_untouched(model.net, x, before)


def test_exception_inside_leaves_model_untouched(squeezenet):
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = squeezenet(x)
    for call in (lambda: at.guided_backprop(squeezenet, x, "features.12:9999"),
                 lambda: at.grad_cam(squeezenet, x, 5000, "features.12"),
                 lambda: at.saliency(squeezenet, x, "no such class")):
        with pytest.raises((IndexError, KeyError)):
            call()
        assert_untouched(squeezenet.net, x, before)


def test_loop_does_not_grow_hooks_or_memory(shapes_model):
    import psutil
    proc = psutil.Process()
    x = shapes_model.preprocess(torch.rand(3, 32, 32))
    calls = [lambda: at.guided_backprop(shapes_model, x), lambda: at.grad_cam(shapes_model, x, None, "8"),
             lambda: at.saliency(shapes_model, x)]
    for c in calls * 10:
        c()
    gc.collect()
    rss = proc.memory_info().rss
    for _ in range(100):
        for c in calls:
            c()
    gc.collect()
    assert ll.hook_count(shapes_model) == 0
    assert proc.memory_info().rss - rss < 30e6


def test_integrated_gradients_completeness_within_one_percent(shapes_model):
    pixels, y, _ = shapes_data(5, seed=123)
    x = shapes_model.normalize(pixels)
    attr, delta = at.integrated_gradients(shapes_model, x[:5], y[:5].tolist(), steps=200, batch_size=100, return_delta=True)
    with torch.no_grad():
        gap = at.score(shapes_model, x[:5], y[:5].tolist()) - at.score(shapes_model, torch.zeros_like(x[:5]), y[:5].tolist())
    assert (delta.abs() / gap.abs()).max() < 0.01


def test_design_names_are_top_level():
    for name in ["saliency", "guided_backprop", "deconvnet", "grad_cam", "guided_grad_cam", "occlusion",
                 "integrated_gradients", "smoothgrad"]:
        assert getattr(ll, name) is getattr(at, name)
