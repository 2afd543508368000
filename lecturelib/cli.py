"""python -m lecturelib doctor | fetch [MODEL...] | train digits|shapes|shapes_twin|charrnn | bench"""
from __future__ import annotations

import argparse
import platform
import sys

from .coursemodels import SPECS

__all__ = ["doctor", "fetch", "main"]


def doctor() -> int:
    """Print one screen: Python, torch, device, which weights are cached, quick/untrained settings.

    Returns
    -------
    int
        0, the exit status.
    """
    import torch
    import torchvision

    from . import env, models
    print(f"Python       {platform.python_version()} ({sys.executable})")
    print(f"torch        {torch.__version__}, torchvision {torchvision.__version__}")
    cuda = f"CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no CUDA GPU"
    print(f"device       {env.default_device()} ({cuda}); {env.available_cpus()} usable CPUs of {__import__('os').cpu_count()}")
    print(f"quick mode   {'on' if env.quick_mode() else 'off'} (LECTURELIB_QUICK)")
    print(f"untrained ok {'yes' if env.allow_untrained() else 'no'} (LECTURELIB_ALLOW_UNTRAINED)")
    print(f"torch cache  {torch.hub.get_dir()}")
    for name in (*SPECS, *models.LITE, *models.COURSE_TORCHVISION):
        print(f"  {name:18s} {models.weights_status(name)}")
    from .charrnn import weights_file
    shipped = weights_file().exists()
    print(f"  {'charrnn':18s} {'shipped with lecturelib' if shipped else 'missing (python -m lecturelib train charrnn)'}")
    return 0


def fetch(names: list[str]) -> int:
    """Download the ImageNet weights of `names` into torchvision's cache, reporting each model.

    Parameters
    ----------
    names : list of str
        Model names (empty: the default model).

    Returns
    -------
    int
        The exit status: 0, or 1 if any download failed (each failure is printed to stderr).
    """
    from . import models
    failed = 0
    for name in names or [models.DEFAULT_MODEL]:
        try:
            print(f"{name}: {models.fetch(name)}")
        except Exception as e:  # report every model, then fail
            print(f"{name}: FAILED: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line (`python -m lecturelib ...`; the module docstring lists the commands).

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name (None: sys.argv[1:]).

    Returns
    -------
    int
        The exit status.

    Raises
    ------
    SystemExit
        On arguments argparse cannot read (it prints the usage first).
    """
    parser = argparse.ArgumentParser(prog="python -m lecturelib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check the environment")
    p = sub.add_parser("fetch", help="download ImageNet weights into torchvision's cache")
    p.add_argument("models", nargs="*", help="model names (default: efficientnet_lite0, which needs no download)")
    p = sub.add_parser("train", help="train a course model and save its weights into the package")
    p.add_argument("name", choices=[*SPECS, "charrnn"])
    p.add_argument("--out", help="weights file (default: lecturelib/weights/NAME.pt)")
    p = sub.add_parser("bench", help="print the benchmark table")
    p.add_argument("--models", nargs="*", default=None, help="models to time (default: efficientnet_lite0 efficientnet_lite2 squeezenet1_1 alexnet resnet18)")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return doctor()
    if args.command == "fetch":
        return fetch(args.models)
    if args.command == "train":
        import torch

        from .env import available_cpus
        torch.set_num_threads(available_cpus())
        if args.name == "charrnn":
            from .charrnn import train as train_charrnn
            train_charrnn(out=args.out)
        else:
            from .coursemodels import train
            train(args.name, out=args.out)
        return 0
    from .bench import main as bench_main
    return bench_main(args.models)
