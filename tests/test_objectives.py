"""Objectives: exact values on tiny tensors, composition, the one-line forms, penalties."""
import pytest
import torch

import lecturelib as ll
from lecturelib import objectives as ob


def test_gram_and_style_loss_by_hand():
    f = torch.tensor([[[[1., 2.]], [[0., 3.]]]])  # N=1, C=2, H=1, W=2: F = [[1, 2], [0, 3]]
    # F Fᵀ = [[5, 6], [6, 9]], divided by C·H·W = 4
    assert torch.allclose(ob.gram(f), torch.tensor([[[1.25, 1.5], [1.5, 2.25]]]))
    target = torch.zeros(1, 2, 2)
    # Gatys: E = Σ(G_raw − A_raw)² / (4 N² M²) = (25 + 36 + 36 + 81) / (4 · 4 · 4) = 178 / 64
    e = -ob.style("x", target)({"x": f})
    assert torch.allclose(e, torch.tensor([178 / 64]))
    m = -ob.match("x", torch.ones_like(f))({"x": f})
    assert torch.allclose(m, torch.tensor([0 + 1 + 1 + 4.]))


def test_smooth_is_a_softmax_over_all_units_that_averages_one():
    f = torch.tensor([[[[0., 1.]], [[2., 3.]]]])   # one image, K = 4 units
    e = torch.exp(torch.tensor([0., 1., 2., 3.]))
    assert torch.allclose(ob.smooth(f, 1.0).flatten(), 4 * e / e.sum())  # over channels and positions together
    assert ob.smooth(f, None) is f
    assert torch.allclose(ob.smooth(torch.cat([f, 2 * f]), 1.0)[0], ob.smooth(f, 1.0)[0])  # each image alone
    # far above the activations: nearly linear, 1 + (F − mean)/T; far below: an arg-max
    assert torch.allclose(ob.smooth(f, 1e3).flatten(), 1 + (torch.tensor([0., 1., 2., 3.]) - 1.5) / 1e3, atol=1e-5)
    assert torch.allclose(ob.smooth(f, 1e-2).flatten(), torch.tensor([0., 0., 0., 4.]))
    assert torch.allclose(ob.smooth(f + 100, 1.0), ob.smooth(f, 1.0))   # only the spread matters
    with pytest.raises(ValueError, match="positive"):
        ob.smooth(f, 0.0)
    # the style and content objectives compare the smoothed features when given a temperature
    target = torch.zeros(1, 2, 2)
    assert torch.allclose(ob.style("x", target, 2.0)({"x": f}), ob.style("x", target)({"x": ob.smooth(f, 2.0)}))
    assert torch.allclose(ob.match("x", target.view(1, 2, 1, 2), 2.0)({"x": f}),
                          ob.match("x", target.view(1, 2, 1, 2))({"x": ob.smooth(f, 2.0)}))


def test_objectives_compose_and_parse(shapes_model):
    acts = {"": torch.tensor([[1., 2., 3., 4.]]), "8": torch.arange(2 * 2 * 2.).view(1, 2, 2, 2)}
    both = ob.class_score(3) + 2 * ob.channel("8", 1) - ob.neuron("8", 0, 1, 1)
    assert both(acts).item() == pytest.approx(4 + 2 * 5.5 - 3)
    assert sum([ob.class_score(0), ob.class_score(1)])(acts).item() == 3
    assert ob.layer_norm("8")(acts).item() == pytest.approx(0.5 * sum(i * i for i in range(8)))
    assert ob.log_prob(3)(acts).item() == pytest.approx(torch.log_softmax(acts[""], 1)[0, 3].item())
    assert ob.objective(shapes_model, "8:1").name == "8:1"
    assert ob.objective(shapes_model, "8").name == "0.5*|8|^2"
    assert ob.objective(shapes_model, "square")(acts).item() == 2
    # a class given by name keeps its name once bound (progress bars, titles): not its index
    assert ob.class_score("square").bind(shapes_model).name == "score[square]"
    assert ob.class_score(["square", "circle"]).bind(shapes_model).name == "score[['square', 'circle']]"
    with pytest.raises(KeyError, match="unknown layer 'features.3'"):
        ob.objective(shapes_model, "features.3:1")


def test_penalties_are_objectives_on_the_input(shapes_model):
    x = ob.GREY + torch.tensor([[[[1., -2.], [0., 3.]]]])  # one image, one channel, 2×2, around mid-grey
    acts = {ob.INPUT: x, "": torch.tensor([[5., 7.]])}
    assert ob.l2()(acts).item() == 1 + 4 + 0 + 9
    assert ob.tv()(acts).item() == (0 - 1) ** 2 + (3 + 2) ** 2 + (-2 - 1) ** 2 + (3 - 0) ** 2
    assert ob.alpha_norm(3)(acts).item() == 1 + 8 + 0 + 27
    both = ob.class_score(1) - 1e-2 * ob.l2() - 0.5 * ob.tv()
    assert both(acts).item() == pytest.approx(7 - 0.14 - 0.5 * 44)
    # a class name is looked up when the objective meets a model
    with pytest.raises(ValueError, match="names a class"):
        ob.class_score("cross")(acts)
    assert ob.objective(shapes_model, ob.log_prob(["cross", 0]) - ob.l2()).name == "log p[['cross', 0]] + -1*|x - 0.5|^2"   # named as given
    # the algebra gives the same pictures as the penalty settings; `history` then includes the penalty
    kw = dict(steps=8, progress=False, seed=3)
    settings = ll.visualize_class(shapes_model, "cross", l2=1e-3, **kw)
    algebra = ll.maximize_activation(shapes_model, ob.class_score("cross") - 1e-3 * ob.l2(), l2=0, **kw)
    assert torch.equal(settings.image, algebra.image)
    assert algebra.history == pytest.approx([h - p for h, p in zip(settings.history, settings.penalties)])
    assert algebra.penalties == [0] * 8
