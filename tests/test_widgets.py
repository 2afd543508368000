"""The explorers build, react to their controls and leave the model clean (notebooks only display them)."""
import ipywidgets as W
import matplotlib
import pytest
import torch

import lecturelib as ll
from lecturelib.coursemodels import shapes_data

matplotlib.use("Agg")


def controls(box):
    """Every widget inside a box, depth first."""
    for child in getattr(box, "children", ()):
        yield child
        yield from controls(child)


@pytest.fixture
def images(shapes_model):
    return shapes_model.normalize(shapes_data(12, seed=0)[0])


def test_explorers_react_and_leave_no_hooks(shapes_model, squeezenet, images):
    boxes = [ll.widgets.feature_explorer(squeezenet, "chelsea", ["features.0", "features.3"]),
             ll.widgets.patch_explorer(shapes_model, images, ["4", "9"], k=3),
             ll.widgets.visualization_explorer(shapes_model, "square", steps=3),
             ll.widgets.dream_explorer(shapes_model, images[:1], ["4", "7"], octaves=1, steps=1),
             ll.widgets.occlusion_probe(shapes_model, images[:1], window=8),
             ll.widgets.attribution_explorer(shapes_model, images[:1], ["4", "8"])]
    for box in boxes:
        for w in controls(box):
            if isinstance(w, W.Dropdown):
                w.value = w.options[0]
            elif isinstance(w, W.IntSlider):
                w.value = min(w.max, w.value + 1)
            elif isinstance(w, W.Button):
                w.click()
        assert any(isinstance(w, W.Output) for w in controls(box))
    assert ll.hook_count(shapes_model) == 0 and ll.hook_count(squeezenet) == 0
    import matplotlib.pyplot as plt
    plt.close("all")


def test_explorers_take_a_bare_module_like_every_method(shapes_model, images):
    """Every widget converts its model at the door (ll.models.as_model), as the methods do; a bare
    module has no input size, so the visualization explorer is told one (as optimize_image is)."""
    net = shapes_model.net
    for box in (ll.widgets.feature_explorer(net, images[:1], ["4", "8"]),
                ll.widgets.attribution_explorer(net, images[:1], ["4", "8"]),
                ll.widgets.occlusion_probe(net, images[:1], 0, window=8),
                ll.widgets.patch_explorer(net, images, ["4", "9"], k=3),
                ll.widgets.visualization_explorer(net, "2", steps=3, size=32),
                ll.widgets.dream_explorer(net, images[:1], ["4", "7"], octaves=1, steps=1)):
        outputs = [w for w in controls(box) if isinstance(w, W.Output)]
        assert outputs and all("Error" not in str(o.outputs) for o in outputs), outputs[0].outputs
        for w in controls(box):
            if isinstance(w, W.Button):
                w.click()
    assert ll.hook_count(net) == 0
    import matplotlib.pyplot as plt
    plt.close("all")


def test_cell_explorer_recolours_on_every_control():
    from lecturelib import charrnn as cr
    box = ll.widgets.cell_explorer(cr.build(), "x = (1,\n     2)\n", unit=3)
    text, kind, unit = (w for w in controls(box) if isinstance(w, (W.Textarea, W.Dropdown, W.IntSlider)))
    shown = next(w for w in controls(box) if isinstance(w, W.HTML))
    seen = {shown.value}
    for change in (lambda: setattr(unit, "value", 4), lambda: setattr(kind, "value", "hidden"),
                   lambda: setattr(text, "value", "s = 'abc'\n")):
        change()
        assert shown.value not in seen and "<span" in shown.value
        seen.add(shown.value)
    text.value = ""
    assert "type some Python" in shown.value


@pytest.mark.parametrize("baseline", ["mean", "blur"])
def test_occlusion_probe_sweeps_the_same_map_as_occlusion(shapes_model, images, baseline):
    """The probe moved over every place of a window-8, stride-8 grid gives, pixel by pixel, the map
    `ll.occlusion` computes with the same window, fill and method (it runs the same `Occluder`)."""
    x, c = images[:1], 2
    box = ll.widgets.occlusion_probe(shapes_model, x, c, window=8, baseline=baseline)
    row, col, win = (w for w in controls(box) if isinstance(w, W.IntSlider))
    assert win.value == 8
    drop, count = torch.zeros(32, 32), torch.zeros(32, 32)
    for r in (0, 8, 16, 24):
        row.value = r
        for q in (0, 8, 16, 24):
            col.value = q
            drop[r:r + 8, q:q + 8] += box.drop
            count[r:r + 8, q:q + 8] += 1
    expected = ll.occlusion(shapes_model, x, c, window=8, stride=8, baseline=baseline, method="incremental",
                            batch_size=1)
    assert torch.equal(drop / count, expected[0, 0])
    import matplotlib.pyplot as plt
    plt.close("all")
