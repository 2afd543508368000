"""Lecture 10 methods: fooling images and FGSM on the trained course models."""
import torch

import lecturelib as ll
from lecturelib import fooling as fo
from lecturelib.coursemodels import digits_data, shapes_data


def test_fooling_reaches_every_target_with_a_valid_image(shapes_model):
    pixels, labels, _ = shapes_data(40, seed=5)
    x = shapes_model.normalize(pixels)
    targets = [(int(c) + 1) % 4 for c in labels]
    r = ll.fooling_image(shapes_model, x, targets, progress=False)
    assert r.info["success"].all()
    assert shapes_model(r.image).argmax(1).tolist() == targets
    low, high = shapes_model.valid_range()
    assert (r.image >= low - 1e-6).all() and (r.image <= high + 1e-6).all()
    change = fo.pixel_change(shapes_model, x, r.image)
    assert torch.allclose(r.info["linf"], change["linf"]) and (r.info["l2"] > 0).all()


def test_digits_resist_a_small_linf_budget_but_not_a_free_attack(digits_model):
    pixels, labels = digits_data("test")
    x = digits_model.normalize(pixels[:50])
    targets = [(int(c) + 1) % 10 for c in labels[:50]]
    bounded = ll.fooling_image(digits_model, x, targets, max_change=8 / 255, max_steps=50, progress=False)
    free = ll.fooling_image(digits_model, x, targets, progress=False)
    assert bounded.info["linf"].max() <= 8 / 255 + 1e-5
    assert bounded.info["success"].float().mean() < 0.2 and free.info["success"].all()


def test_fgsm_lowers_accuracy_as_eps_grows(digits_model):
    pixels, labels = digits_data("test")
    x, y = digits_model.normalize(pixels[:100]), labels[:100]
    acc = []
    for eps in (0, 8 / 255, 32 / 255, 64 / 255):
        adv = ll.fgsm(digits_model, x, y.tolist(), eps=eps)
        assert fo.pixel_change(digits_model, x, adv)["linf"].max() <= eps + 1e-5
        acc.append(float((digits_model(adv).argmax(1) == y).float().mean()))
    assert acc[0] > 0.95 and acc == sorted(acc, reverse=True) and acc[-1] < 0.3
