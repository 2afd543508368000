"""Incremental occlusion computes what the plain method computes, only less of it."""
import warnings

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import lecturelib as ll
from lecturelib import attribution as at
from lecturelib.coursemodels import shapes_data
from lecturelib.incremental import Box, Incremental, Unsupported
from lecturelib.occlude import positions


def occluded_batch(x, fill, places, window):
    batch = x.repeat(len(places), 1, 1, 1)
    for j, (r, c) in enumerate(places):
        batch[j, :, r:r + window, c:c + window] = fill[0, :, r:r + window, c:c + window]
    return batch


def assert_same_scores(net, x, window, stride, batch=16):
    """Every window position, borders included: incremental scores = the network on the occluded copy."""
    fill = torch.randn_like(x)
    size = x.shape[-1]
    pos = positions(size, window, stride)
    places = [(r, c) for r in pos for c in pos]
    inc = Incremental(net, x)
    with torch.no_grad():
        for k in range(0, len(places), batch):
            chunk = places[k:k + batch]
            rows, cols = (torch.tensor(v) for v in zip(*chunk))
            mine = inc(fill, rows, cols, window)
            theirs = net(occluded_batch(x, fill, chunk, window))
            scale = float(theirs.max() - theirs.min())
            assert (mine - theirs).abs().max() <= 1e-5 * scale, chunk
    assert not inc.notes
    return inc


class Branchy(nn.Module):
    """Every layer kind the incremental pass computes on a box: padded and unpadded, strided and dilated
    convs, a 1×1 conv with stride 2 > kernel, ceil-mode and padded max pools, batch norm, in-place ReLU,
    a channel concatenation of branches whose boxes differ, and a residual addition."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, ceil_mode=True))
        self.a = nn.Conv2d(6, 4, 1)
        self.b = nn.Conv2d(6, 4, 3, padding=2, dilation=2)
        self.skip = nn.Conv2d(6, 8, 1, stride=2)                       # stride 2 > kernel 1: gaps
        self.down = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(2, 2, padding=1)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))

    def forward(self, x):
        x = self.stem(x)
        y = torch.cat([self.a(x), torch.relu(self.b(x))], 1)
        y = self.down(y) + self.skip(x)
        return self.head(self.pool(torch.relu(y)))


class SamePadded(nn.Module):
    """TensorFlow-style asymmetric padding before unpadded convs: a padding module, F.pad with a
    static list, a constant other than zero, and a depthwise conv."""

    def __init__(self):
        super().__init__()
        self.pad = nn.ZeroPad2d((0, 1, 0, 1))
        self.conv = nn.Conv2d(3, 6, 3, stride=2)
        self.depthwise = nn.Conv2d(6, 6, 5, stride=2, groups=6)
        self.tail = nn.ConstantPad2d((1, 0, 2, 1), 0.5)
        self.head = nn.Sequential(nn.Conv2d(6, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

    def forward(self, x):
        x = torch.relu(self.conv(self.pad(x)))
        x = F.relu6(self.depthwise(F.pad(x, [1, 2, 1, 2])))
        return self.head(self.tail(x))


@pytest.mark.parametrize("size, window, stride", [(24, 4, 3), (23, 5, 5)])
def test_constant_padding_moves_the_box(size, window, stride):
    torch.manual_seed(0)
    assert_same_scores(SamePadded().eval(), torch.randn(1, 3, size, size), window, stride)


def test_efficientnet_lite0_exact_and_never_runs_a_layer_in_full():
    """The course's network at 224 px, the paper's window 16: every layer on its box, same scores."""
    model = ll.load_model("efficientnet_lite0", device="cpu")
    x = model.preprocess("chelsea")
    fill = torch.zeros_like(x)
    places = [(0, 0), (208, 208), (0, 208), (100, 37), (52, 160), (4, 8), (200, 96), (148, 148)]
    inc = Incremental(model.net, x)
    rows, cols = (torch.tensor(v) for v in zip(*places))
    with torch.no_grad():
        mine, theirs = inc(fill, rows, cols, 16), model.net(occluded_batch(x, fill, places, 16))
    assert (mine - theirs).abs().max() <= 1e-5 * float(theirs.max() - theirs.min())
    assert not inc.notes and inc.flops_ratio() > 1.3
    assert inc.boxes["_blocks_1__depthwise_conv"].box < (10, 10)  # the stride-2 padded conv kept a small box


@pytest.mark.parametrize("size, window, stride", [(19, 4, 3), (20, 5, 5), (16, 1, 1)])
def test_tiny_net_every_window_including_the_borders(size, window, stride):
    torch.manual_seed(0)
    net = Branchy().eval()
    net.stem[1].running_mean.normal_()
    net.stem[1].running_var.uniform_(0.5, 2)
    assert_same_scores(net, torch.randn(1, 3, size, size), window, stride)


@pytest.mark.parametrize("arch", ["squeezenet1_1", "alexnet", "vgg16", "resnet18"])
def test_torchvision_architectures_exact(arch):
    """Random weights, 64 px (vgg16's 7×7 adaptive pool then repeats its 2×2 map), every window."""
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)().eval()
    inc = assert_same_scores(net, torch.randn(1, 3, 64, 64), window=16, stride=12)
    full, computed = sum(b.full_macs for b in inc.boxes.values()), sum(b.macs for b in inc.boxes.values())
    assert computed < full  # it did skip work


def test_boxes_are_named_and_still_unpack_by_position():
    """Notebook 03 reads `inc.boxes` both ways: `b[0]` and `size, box, done, full = inc.boxes[name]`."""
    torch.manual_seed(0)
    inc = Incremental(Branchy().eval(), torch.randn(1, 3, 16, 16))
    inc(torch.zeros(1, 3, 16, 16), torch.tensor([4]), torch.tensor([4]), 3)
    conv, linear = inc.boxes["stem_0"], inc.boxes["head_2"]
    assert isinstance(conv, Box) and conv.size == (16, 16) and conv.box == (5, 5)
    size, box, done, full = conv
    assert (size, box, done, full) == (conv[0], conv[1], conv.macs, conv.full_macs) and done < full
    assert linear.size is None and linear.macs == linear.full_macs == 8 * 5


def test_occlusion_map_incremental_equals_naive_on_a_course_model(shapes_model):
    pixels, labels, _ = shapes_data(2, seed=5)
    x, labels = shapes_model.normalize(pixels), labels.tolist()
    naive = at.occlusion(shapes_model, x, labels, window=6, stride=2, method="naive")
    for method in ("incremental", "auto"):
        mine = at.occlusion(shapes_model, x, labels, window=6, stride=2, method=method)
        assert (mine - naive).abs().max() <= 1e-5 * float(naive.max() - naive.min())
    # approximate with no cap (tau 1) and drill-down everywhere (drill 1) evaluates every window exactly
    same = at.occlusion(shapes_model, x, labels, window=6, stride=2, method="approximate", tau=1.0, drill=1.0)
    assert (same - naive).abs().max() <= 1e-5 * float(naive.max() - naive.min())
    rough = at.occlusion(shapes_model, x, labels, window=6, stride=2, method="approximate", tau=0.5, drill=0.25)
    assert rough.shape == naive.shape and torch.isfinite(rough).all()


class Scale(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s

    def forward(self, x):
        return x * self.s


def test_peaked_imagenet_architecture_map_is_exact():
    """A random squeezenet's probabilities are all ≈ 1/1000, so its map would be rounding noise; a
    temperature of 1/30 makes the softmax peaked and the map's range real."""
    torch.manual_seed(0)
    net = nn.Sequential(torchvision.models.squeezenet1_1(), Scale(30.0)).eval()
    x = torch.randn(1, 3, 96, 96)
    naive = at.occlusion(net, x, None, window=16, stride=8, method="naive")
    inc = at.occlusion(net, x, None, window=16, stride=8, method="incremental")
    scale = float(naive.max() - naive.min())
    assert scale > 1e-3 and (inc - naive).abs().max() <= 1e-5 * scale


class Clean(nn.Module):
    """Counts the passes of the clean image `x` through its first layer (each image of a batch)."""

    def __init__(self, net, x):
        super().__init__()
        self.x, self.count = x, 0
        first = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
        self.handle = first.register_forward_pre_hook(self.seen)

    def seen(self, module, args):
        a = args[0]
        if isinstance(a, torch.Tensor) and a.shape[1:] == self.x.shape[1:]:
            self.count += sum(torch.equal(ai, self.x[0]) for ai in a)


@pytest.mark.parametrize("method", ["naive", "incremental", "auto", "approximate"])
@pytest.mark.parametrize("target", [3, None])
def test_the_clean_image_runs_once(shapes_model, method, target):
    """One forward pass of the unoccluded image gives the class (for target None) and p(x), and is
    the incremental method's cache; before, it ran three times (targets, p(x), the cache)."""
    x = shapes_model.normalize(shapes_data(1, seed=7)[0])
    counter = Clean(shapes_model.net, x)
    try:
        at.occlusion(shapes_model, x, target, window=8, stride=8, method=method)
    finally:
        counter.handle.remove()
    assert counter.count == 1


def test_a_unit_target_is_refused_with_the_reason(shapes_model):
    x = shapes_model.normalize(shapes_data(1, seed=7)[0])
    with pytest.raises(ValueError, match="class's probability"):
        at.occlusion(shapes_model, x, "4:1", window=8, stride=8)
    with pytest.raises(ValueError, match="3 targets for a batch of 1"):
        at.occlusion(shapes_model, x, [0, 1, 2], window=8, stride=8)


def test_model_left_unchanged_without_hooks(shapes_model):
    net = shapes_model.net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = shapes_model.preprocess(torch.rand(1, 3, 32, 32))
    at.occlusion(shapes_model, x, 0, window=8, stride=4, method="incremental")
    assert net.training and ll.hook_count(net) == 0
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    net.eval()


def test_untraceable_net_runs_naive_with_a_note():
    class Branching(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3)

        def forward(self, x):
            y = self.conv(x)
            if y.sum() > 0:  # control flow on a value: torch.fx cannot trace it
                y = -y
            return y.flatten(1)
    net = Branching().eval()
    with pytest.raises(Unsupported, match="cannot trace"):
        Incremental(net, torch.randn(1, 3, 8, 8))
    x = torch.randn(1, 3, 8, 8)
    with pytest.warns(UserWarning, match="runs naive"):
        m = at.occlusion(net, x, 0, window=2, stride=2, method="incremental")
    assert torch.equal(m, at.occlusion(net, x, 0, window=2, stride=2, method="naive"))
    with pytest.warns(UserWarning, match="auto chose naive"):  # auto says which way it went
        at.occlusion(net, x, 0, window=2, stride=2, method="auto")
    with pytest.warns(UserWarning, match="no box is capped") as seen:
        at.occlusion(net, x, 0, window=2, stride=2, method="approximate")
    assert not any("runs naive" in str(w.message) for w in seen)  # approximate never claims the naive map


def test_nodes_without_box_rule_give_one_warning_per_call():
    """However many traced nodes run in full (ShuffleNet v2 has dozens), occlusion says so in one line."""
    class Pools(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.pool1, self.pool2 = nn.AvgPool2d(3, 1, padding=1), nn.AvgPool2d(3, 1, padding=1)
            self.fc = nn.Linear(4 * 8 * 8, 3)

        def forward(self, x):
            a = self.conv(x)   # both pools read the conv's box, and neither has a box rule
            return self.fc((self.pool1(a) + self.pool2(a)).flatten(1))
    torch.manual_seed(0)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        at.occlusion(Pools().eval(), torch.randn(1, 3, 8, 8), 0, window=3, stride=1, method="incremental")
    lines = [str(w.message) for w in seen if "incremental occlusion" in str(w.message)]
    assert len(lines) == 1 and "2 traced node(s)" in lines[0] and "AvgPool2d x2 (pool1, ...)" in lines[0], lines


def test_layer_without_box_rule_runs_in_full_with_a_note():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.pool = nn.AvgPool2d(3, 1, padding=1)   # no box rule: runs in full, exactly
            self.fc = nn.Linear(4 * 8 * 8, 3)

        def forward(self, x):
            return self.fc(self.pool(self.conv(x)).flatten(1))
    torch.manual_seed(0)
    net, x = Odd().eval(), torch.randn(1, 3, 8, 8)
    with pytest.warns(UserWarning, match=r"incremental occlusion: 1 traced node\(s\) run in full.*AvgPool2d x1 \(pool\)"):
        m = at.occlusion(net, x, 0, window=3, stride=1, method="incremental")
    naive = at.occlusion(net, x, 0, window=3, stride=1, method="naive")
    assert (m - naive).abs().max() <= 1e-5 * float(naive.max() - naive.min())


def test_bad_method_and_knobs_are_explained(shapes_model):
    x = shapes_model.preprocess(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="method is one of"):
        at.occlusion(shapes_model, x, 0, method="fast")
    with pytest.raises(ValueError, match="tau"):
        at.occlusion(shapes_model, x, 0, method="approximate", tau=0.0)
    with pytest.raises(ValueError, match="tau"):
        Incremental(shapes_model.net, x, tau=1.5)


def test_a_clean_input_meets_a_changed_one():
    """x + c where c does not depend on the input (a learned bias map): the sum's box reads c from its
    clean value; and a conv output added to a constant stays exact."""
    class Biased(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bias_map = nn.Parameter(torch.randn(1, 4, 10, 10))
            self.head = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(4, 3))

        def forward(self, x):
            return self.head(self.bias_map + torch.relu(self.conv(x)))
    torch.manual_seed(0)
    assert_same_scores(Biased().eval(), torch.randn(1, 3, 10, 10), window=3, stride=2)


def _zoo(max_params: int = 30_000_000) -> list:
    """Every torchvision image classifier up to `max_params` parameters (the larger ones differ only in
    width and depth; vgg16 and alexnet are covered above)."""
    return [n for n in torchvision.models.list_models(module=torchvision.models)
            if torchvision.models.get_model_weights(n).DEFAULT.meta["num_params"] <= max_params]


@pytest.mark.parametrize("name", _zoo())
def test_model_zoo_exact_scores_or_a_message(name):
    """Random weights, 96 px, windows at the corners and inside: incremental scores equal the network's
    on the occluded copies; a network torch.fx cannot read is refused with the reason (occlusion then
    says it runs naive), and a layer without a box rule is named in `notes` (it runs in full). Never raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        net = torchvision.models.get_model(name, weights=None).eval()
    x = torch.randn(1, 3, 96, 96)
    try:
        with torch.no_grad():
            net(x)
    except (RuntimeError, ValueError, AssertionError):
        pytest.skip(f"{name} does not accept 96 px inputs")
    try:
        inc = Incremental(net, x)
    except Unsupported as e:
        assert str(e), name
        return
    places = [(0, 80), (40, 8), (80, 40)]
    rows, cols = (torch.tensor(v) for v in zip(*places))
    fill = torch.zeros_like(x)
    with torch.no_grad():
        mine, theirs = inc(fill, rows, cols, 16), net(occluded_batch(x, fill, places, 16))
    assert (mine - theirs).abs().max() <= 1e-5 * float(theirs.max() - theirs.min()), name
    assert all(isinstance(node, str) and isinstance(kind, str) for node, kind in inc.notes.items())
