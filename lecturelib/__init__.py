"""lecturelib: the helper package of the course "Seeing inside ConvNets".

    import lecturelib as ll
    device = ll.setup()              # seeds, threads, device, plot defaults; prints one line
    model = ll.load_model()          # efficientnet_lite0 (or "efficientnet_lite2", "squeezenet1_1", "digits", "shapes", ...)
    img = ll.load_image("chelsea")
    model.predict(img)

Importing does nothing but define names: no download, no seeding, no plotting changes.
`ll.plot` and `ll.widgets` are imported when first used.

Where things live: the attribution methods in `attribution` (occlusion in `occlude`); the
optimization loop in `optimize`, fed by `objectives`, `parameterizations` and `transforms`; its
lecture methods in `featurevis` (06), `inversion` (07), `dream` (08), `styletransfer` (09) and
`fooling` (10); the checks every method starts with in `inputs` and `targets`.
"""
from .attribution import (deconvnet, grad_cam, guided_backprop, guided_grad_cam, integrated_gradients,
                          max_abs, occlusion, saliency, smoothgrad)
from .env import allow_untrained, available_cpus, default_device, param, quick_mode
from .session import setup
from .hooks import capture, frozen, hook_count
from .images import load_image, sample_boxes, sample_names
from .lookup import NameNotFound
from .embed import features, nearest
from .patches import receptive_field, top_patches
from .optimize import optimize_image
from .featurevis import maximize_activation, visualize_class
from .inversion import invert
from .dream import deepdream
from .styletransfer import style_transfer
from .fooling import fgsm, fooling_image
from .models import DEFAULT_MODEL, Model, WeightsUnavailable, available_models, load_model

__version__ = "0.1.0"

# The public names (what `from lecturelib import *` gives); a name imported above but missing here fails `make lint`.
__all__ = [
    "deconvnet", "grad_cam", "guided_backprop", "guided_grad_cam", "integrated_gradients",
    "max_abs", "occlusion", "saliency", "smoothgrad",
    "allow_untrained", "available_cpus", "default_device", "param", "quick_mode",
    "setup",
    "capture", "frozen", "hook_count",
    "load_image", "sample_boxes", "sample_names",
    "NameNotFound",
    "features", "nearest",
    "receptive_field", "top_patches",
    "deepdream", "fgsm", "fooling_image", "invert", "maximize_activation", "optimize_image", "style_transfer",
    "visualize_class",
    "DEFAULT_MODEL", "Model", "WeightsUnavailable", "available_models", "load_model",
]

_LAZY = {"plot", "widgets", "coursemodels", "bench", "cli"}   # ll.<module> loads these on first use


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'lecturelib' has no attribute {name!r}")
