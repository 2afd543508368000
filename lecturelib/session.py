"""The first call of every notebook: `device = ll.setup()`.

It sits above `env` and `models` (it reports on the default model's weights), so neither of those
needs to import the other's caller."""
from __future__ import annotations

import torch

from .env import available_cpus, default_device, quick_mode, seed_everything
from .models import DEFAULT_MODEL, weights_status

__all__ = ["setup"]


def setup(seed: int = 0, plots: bool = True) -> torch.device:
    """Prepare a notebook session and return the device to use.

    Seeds Python, NumPy and torch; sets torch's CPU threads to `available_cpus()` and flushes
    subnormal floats to zero; sets readable matplotlib defaults (if `plots`); prints one line
    saying the device, whether ImageNet weights for the default model are available, and quick mode.

    Parameters
    ----------
    seed : int
        For `seed_everything`.
    plots : bool
        Set matplotlib's defaults (dpi, nearest-neighbour images, title size, figure size).

    Returns
    -------
    torch.device
        `default_device()`.

    Raises
    ------
    ValueError, RuntimeError
        From `default_device` when LECTURELIB_DEVICE is not usable.
    """
    seed_everything(seed)
    threads = available_cpus()
    torch.set_num_threads(threads)
    # Subnormal floats can make CPU arithmetic much slower in long optimizations; treat them as 0.
    torch.set_flush_denormal(True)
    device = default_device()
    if plots:
        import matplotlib as mpl
        mpl.rcParams.update({"figure.dpi": 100, "image.interpolation": "nearest",
                             "axes.titlesize": 10, "figure.figsize": (8, 4)})
    status = weights_status(DEFAULT_MODEL)
    print(f"lecturelib: device {device} ({threads} CPU thread{'s' * (threads > 1)}), "
          f"{DEFAULT_MODEL} weights {status}, quick mode {'on' if quick_mode() else 'off'}, seed {seed}")
    return device
