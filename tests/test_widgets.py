"""The explorers build, react to their controls and leave the model clean (notebooks only display them)."""
import ipywidgets as W
import matplotlib
import pytest

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
