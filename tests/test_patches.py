"""Receptive fields (hand values, analytic = empirical on real architectures), top patches against
brute force, feature extraction, and the plots of lecture 01/02/11."""
import matplotlib
import pytest
import torch
from torch import nn

import lecturelib as ll
from lecturelib import patches as pt
from lecturelib.coursemodels import shapes_data


def test_receptive_field_by_hand():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3, dilation=2, padding=2))
    # conv 3: size 3, stride 1, centre 1.5 · pool 2/2: size 4, stride 2, centre 2 ·
    # conv 3 dilated 2 (effective 5) padded 2: size 4 + 4·2 = 12, stride 2, centre 2 + (2 − 2)·2 = 2
    assert pt.receptive_field(net, "0", size=32) == pt.ReceptiveField((3, 3), (1, 1), (1.5, 1.5))
    assert pt.receptive_field(net, "2", size=32) == pt.ReceptiveField((4, 4), (2, 2), (2.0, 2.0))
    rf = pt.receptive_field(net, "3", size=32)
    assert rf == pt.ReceptiveField((12, 12), (2, 2), (2.0, 2.0))
    assert rf.box(0, 0) == (-4, -4, 8, 8) and rf.box(1, 2) == (-2, 0, 10, 12)
    assert pt.empirical_receptive_field(net, "3", 3, 3, size=32) == rf.box(3, 3)


def clipped(box, size):
    top, left, bottom, right = box
    return max(0, top), max(0, left), min(size, bottom), min(size, right)


# SqueezeNet at 227 px (its original input size): at 224 px its stride-2 first conv never reads the
# last pixel row, and ceil-mode pooling makes the last unit's field hang over the edge like padding.
@pytest.mark.parametrize("name, layers, size", [
    ("squeezenet1_1", ["features.2", "features.4", "features.7", "features.12"], 227),
    ("alexnet", ["features.2", "features.5", "features.12"], 224),
    ("vgg16", ["features.9", "features.23"], 96),
    ("resnet18", ["maxpool", "layer2", "layer4"], 224),
    ("googlenet", ["maxpool2", "inception3b", "inception4c"], 224),   # F.relu, torch.cat of branches
])
def test_analytic_equals_empirical(name, layers, size):
    model = ll.load_model(name, device="cpu")
    for layer in layers:
        rf = pt.receptive_field(model, layer, size=size)
        with ll.capture(model, layer) as rec, torch.no_grad():
            model(torch.zeros(1, 3, size, size))
        h = rec[layer].shape[-1]
        for r, c in [(h // 2, h // 2), (0, 0), (h - 1, h - 1), (0, h - 1)]:
            assert pt.empirical_receptive_field(model, layer, r, c, size=size) == clipped(rf.box(r, c), size), \
                (layer, r, c)
    assert ll.hook_count(model) == 0


def test_squeezenet_fields_grow_with_depth(squeezenet):
    sizes = [pt.receptive_field(squeezenet, f"features.{i}").size[0] for i in (0, 2, 3, 5, 7, 12)]
    assert sizes == [3, 7, 15, 31, 63, 207]


def test_no_field_after_flattening(shapes_model):
    with pytest.raises(ValueError, match="not a spatial map"):
        pt.receptive_field(shapes_model, "11")


def test_top_patches_equal_brute_force(shapes_model):
    pixels, _, _ = shapes_data(150, seed=1)
    x = shapes_model.normalize(pixels)
    tp = ll.top_patches(shapes_model, x, "4", k=9, batch_size=32)   # 32 does not divide 150
    with ll.capture(shapes_model, "4") as rec, torch.no_grad():
        shapes_model(x)
    a = rec["4"]
    c, h, w = a.shape[1:]
    flat = a.permute(1, 0, 2, 3).reshape(c, -1)
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices[:, :9]
    assert torch.equal(tp.values, flat.gather(1, order))
    assert torch.equal(tp.image, order // (h * w))
    assert torch.equal(tp.row, order % (h * w) // w) and torch.equal(tp.col, order % w)
    # deterministic, and the same whatever the batch size
    again = ll.top_patches(shapes_model, x, "4", k=9, batch_size=150)
    assert torch.equal(again.image, tp.image) and torch.equal(again.values, tp.values)


def test_crops_have_the_field_size_and_pad_outside(shapes_model):
    pixels, _, _ = shapes_data(20, seed=2)
    x = shapes_model.normalize(pixels)
    tp = ll.top_patches(shapes_model, x, "8", unit=[0, 5], k=4)
    s = tp.field.size[0]
    for ch in (0, 5):
        crops = tp.crops(ch)
        assert crops.shape == (4, 3, s, s)
        for crop, n, r, c in zip(crops, tp.image[tp.channels.index(ch)], tp.row[tp.channels.index(ch)],
                                 tp.col[tp.channels.index(ch)]):
            top, left, bottom, right = tp.field.box(int(r), int(c))
            inside = x[n, :, max(0, top):bottom, max(0, left):right]
            got = crop[:, max(0, -top):max(0, -top) + inside.shape[1], max(0, -left):max(0, -left) + inside.shape[2]]
            assert torch.equal(got, inside)
            if top < 0:
                assert (crop[:, :-top] == 0).all()   # outside the image: the mean colour


def test_top_patches_bad_input(shapes_model):
    x = shapes_model.normalize(shapes_data(4, seed=0)[0])
    with pytest.raises(IndexError, match="64 channels"):
        ll.top_patches(shapes_model, x, "8", unit=64)
    with pytest.raises(ValueError, match="k >= 1"):
        ll.top_patches(shapes_model, x, "8", k=0)


def test_features_and_nearest(shapes_model):
    pixels, labels, _ = shapes_data(60, seed=3)
    f = ll.features(shapes_model, shapes_model.normalize(pixels), "9", batch_size=16)
    assert f.shape == (60, 64)
    # in the trained model's feature space, neighbours mostly share the class
    same = [float((labels[ll.nearest(f, q, 5)] == labels[q]).float().mean()) for q in range(60)]
    assert sum(same) / len(same) > 0.8
    assert ll.nearest(torch.eye(3), 0, 5).tolist() == [1, 2] or set(ll.nearest(torch.eye(3), 0, 5).tolist()) == {1, 2}


def test_plots_draw(shapes_model, squeezenet):
    matplotlib.use("Agg")
    fig = ll.plot.filters(squeezenet.layer("features.0"), model=squeezenet)
    assert "min-max" in fig._suptitle.get_text()
    fig = ll.plot.filters(shapes_model.layer("3"), n=8)
    assert "signed" in fig._suptitle.get_text()
    with pytest.raises(IndexError, match="input channel"):
        ll.plot.filters(shapes_model.layer("3"), in_channel=99)
    x = shapes_model.normalize(shapes_data(10, seed=0)[0])
    with ll.capture(shapes_model, "1") as rec, torch.no_grad():
        shapes_model(x[:1])
    ll.plot.feature_maps(rec["1"], model=shapes_model)
    ll.plot.patches(ll.top_patches(shapes_model, x, "4", unit=[0, 1], k=3), shapes_model)
    ll.plot.embedding(torch.randn(10, 2), images=x, labels=list(range(10)), model=shapes_model)
    import matplotlib.pyplot as plt
    plt.close("all")


def test_imagenette_offline_error_says_what_to_do(squeezenet, tmp_path):
    with pytest.raises(RuntimeError, match="sample_crops"):
        ll.patches.imagenette(squeezenet, n=5, root=tmp_path)


def test_unique_drops_near_copies_and_fills_in_when_too_few():
    """Images 0 and 1 are the same picture: the patch of image 1 repeats image 0's and is skipped; with
    too few different patches the skipped ones fill in, strongest first."""
    from lecturelib.patches import ReceptiveField, TopPatches
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, 8, 8, generator=gen)
    images[1] = images[0]
    one = torch.ones(1, 4, dtype=torch.long)
    res = TopPatches("layer", [0], torch.tensor([[4.0, 3.0, 2.0, 1.0]]), torch.tensor([[0, 1, 2, 3]]), 2 * one, 2 * one,
                     ReceptiveField((3, 3), (1, 1), (0.5, 0.5)), images)
    assert res.unique(2).image.tolist() == [[0, 2]]
    assert res.unique(3).image.tolist() == [[0, 2, 3]] and res.unique(3).values.tolist() == [[4.0, 2.0, 1.0]]
    assert res.unique(4).image.tolist() == [[0, 2, 3, 1]]
