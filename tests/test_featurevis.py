"""Lecture 06 methods: class visualization and maximize_activation on the trained course models."""
import pytest
import torch

import lecturelib as ll


@pytest.mark.parametrize("name", ["digits", "shapes"])
def test_class_visualization_makes_the_class_top1(name):
    model = ll.load_model(name, device="cpu")
    for c in range(len(model.categories)):
        r = ll.visualize_class(model, c, progress=False)
        assert model.predict(r.image)[0].index == c
        low, high = model.valid_range()
        assert (r.image >= low - 1e-6).all() and (r.image <= high + 1e-6).all()


def test_a_list_of_classes_is_one_batch_that_equals_separate_runs(shapes_model):
    # one image per class, each from its own start; no jitter, so nothing random is shared
    starts = shapes_model.normalize(0.5 + 0.2 * torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1)))
    settings = dict(steps=5, jitter=0, progress=False)
    batch = ll.visualize_class(shapes_model, ["circle", 3, "square"], init=starts, **settings).image
    for i, c in enumerate(["circle", 3, "square"]):
        alone = ll.visualize_class(shapes_model, c, init=starts[i:i + 1], **settings).image
        assert torch.allclose(batch[i:i + 1], alone, atol=1e-4)
    assert len(ll.visualize_class(shapes_model, [0, 1], steps=1, progress=False).image) == 2   # n from the list
    with pytest.raises(ValueError, match="2 classes for 3 images: give one class for all, or one per image"):
        ll.visualize_class(shapes_model, [0, 1], init=starts, steps=1, progress=False)


def test_maximize_activation_raises_units_tenfold(shapes_model):
    raised = 0
    for ch in (9, 18, 21, 24):
        r = ll.maximize_activation(shapes_model, f"9:{ch}", progress=False)
        assert r.history[0] > 0.01, "the unit should be on at the random start"
        raised += r.history[-1] >= 10 * r.history[0]
    assert raised == 4


def test_a_list_of_classes_in_fourier_with_transforms_steps_each_image_alone(shapes_model):
    """06's final setting in its batched form (a list of classes, the Fourier spectrum, robust
    transforms; here with the default per-image step g / |g|_2, which once failed on the spectrum's
    five dimensions): each image's step is its own, so changing the second class leaves the first
    image as it was (the same start noise and the same jitter)."""
    kw = dict(param="fourier", steps=4, transforms=ll.transforms.robust_transforms(4), progress=False)
    a = ll.visualize_class(shapes_model, ["circle", "square"], **kw).image
    b = ll.visualize_class(shapes_model, ["circle", "cross"], **kw).image
    assert a.shape == (2, 3, 32, 32) and torch.equal(a[0], b[0]) and not torch.equal(a[1], b[1])
    settings = ll.featurevis.class_settings(shapes_model, steps=2, fv_steps=2)
    assert list(settings)[-1] == ll.featurevis.FINAL
    for name, setting in settings.items():   # every named setting of notebook 06 runs, batched
        assert len(ll.visualize_class(shapes_model, [0, 1], progress=False, **setting).image) == 2, name
