"""Image optimization: exact values on tiny tensors, claims on the trained course models, the
model left untouched, interrupts, and architecture coverage on random-weight torchvision models."""
import ast
import inspect
import warnings

import pytest
import torch
from torch import nn

import lecturelib as ll
from lecturelib import optimize as op
from lecturelib.coursemodels import digits_data, shapes_data


def snapshot(model):
    net = model.net if isinstance(model, ll.Model) else model
    return ({k: v.clone() for k, v in net.state_dict().items()}, net.training,
            [p.requires_grad for p in net.parameters()], ll.hook_count(net))


def assert_untouched(model, before):
    state, training, flags, hooks = snapshot(model)
    assert all(torch.equal(state[k], before[0][k]) for k in state)
    assert (training, flags, hooks) == before[1:]


# ------------------------------------------------------------------------------------ exact values
def test_gram_and_style_loss_by_hand():
    f = torch.tensor([[[[1., 2.]], [[0., 3.]]]])  # N=1, C=2, H=1, W=2: F = [[1, 2], [0, 3]]
    # F Fᵀ = [[5, 6], [6, 9]], divided by C·H·W = 4
    assert torch.allclose(op.gram(f), torch.tensor([[[1.25, 1.5], [1.5, 2.25]]]))
    target = torch.zeros(1, 2, 2)
    # Gatys: E = Σ(G_raw − A_raw)² / (4 N² M²) = (25 + 36 + 36 + 81) / (4 · 4 · 4) = 178 / 64
    e = -op.style("x", target)({"x": f})
    assert torch.allclose(e, torch.tensor([178 / 64]))
    m = -op.match("x", torch.ones_like(f))({"x": f})
    assert torch.allclose(m, torch.tensor([0 + 1 + 1 + 4.]))



def test_smooth_is_a_softmax_over_all_units_that_averages_one():
    f = torch.tensor([[[[0., 1.]], [[2., 3.]]]])   # one image, K = 4 units
    e = torch.exp(torch.tensor([0., 1., 2., 3.]))
    assert torch.allclose(op.smooth(f, 1.0).flatten(), 4 * e / e.sum())  # over channels and positions together
    assert op.smooth(f, None) is f
    assert torch.allclose(op.smooth(torch.cat([f, 2 * f]), 1.0)[0], op.smooth(f, 1.0)[0])  # each image alone
    # far above the activations: nearly linear, 1 + (F − mean)/T; far below: an arg-max
    assert torch.allclose(op.smooth(f, 1e3).flatten(), 1 + (torch.tensor([0., 1., 2., 3.]) - 1.5) / 1e3, atol=1e-5)
    assert torch.allclose(op.smooth(f, 1e-2).flatten(), torch.tensor([0., 0., 0., 4.]))
    assert torch.allclose(op.smooth(f + 100, 1.0), op.smooth(f, 1.0))   # only the spread matters
    with pytest.raises(ValueError, match="positive"):
        op.smooth(f, 0.0)
    # the style and content objectives compare the smoothed features when given a temperature
    target = torch.zeros(1, 2, 2)
    assert torch.allclose(op.style("x", target, 2.0)({"x": f}), op.style("x", target)({"x": op.smooth(f, 2.0)}))
    assert torch.allclose(op.match("x", target.view(1, 2, 1, 2), 2.0)({"x": f}),
                          op.match("x", target.view(1, 2, 1, 2))({"x": op.smooth(f, 2.0)}))

def test_objectives_compose_and_parse(shapes_model):
    acts = {"": torch.tensor([[1., 2., 3., 4.]]), "8": torch.arange(2 * 2 * 2.).view(1, 2, 2, 2)}
    both = op.class_score(3) + 2 * op.channel("8", 1) - op.neuron("8", 0, 1, 1)
    assert both(acts).item() == pytest.approx(4 + 2 * 5.5 - 3)
    assert sum([op.class_score(0), op.class_score(1)])(acts).item() == 3
    assert op.layer_norm("8")(acts).item() == pytest.approx(0.5 * sum(i * i for i in range(8)))
    assert op.log_prob(3)(acts).item() == pytest.approx(torch.log_softmax(acts[""], 1)[0, 3].item())
    assert op.objective(shapes_model, "8:1").name == "8:1"
    assert op.objective(shapes_model, "8").name == "½‖8‖²"
    assert op.objective(shapes_model, "square")(acts).item() == 2
    with pytest.raises(KeyError, match="unknown layer 'features.3'"):
        op.objective(shapes_model, "features.3:1")


# ------------------------------------------------------------------------------------ claims on trained models
@pytest.mark.parametrize("name", ["digits", "shapes"])
def test_class_visualization_makes_the_class_top1(name):
    model = ll.load_model(name, device="cpu")
    for c in range(len(model.categories)):
        r = ll.visualize_class(model, c, progress=False)
        assert model.predict(r.image)[0].index == c
        low, high = model.valid_range()
        assert (r.image >= low - 1e-6).all() and (r.image <= high + 1e-6).all()


def test_a_list_of_classes_is_one_batch_that_equals_separate_runs(shapes_model):
    # one image per class, each from its own start; no jitter, so nothing random is shared
    starts = shapes_model.normalize(0.5 + 0.2 * torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1)))
    settings = dict(steps=5, jitter=0, progress=False)
    batch = ll.visualize_class(shapes_model, ["circle", 3, "square"], init=starts, **settings).image
    for i, c in enumerate(["circle", 3, "square"]):
        alone = ll.visualize_class(shapes_model, c, init=starts[i:i + 1], **settings).image
        assert torch.allclose(batch[i:i + 1], alone, atol=1e-4)
    assert len(ll.visualize_class(shapes_model, [0, 1], steps=1, progress=False).image) == 2   # n from the list
    with pytest.raises(ValueError, match="2 classes for 3 images: give one class for all, or one per image"):
        ll.visualize_class(shapes_model, [0, 1], init=starts, steps=1, progress=False)


def test_maximize_activation_raises_units_tenfold(shapes_model):
    raised = 0
    for ch in (9, 18, 21, 24):
        r = ll.maximize_activation(shapes_model, f"9:{ch}", progress=False)
        assert r.history[0] > 0.01, "the unit should be on at the random start"
        raised += r.history[-1] >= 10 * r.history[0]
    assert raised == 4


def test_fooling_reaches_every_target_with_a_valid_image(shapes_model):
    pixels, labels, _ = shapes_data(40, seed=5)
    x = shapes_model.normalize(pixels)
    targets = [(int(c) + 1) % 4 for c in labels]
    r = ll.fooling_image(shapes_model, x, targets, progress=False)
    assert r.info["success"].all()
    assert shapes_model(r.image).argmax(1).tolist() == targets
    low, high = shapes_model.valid_range()
    assert (r.image >= low - 1e-6).all() and (r.image <= high + 1e-6).all()
    change = op.pixel_change(shapes_model, x, r.image)
    assert torch.allclose(r.info["linf"], change["linf"]) and (r.info["l2"] > 0).all()


def test_digits_resist_a_small_linf_budget_but_not_a_free_attack(digits_model):
    pixels, labels = digits_data("test")
    x = digits_model.normalize(pixels[:50])
    targets = [(int(c) + 1) % 10 for c in labels[:50]]
    bounded = ll.fooling_image(digits_model, x, targets, max_change=8 / 255, max_steps=50, progress=False)
    free = ll.fooling_image(digits_model, x, targets, progress=False)
    assert bounded.info["linf"].max() <= 8 / 255 + 1e-5
    assert bounded.info["success"].float().mean() < 0.2 and free.info["success"].all()


def test_fgsm_lowers_accuracy_as_eps_grows(digits_model):
    pixels, labels = digits_data("test")
    x, y = digits_model.normalize(pixels[:100]), labels[:100]
    acc = []
    for eps in (0, 8 / 255, 32 / 255, 64 / 255):
        adv = ll.fgsm(digits_model, x, y.tolist(), eps=eps)
        assert op.pixel_change(digits_model, x, adv)["linf"].max() <= eps + 1e-5
        acc.append(float((digits_model(adv).argmax(1) == y).float().mean()))
    assert acc[0] > 0.95 and acc == sorted(acc, reverse=True) and acc[-1] < 0.3


def test_inversion_error_falls_and_early_layers_keep_more(shapes_model):
    pixels, _, _ = shapes_data(1, seed=2)
    x = shapes_model.normalize(pixels)
    errors = {}
    for layer in ("1", "8"):
        r = ll.invert(shapes_model, x, layer, progress=False)
        assert abs(r.history[-1]) <= 0.1 * abs(r.history[0])
        errors[layer] = float((shapes_model.unnormalize(r.image) - pixels).pow(2).mean())
    assert errors["1"] < errors["8"]


def test_deepdream_raises_the_layer_norm(shapes_model):
    pixels, _, _ = shapes_data(1, seed=3)
    r = ll.deepdream(shapes_model, shapes_model.normalize(pixels), "7", octaves=2, steps=10, jitter=2,
                     progress=False)
    assert r.image.shape == (1, 3, 32, 32)
    assert r.history[-1] > 2 * r.history[0]


def test_style_transfer_matches_style_and_keeps_content(squeezenet):
    s = dict(op.STYLE_SETTINGS["squeezenet1_1"], size=128)
    r = ll.style_transfer(squeezenet, "chelsea", "astronaut", steps=100, progress=False, **s)
    layers, c = list(s["style_layers"]), s["content_layer"]
    xc, xs = squeezenet.preprocess("chelsea", 128), squeezenet.preprocess("astronaut", 128)
    grams = {k: op.gram(a) for k, a in op._codes(squeezenet, xs, layers).items()}
    style_loss = -sum(w * op.style(k, grams[k]) for k, w in zip(layers, s["style_weights"]))

    def measure(x):
        codes = op._codes(squeezenet, x, layers + [c])
        return style_loss(codes).item(), codes[c]
    (style0, cat), (style1, ours) = measure(xc), measure(r.image)
    painting = op._codes(squeezenet, xs, [c])[c]
    assert style1 <= 0.1 * style0
    # content: the result's code stays much closer to the cat's than the painting's is
    assert (ours - cat).norm() < 0.5 * (painting - cat).norm()


def test_texture_synthesis_from_style_alone(squeezenet):
    s = dict(op.STYLE_SETTINGS["squeezenet1_1"], size=64)
    r = ll.style_transfer(squeezenet, None, "astronaut", steps=60, progress=False, **s)
    assert abs(r.history[-1]) <= 0.1 * abs(r.history[0])


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

    r = ll.optimize_image(shapes_model, op.Objective(stop_at_five, (), "interrupt me"), steps=50, progress=False)
    assert r.interrupted and r.steps == 5 and len(r.history) == 5
    assert torch.isfinite(r.image).all() and r.image.shape == (1, 3, 32, 32)
    assert_untouched(shapes_model, before)


def test_fourier_images_are_valid_and_raise_the_unit(shapes_model):
    r = ll.optimize_image(shapes_model, "8:21", "randn", param="fourier", steps=60, progress=False)
    low, high = shapes_model.valid_range()
    assert (r.image >= low - 1e-5).all() and (r.image <= high + 1e-5).all()
    assert r.history[-1] > 10 * abs(r.history[0])


def test_phase_keeps_its_magnitude_and_raises_the_unit(shapes_model):
    gen = torch.Generator().manual_seed(0)
    ph = op.Phase(torch.zeros(1, 3, 32, 32), gen)
    before = ph.magnitude.clone()
    r = ll.optimize_image(shapes_model, "8:21", "randn", param="phase", steps=60, progress=False)
    low, high = shapes_model.valid_range()
    assert (r.image >= low - 1e-5).all() and (r.image <= high + 1e-5).all()
    assert r.history[-1] > 2 * abs(r.history[0])
    assert ph.params == [ph.phase] and torch.equal(ph.magnitude, before)   # only the phase is a parameter
    sd = torch.logit(ph.image()).std(dim=(2, 3))   # before the sigmoid: the contrast asked for
    assert ((sd > 0.5) & (sd < 1.5)).all(), sd
    with pytest.raises(ValueError, match="phase parameterization starts from noise"):
        ll.optimize_image(shapes_model, "8:21", torch.zeros(1, 3, 32, 32), param="phase", steps=1)


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
    with pytest.raises(TypeError, match="N×C×H×W"):
        ll.optimize_image(nn.Conv2d(3, 2, 3), op.Objective(lambda a: a[""].sum((1, 2, 3))), init="chelsea")


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


def test_a_new_parameterization_is_a_callable(shapes_model):
    """The loop's extension point: pixels = (tanh(p) + 1) / 2 are always a valid picture, so they
    need no clamp; param= takes fn(start, gen) → an object with params, image() (pixels) and
    after_step(i)."""
    class Tanh:
        def __init__(self, start, gen):
            self.p = torch.zeros_like(start).requires_grad_(True)
            self.params = [self.p]

        def image(self):
            return (torch.tanh(self.p) + 1) / 2

        def after_step(self, i):
            pass
    r = ll.optimize_image(shapes_model, "8:21", "zeros", param=Tanh, steps=30, progress=False)
    assert r.history[-1] > r.history[0] + 0.1
    low, high = shapes_model.valid_range(r.image)
    assert ((r.image >= low - 1e-5) & (r.image <= high + 1e-5)).all()
    with pytest.raises(ValueError, match="max_change"):
        ll.optimize_image(shapes_model, "8:21", "zeros", param=Tanh, max_change=0.1, steps=1)
    with pytest.raises(ValueError, match="param must be one of"):
        ll.optimize_image(shapes_model, "8:21", param="wavelets", steps=1)


# ------------------------------------------------------------------------------------ the loop's shape
def test_the_loop_stays_small_enough_to_read(shapes_model, monkeypatch):
    """`render` is the loop a student reads: at most 40 lines, 3 levels of indentation (the def's
    body is level 1), no function defined inside it; optimize_image runs it once per octave."""
    source = inspect.getsource(op.render)
    lines = source.splitlines()
    assert len(lines) <= 40, f"render has grown to {len(lines)} lines"
    assert max(len(line) - len(line.lstrip()) for line in lines if line.strip()) <= 3 * 4
    tree = ast.parse(source).body[0]
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


def test_a_transform_is_a_callable_applied_before_the_forward(shapes_model):
    """A user's transform gets the image and the run's generator each step, and the gradient flows
    back through it: seeing the mirror image from the mirrored start retraces the same path."""
    seen = []

    def mirror(x, gen):
        seen.append((tuple(x.shape), isinstance(gen, torch.Generator)))
        return x.flip(3)
    start = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    kw = dict(steps=5, optimizer="sgd", lr=0.1, progress=False)
    plain = ll.optimize_image(shapes_model, "9:21", start, **kw)
    mirrored = ll.optimize_image(shapes_model, "9:21", start.flip(3), transforms=[mirror], **kw)
    assert seen == [((1, 3, 32, 32), True)] * 5
    assert torch.equal(mirrored.image.flip(3), plain.image) and mirrored.history == plain.history
    assert not torch.equal(plain.image, start)


def test_robustness_transforms_are_seeded_and_help_feature_visualization(shapes_model):
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(0)
    assert torch.allclose(op.random_rotate(0)(x, gen), x, atol=1e-5)
    assert op.random_scale([1.25])(x, gen).shape == (2, 3, 40, 40)
    assert torch.equal(op.roll(3)(x, torch.Generator().manual_seed(5)), op.roll(3)(x, torch.Generator().manual_seed(5)))
    assert op.apply_transforms(op.robust_transforms(4), x, gen).shape[:2] == (2, 3)
    kw = dict(param="fourier", transforms=op.robust_transforms(2), steps=60, progress=False)
    a, b = (ll.optimize_image(shapes_model, "8:21", "randn", **kw) for _ in range(2))
    assert torch.equal(a.image, b.image)
    assert a.history[-1] > 10 * abs(a.history[0])


def test_penalties_are_objectives_on_the_input(shapes_model):
    x = op.GREY + torch.tensor([[[[1., -2.], [0., 3.]]]])  # one image, one channel, 2×2, around mid-grey
    acts = {op.INPUT: x, "": torch.tensor([[5., 7.]])}
    assert op.l2()(acts).item() == 1 + 4 + 0 + 9
    assert op.tv()(acts).item() == (0 - 1) ** 2 + (3 + 2) ** 2 + (-2 - 1) ** 2 + (3 - 0) ** 2
    assert op.alpha_norm(3)(acts).item() == 1 + 8 + 0 + 27
    both = op.class_score(1) - 1e-2 * op.l2() - 0.5 * op.tv()
    assert both(acts).item() == pytest.approx(7 - 0.14 - 0.5 * 44)
    # a class name is looked up when the objective meets a model
    with pytest.raises(ValueError, match="names a class"):
        op.class_score("cross")(acts)
    assert op.objective(shapes_model, op.log_prob(["cross", 0]) - op.l2()).name == "log p[[3, 0]] + -1·‖x − ½‖²"
    # the algebra gives the same pictures as the penalty settings; `history` then includes the penalty
    kw = dict(steps=8, progress=False, seed=3)
    settings = ll.visualize_class(shapes_model, "cross", l2=1e-3, **kw)
    algebra = ll.maximize_activation(shapes_model, op.class_score("cross") - 1e-3 * op.l2(), l2=0, **kw)
    assert torch.equal(settings.image, algebra.image)
    assert algebra.history == pytest.approx([h - p for h, p in zip(settings.history, settings.penalties)])
    assert algebra.penalties == [0] * 8


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
