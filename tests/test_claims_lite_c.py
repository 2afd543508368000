"""Lectures 08-10 on the course's ImageNet network: each claim measured on efficientnet_lite0 (real
weights), judged where it says so by efficientnet_lite2, and shown to FAIL on the same architecture
with untrained weights (`pretrained=False`), so a passing test means the lesson comes from what
the network learned. The numbers in the comments were measured when these tests were written.
"""
import pytest
import torch

import lecturelib as ll
from lecturelib import objectives as ob, styletransfer as st, transforms as tr

LITE0 = "efficientnet_lite0"
ATTACKS = {"chelsea": "ostrich", "coffee": "goldfish", "camera": "tarantula", "grace_hopper": "hourglass",
           "motorcycle": "school bus"}
DOGS, CATS = list(range(151, 269)), [281, 282, 285]


# ------------------------------------------------------------------------------------ lecture 10
def _attack(model, judge):
    """Lecture 10 section 2: five photos, five far targets, at most 8/255 per pixel. Returns how many
    photos the model got right first, how many targets it reached, and how many adversarial images
    the judge still gives the true class (top 5) and the target (top 1)."""
    names = list(ATTACKS)
    x = torch.cat([model.preprocess(s) for s in names])
    truth = [ll.sample_boxes()[s]["classes"] for s in names]
    aims = [model.class_index(t) for t in ATTACKS.values()]
    r = ll.fooling_image(model, x, list(ATTACKS.values()), max_change=8 / 255, max_steps=20, progress=False)
    assert float(r.info["linf"].max()) <= 8 / 255 + 1e-4
    with torch.no_grad():
        before, after = model(x).argmax(1).tolist(), model(r.image).argmax(1).tolist()
    top5 = ll.evaluation.judge_probabilities(judge, model, r.image).topk(5, dim=1).indices.tolist()
    return dict(right=sum(b in t for b, t in zip(before, truth)),
                reached=sum(a == t for a, t in zip(after, aims)),
                judge_true=sum(bool(set(k) & set(t)) for k, t in zip(top5, truth)),
                transferred=sum(k[0] == t for k, t in zip(top5, aims)))


def _fools_only_its_maker(m: dict) -> bool:
    """The lesson: a network that sees the photos right is steered to (nearly) every target within
    8/255, while an independently trained network still sees the true class and not the target."""
    return m["right"] == 5 and m["reached"] >= 4 and m["judge_true"] >= 4 and m["transferred"] <= 1


def test_10_targeted_attack_at_8_of_255_fools_its_maker_not_the_judge(lite0, judge, control):
    trained = _attack(lite0, judge)
    # measured: right 5, reached 5 (in at most 10 steps), judge keeps the true class 5/5, transfer 0/5
    assert _fools_only_its_maker(trained), trained
    # The control. The judge half of the lesson alone would pass on an untrained maker too (its
    # small change leaves the judge's answer alone whatever the maker), so that is not the part
    # that fails: the untrained copy recognizes none of the photos (it calls all five "beagle")
    # and, its outputs being nearly the same for every image, reaches no target in 20 steps (0/5
    # measured; also 0/5 in 50). The lesson needs a network that sees and is still fooled.
    on_control = _attack(control, judge)
    assert on_control["right"] <= 1 and on_control["reached"] <= 1, on_control
    assert not _fools_only_its_maker(on_control)


# ------------------------------------------------------------------------------------ lecture 08
def _dream(model, judge, layer="_blocks.10", size=320):
    x0 = model.preprocess("chelsea", size)
    d = ll.deepdream(model, x0, layer, octaves=4, steps=10, progress=False).image

    def sq(x):
        with torch.no_grad(), ll.capture(model, layer) as rec:
            model(x)
        return float(rec[layer].pow(2).sum())
    p0, p1 = ll.evaluation.judge_probabilities(judge, model, x0)[0], ll.evaluation.judge_probabilities(judge, model, d)[0]
    return dict(growth=sq(d) / sq(x0), dogs_before=float(p0[DOGS].sum()), dogs_after=float(p1[DOGS].sum()),
                cats_after=float(p1[CATS].sum()))


def test_08_dream_at_a_high_layer_grows_it_and_the_judge_sees_dogs(lite0, judge, control):
    trained = _dream(lite0, judge)
    # measured: ‖a‖² ×2.6, the judge's p(some dog breed) 0.03 → 0.19 (pixel-unit steps; 0.24 before)
    assert trained["growth"] > 1.5
    assert trained["dogs_after"] >= 3 * trained["dogs_before"]
    on_control = _dream(control, judge)
    # The untrained layer grows too (×2.1 measured: the ascent works on any weights), but the judge
    # still sees a cat (p(dog) 0.05, top class tabby): the dogs come from what the layer learned.
    assert on_control["growth"] > 1.5
    assert on_control["dogs_after"] < 3 * on_control["dogs_before"] and on_control["dogs_after"] < 0.5 * trained["dogs_after"]


# ------------------------------------------------------------------------------------ lecture 09
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
