"""Targets (lecturelib.targets): what a method explains, read once at the door: units and single
neurons, class names and indices, one per image, resolved before any score is taken."""
import pytest
import torch
from torch import nn

import lecturelib as ll
from lecturelib import attribution as at, targets
from lecturelib.coursemodels import shapes_data
from relu_worked_example import RELU_IN, relu_then_linear


def test_unit_targets_zero_every_other_activation():
    net = relu_then_linear(nn.ReLU())
    x = RELU_IN.reshape(1, 1, 3, 3)
    g = at.saliency(net, x, "1:0:2:2")  # the single ReLU output at row 2, col 2
    expected = torch.zeros(3, 3)
    expected[2, 2] = 1.0
    assert torch.equal(g[0, 0], expected)
    g = at.saliency(net, x, "1:0")  # the whole channel, averaged over its 9 positions
    assert torch.allclose(g[0, 0], (RELU_IN > 0).float() / 9)
    with pytest.raises(IndexError, match="channel 3"):
        at.saliency(net, x, "1:3")
    with pytest.raises(KeyError, match="unknown layer '7'"):
        at.saliency(net, x, "7:0")


@pytest.mark.filterwarnings("ignore:integrated gradients")
def test_targets_are_resolved_once_at_the_door(shapes_model, monkeypatch):
    """per_image gives class indices or the Unit, score takes exactly those; a method reads a unit
    target's string once and never wraps the ll.Model again (a bare module: once, at the door)."""
    from lecturelib import models, targets
    x = shapes_model.normalize(shapes_data(3, seed=5)[0])
    unit = targets.Unit("8", 3)
    assert targets.per_image(shapes_model, x, "8:3") == [unit] * 3
    classes = targets.per_image(shapes_model, x, [shapes_model.categories[1], None, 2])
    assert classes[0] == 1 and classes[2] == 2 and all(isinstance(c, int) for c in classes)
    with torch.no_grad(), ll.capture(shapes_model, "8") as rec:
        assert torch.equal(at.score(shapes_model, x, unit), rec["8"][:, 3].mean(dim=(1, 2)))
        assert torch.equal(at.score(shapes_model, x, classes), at.score(shapes_model, x, torch.tensor(classes)))
    with pytest.raises(TypeError, match="resolved"):
        at.score(shapes_model, x, shapes_model.categories[1])
    parses, wraps = [], []
    parse, init = targets.unit, models.Model.__init__
    monkeypatch.setattr(targets, "unit", lambda m, t: parses.append(t) or parse(m, t))
    monkeypatch.setattr(models.Model, "__init__", lambda self, *a, **k: wraps.append(1) or init(self, *a, **k))
    at.smoothgrad(shapes_model, x, "8:3", samples=4, batch_size=2)
    at.integrated_gradients(shapes_model, x, "8:3", steps=4, batch_size=2)
    at.guided_grad_cam(shapes_model, x, "8:3", layer="4")
    assert parses.count("8:3") == 3 and wraps == []
    at.saliency(shapes_model.net, x, "8:3")
    assert len(wraps) == 1


def test_model_accepts_images_and_class_names(squeezenet):
    cam = at.grad_cam(squeezenet, "chelsea", "tabby", "features.12")
    assert cam.shape == (1, 1, 224, 224)
    assert at.saliency(squeezenet, "chelsea", [281]).shape == (1, 3, 224, 224)


def test_resolve_and_indices_known_answers(shapes_model):
    """resolve reads names and indices (None stays None) or a unit; indices settles None against the
    scores and refuses what is not a resolved class index."""
    name = shapes_model.categories[3]
    assert targets.resolve(shapes_model, None, 2) == [None, None]
    assert targets.resolve(shapes_model, [name, None, 1], 3) == [3, None, 1]
    assert targets.resolve(shapes_model, "8:3:1:2", 5) == targets.Unit("8", 3, 1, 2)
    logits = torch.tensor([[0.0, 2.0, 1.0, 0.0], [3.0, 0.0, 0.0, 1.0]])
    assert targets.indices(None, logits).tolist() == [1, 0]
    assert targets.indices([None, 2], logits).tolist() == [1, 2]
    with pytest.raises(TypeError, match="resolved"):
        targets.indices([name, 0], logits)
    with pytest.raises(IndexError, match="0..3"):
        targets.indices([0, 4], logits)
    with pytest.raises(ValueError, match="got 3 targets for a batch of 2"):
        targets.indices([0, 1, 2], logits)
