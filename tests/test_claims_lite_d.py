"""Lectures 06 and 07 judged the way the field judges feature visualization: does a separately
trained network (efficientnet_lite2) see what a picture made on efficientnet_lite0 claims to show?
Each claim holds on Lite0 and fails on the untrained control (`pretrained=False`), and the setting
without a prior is shown failing the same test. The numbers in the comments were measured when
these tests were written (2 cores, torch 2.x CPU).
"""
import torch

import lecturelib as ll
from lecturelib.featurevis import FINAL, RECOGNITION_CLASSES, class_settings


def _ranks(model, judge, classes, **setting) -> list[int]:
    """The judge's rank (1 = its top class) of each class, in that class's visualization by `model`
    (one class at a time, as `ll.bench.recognition_rows` makes them)."""
    ranks = []
    for name in classes:
        c = model.class_index(name)
        x = ll.visualize_class(model, c, progress=False, **setting).image
        ranks.append(int(ll.evaluation.verdict(judge, model, x, c)["rank"][0]))
    return ranks


def test_06_final_setting_is_recognized_by_an_independent_network(lite0, judge, control):
    """Notebook 06's final setting (Fourier spectrum, robust transforms, Adam 0.05 × 128 steps) on
    the ten classes fixed before tuning: Lite2 ranks at least 8 in its top 5. Without a prior the
    same test fails: the pictures fool only their maker. An untrained Lite0 under the final setting
    makes pictures of nothing (0 of 5 measured; three are checked, for time)."""
    settings = class_settings(lite0)
    final = _ranks(lite0, judge, RECOGNITION_CLASSES, **settings[FINAL])
    assert sum(r <= 5 for r in final) >= 8, final
    bare = _ranks(lite0, judge, RECOGNITION_CLASSES, **settings["no prior"])
    assert sum(r <= 5 for r in bare) <= 2, bare
    on_control = _ranks(control, judge, RECOGNITION_CLASSES[:3], **settings[FINAL])
    assert sum(r <= 5 for r in on_control) == 0, on_control


CATS = [281, 282, 283, 284, 285]   # ImageNet's domestic cats


def _p_cat_from_middle_block(model, judge) -> float:
    """Notebook 07 section 2: chelsea at 192 px rebuilt from the middle block's code (`_blocks.7`,
    TV ×10 of CS231n's weight in pixel units); the judge's probability of a cat."""
    x0 = model.preprocess("chelsea", 192)
    r = ll.invert(model, x0, "_blocks.7", steps=200, tv=10 * 2e-2 / ll.objectives.PUBLISHED_STD ** 2, progress=False)
    return float(ll.evaluation.judge_probabilities(judge, model, r.image)[0, CATS].sum())


def test_07_inversion_from_the_middle_block_is_still_a_cat_to_the_judge(lite0, judge, control):
    assert _p_cat_from_middle_block(lite0, judge) >= 0.5          # measured 0.97
    # the control: an untrained Lite0's middle code rebuilt the same way
    assert _p_cat_from_middle_block(control, judge) < 0.5


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
