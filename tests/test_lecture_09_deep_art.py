"""Lecture 09 (notebooks/09_deep_art.ipynb): its claims on style transfer, on the `shapes` course
model and on EfficientNet-Lite0 (judged by efficientnet_lite2, the fixture `judge`), and the style
settings it uses for any network.

The style is the course's painting (`ll.load_image("painting")`, made by tools/paint.py). Gram
matching on `shapes` is a property of the method, not of training: asserted on the trained network
and on its untrained copy alike (`pretrained=False`: the same architecture, seeded random weights).
On Lite0: the loop by hand is the library's; the result comes closer to the painting on the judge's
own layers and in colour; the alpha sweep is monotone (content loss, colour distance). The claim
that depends on training (Wang et al.'s softmax at their temperature is an arg-max on trained Lite0's
activations and loses the cat; flat on the untrained copy's) holds on the trained network and fails
on the untrained copy.

The notebook asserts these at student settings (`make course`); here the same claims run in the test
suite, so a change to lecturelib or a course model that breaks a lesson fails a named test.
"""
import pytest
import torch

import lecturelib as ll
from claims_helpers import CATS, model
from lecturelib import objectives as ob, styletransfer as st, transforms as tr
from lecturelib.coursemodels import shapes_data
from lecturelib.objectives import gram


LITE0 = "efficientnet_lite0"


# ------------------------------------------------------------------------------------ the course model (shapes)
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


def test_09_a_style_layer_on_the_content_layer_takes_the_shape_with_it(shapes_model):
    """Notebook 09 section 8: with layer 7 both content and style layer the result is called a circle
    (the style's class); with style layers 1 and 4 only, a square (the content's)."""
    pix, _, _ = shapes_data(8, seed=5)
    content, style = shapes_model.normalize(pix[0:1]), shapes_model.normalize(pix[1:2])
    labels = []
    for layers in (["1", "4", "7"], ["1", "4"]):
        out = ll.style_transfer(shapes_model, content, style, style_layers=layers, style_weights=[1e4] * len(layers),
                                content_layer="7", content_weight=1e-2, size=32, steps=200, progress=False).image
        labels.append(shapes_model.predict(out)[0].label)
    assert labels == ["circle", "square"]


# ------------------------------------------------------------------------------------ the style settings
@pytest.mark.parametrize("name", [LITE0, "shapes"])
def test_09_style_settings_exist_for_any_network(name):
    model = ll.load_model(name, device="cpu")
    size = 192 if name == LITE0 else 32
    s = st.style_settings(model, size)
    order = model.layer_names()
    assert [order.index(n) for n in s["style_layers"]] == sorted(order.index(n) for n in s["style_layers"])
    assert len(s["style_weights"]) == len(s["style_layers"]) >= 2 and s["content_layer"] in order
    assert all(w > 0 and w == w and w != float("inf") for w in (*s["style_weights"], s["content_weight"]))
    if name == LITE0:
        assert s["style_layers"][0] == "_conv_stem" and s["content_layer"] == "_blocks.7"
        r = ll.style_transfer(model, None, "chelsea", steps=30, progress=False, **dict(s, size=64))
        assert r.history[-1] > r.history[0]  # the (negative) style loss falls


def test_09_smoothing_settings_scale_to_each_layer(squeezenet):
    """`smoothing` adds a temperature for the content layer and every style layer but the first
    (k × the layer's std on the probe, or k itself with relative=False), and weights each term on
    the smoothed probe codes; a network with published settings then uses the depth rule too."""
    model = ll.load_model("shapes", device="cpu")
    plain, s = st.style_settings(model, 32), st.style_settings(model, 32, smoothing=3.0)
    assert "temperatures" not in plain and s["style_layers"] == plain["style_layers"]
    assert set(s["temperatures"]) == {*s["style_layers"][1:], s["content_layer"]}
    probe = tr.blur(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)), 2.0)
    codes = ob.codes(model, model.normalize(probe), s["temperatures"])
    assert all(abs(t - 3 * float(codes[k].std())) < 1e-6 * t for k, t in s["temperatures"].items())
    k = s["style_layers"][1]
    assert s["style_weights"][1] == pytest.approx(1 / float(ob.gram(ob.smooth(codes[k], s["temperatures"][k])).pow(2).sum() / 4))
    assert set(st.style_settings(model, 32, smoothing=1.0, relative=False)["temperatures"].values()) == {1.0}
    assert "temperatures" in st.style_settings(squeezenet, smoothing=1.0, relative=False)
    with pytest.raises(ValueError, match="neither style layers"):   # a misspelt layer is not silently ignored
        ll.style_transfer(model, None, "chelsea", steps=1, progress=False, **dict(s, temperatures={"nope": 1.0}))


def test_09_published_settings_are_kept(squeezenet):
    assert st.style_settings(squeezenet) == st.STYLE_SETTINGS["squeezenet1_1"]  # its published size is 192


# ------------------------------------------------------------------------------------ EfficientNet-Lite0, judged by Lite2
SIZE, STEPS, TV = 192, 200, 0.01   # notebook 09's student settings and its weight of total variation


def _colour_distance(model, x, y):
    """Notebook 09's colour measure: per channel, the mean difference of the sorted pixel values (in steps of 1/255)."""
    a, b = model.unnormalize(x)[0].flatten(1), model.unnormalize(y)[0].flatten(1)
    return 255 * float((a.sort(1).values - b.sort(1).values).abs().mean())


def _style_loss(net, cfg, x, style_x, pixels_of):
    """w_l * E_l summed over cfg's style layers on `net`, against the style image (notebook 09's `style_losses`)."""
    layers = list(cfg["style_layers"])
    with torch.no_grad(), ll.capture(net, layers) as rec:
        net(net.normalize(pixels_of(torch.cat([style_x, x]))))
    return [w * float((gram(rec[k][1:]) - gram(rec[k][:1])).pow(2).sum()) / 4 for k, w in zip(layers, cfg["style_weights"])]


_TRANSFERS = {}   # one run per setting: section 4's run is also the sweep's alpha x 1, as in the notebook


def _transfer(net, alpha=1.0, **smoothing):
    """Notebook 09's run: chelsea in the style of the course painting, at student settings and TV."""
    key = (id(net), alpha, tuple(sorted(smoothing.items())))
    if key not in _TRANSFERS:
        cfg = dict(st.style_settings(net, SIZE, **smoothing), tv=TV)
        cfg["content_weight"] *= alpha
        _TRANSFERS[key] = ll.style_transfer(net, "chelsea", "painting", steps=STEPS, progress=False, **cfg).image
    return _TRANSFERS[key]


def test_09_the_loop_by_hand_is_the_librarys(lite0):
    """Notebook 09 section 3: Adam on the pixels of alpha*content + style + TV, clamped to [0, 1], gives the
    library's loss at every step and its picture."""
    cfg = dict(st.style_settings(lite0, 64), tv=TV)
    xc, xs = lite0.preprocess("chelsea", 64), lite0.preprocess("painting", 64)
    layers, cl = list(cfg["style_layers"]), cfg["content_layer"]
    A, P = {k: gram(v) for k, v in ob.codes(lite0, xs, layers).items()}, ob.codes(lite0, xc, [cl])[cl]
    px = lite0.unnormalize(xc).clone().requires_grad_(True)
    adam, hand = torch.optim.Adam([px], lr=0.3 * 0.226), []
    with ll.frozen(lite0.net):
        for _ in range(3):
            with ll.capture(lite0, [cl, *layers]) as rec:
                lite0(lite0.normalize(px))
            loss = (cfg["content_weight"] * (rec[cl] - P).pow(2).sum()
                    + sum(w * (gram(rec[k]) - A[k]).pow(2).sum() / 4 for k, w in zip(layers, cfg["style_weights"]))
                    + TV * ob.tv()({ob.INPUT: px})[0])
            adam.zero_grad()
            loss.backward()
            adam.step()
            with torch.no_grad():
                px.clamp_(0, 1)
            hand.append(float(loss.detach()))
    lib = ll.style_transfer(lite0, xc, xs, steps=3, lr=0.3 * 0.226, lr_end=None, progress=False, **cfg)
    assert hand == pytest.approx([p - h for h, p in zip(lib.history, lib.penalties)], rel=1e-3)
    assert torch.allclose(lite0.normalize(px.detach()), lib.image, atol=1e-3)


@pytest.mark.student   # 200 steps at 192 px: `make test-claims`
def test_09_the_result_moves_toward_the_painting_on_the_judges_layers_and_in_colour(lite0, judge, control):
    """Notebook 09 section 4. The style loss on Lite2's own layers (no run optimized them) falls, at
    every one of them, and the colour distance to the painting falls. With the untrained copy as the
    network, the judge's layers after the stem come less close to the painting (measured: 4 %, -12 %,
    6 %, 62 % against trained 20 %, 35 %, 47 %, 73 % on 2 cores when written): the strokes take trained features."""
    xc, xs = lite0.preprocess("chelsea", SIZE), lite0.preprocess("painting", SIZE)
    jcfg = st.style_settings(judge, SIZE)
    before = _style_loss(judge, jcfg, xc, xs, lite0.unnormalize)
    cat = int(ll.evaluation.judge_probabilities(judge, lite0, xc)[0].argmax())   # the judge's class for the photo
    drops, ranks = {}, {}
    for net in (lite0, control):
        x = _transfer(net)
        after = _style_loss(judge, jcfg, x, xs, lite0.unnormalize)
        drops[net.pretrained] = [1 - a / b for a, b in zip(after, before)]
        v = ll.evaluation.verdict(judge, lite0, x, cat)
        ranks[net.pretrained] = (int(v["rank"][0]), int(v["rank_blurred"][0]), float(v["saturated"][0]))
        if net.pretrained:
            assert 1 - sum(after) / sum(before) > 0.5 and min(drops[True]) > 0, drops
            assert _colour_distance(lite0, x, xs) < _colour_distance(lite0, xc, xs)
    assert all(t > u for t, u in zip(drops[True][1:], drops[False][1:])), drops
    # The judge: trained strokes push the cat out of its top 5 as drawn, the 2 px blur brings it back
    # (measured: rank 11, blurred 1, 1.4 % saturated); the untrained copy's result hides it less (3, 1)
    (drawn, blurred, saturated), untrained_drawn = ranks[True], ranks[False][0]
    assert drawn > 5 and blurred <= 5 and saturated < 0.03 and untrained_drawn < drawn, ranks


@pytest.mark.student   # 200 steps at 192 px: `make test-claims`
def test_09_the_alpha_sweep_is_monotone(lite0, judge):
    """Notebook 09 section 5: the more content weight, the lower the content loss
    (the summed squared difference of the codes at the content layer) and the farther the colours
    from the painting's (notebook 09's colour measure); the judge's rank of the photo's class as drawn
    improves with it, and after the 2 px blur the class is in its top 5 at every weight
    (measured: ranks 206, 11, 1 as drawn; 2, 1, 1 blurred)."""
    xc, xs = lite0.preprocess("chelsea", SIZE), lite0.preprocess("painting", SIZE)
    layer = st.style_settings(lite0, SIZE)["content_layer"]
    P = ob.codes(lite0, xc, [layer])[layer]
    cat = int(ll.evaluation.judge_probabilities(judge, lite0, xc)[0].argmax())
    loss, colour, drawn, blurred = [], [], [], []
    for alpha in (0.01, 1, 100):
        x = _transfer(lite0, alpha)
        loss.append(float((ob.codes(lite0, x, [layer])[layer] - P).pow(2).sum()))
        colour.append(_colour_distance(lite0, x, xs))
        v = ll.evaluation.verdict(judge, lite0, x, cat)
        drawn.append(int(v["rank"][0]))
        blurred.append(int(v["rank_blurred"][0]))
    assert loss[0] > loss[1] > loss[2] and colour[0] < colour[1] < colour[2], (loss, colour)
    assert drawn == sorted(drawn, reverse=True) and max(blurred) <= 5, (drawn, blurred)


@pytest.mark.student   # 200 steps at 192 px: `make test-claims`
def test_09_texture_synthesis_brings_the_swirls_not_the_palette(lite0):
    """Notebook 09 section 6, a negative result: with no content term, the synthesized texture's colours
    are farther from the painting's than even the cat photo's (measured 70.2 against 62.0): matching
    Gram matrices does not fix the colour histogram."""
    xc, xs = lite0.preprocess("chelsea", SIZE), lite0.preprocess("painting", SIZE)
    cfg = dict(st.style_settings(lite0, SIZE), tv=TV)
    texture = ll.style_transfer(lite0, None, "painting", steps=STEPS, progress=False, **cfg).image
    assert _colour_distance(lite0, texture, xs) > _colour_distance(lite0, xc, xs)


@pytest.mark.student   # 200 steps at 192 px: `make test-claims`
def test_09_softmax_smoothing_at_the_papers_temperature_breaks_on_trained_lite0(lite0, judge, control):
    """Notebook 09 section 7: Wang et al.'s softmax at their temperature 1 is nearly an arg-max on
    Lite0's wide activations (the top 1 % of the content layer's units hold nearly all its mass) and
    the run loses the cat; on the untrained copy's tiny activations the same softmax is nearly flat."""
    xc = lite0.preprocess("chelsea", SIZE)
    layer = st.style_settings(lite0, SIZE)["content_layer"]

    def top_share(net):
        p = torch.softmax(ob.codes(net, xc, [layer])[layer].flatten() / 1.0, 0)
        return float(p.topk(p.numel() // 100).values.sum())
    assert top_share(lite0) > 0.9 and top_share(control) < 0.05
    x = _transfer(lite0, smoothing=1.0, relative=False)
    assert float(ll.evaluation.judge_probabilities(judge, lite0, x)[0][CATS].sum()) < 0.1
