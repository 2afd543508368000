"""Lecture 00 (notebooks/00_start_here.ipynb): its claims on EfficientNet-Lite0, the course's default
network, as the notebook asserts them.

On EfficientNet-Lite0 each claim is checked on the trained network AND shown to fail on the untrained
control (`ll.load_model("efficientnet_lite0", pretrained=False)`: the same architecture, seeded random
weights): a claim that an untrained network also meets would say nothing about training.

`test_lite0_is_the_default_and_its_weights_are_installed` checks what every Lite0 claim of the
course rests on: Lite0 is the default model, with its real weights, and the control is untrained.
"""
import torch

import lecturelib as ll


def test_lite0_is_the_default_and_its_weights_are_installed(lite0, control):
    assert ll.DEFAULT_MODEL == "efficientnet_lite0" and lite0.pretrained and not control.pretrained


# ---------------------------------------------------------------- 00: first predictions
def _top1_hits(model):
    boxes = ll.sample_boxes()
    x = torch.cat([model.preprocess(name) for name in boxes])
    with torch.no_grad():
        top1 = model(x).argmax(1).tolist()
    return sum(t in b["classes"] for t, b in zip(top1, boxes.values()))


def test_00_lite0_names_every_boxed_sample_photo_and_the_control_none(lite0, control):
    assert _top1_hits(lite0) == 8  # chelsea: a cat class; coffee: espresso; camera: tripod; ...
    assert _top1_hits(control) <= 1  # chance: 1–3 right classes of 1000 per photo


def _at_112_px(model):
    """Exercise 3: (right top-1 answers at 112 px, the most confident wrong answer at 112 px, the least
    confident right answer at 224 px)."""
    boxes = ll.sample_boxes()
    with torch.no_grad():
        p224 = torch.softmax(model(torch.cat([model.preprocess(n) for n in boxes])), 1)
        p112 = torch.softmax(model(torch.cat([model.preprocess(n, size=112) for n in boxes])), 1)
    right = [p.argmax().item() in b["classes"] for p, b in zip(p112, boxes.values())]
    right224 = [float(p.max()) for p, b in zip(p224, boxes.values()) if p.argmax().item() in b["classes"]]
    wrong = [float(p.max()) for p, ok in zip(p112, right) if not ok]
    return sum(right), max(wrong, default=0.0), min(right224, default=1.0)


def test_00_exercise_3_small_inputs_lose_answers_and_stay_confident(lite0, control):
    """At 112 px Lite0 names only some boxed photos right, and its most confident wrong answer is more
    confident than its least confident right answer at 224 px; the control has no confident answer."""
    hits, wrong, right = _at_112_px(lite0)
    assert 1 <= hits <= 6 and wrong > right and wrong > 0.5, (hits, wrong, right)
    _, wrong0, _ = _at_112_px(control)
    assert wrong0 < 0.05, wrong0
