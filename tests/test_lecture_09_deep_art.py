"""Lecture 09 (notebooks/09_deep_art.ipynb): its claims on style transfer, on the `shapes` course
model and on EfficientNet-Lite0 (judged by efficientnet_lite2, the fixture `judge`), and the style
settings it uses for any network.

Style transfer's claims are properties of the method, not of training: Gram matching works on the
features of any network, trained or not, and notebook 09 says so. Those tests assert the claim on
the trained network and on its untrained copy alike (`pretrained=False`: the same architecture,
seeded random weights), and say so. The claim that does depend on training (Wang et al.'s softmax at
their temperature breaks on trained Lite0 only) holds on the trained network and fails on the
untrained copy. The numbers in the comments were measured when these tests were written (2 cores,
torch 2.x CPU).

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
def _style_transfer_claim(model, judge, **smoothing) -> tuple[float, torch.Tensor]:
    """Notebook 09 sections 3 and 6 (offline style): the drop of the style loss the run optimizes
    (of the smoothed features, with `smoothing`) from the content photo to the result, and the
    judge's probabilities for the result."""
    style_img = ll.load_image("immunohistochemistry")
    settings = ll.styletransfer.style_settings(model, 192, **smoothing)
    result = ll.style_transfer(model, "chelsea", style_img, steps=200, progress=False, **settings)
    layers, temps = list(settings["style_layers"]), settings.get("temperatures", {})
    with torch.no_grad(), ll.capture(model, layers) as rec:
        model(model.preprocess(style_img, 192))
    style_loss = -sum(w * ll.objectives.style(k, ll.objectives.gram(ll.objectives.smooth(rec[k], temps.get(k))), temps.get(k))
                      for k, w in zip(layers, settings["style_weights"]))

    def loss(x):   # the style part of the objective, against the style image's Gram matrices
        with torch.no_grad(), ll.capture(model, layers) as rec:
            model(x)
        return float(style_loss(dict(rec.activations)))
    drop = 1 - loss(result.image) / loss(model.preprocess("chelsea", 192))
    return drop, ll.evaluation.judge_probabilities(judge, model, result.image)[0]


def test_09_style_loss_falls_and_the_judge_still_sees_the_content_trained_or_not(lite0, judge, control):
    """A property of the method, not of training: the untrained copy passes too (measured: 99.9 %,
    three cats in the top 5). The optimizer matches Gram matrices of any features, and the result
    starts from the photo and keeps its code. Notebook 09 says so."""
    for net in (lite0, control):
        drop, p = _style_transfer_claim(net, judge)
        top5 = p.topk(5).indices.tolist()
        assert drop >= 0.9 and set(top5) & set(CATS), (net.pretrained, drop, top5)  # trained: 99.6 %, three domestic cats


def test_09_softmax_smoothing_at_the_papers_temperature_breaks_on_trained_lite0_only(lite0, judge, control):
    """Wang et al.'s softmax at their temperature 1 is nearly an arg-max on Lite0's wide activations
    (std 6-8): the run fails, the judge sees no cat (measured p(cat) 0.00, an envelope). On the
    untrained copy's tiny activations the same softmax is nearly linear and the cat stays (0.93):
    the failure is a property of the trained network's activations. Scaled to each layer (T = 3σ)
    the smoothed run meets the style-loss claim on Lite0 (100 %, tabby, p(cat) 0.92)."""
    paper = dict(smoothing=1.0, relative=False)
    assert float(_style_transfer_claim(lite0, judge, **paper)[1][CATS].sum()) < 0.1
    assert float(_style_transfer_claim(control, judge, **paper)[1][CATS].sum()) >= 0.5
    drop, p = _style_transfer_claim(lite0, judge, smoothing=3.0)
    assert drop >= 0.9 and set(p.topk(5).indices.tolist()) & set(CATS), drop
