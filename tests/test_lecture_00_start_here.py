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
