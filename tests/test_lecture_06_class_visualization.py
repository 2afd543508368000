"""Lecture 06 (notebooks/06_class_visualization.ipynb): its claims on the `shapes` course model
(judged by its independently trained twin, `shapes_twin`) and on EfficientNet-Lite0.

On the course models (`shapes`, `digits`) each claim is measured as the notebook asserts it, on the
trained model and on an untrained copy of the same architecture, where it must FAIL (Adebayo et al.'s
sanity check applied to our own lessons: a claim that random weights also pass is not a claim about
training). The fixture `trained` (conftest.py) runs such a test twice, ids `trained` and
`untrained-control`; each `_claim_*` returns (holds, what was measured) and `check`
(claims_helpers.py) requires it to hold on the trained model and not on the control.

On EfficientNet-Lite0 the claims are judged the way the field judges feature visualization: does a
separately trained network (efficientnet_lite2, the fixture `judge`) see what a picture made on
Lite0 claims to show? Each holds on Lite0 and fails on the untrained control (`pretrained=False`). The setting without a prior is shown failing the same test. The numbers in the comments were
measured when these tests were written (2 cores, torch 2.x CPU).

The notebook asserts these at student settings (`make course`); here the same claims run in the test
suite, so a change to lecturelib or a course model that breaks a lesson fails a named test.
"""
import pytest
import torch

import lecturelib as ll
from claims_helpers import check, model
from lecturelib.featurevis import FINAL, FOURIER, RECOGNITION_CLASSES, class_settings


# ------------------------------------------------------------------------------------ the course model (shapes)
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


# ------------------------------------------------------------------------------------ EfficientNet-Lite0, judged by Lite2
def _ranks(model, judge, classes, **setting) -> tuple[list[int], list[int]]:
    """The judge's rank (1 = its top class) of each class in that class's visualization by `model`,
    as drawn and after a 2 px blur (`ll.evaluation.verdict`), one class at a time, as
    `ll.bench.recognition_rows` makes them."""
    drawn, blurred = [], []
    for name in classes:
        c = model.class_index(name)
        x = ll.visualize_class(model, c, progress=False, **setting).image
        v = ll.evaluation.verdict(judge, model, x, c)
        drawn.append(int(v["rank"][0]))
        blurred.append(int(v["rank_blurred"][0]))
    return drawn, blurred


@pytest.mark.student   # 26 ascents at student settings: `make test-claims`
def test_06_final_setting_is_recognized_by_an_independent_network_even_blurred(lite0, judge, control):
    """Notebook 06's final setting (Yosinski's blur and jitter on the pixels, robust transforms of
    16 px and 20 degrees, a random blur of up to 2 px, 200 steps) on the ten classes fixed before
    tuning: Lite2 ranks at least 7 of 10 in its top 5 after a 2 px blur that photos survive (issue
    27's bar), and at least half as drawn. The ascent amplifies rounding, so the counts vary with
    the seed and the host: measured 8 and 8 after the blur (seeds 0 and 1, one class at a time) and
    7, 9, 9 (seeds 0-2, ten in one batch); the same setting without the random blur, 9, 6, 6, 7
    and 5, 7, 8. The Fourier setting convinces the judge as drawn and loses it blurred (the
    notebook's lesson; three classes, measured 3/3 and 0/3). Without a prior the judge recognizes
    almost none as drawn. An untrained Lite0 under the final setting makes pictures of nothing
    (three classes, for time)."""
    settings = class_settings(lite0)
    final, final_blurred = _ranks(lite0, judge, RECOGNITION_CLASSES, **settings[FINAL])
    print("final setting, judge's ranks as drawn:", final, "after the blur:", final_blurred)
    assert sum(r <= 5 for r in final) >= 5 and sum(r <= 5 for r in final_blurred) >= 7, (final, final_blurred)
    fourier, fourier_blurred = _ranks(lite0, judge, ["flamingo", "tarantula", "violin"], **settings[FOURIER])
    assert all(r <= 5 for r in fourier) and sum(r <= 5 for r in fourier_blurred) <= 1, (fourier, fourier_blurred)
    bare, _ = _ranks(lite0, judge, RECOGNITION_CLASSES, **settings["no prior"])
    assert sum(r <= 5 for r in bare) <= 2, bare
    on_control, blurred_control = _ranks(control, judge, RECOGNITION_CLASSES[:3], **settings[FINAL])
    assert sum(r <= 5 for r in on_control + blurred_control) == 0, (on_control, blurred_control)
