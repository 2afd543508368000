"""Known answers for lecturelib.plot's map drawing: what `attribution` and `overlay` put on screen."""
import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lecturelib import plot  # noqa: E402


def _layers(ax):
    """(the background as drawn, the map's opacity per pixel)."""
    back, top = ax.images
    return np.asarray(back.get_array()), np.asarray(top.get_array())[..., 3]


def test_attribution_draws_the_magnitude_clipped_at_the_percentile_over_a_dim_grey_photo():
    photo = np.full((10, 10, 3), 1.0)
    attr = -torch.arange(100.0).reshape(10, 10)          # signed: the magnitude is drawn
    attr[0, 0] = -1e6                                    # one extreme pixel
    ax = plot.attribution(photo, attr, percentile=50, dim=0.3)
    back, alpha = _layers(ax)
    assert back.ndim == 2 and np.allclose(back, 0.3)     # the photo in grey, dimmed
    assert alpha[0, 0] == 1 and (alpha == 1).mean() == pytest.approx(0.5, abs=0.02)
    assert alpha[0, 1] == pytest.approx(1 / np.percentile(np.abs(attr.numpy()), 50), rel=1e-3)
    plt.close("all")


def test_attribution_without_clip_lets_one_pixel_set_the_scale():
    attr = torch.ones(30, 30)
    attr[5, 5] = 1000.0
    _, alpha = _layers(plot.attribution(np.zeros((30, 30, 3)), attr, percentile=100))
    assert alpha.max() == 1 and alpha[0, 0] == pytest.approx(1e-3)
    _, alpha = _layers(plot.attribution(np.zeros((30, 30, 3)), attr, percentile=99))
    assert alpha[0, 0] == 1                              # clipped: the rest of the map shows
    plt.close("all")


def test_attribution_reduces_channels_and_refuses_a_bad_percentile():
    attr = torch.zeros(1, 3, 4, 4)
    attr[0, 2, 1, 1] = -5.0
    _, alpha = _layers(plot.attribution(np.zeros((4, 4, 3)), attr, percentile=100))
    assert alpha[1, 1] == 1 and alpha.sum() == 1
    with pytest.raises(ValueError, match="percentile"):
        plot.attribution(np.zeros((4, 4, 3)), attr, percentile=0)
    with pytest.raises(ValueError, match="H x W"):
        plot.attribution(np.zeros((4, 4, 3)), torch.zeros(2, 2, 4, 4, 4))
    plt.close("all")


def test_overlay_keeps_the_photo_in_colour_and_resizes_a_coarse_map():
    photo = np.random.default_rng(0).random((14, 14, 3))
    back, alpha = _layers(plot.overlay(photo, torch.tensor([[0.0, 2.0], [1.0, -3.0]]), alpha=0.5))
    assert np.allclose(back, photo.astype(np.float32))
    assert alpha.shape == (14, 14) and alpha.max() <= 0.5 + 1e-6 and alpha.min() == 0
    plt.close("all")
