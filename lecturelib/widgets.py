"""Live explorers for the lectures: plain ipywidgets (they run in JupyterLab, Notebook and Colab).

Each function returns an ipywidgets box; display it as a cell's last line. Imported only when used.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as W
import matplotlib.pyplot as plt
import torch

from . import attribution as at
from . import plot
from .hooks import capture
from .models import Model, as_model
from .occlude import Occluder

if TYPE_CHECKING:
    from .charrnn import CharLSTM

__all__ = ["occlusion_probe", "attribution_explorer", "visualization_explorer", "dream_explorer", "feature_explorer",
           "patch_explorer", "cell_explorer"]


def _draw(out: W.Output, fn):
    with out:
        out.clear_output(wait=True)
        fn()
        plt.show()


def occlusion_probe(model: Model | torch.nn.Module, img, target: int | str | None = None, window: int = 16,
                    baseline: str | float | torch.Tensor = "mean") -> W.VBox:
    """Move a square over the image with sliders and watch the target's probability.

    It runs `ll.occlusion`'s own `Occluder`: each move recomputes only what the square changed
    (lecturelib.incremental), so it follows the sliders; a network torch.fx cannot read runs whole.

    Parameters
    ----------
    model : Model or nn.Module
    img : picture, name or tensor
        One image (anything `model.as_input` takes).
    target : int or str, optional
        The class to watch (None: the predicted class).
    window : int
        The square's starting side, in px.
    baseline : str, float or tensor
        What fills the square, as in `ll.occlusion` ("mean": the mean colour).

    Returns
    -------
    ipywidgets.VBox
        Sliders "row", "column" and "window" (px, step 4) above the occluded image with its
        probability. Its `.drop` holds the last drop, p(x) - p(x occluded).
    """
    model = as_model(model)
    x = model.as_input(img)
    occluder = Occluder(model, x, target, baseline, method="incremental")
    c, p0 = occluder.c, float(occluder.p0)
    name = model.categories[c] if model.categories else f"class {c}"  # a plain module names classes by index
    size = x.shape[-1]
    row = W.IntSlider(0, 0, size - window, 4, description="row")
    col = W.IntSlider(0, 0, size - window, 4, description="column")
    win = W.IntSlider(window, 4, size, 4, description="window")
    out = W.Output()
    box = W.VBox([W.HBox([row, col, win]), out])

    def update(*_):
        w = win.value
        row.max = col.max = size - w
        place = (row.value, col.value)
        box.drop = occluder.drops([place], w)[0]
        p = p0 - box.drop

        def draw():
            _, ax = plt.subplots(figsize=(4, 4))
            plot.show(occluder.occluded([place], w), f"p({name}) = {p:.3f}  (unoccluded {p0:.3f})",
                      ax=ax, model=model)
        _draw(out, draw)
    for s in (row, col, win):
        s.observe(update, "value")
    update()
    return box


# the attribution methods of `attribution_explorer`, by the name its dropdown shows
METHODS = {"gradient (backprop)": at.saliency, "deconvnet": at.deconvnet, "guided backprop": at.guided_backprop}


def attribution_explorer(model: Model | torch.nn.Module, img, layers: list[str]) -> W.VBox:
    """Pick a layer, a channel and a method; see what that channel responds to in this image.

    Parameters
    ----------
    model : Model or nn.Module
    img : picture, name or tensor
        One image (anything `model.as_input` takes).
    layers : list of str
        The layers to choose from (dotted names; the last is shown first).

    Returns
    -------
    ipywidgets.VBox
        A "layer" dropdown, a "channel" slider and a "method" dropdown (the keys of METHODS)
        above the image and the channel's attribution map.
    """
    model = as_model(model)
    x = model.as_input(img)
    with torch.no_grad(), capture(model, layers) as rec:
        model(x)
    channels = {name: rec.activations[name].shape[1] for name in layers}
    layer = W.Dropdown(options=layers, value=layers[-1], description="layer")
    channel = W.IntSlider(0, 0, channels[layers[-1]] - 1, description="channel")
    method = W.Dropdown(options=list(METHODS), value="guided backprop", description="method")
    out = W.Output()

    def update(*_):
        channel.max = channels[layer.value] - 1
        unit = f"{layer.value}:{channel.value}"
        attr = METHODS[method.value](model, x, unit)

        def draw():
            fig, axes = plt.subplots(1, 2, figsize=(7, 3.5))
            plot.show(x, "image", ax=axes[0], model=model)
            plot.attribution(x, attr[0], f"{method.value}: {unit}", ax=axes[1], model=model)
        _draw(out, draw)
    for w in (layer, channel, method):
        w.observe(update, "value")
    update()
    return W.VBox([W.HBox([layer, channel, method]), out])


def _run_panel(controls: list, run, out: W.Output) -> W.VBox:
    """Controls, a Run button (optimizations take seconds, so they start on a click, not on every
    slider move), and the output area. Runs once at the start so the cell shows a picture."""
    button = W.Button(description="Run", button_style="primary")
    button.on_click(lambda _: _draw(out, run))
    _draw(out, run)
    rows = [W.HBox(controls[i:i + 3]) for i in range(0, len(controls), 3)]
    return W.VBox([*rows, button, out])


def visualization_explorer(model: Model | torch.nn.Module, target: str = "0", steps: int = 100, l2: float = 0.02,
                           blur_every: int = 10, jitter: int | None = None, **fixed) -> W.VBox:
    """Type a class or a unit, set the regularizers, click Run: the image that maximizes it.

    The title shows the settings used. Runs once at the start.

    Parameters
    ----------
    model : Model or nn.Module
    target : str
        The starting text: a class (name or index) or a unit ("_blocks.10:37").
    steps, l2, blur_every, jitter : int, float, int, int
        The sliders' starting values (L2 weight in pixel units; jitter in px, None:
        `featurevis.default_jitter`).
    **fixed
        Other settings of `maximize_activation` (lr, blur_sigma, size, ...), passed through as given.

    Returns
    -------
    ipywidgets.VBox
        A "class / unit" text box, sliders "steps", "L2 weight" (log scale), "blur every",
        "jitter px" and "seed", a Run button, and the picture.
    """
    from .featurevis import default_jitter, maximize_activation
    from .objectives import objective
    model = as_model(model)
    what = W.Text(value=str(target), description="class / unit")
    n = W.IntSlider(steps, 10, 500, 10, description="steps")
    l2_ = W.FloatLogSlider(max(l2, 1e-5), base=10, min=-5, max=0, description="L2 weight")
    blur = W.IntSlider(blur_every, 0, 50, 1, description="blur every")
    jitter = default_jitter(model) if jitter is None else jitter
    jit = W.IntSlider(jitter, 0, max(1, (model.input_size or 224) // 4, jitter), description="jitter px")
    seed = W.IntSlider(0, 0, 20, description="seed")
    out = W.Output()

    def run():
        spec = int(what.value) if what.value.strip().isdigit() else what.value.strip()
        obj = objective(model, spec)
        r = maximize_activation(model, obj, steps=n.value, l2=l2_.value, blur_every=blur.value,
                                jitter=jit.value, seed=seed.value, progress=False, **fixed)
        _, ax = plt.subplots(figsize=(4, 4))
        plot.show(r.image[:1], f"{obj.name}\nL2 {l2_.value:.0e}, blur/{blur.value}, jitter {jit.value}", ax=ax,
                  model=model)
    return _run_panel([what, n, l2_, blur, jit, seed], run, out)


def dream_explorer(model: Model | torch.nn.Module, img, layers: list[str], octaves: int = 3,
                   steps: int = 10) -> W.VBox:
    """Pick a layer, the number of octaves and steps, click Run: DeepDream on the image.

    Parameters
    ----------
    model : Model or nn.Module
    img : picture, name or tensor
        One image (anything `model.as_input` takes).
    layers : list of str
        The layers to choose from (the middle one is shown first).
    octaves, steps : int
        The sliders' starting values (steps per octave).

    Returns
    -------
    ipywidgets.VBox
        A "layer" dropdown, sliders "octaves" (1-5) and "steps/octave" (1-40), a Run button, and
        the input beside its dream.
    """
    from .dream import deepdream
    model = as_model(model)
    x = model.as_input(img)
    layer = W.Dropdown(options=layers, value=layers[len(layers) // 2], description="layer")
    oct_ = W.IntSlider(octaves, 1, 5, description="octaves")
    n = W.IntSlider(steps, 1, 40, description="steps/octave")
    out = W.Output()

    def run():
        r = deepdream(model, x, layer.value, octaves=oct_.value, steps=n.value, progress=False)
        fig, axes = plt.subplots(1, 2, figsize=(8, 4))
        plot.show(x, "input", ax=axes[0], model=model)
        plot.show(r.image, f"DeepDream {layer.value}, {oct_.value} octaves", ax=axes[1], model=model)
    return _run_panel([layer, oct_, n], run, out)


def feature_explorer(model: Model | torch.nn.Module, img, layers: list[str]) -> W.VBox:
    """Pick a layer and a channel: the image, that channel's feature map, and its kernel.

    The kernel is drawn only for a first layer, a Conv2d that reads the image.

    Parameters
    ----------
    model : Model or nn.Module
    img : picture, name or tensor
        One image (anything `model.as_input` takes).
    layers : list of str
        The layers to choose from (the first is shown first).

    Returns
    -------
    ipywidgets.VBox
        A "layer" dropdown and a "channel" slider above the pictures.
    """
    model = as_model(model)
    x = model.as_input(img)
    with torch.no_grad(), capture(model, layers, detach=True) as rec:
        model(x)
    acts = dict(rec.activations)
    layer = W.Dropdown(options=layers, value=layers[0], description="layer")
    channel = W.IntSlider(0, 0, acts[layers[0]].shape[1] - 1, description="channel")
    out = W.Output()

    def update(*_):
        channel.max = acts[layer.value].shape[1] - 1
        a = acts[layer.value][0, channel.value]

        module = model.layer(layer.value)
        reads_image = isinstance(module, torch.nn.Conv2d) and module.in_channels == model.channels

        def draw():
            fig, axes = plt.subplots(1, 2 + reads_image, figsize=(3.5 * (2 + reads_image), 3.5))
            plot.show(x, "image", ax=axes[0], model=model)
            axes[1].imshow(a.cpu().numpy(), cmap="gray")
            axes[1].set_title(f"{layer.value}:{channel.value} ({a.shape[0]}x{a.shape[1]})")
            axes[1].axis("off")
            plot.mark_untrained(axes[1], model)
            if reads_image:  # a first-layer kernel is an image
                k = module.weight[channel.value]
                axes[2].imshow(plot.kernel_image(k), cmap="gray", interpolation="nearest")
                axes[2].set_title(f"its kernel {tuple(k.shape[1:])}, min-max scaled")
                axes[2].axis("off")
        _draw(out, draw)
    for w in (layer, channel):
        w.observe(update, "value")
    update()
    return W.VBox([W.HBox([layer, channel]), out])


def patch_explorer(model: Model | torch.nn.Module, images, layers: list[str], k: int = 9,
                   scans: dict | None = None) -> W.VBox:
    """Pick a layer and a unit: the `k` patches of `images` that fire it most.

    Each layer is scanned once, when first picked, and kept.

    Parameters
    ----------
    model : Model or nn.Module
    images : tensor, N x C x H x W, or sequence of images
        What `ll.top_patches` scans.
    layers : list of str
        The layers to choose from (the last is shown first).
    k : int
        Patches per unit.
    scans : dict of str to TopPatches, optional
        `top_patches` results already computed on `images`, {layer: result}: a layer found here
        is not scanned again.

    Returns
    -------
    ipywidgets.VBox
        A "layer" dropdown and a "unit" slider above the patches.
    """
    from .patches import top_patches
    model = as_model(model)
    scans = dict(scans or {})
    layer = W.Dropdown(options=layers, value=layers[-1], description="layer")
    unit = W.IntSlider(0, 0, 1, description="unit")
    out = W.Output()

    def update(*_):
        if layer.value not in scans:
            scans[layer.value] = top_patches(model, images, layer.value, k=k, progress=False)
        res = scans[layer.value]
        unit.max = len(res.channels) - 1
        _draw(out, lambda: plot.patches(res, model, channels=[unit.value]))
    for w in (layer, unit):
        w.observe(update, "value")
    update()
    return W.VBox([W.HBox([layer, unit]), out])


def cell_explorer(net: CharLSTM, text: str, unit: int = 0, kind: str = "cell") -> W.VBox:
    """Type or paste Python, pick a unit of the character LSTM: each character on its value.

    Every character is drawn on the unit's value after reading it (blue -, white 0, red +).

    Parameters
    ----------
    net : charrnn.CharLSTM
    text : str
        The starting text.
    unit : int
        The starting unit, 0 to hidden size - 1.
    kind : str
        "cell" or "hidden": which state to show first.

    Returns
    -------
    ipywidgets.VBox
        A "code" text area, a "state" dropdown ("cell", "hidden") and a "unit" slider above the
        coloured text.
    """
    from .charrnn import colored_text, states
    box = W.Textarea(value=text, description="code", layout=W.Layout(width="95%", height="140px"))
    which = W.Dropdown(options=["cell", "hidden"], value=kind, description="state")
    index = W.IntSlider(unit, 0, net.lstm.hidden_size - 1, description="unit")
    shown = W.HTML()

    def update(*_):
        if not box.value:
            shown.value = "<i>type some Python above</i>"
            return
        values = states(net, box.value)[which.value][:, index.value]
        shown.value = colored_text(box.value, values, title=f"{which.value} {index.value}").html
    for control in (box, which, index):
        control.observe(update, "value")
    update()
    return W.VBox([box, W.HBox([which, index]), shown])
