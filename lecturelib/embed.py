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


def features(model, images, layer: str, batch_size: int = 32) -> torch.Tensor:
    """N×D features of `layer` for `images` (an N×C×H×W normalized tensor); maps are averaged
    over positions (N×C×H×W → N×C). Returned on the CPU."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError("images must be an N×C×H×W normalized tensor (e.g. model.preprocess([...]))")
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
    """Indices of the k rows of `vectors` (N×D) most similar to row `query` by cosine similarity,
    the query itself excluded."""
    if not 0 <= query < len(vectors):
        raise IndexError(f"query {query} is not a row of the {len(vectors)} vectors")
    v = F.normalize(vectors.flatten(1).float(), dim=1)
    sim = v @ v[query]
    sim[query] = -float("inf")
    return sim.topk(min(k, len(v) - 1)).indices
