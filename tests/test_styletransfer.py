"""Lecture 09: style transfer and texture synthesis."""

import lecturelib as ll
from lecturelib import objectives as ob, styletransfer as st


def test_style_transfer_matches_style_and_keeps_content(squeezenet):
    s = dict(st.STYLE_SETTINGS["squeezenet1_1"], size=128)
    r = ll.style_transfer(squeezenet, "chelsea", "astronaut", steps=100, progress=False, **s)
    layers, c = list(s["style_layers"]), s["content_layer"]
    xc, xs = squeezenet.preprocess("chelsea", 128), squeezenet.preprocess("astronaut", 128)
    grams = {k: ob.gram(a) for k, a in ob.codes(squeezenet, xs, layers).items()}
    style_loss = -sum(w * ob.style(k, grams[k]) for k, w in zip(layers, s["style_weights"]))

    def measure(x):
        codes = ob.codes(squeezenet, x, layers + [c])
        return style_loss(codes).item(), codes[c]
    (style0, cat), (style1, ours) = measure(xc), measure(r.image)
    painting = ob.codes(squeezenet, xs, [c])[c]
    assert style1 <= 0.1 * style0
    # content: the result's code stays much closer to the cat's than the painting's is
    assert (ours - cat).norm() < 0.5 * (painting - cat).norm()


def test_texture_synthesis_from_style_alone(squeezenet):
    s = dict(st.STYLE_SETTINGS["squeezenet1_1"], size=64)
    r = ll.style_transfer(squeezenet, None, "astronaut", steps=60, progress=False, **s)
    assert abs(r.history[-1]) <= 0.1 * abs(r.history[0])
