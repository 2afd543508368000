"""The optimization loop (`lecturelib.optimize`): seeds and snapshots, the model left untouched,
interrupts, step rules, bad input, pixel units, and architecture coverage on random-weight
torchvision models. Its parts and methods have their own files (test_objectives, ...)."""
import ast
import inspect
import warnings

import pytest
import torch
from torch import nn

import lecturelib as ll
from lecturelib import objectives as ob, optimize as op
from lecturelib.coursemodels import shapes_data


def snapshot(model):
    net = model.net if isinstance(model, ll.Model) else model
    return ({k: v.clone() for k, v in net.state_dict().items()}, net.training,
            [p.requires_grad for p in net.parameters()], ll.hook_count(net))


def assert_untouched(model, before):
    state, training, flags, hooks = snapshot(model)
    assert all(torch.equal(state[k], before[0][k]) for k in state)
    assert (training, flags, hooks) == before[1:]


# ------------------------------------------------------------------------------------ the loop itself
def test_same_seed_same_image_and_snapshots(shapes_model):
    kw = dict(steps=12, progress=False, snapshots=(0, 5, 12))
    a = ll.maximize_activation(shapes_model, "9:21", seed=1, **kw)
    b = ll.maximize_activation(shapes_model, "9:21", seed=1, **kw)
    c = ll.maximize_activation(shapes_model, "9:21", seed=2, **kw)
    assert torch.equal(a.image, b.image) and not torch.equal(a.image, c.image)
    assert sorted(a.snapshots) == [0, 5, 12] and torch.equal(a.snapshots[12], a.image)
    assert len(a.history) == len(a.penalties) == a.steps == 12


def test_every_method_leaves_the_model_untouched(shapes_model):
    before = snapshot(shapes_model)
    pixels, labels, _ = shapes_data(2, seed=4)
    x = shapes_model.normalize(pixels)
    ll.visualize_class(shapes_model, "cross", steps=3, progress=False)
    ll.maximize_activation(shapes_model, "4:3:5:5", steps=3, param="fourier", progress=False)
    ll.invert(shapes_model, x, "4", steps=3, progress=False)
    ll.deepdream(shapes_model, x, "4", octaves=2, steps=2, jitter=2, progress=False)
    ll.style_transfer(shapes_model, x[:1], x[1:], content_layer="4", style_layers=["1", "4"], content_weight=1.0,
                      style_weights=[1.0, 1.0], size=32, steps=3, progress=False)
    ll.fooling_image(shapes_model, x, "cross", max_steps=3, progress=False)
    ll.fgsm(shapes_model, x, labels.tolist())
    assert_untouched(shapes_model, before)


def test_interrupt_returns_the_image_so_far(shapes_model):
    before = snapshot(shapes_model)
    calls = []

    def stop_at_five(acts):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return acts[""][:, 0]

    r = ll.optimize_image(shapes_model, ob.Objective(stop_at_five, (), "interrupt me"), steps=50, progress=False)
    assert r.interrupted and r.steps == 5 and len(r.history) == 5
    assert torch.isfinite(r.image).all() and r.image.shape == (1, 3, 32, 32)
    assert_untouched(shapes_model, before)


def test_lbfgs_starts_from_a_channels_last_picture(shapes_model):
    x = shapes_model.normalize(shapes_data(1, seed=3)[0]).contiguous(memory_format=torch.channels_last)
    r = ll.optimize_image(shapes_model, "9:3", x, optimizer="lbfgs", steps=2, progress=False)
    assert torch.isfinite(r.image).all() and r.steps == 2


def test_zero_gradient_start_warns(shapes_model):
    with pytest.warns(UserWarning, match="gradient is exactly zero"):
        ll.maximize_activation(shapes_model, "9:3", init="zeros", steps=2, progress=False)


def test_bad_input_errors(shapes_model):
    with pytest.raises(ValueError, match="optimizer must be one of"):
        ll.optimize_image(shapes_model, "9:1", optimizer="rmsprop", steps=1)
    with pytest.raises(IndexError, match="64 channels"):
        ll.optimize_image(shapes_model, "9:99", steps=1, progress=False)
    with pytest.raises(KeyError, match="ostrich"):
        ll.visualize_class(shapes_model, "ostrich", steps=1)
    with pytest.raises(ValueError, match="L-BFGS"):
        ll.optimize_image(shapes_model, "9:1", optimizer="lbfgs", stop=lambda s: s[:, 0] > 0, steps=1)
    with pytest.raises(ValueError, match="max_change"):
        ll.optimize_image(shapes_model, "9:1", octaves=2, max_change=0.1, steps=1)
    with pytest.raises(ValueError, match="style weights"):
        ll.style_transfer(shapes_model, None, "chelsea", style_layers=["1"], style_weights=[1, 2], steps=1)
    with pytest.raises(ValueError, match="content_layer"):
        ll.style_transfer(shapes_model, "chelsea", "chelsea", style_layers=["1"], style_weights=[1], steps=1)
    with pytest.raises(TypeError, match="N x C x H x W"):
        ll.optimize_image(nn.Conv2d(3, 2, 3), ob.Objective(lambda a: a[""].sum((1, 2, 3))), init="chelsea")


@pytest.mark.parametrize("name, layer", [("resnet18", "layer3"), ("googlenet", "inception4c")])
def test_architectures(name, layer):
    model = ll.load_model(name, device="cpu")
    before = snapshot(model)
    start = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with ll.capture(model, layer) as rec, torch.no_grad():
        model(start)
    unit = f"{layer}:{int(rec[layer].mean((0, 2, 3)).argmax())}"  # a channel that is on at the start
    # l2=0: random GoogLeNet's activations are ~1e-7, so any weight decay would outweigh them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = ll.maximize_activation(model, unit, init=start, steps=3, jitter=0, l2=0, progress=False)
        d = ll.deepdream(model, r.image, layer, octaves=2, steps=2, progress=False)
    assert r.history[-1] > r.history[0] and d.image.shape == r.image.shape
    assert_untouched(model, before)


# ------------------------------------------------------------------------------------ the loop's shape
def test_the_loop_stays_small_enough_to_read(shapes_model, monkeypatch):
    """`render` is the loop a student reads: at most 30 lines of code besides its docstring, 3 levels
    of indentation (the def's body is level 1), no function defined inside it; optimize_image runs
    it once per octave."""
    source = inspect.getsource(op.render)
    tree = ast.parse(source).body[0]
    doc = tree.body[0]                                   # the docstring: reference text, not the loop
    lines = [line for k, line in enumerate(source.splitlines(), 1) if not doc.lineno <= k <= doc.end_lineno]
    assert len(lines) <= 30, f"render has grown to {len(lines)} lines of code"
    assert max(len(line) - len(line.lstrip()) for line in lines if line.strip()) <= 3 * 4
    blocks = (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)

    def depth(node):
        return max([0] + [depth(c) + isinstance(c, blocks) for c in ast.iter_child_nodes(node)])
    assert 1 + depth(tree) <= 3
    assert not [n for n in ast.walk(tree) if n is not tree and isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    calls = []

    def counting(*args, **kwargs):
        calls.append(kwargs["steps"])
        return render(*args, **kwargs)
    render = op.render
    monkeypatch.setattr(op, "render", counting)
    r = ll.deepdream(shapes_model, torch.zeros(1, 3, 32, 32), "4", octaves=3, steps=2, progress=False)
    assert calls == [2, 2, 2] and r.steps == 6


def test_the_optimizer_is_a_name_or_a_callable(shapes_model):
    kw = dict(steps=5, progress=False)
    by_name = ll.optimize_image(shapes_model, "9:21", optimizer="adam", lr=0.05, **kw)
    by_hand = ll.optimize_image(shapes_model, "9:21", optimizer=lambda ps: torch.optim.Adam(ps, lr=0.05), **kw)
    assert torch.equal(by_name.image, by_hand.image)
    assert isinstance(op.make_optimizer("sgd_l2", [torch.zeros(1, 3, 4, 4)], lr=1.0), op.Rescaled)


# ------------------------------------------------------------------------------------ pixel units
class _Renormalized(nn.Module):
    """The same network behind another normalization: it undoes `mean`, `std` and applies the
    original network's own, so both see the same pixels the same way."""

    def __init__(self, model, mean, std):
        super().__init__()
        self.model, self.mean, self.std = model, torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
        self.net = model.net

    def forward(self, x):
        return self.net(self.model.normalize(x * self.std + self.mean))


def test_one_setting_gives_the_same_picture_on_two_normalizations(shapes_model):
    """Settings are in pixel units: the same network behind a very different normalization (std
    0.1-0.5 instead of 0.25) gives the same pictures for the same settings. Before (settings in
    normalized units) a step of 25 moved its pixels 2× as far, and the L2 and TV weights changed
    by the square of the std ratio."""
    mean, std = (0.3, 0.4, 0.6), (0.5, 0.1, 0.2)
    other = ll.Model(_Renormalized(shapes_model, mean, std), "shapes, renormalized", True, shapes_model.categories,
                     mean, std, input_size=32)
    x0 = shapes_model.normalize(shapes_data(1, seed=3)[0])
    photo = other.normalize(shapes_model.unnormalize(x0))                    # the same pixels for `other`
    aim = (shapes_model.predict(x0)[0].index + 1) % 4                        # a class the photo is not
    runs = {
        "class, CS231n settings + TV": lambda m, start: ll.visualize_class(m, "cross", steps=20, tv=0.1, progress=False),
        "inversion (Adam, TV)": lambda m, start: ll.invert(m, start, "net.4" if m is other else "4", steps=20,
                                                         progress=False),
        "fooling within 8/255": lambda m, start: ll.fooling_image(m, start, aim, max_change=8 / 255, max_steps=5,
                                                                  progress=False),
        # one octave: at the 23 px octave, rounding (1e-7) flips ties in max-pooling and the routes change
        "DeepDream": lambda m, start: ll.deepdream(m, start, "net.7" if m is other else "7", octaves=1, steps=5,
                                                   jitter=2, progress=False),
    }
    for name, run in runs.items():
        a, b = run(shapes_model, x0), run(other, photo)
        pa, pb = shapes_model.unnormalize(a.image), other.unnormalize(b.image)
        assert (pa - pb).abs().max() < 1e-3, name
        assert (pa - shapes_model.unnormalize(x0)).abs().max() > 1e-2, name      # and the picture did change


LIST_METHODS = {   # every public optimization method, given three classes: one image each
    "visualize_class": lambda m, kw: ll.visualize_class(m, ["circle", "square", "cross"], steps=2, **kw),
    "maximize_activation": lambda m, kw: ll.maximize_activation(m, ["circle", "square", "cross"], steps=2, **kw),
    "optimize_image": lambda m, kw: ll.optimize_image(m, ["circle", "square", "cross"], steps=2, **kw),
    "fooling_image": lambda m, kw: ll.fooling_image(m, "randn", ["circle", "square", "cross"], max_steps=2, **kw),
}


@pytest.mark.parametrize("method", LIST_METHODS)
@pytest.mark.parametrize("param", sorted(ll.parameterizations.PARAMETERIZATIONS))
@pytest.mark.parametrize("rule", sorted(ll.optimize.STEP_RULES))
def test_every_method_takes_a_list_of_classes_in_every_parameterization_and_step_rule(shapes_model, method,
                                                                                        param, rule):
    """The crash of issue 27 (a list of classes, the spectrum, robust transforms) over the whole
    grid: each combination gives one finite image per class, or is refused by name."""
    kw = dict(param=param, optimizer=rule, transforms=ll.transforms.robust_transforms(4), progress=False)
    refused = {("fooling_image", p): "changes the start image's pixels" for p in ("fourier", "phase")}
    if (method, param) in refused or (method, rule) == ("fooling_image", "lbfgs"):
        why = refused.get((method, param), "one step at a time")
        with pytest.raises(ValueError, match=why):
            LIST_METHODS[method](shapes_model, kw)
        return
    r = LIST_METHODS[method](shapes_model, kw)
    assert r.image.shape == (3, 3, 32, 32) and torch.isfinite(r.image).all()
    assert len(r.info["done"]) == 3 and not torch.equal(r.image[0], r.image[1])


def test_a_run_stopped_early_leaves_a_finished_progress_bar(shapes_model, capsys):
    """`stop` ends the run when every image is done: the bar, kept after the run (also in a saved
    notebook), shows the steps taken as finished (k/k, 100 %), not an unfinished k/100; an interrupt
    leaves the bar as it stood."""
    calls = []

    def done_after_three_steps(scores):
        calls.append(1)
        return torch.full((len(scores),), len(calls) > 3)

    r = ll.optimize_image(shapes_model, "cross", steps=100, progress=True, stop=done_after_three_steps)
    assert r.steps == 3
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "100%" in last and "3/3" in last, last
