"""`python -m lecturelib bench` (or `make bench`): one table of times and memory on this machine.

Each row: what was measured, the number, its target where the course sets one. Timings take
the median of several runs after a warm-up. Every row is measured here: the methods do not
import this module (it imports them)."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Sequence

import torch


def timed(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """The median wall time of fn(), in seconds.

    Parameters
    ----------
    fn : callable
        Called with no arguments; its result is dropped.
    repeat : int
        Timed calls.
    warmup : int
        Untimed calls first (caches, lazy initialization).

    Returns
    -------
    float
        Seconds.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def peak_rss_mb(pid: int | str = "self") -> float:
    """The peak resident memory of a process, in MB (2^20 bytes).

    On Linux from /proc (VmHWM), which starts afresh in a new program; getrusage's figure would
    carry over the parent's peak across exec (and can only describe this process).

    Parameters
    ----------
    pid : int or str
        A process id, or "self" for this process.

    Returns
    -------
    float
        MB; NaN for another process when /proc cannot be read.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    if pid != "self":
        return float("nan")
    import resource
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


_PRELUDE = """import sys, time, warnings, torch, lecturelib as ll
from lecturelib.bench import peak_rss_mb
warnings.simplefilter('ignore'); torch.set_num_threads(ll.available_cpus()); torch.set_flush_denormal(True)
m = ll.load_model('squeezenet1_1', device='cpu')
"""


def in_fresh_process(code: str) -> list[float]:
    """Run `code` in a new Python process and return the numbers it prints on its last line.

    A prelude first imports torch and lecturelib (as `ll`), sets the threads and loads
    squeezenet1_1 as `m`. A fresh process makes `peak_rss_mb()` that row's own.

    Parameters
    ----------
    code : str
        Python source; its last printed line holds numbers separated by spaces.

    Returns
    -------
    list of float

    Raises
    ------
    subprocess.CalledProcessError
        If the process fails.
    """
    out = subprocess.run([sys.executable, "-c", _PRELUDE + code], capture_output=True, text=True, check=True)
    return [float(v) for v in out.stdout.strip().splitlines()[-1].split()]


def import_time() -> float:
    """Seconds to `import lecturelib` in a fresh process where torch is already imported.

    Raises
    ------
    subprocess.CalledProcessError
        If the import fails.
    """
    code = "import torch, time; t = time.perf_counter(); import lecturelib; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def model_rows(name: str) -> list[tuple]:
    """Benchmark rows for one model on the CPU: load time, forward, and forward+backward to the input.

    Parameters
    ----------
    name : str
        A name `ll.load_model` takes.

    Returns
    -------
    list of (what, measured, target) tuples of str
    """
    import lecturelib as ll
    t = time.perf_counter()
    model = ll.load_model(name, device="cpu")
    load = time.perf_counter() - t
    side = model.input_size or 224
    x = torch.randn(1, 3, side, side)
    with torch.no_grad():
        fwd = timed(lambda: model(x))

    def fwd_bwd():
        xi = x.clone().requires_grad_(True)
        model(xi)[0].max().backward()
    both = timed(fwd_bwd)
    tag = "" if model.pretrained else " (untrained)"
    return [(f"{name}{tag}: load", f"{load:.2f} s", ""),
            (f"{name}: forward, 1x{side}x{side}", f"{fwd * 1000:.0f} ms", ""),
            (f"{name}: forward+backward to input, 1x{side}x{side}", f"{both * 1000:.0f} ms", "")]


def attribution_rows() -> list[tuple]:
    """Benchmark rows: saliency, Grad-CAM, guided backprop and integrated gradients on
    efficientnet_lite0 at 224 px, on this machine's CPU.

    Returns
    -------
    list of (what, measured, target) tuples of str
    """
    import warnings

    from .attribution import grad_cam, guided_backprop, integrated_gradients, saliency
    from .models import load_model
    model = load_model("efficientnet_lite0", device="cpu")
    x = model.preprocess("chelsea")
    rows = []
    for name, fn in [("saliency", lambda: saliency(model, x, 285)),
                     ("Grad-CAM _act1 (head, 7x7)", lambda: grad_cam(model, x, 285, "_act1")),
                     ("guided backprop", lambda: guided_backprop(model, x, 285))]:
        rows.append((f"{name}, efficientnet_lite0 224x224", f"{timed(fn) * 1000:.0f} ms", "< 300 ms"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 50 steps miss completeness on Lite0: this row times, 04b measures
        t = timed(lambda: integrated_gradients(model, x, 285, steps=50, batch_size=25), repeat=1)
    rows.append(("integrated gradients, 50 steps, efficientnet_lite0 224x224", f"{t:.2f} s", "< 6 s"))
    return rows


def optimize_rows() -> list[tuple]:
    """Benchmark rows: class visualization, DeepDream and style transfer at student settings on
    squeezenet1_1, this machine's CPU, each in a fresh process so its peak memory is its own.

    Returns
    -------
    list of (what, measured, target) tuples of str
    """
    rows = []
    for what, code, target in [
        ("class visualization, 200 steps, 224x224", "ll.visualize_class(m, 'ostrich', steps=200, progress=False)", "< 20 s"),
        ("DeepDream, 3 octaves x 10 steps, 224x224", "ll.deepdream(m, 'chelsea', 'features.8', octaves=3, progress=False)", "< 30 s"),
        ("style transfer, 256x256, 200 steps",
         "ll.style_transfer(m, 'chelsea', 'astronaut', steps=200, progress=False, "
         "**dict(ll.styletransfer.STYLE_SETTINGS['squeezenet1_1'], size=256))",
         "< 60 s")]:
        seconds, rss = in_fresh_process(f"t = time.perf_counter()\n{code}\nprint(time.perf_counter() - t, peak_rss_mb())")
        rows.append((f"{what}, squeezenet1_1", f"{seconds:.1f} s", target))
        rows.append(("  peak RSS of that process", f"{rss:.0f} MB", "< 1500 MB"))
    return rows


def patches_rows() -> list[tuple]:
    """Benchmark rows: top_patches throughput against a plain batched forward pass, and its peak
    memory for 1x and 4x the images (each in a fresh process).

    Returns
    -------
    list of (what, measured, target) tuples of str
    """
    script = """
x = torch.randn(N, 3, 128, 128, generator=torch.Generator().manual_seed(0))
with torch.no_grad(): m(x[:64])  # warm-up
base = peak_rss_mb()
t = time.perf_counter()
with torch.no_grad():
    for xb in x.split(64): m(xb)
fwd = time.perf_counter() - t
t = time.perf_counter(); ll.top_patches(m, x, 'features.10', k=9, batch_size=64, progress=False)
scan = time.perf_counter() - t
print(N / fwd, N / scan, peak_rss_mb() - base)
"""
    rows = []
    for n in (512, 2048):
        fwd, scan, rss = in_fresh_process(f"N = {n}\n" + script)
        rows.append((f"top_patches features.10, all 384 channels, {n} images 128x128, squeezenet1_1",
                     f"{scan:.0f} img/s", f">= 0.8 x forward; here {scan / fwd:.2f} x {fwd:.0f} img/s"))
        rows.append((f"  peak memory growth once the {n} images are loaded", f"{rss:.0f} MB", "independent of the number of images"))
    return rows


def occlusion_rows(arch: str, exact_target: float) -> list[tuple]:
    """Benchmark rows: occlusion at the SIGMOD 2019 paper's setting (224 px, window 16, stride 4:
    2,809 windows), naive, incremental and approximate, as windows per second and as a multiple of
    the same model's batched forward throughput.

    Parameters
    ----------
    arch : str
        A name `ll.load_model` takes.
    exact_target : float
        The speed-up over a forward pass that the incremental (exact) row should reach.

    Returns
    -------
    list of (what, measured, target) tuples of str
    """
    import lecturelib as ll
    from skimage.metrics import structural_similarity
    model = ll.load_model(arch, device="cpu")
    x = model.preprocess("chelsea")
    xb = x.repeat(32, 1, 1, 1)
    with torch.no_grad():
        forward = 32 / timed(lambda: model(xb), repeat=3)
    windows = 53 * 53

    def rate(n_windows, **kw):
        t = time.perf_counter()
        m = ll.occlusion(model, x, None, window=16, progress=False, **kw)
        return m[0, 0].numpy(), n_windows / (time.perf_counter() - t)
    _, naive = rate(17 * 17, stride=13, method="naive")  # the cost per window does not depend on the stride
    exact, fast = rate(windows, stride=4, method="incremental")
    approx, rough = rate(windows, stride=4, method="approximate")
    ssim = structural_similarity(exact, approx, data_range=float(exact.max() - exact.min()))
    tag = "" if model.pretrained else " (untrained)"
    what = f"occlusion 16/4, {arch}{tag} 224x224"
    return [(f"{what}: naive", f"{naive:.0f} win/s", f"{naive / forward:.2f} x forward ({forward:.0f} img/s)"),
            (f"{what}: incremental (exact)", f"{fast:.0f} win/s", f"{fast / forward:.2f} x forward; >= {exact_target} x"),
            (f"{what}: approximate", f"{rough:.0f} win/s",
             f"{rough / forward:.2f} x forward, SSIM {ssim:.2f} to exact; >= 10 x, SSIM >= 0.9")]


def occlusion_memory_rows() -> list[tuple]:
    """Benchmark row: incremental occlusion keeps one image's activations and one batch of boxes,
    so its peak memory should not grow with the number of windows (here: the same 2,809 windows
    once, then four times, each in a fresh process).

    Returns
    -------
    list of (what, measured, target) tuples of str
    """
    code = ("x = m.preprocess('chelsea')\nfor _ in range({}): ll.occlusion(m, x, None, window=16, stride=4, "
            "method='incremental', progress=False)\nprint(peak_rss_mb())")
    once, four = in_fresh_process(code.format(1))[0], in_fresh_process(code.format(4))[0]
    return [("peak RSS, incremental occlusion squeezenet1_1: 2,809 / 4 x 2,809 windows", f"{once:.0f} / {four:.0f} MB",
             "no growth with the windows")]


def approximate_quality_rows() -> list[tuple]:
    """Benchmark row: what the approximation costs on a trained network (ImageNet weights may be
    random here): SSIM of approximate to exact occlusion maps of the course's `shapes` model on 32
    held-out images.

    Returns
    -------
    list of (what, measured, target) tuples of str
    """
    import numpy as np
    from skimage.metrics import structural_similarity

    import lecturelib as ll
    from .coursemodels import shapes_data
    model = ll.load_model("shapes", device="cpu")
    pixels, labels, _ = shapes_data(32, seed=7)
    x, labels = model.normalize(pixels), labels.tolist()
    exact = ll.occlusion(model, x, labels, window=6, stride=2, method="incremental")[:, 0].numpy()
    approx = ll.occlusion(model, x, labels, window=6, stride=2, method="approximate")[:, 0].numpy()
    ssim = [structural_similarity(e, a, data_range=float(e.max() - e.min())) for e, a in zip(exact, approx)]
    return [("approximate occlusion, trained shapes (32 images, 6/2): SSIM to exact",
             f"{np.median(ssim):.2f}", f"median (lowest {min(ssim):.2f}); >= 0.9")]


def recognition_rows(classes: Sequence[str] | None = None) -> list[tuple]:
    """Benchmark rows, one per setting of notebook 06 (`featurevis.class_settings`).

    Of the class visualizations efficientnet_lite0 makes, how many the separately trained
    efficientnet_lite2 ranks in its top 5 as drawn and after a blur (`evaluation.verdict`), the
    median share of saturated pixels, and the median seconds per picture.

    Parameters
    ----------
    classes : sequence of str, optional
        ImageNet class names (None: `featurevis.RECOGNITION_CLASSES`, fixed before any tuning).

    Returns
    -------
    list of (what, measured, target) tuples of str
    """
    import lecturelib as ll
    classes = ll.featurevis.RECOGNITION_CLASSES if classes is None else classes
    model, judge = ll.load_model("efficientnet_lite0", device="cpu"), ll.load_model("efficientnet_lite2", device="cpu")
    rows = []
    for name, kw in ll.featurevis.class_settings(model).items():
        drawn = blurred = 0
        seconds, saturated = [], []
        for cls in classes:
            c = model.class_index(cls)
            t = time.perf_counter()
            x = ll.visualize_class(model, c, progress=False, **kw).image
            seconds.append(time.perf_counter() - t)
            v = ll.evaluation.verdict(judge, model, x, c)
            drawn, blurred = drawn + int(v["rank"][0] <= 5), blurred + int(v["rank_blurred"][0] <= 5)
            saturated.append(float(v["saturated"][0]))
        rows.append((f"class visualization, {name}: Lite2 top-5 as drawn / after blur 2 px / saturated / s a picture",
                     f"{drawn}/{len(classes)} / {blurred}/{len(classes)} / {100 * statistics.median(saturated):.1f} % / "
                     f"{statistics.median(seconds):.0f} s", ">= 7/10 after the blur, <= 3 %, <= 30 s"))
    return rows


def main(models: list[str] | None = None) -> int:
    """Measure every row and print the table (`python -m lecturelib bench`).

    Parameters
    ----------
    models : list of str, optional
        Models for `model_rows` (None: efficientnet_lite0, efficientnet_lite2, squeezenet1_1,
        alexnet, resnet18).

    Returns
    -------
    int
        0, the exit status.
    """
    import lecturelib as ll
    torch.set_num_threads(ll.available_cpus())
    torch.set_flush_denormal(True)   # as ll.setup() does for a notebook
    models = models or ["efficientnet_lite0", "efficientnet_lite2", "squeezenet1_1", "alexnet", "resnet18"]
    rows = [("import lecturelib (torch already imported)", f"{import_time():.3f} s", "< 1 s")]
    for name in models:
        rows += model_rows(name)
    rows += attribution_rows() + optimize_rows() + patches_rows()
    # exact_target: the speed-up over naive this course expects; Lite0's depthwise layers are cheap and its
    # late 7x7 maps are soon covered whole, so its bar is "never slower than naive"
    rows += occlusion_rows("efficientnet_lite0", 1) + occlusion_rows("squeezenet1_1", 2) + occlusion_rows("vgg16", 3)
    rows += occlusion_memory_rows()
    rows += approximate_quality_rows()
    rows += recognition_rows()
    rows.append(("peak RSS of this benchmark process", f"{peak_rss_mb():.0f} MB", ""))
    width = max(len(r[0]) for r in rows)
    print(f"lecturelib benchmark: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs seen, quick mode {'on' if ll.quick_mode() else 'off'}")
    print(f"{'what':{width}s}  {'measured':>12s}  target")
    for what, value, target in rows:
        print(f"{what:{width}s}  {value:>12s}  {target}")
    return 0
