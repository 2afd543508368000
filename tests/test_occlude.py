"""Occlusion (lecturelib.occlude, `ll.occlusion`): the map on a model with a known answer, an
interrupted sweep, the window positions and the fill values. The incremental method is tested in
test_incremental.py, the widget's sweep in test_widgets.py."""
import pytest
import torch
from torch import nn

from lecturelib import attribution as at
from lecturelib.coursemodels import shapes_data
from lecturelib.occlude import fill_value, positions


def test_occlusion_known_answer():
    """Class-0 score = sum of the pixels in rows 1..2, cols 1..2; class 1 = 0. Window 1: the drop at a pixel
    is p0(s) − p0(s − x) inside the region, 0 outside."""
    class Region(nn.Module):
        def forward(self, x):
            s = x[:, 0, 1:3, 1:3].sum(dim=(1, 2))
            return torch.stack([s, torch.zeros_like(s)], 1)
    x = torch.rand(1, 1, 5, 5)
    m = at.occlusion(Region(), x, 0, window=1, stride=1, baseline=0.0)
    s = x[0, 0, 1:3, 1:3].sum()
    expected = torch.zeros(5, 5)
    for r in (1, 2):
        for c in (1, 2):
            expected[r, c] = torch.sigmoid(s) - torch.sigmoid(s - x[0, 0, r, c])
    assert m.shape == (1, 1, 5, 5) and torch.allclose(m[0, 0], expected, atol=1e-6)
    coarse = at.occlusion(Region(), x, 0, window=3, stride=2, baseline=0.0)  # positions 0, 2 cover 5 px
    assert coarse.shape == (1, 1, 5, 5) and (coarse[0, 0, 1:3, 1:3] > 0).all()


def test_interrupt_inside_occlusion_leaves_model_untouched():
    class Stopper(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls, self.lin = 0, nn.Linear(12, 2)

        def forward(self, x):
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return self.lin(x.flatten(1))
    net = Stopper().train()
    with pytest.raises(KeyboardInterrupt):
        at.occlusion(net, torch.randn(1, 3, 2, 2), 0, window=1, stride=1, batch_size=1)
    assert net.training and all(p.requires_grad for p in net.parameters())


def test_positions_step_by_the_stride_and_end_flush_with_the_far_edge():
    assert positions(5, 1, 1) == [0, 1, 2, 3, 4]
    assert positions(5, 3, 2) == [0, 2]  # 0..2 and 2..4 cover the 5 px
    assert positions(6, 3, 2) == [0, 2, 3]  # one more window, flush with the far edge
    assert positions(64, 32, 32) == [0, 32]


def test_fill_values_known_answers(shapes_model):
    """"mean" is 0 in the normalized input, a number is itself, "gray" is pixel 0.5, and a blur leaves a
    flat image as it is; anything else is refused."""
    x = shapes_model.normalize(shapes_data(2, seed=4)[0])
    assert torch.equal(fill_value(shapes_model, x, "mean"), torch.zeros_like(x))
    assert torch.equal(fill_value(shapes_model, x, -0.5), torch.full_like(x, -0.5))
    grey = shapes_model.unnormalize(fill_value(shapes_model, x, "gray"))
    assert torch.allclose(grey, torch.full_like(x, 0.5), atol=1e-6)
    flat = torch.full_like(x, 0.3)
    assert fill_value(shapes_model, flat, "blur").shape == x.shape
    assert torch.allclose(fill_value(shapes_model, flat, "blur"), flat, atol=1e-6)
    with pytest.raises(ValueError, match="baseline is"):
        fill_value(shapes_model, x, "black")


def test_occlusion_scan_gives_every_class_map_and_the_most_probable_class(shapes_model):
    """One sweep keeps every class's probability: its map of any class is `occlusion`'s map of that
    class, and its most probable class per place is the argmax of the occluded copy's scores."""
    from lecturelib.occlude import Occluder, occlusion_scan
    x = shapes_model.normalize(shapes_data(1, seed=4)[0])
    scan = occlusion_scan(shapes_model, x, window=8, stride=4, method="naive")
    assert len(scan.places) == len(scan.rows) * len(scan.cols) == scan.probs.shape[0]
    for c in range(len(shapes_model.categories)):
        expected = at.occlusion(shapes_model, x, c, window=8, stride=4, method="naive")
        assert torch.allclose(scan.map(c), expected, atol=1e-6)
    incremental = occlusion_scan(shapes_model, x, window=8, stride=4, method="incremental")
    assert torch.allclose(incremental.probs, scan.probs, atol=1e-5)
    top, p = scan.most_probable()
    assert top.shape == p.shape == (len(scan.rows), len(scan.cols))
    occluder = Occluder(shapes_model, x, method="naive")
    with torch.no_grad():
        scores = shapes_model.net(occluder.occluded(scan.places, 8))
    assert torch.equal(top.flatten(), scores.argmax(1).cpu())
    with pytest.raises(ValueError, match="one image"):
        occlusion_scan(shapes_model, torch.cat([x, x]), window=8, stride=4)
