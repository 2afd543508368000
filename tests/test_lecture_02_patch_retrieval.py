"""Lecture 02 (notebooks/02_patch_retrieval.ipynb): its claims on the `shapes` course model (its top
patches) and on EfficientNet-Lite0 (its receptive fields).

On the course models (`shapes`, `digits`) each claim is measured as the notebook asserts it, on the
trained model and on an untrained copy of the same architecture, where it must FAIL (Adebayo et al.'s
sanity check applied to our own lessons: a claim that random weights also pass is not a claim about
training). The fixture `trained` (conftest.py) runs such a test twice, ids `trained` and
`untrained-control`; each `_claim_*` returns (holds, what was measured) and `check`
(claims_helpers.py) requires it to hold on the trained model and not on the control.

The receptive fields are geometry, not a trained claim: they must hold for any weights (the control
is the same architecture), and the test says so.

The notebook asserts these at student settings (`make course`); here the same claims run in the test
suite, so a change to lecturelib or a course model that breaks a lesson fails a named test.
"""
import pytest

import lecturelib as ll
from claims_helpers import check, model
from lecturelib.coursemodels import shapes_data
from lecturelib.patches import empirical_receptive_field


# ------------------------------------------------------------------------------------ the course model (shapes)
def _claim_02_units_specialise(net):
    pixels, labels, _ = shapes_data(2000, seed=11)
    res = ll.top_patches(net, net.normalize(pixels), "9", k=8, progress=False, distinct=True)
    kinds = [[int(labels[n]) for n, v in zip(res.image[i].tolist(), res.values[i]) if v > 0]
             for i in range(len(res.channels))]
    pure = [k[0] for k in kinds if len(k) == 8 and len(set(k)) == 1]  # 8 distinct images, one shape
    return len(pure) >= 20, {c: pure.count(c) for c in range(4)}


def test_02_last_layer_units_collect_one_shape_in_distinct_images(trained):
    check(_claim_02_units_specialise(model("shapes", trained)), trained)


# ---------------------------------------------------------------- 02: receptive fields
@pytest.mark.parametrize("layer", ["_conv_stem", "_blocks.2", "_blocks.5", "_blocks.8"])
def test_02_receptive_field_goes_through_zero_pads_and_depthwise_convs(lite0, layer):
    # geometry, not a trained claim: it must hold for any weights (the control is the same architecture)
    size = 160  # a multiple of 32, where the SAME pads are those of 224 px (and the check is cheaper)
    rf = ll.receptive_field(lite0, layer, size=size)
    expected = {"_conv_stem": (3, 2), "_blocks.2": (19, 4), "_blocks.5": (83, 16), "_blocks.8": (211, 16)}[layer]
    assert (rf.size[0], rf.stride[0]) == expected
    for row, col in [(0, 0), (3, 3)]:
        box = tuple(min(max(v, 0), size) for v in rf.box(row, col))
        assert box == empirical_receptive_field(lite0, layer, row, col, size=size)
