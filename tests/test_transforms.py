"""Transforms: callables (x, gen) applied before the forward, seeded."""
import torch

import lecturelib as ll
from lecturelib import transforms as tr


def test_a_transform_is_a_callable_applied_before_the_forward(shapes_model):
    """A user's transform gets the image and the run's generator each step, and the gradient flows
    back through it: seeing the mirror image from the mirrored start retraces the same path."""
    seen = []

    def mirror(x, gen):
        seen.append((tuple(x.shape), isinstance(gen, torch.Generator)))
        return x.flip(3)
    start = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    kw = dict(steps=5, optimizer="sgd", lr=0.1, progress=False)
    plain = ll.optimize_image(shapes_model, "9:21", start, **kw)
    mirrored = ll.optimize_image(shapes_model, "9:21", start.flip(3), transforms=[mirror], **kw)
    assert seen == [((1, 3, 32, 32), True)] * 5
    assert torch.equal(mirrored.image.flip(3), plain.image) and mirrored.history == plain.history
    assert not torch.equal(plain.image, start)


def test_robustness_transforms_are_seeded_and_help_feature_visualization(shapes_model):
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(0)
    assert torch.allclose(tr.random_rotate(0)(x, gen), x, atol=1e-5)
    assert tr.random_scale([1.25])(x, gen).shape == (2, 3, 40, 40)
    assert torch.equal(tr.roll(3)(x, torch.Generator().manual_seed(5)), tr.roll(3)(x, torch.Generator().manual_seed(5)))
    assert tr.apply_transforms(tr.robust_transforms(4), x, gen).shape[:2] == (2, 3)
    kw = dict(param="fourier", transforms=tr.robust_transforms(2), steps=60, progress=False)
    a, b = (ll.optimize_image(shapes_model, "8:21", "randn", **kw) for _ in range(2))
    assert torch.equal(a.image, b.image)
    assert a.history[-1] > 10 * abs(a.history[0])


def test_random_blur_draws_its_sigma_from_the_generator_and_transforms_say_what_they_do():
    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(2))
    t = tr.random_blur(2.0)
    a, b = t(x, torch.Generator().manual_seed(7)), t(x, torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.shape == x.shape                   # seeded: the same blur twice
    sigma = float(torch.rand((), generator=torch.Generator().manual_seed(7))) * 2.0
    assert torch.allclose(a, tr.blur(x, sigma) if sigma >= 0.3 else x)   # the sigma it drew, in [0, 2]
    assert torch.equal(tr.random_blur(0.0)(x, torch.Generator()), x)  # no blur at all
    assert a.std() <= x.std()                                         # a blur only smooths
    names = [f.__name__ for f in tr.robust_transforms(16, 20.0) + [t]]
    assert names == ["roll(16 px)", "random_scale(0.9-1.1)", "random_rotate(20 deg)", "roll(8 px)", "random_blur(up to 2 px)"]
