import gc
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lecturelib as ll
from lecturelib import attribution as at
from lecturelib.coursemodels import shapes_data

# The lecture's worked example (Springenberg et al., fig. 1): forward input of a ReLU, gradient arriving from above.
RELU_IN = torch.tensor([[1., -1, 5], [2, -5, -7], [-3, 2, 4]])
GRAD_ABOVE = torch.tensor([[-2., 0, -1], [6, -3, 1], [2, -1, 3]])
EXPECTED = {
    "backprop": [[-2, 0, -1], [6, 0, 0], [0, -1, 3]],
    "deconvnet": [[0, 0, 0], [6, 0, 1], [2, 0, 3]],
    "guided": [[0, 0, 0], [6, 0, 0], [0, 0, 3]],
}


class FunctionalRelu(nn.Module):
    def forward(self, x):
        return F.relu(x, inplace=True)


def relu_then_linear(relu: nn.Module) -> nn.Module:
    lin = nn.Linear(9, 1, bias=False)
    lin.weight.data = GRAD_ABOVE.reshape(1, 9)
    return nn.Sequential(nn.Identity(), relu, nn.Flatten(), lin)


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


def test_occlusion_known_answer():
    """Class-0 score = sum of the pixels in rows 1..2, cols 1..2; class 1 = 0. Window 1: the drop at a pixel
    is p0(s) − p0(s − x) inside the region, 0 outside."""
    class Region(nn.Module):
        def forward(self, x):
            s = x[:, 0, 1:3, 1:3].sum(dim=(1, 2))
            return torch.stack([s, torch.zeros_like(s)], 1)
    x = torch.rand(1, 1, 5, 5)
    m = at.occlusion(Region(), x, 0, window=1, stride=1, baseline=0.0)
    s = x[0, 0, 1:3, 1:3].sum()
    expected = torch.zeros(5, 5)
    for r in (1, 2):
        for c in (1, 2):
            expected[r, c] = torch.sigmoid(s) - torch.sigmoid(s - x[0, 0, r, c])
    assert m.shape == (1, 1, 5, 5) and torch.allclose(m[0, 0], expected, atol=1e-6)
    coarse = at.occlusion(Region(), x, 0, window=3, stride=2, baseline=0.0)  # positions 0, 2 cover 5 px
    assert coarse.shape == (1, 1, 5, 5) and (coarse[0, 0, 1:3, 1:3] > 0).all()


def test_unit_targets_zero_every_other_activation():
    net = relu_then_linear(nn.ReLU())
    x = RELU_IN.reshape(1, 1, 3, 3)
    g = at.saliency(net, x, "1:0:2:2")  # the single ReLU output at row 2, col 2
    expected = torch.zeros(3, 3)
    expected[2, 2] = 1.0
    assert torch.equal(g[0, 0], expected)
    g = at.saliency(net, x, "1:0")  # the whole channel, averaged over its 9 positions
    assert torch.allclose(g[0, 0], (RELU_IN > 0).float() / 9)
    with pytest.raises(IndexError, match="channel 3"):
        at.saliency(net, x, "1:3")
    with pytest.raises(KeyError, match="unknown layer '7'"):
        at.saliency(net, x, "7:0")


@pytest.mark.filterwarnings("ignore:integrated gradients")
def test_targets_are_resolved_once_at_the_door(shapes_model, monkeypatch):
    """per_image gives class indices or the Unit, score takes exactly those; a method reads a unit
    target's string once and never wraps the ll.Model again (a bare module: once, at the door)."""
    from lecturelib import models, targets
    x = shapes_model.normalize(shapes_data(3, seed=5)[0])
    unit = targets.Unit("8", 3)
    assert targets.per_image(shapes_model, x, "8:3") == [unit] * 3
    classes = targets.per_image(shapes_model, x, [shapes_model.categories[1], None, 2])
    assert classes[0] == 1 and classes[2] == 2 and all(isinstance(c, int) for c in classes)
    with torch.no_grad(), ll.capture(shapes_model, "8") as rec:
        assert torch.equal(at.score(shapes_model, x, unit), rec["8"][:, 3].mean(dim=(1, 2)))
        assert torch.equal(at.score(shapes_model, x, classes), at.score(shapes_model, x, torch.tensor(classes)))
    with pytest.raises(TypeError, match="resolved"):
        at.score(shapes_model, x, shapes_model.categories[1])
    parses, wraps = [], []
    parse, init = targets.unit, models.Model.__init__
    monkeypatch.setattr(targets, "unit", lambda m, t: parses.append(t) or parse(m, t))
    monkeypatch.setattr(models.Model, "__init__", lambda self, *a, **k: wraps.append(1) or init(self, *a, **k))
    at.smoothgrad(shapes_model, x, "8:3", samples=4, batch_size=2)
    at.integrated_gradients(shapes_model, x, "8:3", steps=4, batch_size=2)
    at.guided_grad_cam(shapes_model, x, "8:3", layer="4")
    assert parses.count("8:3") == 3 and wraps == []
    at.saliency(shapes_model.net, x, "8:3")
    assert len(wraps) == 1


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


def test_interrupt_inside_occlusion_leaves_model_untouched():
    class Stopper(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls, self.lin = 0, nn.Linear(12, 2)

        def forward(self, x):
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return self.lin(x.flatten(1))
    net = Stopper().train()
    with pytest.raises(KeyboardInterrupt):
        at.occlusion(net, torch.randn(1, 3, 2, 2), 0, window=1, stride=1, batch_size=1)
    assert net.training and all(p.requires_grad for p in net.parameters())


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


def test_every_method_points_at_the_object(shapes_model):
    """The pointing game on the shapes model, against the known object masks (1-pixel tolerance:
    at 32 px the shape's edge pixels are half object, and gradients live on edges).
    Measured (200 images): mass on the object 1.3× (deconvnet) to 3.1× (occlusion) a uniform map's;
    the peak on the object for 69-94 % of images, where chance is 25 %. Deconvnet localizes worst:
    its rule ignores which units were active, so it is the least tied to the decision."""
    methods = {
        "saliency": at.saliency, "guided": at.guided_backprop, "deconvnet": at.deconvnet,
        "grad_cam": lambda m, x, t: at.grad_cam(m, x, t, "8"),
        "smoothgrad": lambda m, x, t: at.smoothgrad(m, x, t, samples=8, batch_size=8),
        "integrated_gradients": lambda m, x, t: at.integrated_gradients(m, x, t, steps=16),
        "occlusion": lambda m, x, t: at.occlusion(m, x, t, window=6, stride=2, batch_size=128),
    }
    scores = at.pointing_game(shapes_model, methods, n=40)
    uniform = scores.pop("uniform")["mass"]
    for name, s in scores.items():
        wanted = 1.25 if name == "deconvnet" else 1.75
        assert s["mass"] > wanted * uniform, f"{name}: {s['mass']:.2f} of the mass near the object; uniform: {uniform:.2f}"
        assert s["hits"] > 0.5, f"{name}: the map's peak is on the object for only {s['hits']:.0%} of images"


def test_randomizing_the_top_layers_changes_the_explanation(shapes_model):
    """Adebayo et al.'s sanity check: Grad-CAM depends on the weights; the copy leaves the original intact."""
    x = shapes_model.normalize(shapes_data(4, seed=9)[0])
    before = shapes_model(x)
    twin = at.randomized(shapes_model, layers=2)
    a, b = at.grad_cam(shapes_model, x, 0, "8"), at.grad_cam(twin, x, 0, "8")
    corr = torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1]
    assert corr < 0.9 and torch.equal(shapes_model(x), before)


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


def test_model_accepts_images_and_class_names(squeezenet):
    cam = at.grad_cam(squeezenet, "chelsea", "tabby", "features.12")
    assert cam.shape == (1, 1, 224, 224)
    assert at.saliency(squeezenet, "chelsea", [281]).shape == (1, 3, 224, 224)


def test_grabcut_recovers_a_salient_square():
    img = np.full((60, 60, 3), 0.2, np.float32)
    img[20:40, 15:45] = [0.9, 0.1, 0.1]
    sal = np.random.default_rng(0).random((60, 60)) * 0.1  # low everywhere,
    sal[20:40, 15:45] += 0.3                                # higher on the object,
    sal[26:34, 24:36] = 1.0                                 # highest on a part of it
    mask = at.grabcut(img, sal)
    truth = np.zeros((60, 60), bool)
    truth[20:40, 15:45] = True
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.9
    with pytest.raises(ValueError, match="same size"):
        at.grabcut(img, sal[:10])
