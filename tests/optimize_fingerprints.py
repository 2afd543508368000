"""Fingerprints of `lecturelib.optimize` on the settings lectures 06-10 use, at small sizes, for
checking that a refactoring of the loop changes no result (not collected by pytest: a script).

    python tests/optimize_fingerprints.py record  /tmp/before.pt   # before the change
    python tests/optimize_fingerprints.py compare /tmp/before.pt   # after: every tensor torch.equal

Each setting stores the image, the history and penalties, the snapshots, steps, `interrupted` and
`info`. Results are bit-identical only on the same machine, torch version and thread count, so
record and compare in one place (the script pins one thread).
"""
import os
import sys
import warnings

os.environ.setdefault("LECTURELIB_ALLOW_UNTRAINED", "1")
import torch  # noqa: E402

import lecturelib as ll  # noqa: E402
from lecturelib.coursemodels import shapes_data  # noqa: E402


def settings():
    """{name: thunk returning an ll.optimize.Optimized (or a tensor)}."""
    shapes = ll.load_model("shapes", device="cpu")
    lite = ll.load_model("efficientnet_lite0", device="cpu")
    pixels, labels, _ = shapes_data(6, seed=5)
    x = shapes.normalize(pixels)
    prior = dict(lr=12.5, blur_every=4, blur_sigma=1.0, jitter=32)   # notebook 06's PRIOR
    targets = [(int(c) + 1) % 4 for c in labels]
    return {
        # 06: CS231n defaults (sgd_l2, L2 1e-3, blur σ 0.5 every 10, jitter ∝ size, clamp), snapshots
        "06 visualize_class defaults (shapes)": lambda: ll.visualize_class(shapes, "cross", steps=12,
                                                                           snapshots=(0, 5, 12), progress=False),
        "06 visualize_class PRIOR (lite0, 64 px)": lambda: ll.visualize_class(lite, "tabby", steps=6, size=64,
                                                                              progress=False, **prior),
        "06 Fourier + Adam, jitter 8 (lite0, 64 px)": lambda: ll.optimize_image(
            lite, lite.class_index("tarantula"), "randn", param="fourier", steps=5, jitter=8, size=64, progress=False),
        "06 maximize_activation unit, seed 1 (shapes)": lambda: ll.maximize_activation(shapes, "9:21", steps=12, seed=1,
                                                                                       progress=False),
        "06 neuron from a picture, PRIOR (shapes)": lambda: ll.maximize_activation(shapes, "4:3:5:5", init=x[:1],
                                                                                   steps=9, progress=False, **prior),
        "06 fourier + sgd_l2 (shapes)": lambda: ll.maximize_activation(shapes, "4:3:5:5", steps=3, param="fourier",
                                                                       progress=False),
        "06 phase + robust transforms (lite0, 64 px)": lambda: ll.optimize_image(
            lite, "tarantula", param="phase", steps=4, size=64, transforms=ll.transforms.robust_transforms(),
            progress=False),
        # crashed before the loop's split (the rescaled step on a 5-D spectrum): new, nothing to compare with
        "06 list of classes, Fourier + robust, sgd_l2 (shapes)": lambda: ll.visualize_class(
            shapes, [0, 1, 2], param="fourier", steps=3, transforms=ll.transforms.robust_transforms(4),
            progress=False),
        "07 invert (Adam, lr_end, TV)": lambda: ll.invert(shapes, x[:2], "4", steps=12, progress=False),
        "07 invert alpha-norm + L2 + lbfgs": lambda: ll.invert(shapes, x[:1], "1", steps=5, alpha_norm=1e-3, l2=1e-3,
                                                               optimizer="lbfgs", lr=0.5, lr_end=None, progress=False),
        "08 deepdream octaves (shapes)": lambda: ll.deepdream(shapes, x[:2], "7", octaves=2, steps=4, jitter=2,
                                                              progress=False),
        "08 deepdream (lite0, 64 px)": lambda: ll.deepdream(lite, lite.preprocess("chelsea", 64), "_blocks.4", octaves=2,
                                                            steps=2, progress=False),
        "09 style transfer (shapes)": lambda: ll.style_transfer(
            shapes, x[:1], x[1:2], content_layer="4", style_layers=["1", "4"], content_weight=1.0,
            style_weights=[1e4, 1e4], size=32, steps=12, progress=False),
        "09 texture (shapes)": lambda: ll.style_transfer(shapes, None, x[1:2], style_layers=["1", "4"],
                                                          style_weights=[1e4, 1e4], size=32, steps=6, progress=False),
        "10 fooling batch with stop (shapes)": lambda: ll.fooling_image(shapes, x, targets, max_steps=30,
                                                                        progress=False),
        "10 fooling within 8/255 (shapes)": lambda: ll.fooling_image(shapes, x, targets, max_change=8 / 255,
                                                                     max_steps=10, progress=False),
        "10 fooling from noise, confidence (shapes)": lambda: ll.fooling_image(shapes, "randn", "cross", size=32,
                                                                               confidence=0.9, max_steps=20, seed=3,
                                                                               progress=False),
        "10 fgsm (shapes)": lambda: ll.fgsm(shapes, x, labels.tolist(), eps=8 / 255),
    }


def flatten(r) -> dict:
    if isinstance(r, torch.Tensor):
        return {"image": r}
    out = {"image": r.image, "history": torch.tensor(r.history, dtype=torch.float64),
           "penalties": torch.tensor(r.penalties, dtype=torch.float64), "steps": torch.tensor(r.steps),
           "interrupted": torch.tensor(r.interrupted)}
    out.update({f"snapshot {k}": v for k, v in r.snapshots.items()})
    out.update({f"info {k}": torch.as_tensor(v) for k, v in r.info.items()})
    return out


def run() -> dict:
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {}
        for name, thunk in settings().items():
            try:
                out[name] = flatten(thunk())
            except Exception as e:   # a setting this version cannot run: recorded as its error
                out[name] = {"error": repr(e)}
        return out


def main(mode: str, path: str) -> int:
    results = run()
    if mode == "record":
        torch.save(results, path)
        print(f"recorded {len(results)} settings in {path}")
        return 0
    before, bad = torch.load(path), 0
    for name, fields in results.items():
        old = before.get(name, {"error": "not recorded"})
        if "error" in old or "error" in fields:
            print(f"new  {name}: before {old.get('error', 'ran')}, now {fields.get('error', 'runs')}")
            continue
        same = set(old) == set(fields) and all(torch.equal(old[k], fields[k]) for k in fields)
        bad += not same
        diff = "" if same else " DIFFERENT: " + ", ".join(
            k for k in sorted(set(old) | set(fields))
            if k not in old or k not in fields or not torch.equal(old[k], fields[k]))
        print(f"{'ok  ' if same else 'FAIL'} {name}{diff}")
    print(f"{len(results) - bad} of {len(results)} settings bit-identical")
    return int(bad > 0)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
