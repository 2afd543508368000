"""Feature vectors for embeddings and retrieval: how the network arranges images.

`features(model, images, layer)` runs a data set through the model in batches and returns one
vector per image: the layer's output, averaged over positions if it is a map (so a conv layer
gives one number per channel). `nearest` ranks a collection by cosine similarity to a query."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .hooks import capture, device_of, frozen
from .models import as_model

__all__ = ["features", "nearest"]


def features(model, images: torch.Tensor, layer: str, batch_size: int = 32) -> torch.Tensor:
    """One feature vector per image: the output of `layer`, averaged over positions if it is a
    map (N x C x H x W -> N x C), else flattened.

    Parameters
    ----------
    model : Model or nn.Module
    images : tensor, N x C x H x W
        The model's normalized input (e.g. model.preprocess([...])).
    layer : str
        A dotted layer name (see `model.layer_names()`).
    batch_size : int
        Images per forward pass.

    Returns
    -------
    tensor, N x D
        On the CPU.

    Raises
    ------
    ValueError
        If `images` is not a 4-D tensor.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError("images must be an N x C x H x W normalized tensor (e.g. model.preprocess([...]))")
    model = as_model(model)
    device = device_of(model)
    out = []
    with torch.no_grad(), frozen(model.net), capture(model, layer, detach=True) as rec:
        for xb in images.split(batch_size):
            model.net(xb.to(device))
            a = rec.activations[layer]
            out.append((a.mean(dim=(2, 3)) if a.ndim == 4 else a.flatten(1)).cpu())
    return torch.cat(out)


def nearest(vectors: torch.Tensor, query: int, k: int = 5) -> torch.Tensor:
    """The k rows of `vectors` most similar to row `query` by cosine similarity, the query itself
    excluded.

    Parameters
    ----------
    vectors : tensor, N x D
        E.g. from `features` (rows of more dimensions are flattened).
    query : int
        A row index.
    k : int

    Returns
    -------
    tensor of int, min(k, N - 1)
        Row indices, most similar first.

    Raises
    ------
    IndexError
        If `query` is not a row.
    """
    if not 0 <= query < len(vectors):
        raise IndexError(f"query {query} is not a row of the {len(vectors)} vectors")
    v = F.normalize(vectors.flatten(1).float(), dim=1)
    sim = v @ v[query]
    sim[query] = -float("inf")
    return sim.topk(min(k, len(v) - 1)).indices
