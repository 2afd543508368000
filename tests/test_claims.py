"""Each lecture's claim, measured on a trained course model, as its notebook asserts it.

The notebooks assert these at student settings (`make course`); here the same claims run in the
test suite, so a change to lecturelib or a course model that breaks a lesson fails a named test.
"""
import warnings

import torch

import lecturelib as ll
from lecturelib import attribution as at
from lecturelib.coursemodels import digits_data, shapes_data
from lecturelib.optimize import gram


def test_01_best_data_patch_per_unit_norm_lines_up_with_the_filter(digits_model):
    pix, _ = digits_data("train")
    p = torch.nn.functional.unfold(digits_model.normalize(pix), 3, padding=1).transpose(1, 2).reshape(-1, 9)
    p = torch.nn.functional.normalize(p[p.norm(dim=1) > 1e-6], dim=1)
    w = torch.nn.functional.normalize(digits_model.layer("0").weight.reshape(32, 9), dim=1)
    best = (p @ w.T).max(0).values
    assert float(best.median()) >= 0.85 and float(best.min()) >= 0.7


def test_02_last_layer_units_prefer_one_shape(shapes_model):
    pixels, labels, _ = shapes_data(2000, seed=11)
    res = ll.top_patches(shapes_model, shapes_model.normalize(pixels), "9", k=8, progress=False)
    kinds = [[int(labels[n]) for n, v in zip(res.image[i].tolist(), res.values[i]) if v > 0]
             for i in range(len(res.channels))]
    best = sorted(max(k.count(c) for k in kinds) for c in range(4))
    assert best[-2] >= 7  # chance: about 2 of 8


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


def test_04b_completeness_error_falls_with_steps(shapes_model):
    pix, lab, _ = shapes_data(16, seed=2)
    x, t = shapes_model.normalize(pix[:8]), lab[:8].tolist()
    with torch.no_grad():
        change = at.score(shapes_model, x, t) - at.score(shapes_model, torch.zeros_like(x), t)
    err = {}
    for steps in (4, 256):
        _, delta = at.integrated_gradients(shapes_model, x, t, steps=steps, return_delta=True)
        err[steps] = float((delta.abs() / change.abs()).median())
    assert err[256] < err[4] / 10 and err[256] < 0.002


def test_04b_under_randomization_ig_changes_least(shapes_model):
    pix, lab, _ = shapes_data(16, seed=2)
    x, t = shapes_model.normalize(pix[:8]), lab[:8].tolist()

    def corr(a, b):
        a, b = a.flatten(1) - a.flatten(1).mean(1, keepdim=True), b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
        return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-12)
    maps = {"saliency": lambda m: at.max_abs(at.saliency(m, x, t)),
            "grad_cam": lambda m: at.grad_cam(m, x, t, "8")[:, 0],
            "ig": lambda m: at.max_abs(at.integrated_gradients(m, x, t, steps=16))}
    trained = {k: f(shapes_model) for k, f in maps.items()}
    mean = {k: 0.0 for k in maps}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in (1, 2, 3, 4):
            m = at.randomized(shapes_model, layers=k)
            for name, f in maps.items():
                mean[name] += float(corr(trained[name], f(m)).mean()) / 4
    assert mean["ig"] > mean["saliency"] > mean["grad_cam"], mean


def test_06_twin_recognizes_class_visualizations_made_with_a_strong_prior(shapes_model):
    twin = ll.load_model("shapes_twin", device="cpu")
    recognized = {}
    for name, kw in {"none": dict(l2=0, blur_every=0, jitter=0), "yosinski": dict(blur_every=4, blur_sigma=1.0)}.items():
        recognized[name] = sum(
            twin.predict(ll.visualize_class(shapes_model, k, steps=100, seed=seed, progress=False, **kw).image,
                         k=1)[0].index == k for seed in range(4) for k in range(4))
    assert recognized["yosinski"] >= 10 and recognized["yosinski"] > recognized["none"], recognized


def test_07_inversion_early_layers_closer_class_kept_and_the_prior_helps(shapes_model):
    pixels, _, _ = shapes_data(8, seed=2)
    x = shapes_model.normalize(pixels)
    with torch.no_grad():
        classes = shapes_model(x).argmax(1)
    rms = {}
    for layer in ("1", "4", "9"):
        r = ll.invert(shapes_model, x, layer, steps=200, progress=False).image
        rms[layer] = float((shapes_model.unnormalize(r) - pixels).pow(2).flatten(1).mean(1).sqrt().mean())
        with torch.no_grad():
            assert int((shapes_model(r).argmax(1) == classes).sum()) >= 7
    assert rms["1"] < rms["4"] < rms["9"]
    loss = {k: -ll.invert(shapes_model, x, "4", steps=200, progress=False, **kw).history[-1]
            for k, kw in {"none": dict(tv=0), "tv": dict()}.items()}
    assert loss["tv"] < loss["none"]


def test_08_deepdream_amplifies_what_the_network_faintly_sees(shapes_model):
    pixels, labels, _ = shapes_data(32, seed=3)
    faint = shapes_model.normalize(0.5 + 0.3 * (pixels - 0.5))
    r = ll.deepdream(shapes_model, faint, "7", octaves=1, steps=10, jitter=2, progress=False)

    def norm(x):
        with torch.no_grad(), ll.capture(shapes_model, "7") as rec:
            shapes_model(x)
        return rec["7"].pow(2).flatten(1).sum(1)
    with torch.no_grad():
        before = torch.softmax(shapes_model(faint), 1)[torch.arange(32), labels].mean()
        after = torch.softmax(shapes_model(r.image), 1)[torch.arange(32), labels].mean()
    assert bool((norm(r.image) > norm(faint)).all()) and float(after) >= float(before) + 0.1


def test_09_style_transfer_matches_gram_and_keeps_content_on_shapes(shapes_model):
    pix, _, _ = shapes_data(8, seed=5)
    content, style = shapes_model.normalize(pix[0:1]), shapes_model.normalize(pix[1:2])
    layers = ["1", "4", "7"]
    out = ll.style_transfer(shapes_model, content, style, style_layers=layers, style_weights=[1e4] * 3,
                            content_layer="7", content_weight=1e-2, size=32, steps=200, progress=False).image
    with torch.no_grad(), ll.capture(shapes_model, layers) as rec:
        shapes_model(torch.cat([content, out, style]))
    g = {k: gram(rec[k]) for k in layers}
    before = sum(float((g[k][0] - g[k][2]).pow(2).sum()) for k in layers)
    after = sum(float((g[k][1] - g[k][2]).pow(2).sum()) for k in layers)
    content_d = float((rec["7"][1] - rec["7"][0]).pow(2).sum())
    style_d = float((rec["7"][2] - rec["7"][0]).pow(2).sum())
    assert after <= 0.1 * before and content_d < style_d


def test_10_fewer_free_pixels_fewer_successful_attacks(shapes_model):
    pix, lab, _ = shapes_data(40, seed=6)
    x0 = shapes_model.normalize(pix)
    with torch.no_grad():
        right = shapes_model(x0).argmax(1) == lab
    x0, target = x0[right], (lab[right] + 1) % 4
    low, high = shapes_model.valid_range()
    std = torch.tensor(shapes_model.std).view(1, -1, 1, 1)
    eps, success = 8 / 255, {}
    for side in (32, 16, 8, 4):
        window = torch.zeros(1, 1, 32, 32)
        o = (32 - side) // 2
        window[..., o:o + side, o:o + side] = 1
        x = x0.clone()
        for _ in range(50):
            x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(torch.log_softmax(shapes_model(x), 1).gather(1, target[:, None]).sum(), x)
            with torch.no_grad():
                x = x + (1 / 255) * g.sign() / std * window
                x = torch.maximum(torch.minimum(torch.minimum(torch.maximum(x, x0 - eps / std), x0 + eps / std), high), low)
        with torch.no_grad():
            success[side] = float((shapes_model(x).argmax(1) == target).float().mean())
    assert success[32] > success[16] > success[8] >= success[4] and success[32] >= 0.5, success
