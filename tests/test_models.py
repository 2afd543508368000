import os
import time

import pytest
import torch

import lecturelib as ll
from lecturelib import models
from lecturelib.coursemodels import accuracy


def test_untrained_model_is_marked(squeezenet):
    assert squeezenet.pretrained is False and squeezenet.note == "untrained weights"
    assert len(squeezenet.categories) == 1000 and squeezenet.categories[281] == "tabby"
    assert not squeezenet.net.training
    assert not any(p.requires_grad for p in squeezenet.net.parameters())
    assert "UNTRAINED" in repr(squeezenet)


def test_untrained_weights_are_seeded():
    a = ll.load_model("alexnet", device="cpu")
    b = ll.load_model("alexnet", device="cpu")
    assert torch.equal(a.net.features[0].weight, b.net.features[0].weight)


def test_missing_weights_fail_fast_with_instructions(monkeypatch):
    monkeypatch.delenv("LECTURELIB_ALLOW_UNTRAINED")

    def slow_connect(*a, **k):  # a network that never answers
        time.sleep(30)
    monkeypatch.setattr(models.socket, "create_connection", slow_connect)
    t = time.perf_counter()
    with pytest.raises(ll.WeightsUnavailable) as e:
        ll.load_model("squeezenet1_1")
    assert time.perf_counter() - t < 5
    msg = str(e.value)
    assert os.path.basename(models.weights_path("squeezenet1_1")) in msg
    assert "python -m lecturelib fetch squeezenet1_1" in msg and "LECTURELIB_ALLOW_UNTRAINED" in msg


def test_real_loading_path_through_torchvision_cache(tmp_path, monkeypatch):
    """A state dict where torchvision's cache expects it is loaded by torchvision itself."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("LECTURELIB_ALLOW_UNTRAINED")
    import torchvision
    torch.manual_seed(7)
    reference = torchvision.models.squeezenet1_1(weights=None)
    path = models.weights_path("squeezenet1_1")
    assert path.startswith(str(tmp_path))
    os.makedirs(os.path.dirname(path))
    torch.save(reference.state_dict(), path)
    assert models.weights_status("squeezenet1_1") == "cached"
    model = ll.load_model("squeezenet1_1", device="cpu")
    assert model.pretrained is True and model.note == ""
    assert torch.equal(model.net.features[0].weight, reference.features[0].weight)


def test_unknown_model_lists_close_names():
    with pytest.raises(KeyError, match="squeezenet1_1"):
        ll.load_model("squeezenet")


def test_layers(squeezenet):
    assert isinstance(squeezenet.layer("features.12"), torch.nn.Module)
    assert "features.12.expand3x3_activation" in squeezenet.layer_names()
    assert squeezenet.layer_names(torch.nn.Conv2d)[0] == "features.0"
    with pytest.raises(KeyError, match="features.12"):
        squeezenet.layer("features.13")


def test_one_layer_lookup_finds_every_listed_layer(squeezenet):
    """get_layer (behind Model.layer, capture and unit targets) walks a name as torch.fx and
    lecturelib.incremental do; every name layer_names lists leads to its module, nothing else does."""
    modules = dict(squeezenet.net.named_modules())
    assert all(squeezenet.layer(n) is modules[n] for n in squeezenet.layer_names())
    for bad in ("", "features.0.weight", "features..3", "features.3.nope", 3):
        with pytest.raises(KeyError, match="unknown layer"):
            models.get_layer(squeezenet.net, bad)


def test_class_index(squeezenet):
    assert squeezenet.class_index("tabby") == 281
    assert squeezenet.class_index("Tabby") == 281
    assert squeezenet.class_index(9) == 9
    assert squeezenet.class_index("ostrich") == 9
    assert squeezenet.class_index("crane") == 517 and squeezenet.class_index("crane bird") == 134
    twins = ll.Model(squeezenet.net, "twins", False, ["a b", "a c", "d"])
    with pytest.raises(KeyError, match=r"several classes.*\[0, 1\]"):
        twins.class_index("a")
    with pytest.raises(KeyError, match="ostrich"):
        squeezenet.class_index("ostrch")
    with pytest.raises(IndexError, match="0..999"):
        squeezenet.class_index(1000)


def test_preprocess_deprocess_predict(squeezenet):
    x = squeezenet.preprocess("chelsea")
    assert x.shape == (1, 3, 224, 224) and x.device == squeezenet.device
    pixels = squeezenet.deprocess(x)
    assert pixels.shape == (224, 224, 3) and 0 <= pixels.min() and pixels.max() <= 1
    assert torch.allclose(squeezenet.preprocess(pixels), x, atol=2 / 255 / 0.22)
    lo, hi = squeezenet.valid_range()
    assert torch.allclose(lo.flatten(), torch.tensor([-2.1179, -2.0357, -1.8044]), atol=1e-3)
    assert squeezenet.preprocess("chelsea", size=64).shape == (1, 3, 64, 64)
    top = squeezenet.predict(x, k=3)
    assert len(top) == 3 and top[0].prob >= top[1].prob >= top[2].prob
    assert "untrained weights" in repr(top)
    assert squeezenet.predict("coffee") is not None
    with pytest.raises(ValueError, match="at least 32"):
        squeezenet.preprocess(torch.rand(3, 10, 10))
    with pytest.raises(ValueError, match="too small"):
        squeezenet.preprocess("chelsea", size=8)


@pytest.mark.parametrize("name,threshold", [("digits", 0.97), ("shapes", 0.98), ("shapes_twin", 0.97)])
def test_course_models_held_out_accuracy(name, threshold):
    model = ll.load_model(name, device="cpu")
    assert model.pretrained
    acc = accuracy(model.net, name, "test")
    assert acc >= threshold, f"{name}: held-out accuracy {acc:.2%} < {threshold:.0%}"


def test_train_digits_reproduces(tmp_path):
    from lecturelib.coursemodels import train
    acc = train("digits", out=tmp_path / "digits.pt", log=lambda *a: None)
    assert acc >= 0.97 and (tmp_path / "digits.pt").stat().st_size < 1_000_000


def test_shipped_weights_are_small():
    from lecturelib.coursemodels import SPECS, weights_file
    for name in SPECS:
        assert weights_file(name).stat().st_size < 500_000


def test_course_model_on_a_photo(digits_model, shapes_model):
    assert digits_model.preprocess("coffee").shape == (1, 1, 8, 8)
    assert shapes_model.preprocess("chelsea").shape == (1, 3, 32, 32)
    assert shapes_model.predict("chelsea", k=2)[0].label in ("circle", "square", "triangle", "cross")


def test_pixels_handed_in_as_normalized_input_are_named(squeezenet):
    """A careful user once passed pixels in [0, 1] to a method that takes the model's normalized
    input and got a map of a washed-out image without a word. Now `as_input`, the door every
    method uses, warns and names the fix; the normalized tensor of the same picture passes quietly."""
    import warnings

    x = squeezenet.preprocess("chelsea", 64)
    pixels = squeezenet.unnormalize(x).clamp(0, 1)
    with pytest.warns(UserWarning, match=r"values in \[0, 1\] like pixels.*model.normalize\(pixels\)"):
        ll.saliency(squeezenet, pixels, 281)
    with pytest.warns(UserWarning, match="model.preprocess"):
        squeezenet.predict(pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ll.saliency(squeezenet, x, 281)
        squeezenet.predict(x)
        squeezenet.predict(torch.zeros_like(x))   # mid-grey (the normalized zero) is no photo, but no mistake either
