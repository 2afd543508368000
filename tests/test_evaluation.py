"""What to do with a finished map (lecturelib.evaluation): GrabCut from a saliency map, the mass in
an object mask, the pointing game, the randomization check; and a second network's opinion
(judge_probabilities, rank_of, verdict)."""
import numpy as np
import pytest
import torch

from lecturelib import attribution as at, evaluation as ev
from lecturelib.coursemodels import shapes_data


def test_every_method_points_at_the_object(shapes_model):
    """The pointing game on the shapes model, against the known object masks (1-pixel tolerance:
    at 32 px the shape's edge pixels are half object, and gradients live on edges).
    Measured (200 images): mass on the object 1.3× (deconvnet) to 3.1× (occlusion) a uniform map's;
    the peak on the object for 69-94 % of images, where chance is 25 %. Deconvnet localizes worst:
    its rule ignores which units were active, so it is the least tied to the decision."""
    methods = {
        "saliency": at.saliency, "guided": at.guided_backprop, "deconvnet": at.deconvnet,
        "grad_cam": lambda m, x, t: at.grad_cam(m, x, t, "8"),
        "smoothgrad": lambda m, x, t: at.smoothgrad(m, x, t, samples=8, batch_size=8),
        "integrated_gradients": lambda m, x, t: at.integrated_gradients(m, x, t, steps=16),
        "occlusion": lambda m, x, t: at.occlusion(m, x, t, window=6, stride=2, batch_size=128),
    }
    scores = at.pointing_game(shapes_model, methods, n=40)
    uniform = scores.pop("uniform")["mass"]
    for name, s in scores.items():
        wanted = 1.25 if name == "deconvnet" else 1.75
        assert s["mass"] > wanted * uniform, f"{name}: {s['mass']:.2f} of the mass near the object; uniform: {uniform:.2f}"
        assert s["hits"] > 0.5, f"{name}: the map's peak is on the object for only {s['hits']:.0%} of images"


def test_randomizing_the_top_layers_changes_the_explanation(shapes_model):
    """Adebayo et al.'s sanity check: Grad-CAM depends on the weights; the copy leaves the original intact."""
    x = shapes_model.normalize(shapes_data(4, seed=9)[0])
    before = shapes_model(x)
    twin = at.randomized(shapes_model, layers=2)
    a, b = at.grad_cam(shapes_model, x, 0, "8"), at.grad_cam(twin, x, 0, "8")
    corr = torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1]
    assert corr < 0.9 and torch.equal(shapes_model(x), before)


def test_grabcut_recovers_a_salient_square():
    img = np.full((60, 60, 3), 0.2, np.float32)
    img[20:40, 15:45] = [0.9, 0.1, 0.1]
    sal = np.random.default_rng(0).random((60, 60)) * 0.1  # low everywhere,
    sal[20:40, 15:45] += 0.3                                # higher on the object,
    sal[26:34, 24:36] = 1.0                                 # highest on a part of it
    mask = at.grabcut(img, sal)
    truth = np.zeros((60, 60), bool)
    truth[20:40, 15:45] = True
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.9
    with pytest.raises(ValueError, match="same size"):
        at.grabcut(img, sal[:10])


def test_mass_in_mask_of_a_uniform_map_is_the_masks_area():
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[:, :2] = True  # the top half
    maps = torch.stack([torch.ones(4, 4), torch.where(mask[1], 2.0, -1.0)])  # negative values count as 0
    assert ev.mass_in_mask(maps, mask).tolist() == [0.5, 1.0]


def test_rank_of_counts_the_classes_above():
    probs = torch.tensor([[0.1, 0.7, 0.2]])
    assert ev.rank_of(probs, [2]).tolist() == [2]
    assert ev.rank_of(probs, 1).tolist() == [1] and ev.rank_of(probs, [0]).tolist() == [3]
    two = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    assert ev.rank_of(two, [0, 0]).tolist() == [3, 1]  # one class per row


def test_judge_probabilities_of_a_model_judging_itself_are_its_softmax(shapes_model):
    x = shapes_model.normalize(shapes_data(3, seed=1)[0])
    with torch.no_grad():
        expected = torch.softmax(shapes_model(x), 1)
    assert torch.allclose(ev.judge_probabilities(shapes_model, shapes_model, x), expected, atol=1e-6)


def test_verdict_ranks_the_judges_top_class_first_and_counts_saturated_pixels(shapes_model):
    """The shapes model judging its own pictures: the class it sees in each has rank 1; an all-black
    picture is saturated everywhere, a mid-grey one nowhere."""
    x = shapes_model.normalize(shapes_data(4, seed=5)[0])
    top = ev.judge_probabilities(shapes_model, shapes_model, x).argmax(1)
    v = ev.verdict(shapes_model, shapes_model, x, top.tolist())
    assert v["rank"].tolist() == [1, 1, 1, 1] and v["rank_blurred"].shape == (4,)
    # valid pictures: the verdict's probabilities as drawn are the judge's (no second forward needed)
    assert torch.allclose(v["probs"], ev.judge_probabilities(shapes_model, shapes_model, x), atol=1e-6)
    black, grey = torch.zeros(1, 3, 32, 32), torch.full((1, 3, 32, 32), 0.5)
    v = ev.verdict(shapes_model, shapes_model, shapes_model.normalize(torch.cat([black, grey])), 0)
    assert v["saturated"].tolist() == [1.0, 0.0]


def test_verdict_table_prints_one_row_per_picture_and_refuses_a_batch(shapes_model, capsys):
    """The table's rows are `verdict`'s numbers for each named picture; a batch of two is refused."""
    black = shapes_model.normalize(torch.zeros(1, 3, 32, 32))
    grey = shapes_model.normalize(torch.full((1, 3, 32, 32), 0.5))
    rows = ev.verdict_table(shapes_model, shapes_model, {"black": black, "grey": grey}, 0)
    v = ev.verdict(shapes_model, shapes_model, torch.cat([black, grey]), 0)
    assert [r["rank"] for r in rows.values()] == v["rank"].tolist()
    assert [r["blurred"] for r in rows.values()] == v["rank_blurred"].tolist()
    assert [r["saturated"] for r in rows.values()] == [1.0, 0.0]
    out = capsys.readouterr().out
    assert "black" in out and "grey" in out and "100.0 %" in out
    with pytest.raises(ValueError, match="one picture"):
        ev.verdict_table(shapes_model, shapes_model, {"two": torch.cat([black, grey])}, 0)


def test_smoothness_known_answers():
    """Neighbour correlation: a ramp is perfectly smooth, a checkerboard perfectly anti-smooth,
    independent noise near 0; the clip at the percentile keeps one hot pixel from deciding."""
    import lecturelib as ll
    ramp = torch.arange(64.0).reshape(1, 8, 8)
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None]).remainder(2).float()[None]
    noise = torch.rand(1, 200, 200, generator=torch.Generator().manual_seed(0))
    s = ll.evaluation.smoothness(torch.cat([ramp, checker]), percentile=100)
    assert torch.allclose(s, torch.tensor([1.0, -1.0]), atol=1e-5), s
    assert abs(float(ll.evaluation.smoothness(noise))) < 0.05
    spiky = torch.arange(10000.0).reshape(1, 100, 100)
    spiky[0, 50, 50] = 1e9
    assert float(ll.evaluation.smoothness(spiky)) > 0.9 > float(ll.evaluation.smoothness(spiky, percentile=100))
