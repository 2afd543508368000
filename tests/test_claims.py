"""Each lecture's claim, measured on a trained course model, as its notebook asserts it — and on an
untrained copy of the same architecture, where it must FAIL (Adebayo et al.'s sanity check applied
to our own lessons: a claim that random weights also pass is not a claim about training).

The notebooks assert these at student settings (`make course`); here the same claims run in the
test suite, so a change to lecturelib or a course model that breaks a lesson fails a named test.
Each `_claim_*` returns (holds, what was measured); `check` requires it to hold on the trained
model and not on the control. Method properties that hold for any network (04b's axioms on
hand-made functions, IG's completeness) say so and are asserted on both.
"""
import warnings

import numpy as np
import pytest
import torch

import lecturelib as ll
from lecturelib import attribution as at
from lecturelib.coursemodels import digits_data, shapes_data
from lecturelib.objectives import gram


@pytest.fixture(scope="module", params=[True, False], ids=["trained", "untrained-control"])
def trained(request):
    return request.param


def model(name, trained):
    return ll.load_model(name, device="cpu", pretrained=trained)


def check(claim, trained):
    """The claim holds on the trained model and fails on the untrained control."""
    holds, measured = claim
    if trained:
        assert holds, f"the lesson's claim fails on the trained model: {measured}"
    else:
        assert not holds, f"the claim also holds on untrained weights, so it does not show training: {measured}"


def test_01_best_patch_lines_up_with_any_filter_a_fact_about_the_data(digits_model):
    # What 01 shows: in 9-D, ~90,000 patches cover every direction, so the best patch points along
    # w/|w| for trained and random filters alike. Asserted on both: the test cannot tell them apart.
    pix, _ = digits_data("train")
    p = torch.nn.functional.unfold(digits_model.normalize(pix), 3, padding=1).transpose(1, 2).reshape(-1, 9)
    p = torch.nn.functional.normalize(p[p.norm(dim=1) > 1e-6], dim=1)
    medians = []
    for net in (digits_model, model("digits", False)):
        w = torch.nn.functional.normalize(net.layer("0").weight.reshape(32, 9), dim=1)
        medians.append(float((p @ w.T).max(0).values.median()))
    assert min(medians) >= 0.85 and abs(medians[0] - medians[1]) < 0.05, medians


def _claim_01_linear_templates_are_class_differences(coef, X, y):
    means = np.stack([X[y == c].mean(0) for c in range(10)]) - X.mean(0)
    a = (coef - coef.mean(1, keepdims=True)) / coef.std(1, keepdims=True)
    b = (means - means.mean(1, keepdims=True)) / means.std(1, keepdims=True)
    r = a @ b.T / a.shape[1]
    return bool((r.argmax(1) == np.arange(10)).all() and np.diag(r).min() > 0.9), np.round(np.diag(r), 2)


def test_01_linear_templates_are_class_differences(trained):
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    d = load_digits()
    X, y = d.data / 16, d.target
    coef = (LogisticRegression(max_iter=2000, C=0.05).fit(X, y).coef_ if trained
            else np.random.default_rng(0).normal(size=(10, 64)))
    check(_claim_01_linear_templates_are_class_differences(coef, X, y), trained)


def _claim_02_units_specialise(net):
    pixels, labels, _ = shapes_data(2000, seed=11)
    res = ll.top_patches(net, net.normalize(pixels), "9", k=8, progress=False, distinct=True)
    kinds = [[int(labels[n]) for n, v in zip(res.image[i].tolist(), res.values[i]) if v > 0]
             for i in range(len(res.channels))]
    pure = [k[0] for k in kinds if len(k) == 8 and len(set(k)) == 1]  # 8 distinct images, one shape
    return len(pure) >= 20, {c: pure.count(c) for c in range(4)}


def test_02_last_layer_units_collect_one_shape_in_distinct_images(trained):
    check(_claim_02_units_specialise(model("shapes", trained)), trained)


def _ig(f, x, baseline, steps=1000):
    alphas = (torch.arange(steps, dtype=x.dtype) + 0.5) / steps
    path = (baseline + alphas[:, None] * (x - baseline)).requires_grad_(True)
    (g,) = torch.autograd.grad(f(path).sum(), path)
    return (x - baseline) * g.mean(0)


def test_04b_sensitivity_gradient_fails_where_integrated_gradients_holds():
    f = lambda x: 1 - torch.relu(1 - x[..., 0])  # noqa: E731 (the paper's example)
    x = torch.tensor([2.0], requires_grad=True)
    (grad,) = torch.autograd.grad(f(x), x)
    assert float(grad) == 0 and abs(float(_ig(f, x.detach(), torch.zeros(1))) - 1) < 1e-3


def test_04b_implementation_invariance_holds_for_ig_not_guided_backprop():
    w = torch.tensor([[1.0, -2.0, 0.5]])

    class Vector(torch.nn.Module):
        def __init__(self, through_relus: bool):
            super().__init__()
            self.relus, self.relu = through_relus, torch.nn.ReLU()

        def forward(self, x):
            v = x.flatten(1)
            return (self.relu(v) - self.relu(-v) if self.relus else v) @ w.T

    x = torch.tensor([[0.7, 1.2, -0.4]])[:, :, None, None]
    a, b = Vector(False), Vector(True)
    probe = torch.randn(7, 3, 1, 1)
    assert torch.allclose(a(probe), b(probe))  # the same function
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # net A has no ReLU: guided backprop warns
        ig_a, ig_b = at.integrated_gradients(a, x, 0, steps=64), at.integrated_gradients(b, x, 0, steps=64)
        gb_a, gb_b = at.guided_backprop(a, x, 0), at.guided_backprop(b, x, 0)
    assert torch.allclose(ig_a, ig_b, atol=1e-5) and not torch.allclose(gb_a, gb_b)


def test_04b_symmetry_straight_path_splits_credit_evenly():
    fmin = lambda p: torch.minimum(p[..., 0], p[..., 1])  # noqa: E731
    assert torch.allclose(_ig(fmin, torch.ones(2), torch.zeros(2)), torch.tensor([0.5, 0.5]), atol=1e-3)


def test_04b_completeness_error_falls_with_steps_on_any_network(shapes_model):
    # A property of the method (a Riemann sum converging), not of training: asserted on both.
    pix, lab, _ = shapes_data(16, seed=2)
    for net in (shapes_model, model("shapes", False)):
        x, t = net.normalize(pix[:8]), lab[:8].tolist()
        with torch.no_grad():
            change = at.score(net, x, t) - at.score(net, torch.zeros_like(x), t)
        err = {}
        for steps in (4, 256):
            _, delta = at.integrated_gradients(net, x, t, steps=steps, return_delta=True)
            err[steps] = float((delta.abs() / change.abs()).median())
        assert err[256] < err[4] / 10 and err[256] < 0.002, (net.pretrained, err)


def _corr(a, b):
    a, b = a.flatten(1) - a.flatten(1).mean(1, keepdim=True), b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-12)


def _claim_04b_under_randomization_ig_changes_least(net):
    pix, lab, _ = shapes_data(16, seed=2)
    x, t = net.normalize(pix[:8]), lab[:8].tolist()
    maps = {"saliency": lambda m: at.max_abs(at.saliency(m, x, t)),
            "grad_cam": lambda m: at.grad_cam(m, x, t, "8")[:, 0],
            "ig": lambda m: at.max_abs(at.integrated_gradients(m, x, t, steps=16))}
    before = {k: f(net) for k, f in maps.items()}
    mean = {k: 0.0 for k in maps}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in (1, 2, 3, 4):
            m = at.randomized(net, layers=k)
            for name, f in maps.items():
                mean[name] += float(_corr(before[name], f(m)).mean()) / 4
    return mean["ig"] > mean["saliency"] > mean["grad_cam"], mean


def test_04b_under_randomization_ig_changes_least_on_any_network(shapes_model):
    # Measured: the order also holds when the randomization starts from an untrained copy. It is a
    # property of the methods (IG multiplies by the input, which randomization leaves alone), so
    # 04b states it as one; asserted on both.
    for net in (shapes_model, model("shapes", False)):
        holds, mean = _claim_04b_under_randomization_ig_changes_least(net)
        assert holds, (net.pretrained, mean)


def _claim_06_twin_recognizes_visualizations(net):
    twin = ll.load_model("shapes_twin", device="cpu")
    recognized, classes = {}, torch.arange(32) % 4          # each class 8 times, from 32 starts, in one batch
    for name, kw in {"none": dict(l2=0, blur_every=0, jitter=0), "yosinski": dict(blur_every=4, blur_sigma=1.0)}.items():
        made = ll.visualize_class(net, classes, steps=100, progress=False, **kw).image
        with torch.no_grad():
            recognized[name] = int((twin(made).argmax(1) == classes).sum())
    # of 32, chance 8; measured: trained 26 with the prior, 9 without (23-27 and 9-10 over seeds 0-2);
    # untrained 8 and 3
    return recognized["yosinski"] >= 18 and recognized["yosinski"] > recognized["none"], recognized


def test_06_twin_recognizes_class_visualizations_made_with_a_strong_prior(trained):
    check(_claim_06_twin_recognizes_visualizations(model("shapes", trained)), trained)


def _claim_07_inversion(net):
    pixels, _, _ = shapes_data(8, seed=2)
    x = net.normalize(pixels)
    twin = ll.load_model("shapes_twin", device="cpu")
    with torch.no_grad():
        classes = twin(x).argmax(1)
    rms, kept = {}, {}
    for layer in ("1", "4", "9"):
        r = ll.invert(net, x, layer, steps=200, progress=False).image
        rms[layer] = float((net.unnormalize(r) - pixels).pow(2).flatten(1).mean(1).sqrt().mean())
        with torch.no_grad():   # judged by the twin, which never saw these reconstructions
            kept[layer] = int((twin(r).argmax(1) == classes).sum())
    loss = {k: -ll.invert(net, x, "4", steps=200, progress=False, **kw).history[-1]
            for k, kw in {"none": dict(tv=0), "tv": dict()}.items()}
    # from layer 9 the twin keeps only about half the classes, trained or not: not claimed
    holds = kept["1"] >= 7 and kept["4"] >= 7 and rms["1"] < rms["4"] < rms["9"] and loss["tv"] < loss["none"]
    return holds, (rms, kept, loss)


def test_07_inversion_early_layers_closer_class_kept_and_the_prior_helps(trained):
    check(_claim_07_inversion(model("shapes", trained)), trained)


def _claim_08_deepdream(net):
    pixels, labels, _ = shapes_data(32, seed=3)
    faint = net.normalize(0.5 + 0.3 * (pixels - 0.5))
    r = ll.deepdream(net, faint, "7", octaves=1, steps=10, jitter=2, progress=False)

    def norm(x):
        with torch.no_grad(), ll.capture(net, "7") as rec:
            net(x)
        return rec["7"].pow(2).flatten(1).sum(1)
    with torch.no_grad():
        before = torch.softmax(net(faint), 1)[torch.arange(32), labels].mean()
        after = torch.softmax(net(r.image), 1)[torch.arange(32), labels].mean()
    return bool((norm(r.image) > norm(faint)).all()) and float(after) >= float(before) + 0.1, (float(before), float(after))


def test_08_deepdream_amplifies_what_the_network_faintly_sees(trained):
    check(_claim_08_deepdream(model("shapes", trained)), trained)


def _claim_09_style_transfer(net):
    pix, _, _ = shapes_data(8, seed=5)
    content, style = net.normalize(pix[0:1]), net.normalize(pix[1:2])
    layers = ["1", "4", "7"]
    out = ll.style_transfer(net, content, style, style_layers=layers, style_weights=[1e4] * 3,
                            content_layer="7", content_weight=1e-2, size=32, steps=200, progress=False).image
    with torch.no_grad(), ll.capture(net, layers) as rec:
        net(torch.cat([content, out, style]))
    g = {k: gram(rec[k]) for k in layers}
    before = sum(float((g[k][0] - g[k][2]).pow(2).sum()) for k in layers)
    after = sum(float((g[k][1] - g[k][2]).pow(2).sum()) for k in layers)
    content_d = float((rec["7"][1] - rec["7"][0]).pow(2).sum())
    style_d = float((rec["7"][2] - rec["7"][0]).pow(2).sum())
    return after <= 0.1 * before and content_d < style_d, (after / before, content_d, style_d)


def test_09_style_transfer_matches_gram_and_keeps_content_on_any_network(shapes_model):
    # Measured: an untrained copy matches the Gram matrices and keeps layer 7's content as well
    # (random features carry texture statistics: Gram matching is a property of the method, not of
    # training). 09 says so; asserted on both.
    for net in (shapes_model, model("shapes", False)):
        holds, measured = _claim_09_style_transfer(net)
        assert holds, (net.pretrained, measured)


def _claim_10_fewer_free_pixels(net):
    pix, lab, _ = shapes_data(40, seed=6)
    x0 = net.normalize(pix)
    with torch.no_grad():
        right = net(x0).argmax(1) == lab
    x0, target = x0[right], (lab[right] + 1) % 4
    if len(x0) < 10:
        return False, f"only {len(x0)} of 40 images classified right: nothing to attack"
    low, high = net.valid_range()
    std = torch.tensor(net.std).view(1, -1, 1, 1)
    eps, success = 8 / 255, {}
    for side in (32, 16, 8, 4):
        window = torch.zeros(1, 1, 32, 32)
        o = (32 - side) // 2
        window[..., o:o + side, o:o + side] = 1
        x = x0.clone()
        for _ in range(50):
            x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(torch.log_softmax(net(x), 1).gather(1, target[:, None]).sum(), x)
            with torch.no_grad():
                x = x + (1 / 255) * g.sign() / std * window
                x = torch.maximum(torch.minimum(torch.minimum(torch.maximum(x, x0 - eps / std), x0 + eps / std), high), low)
        with torch.no_grad():
            success[side] = float((net(x).argmax(1) == target).float().mean())
    return success[32] > success[16] > success[8] >= success[4] and success[32] >= 0.5, success


def test_10_fewer_free_pixels_fewer_successful_attacks(trained):
    check(_claim_10_fewer_free_pixels(model("shapes", trained)), trained)
