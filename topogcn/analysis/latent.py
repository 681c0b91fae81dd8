"""Latent codes of a dataset, their t-SNE map and cluster quality."""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader


@torch.no_grad()
def extract_latents(model: torch.nn.Module, dataset, batch_size: int = 64,
                    max_samples: Optional[int] = None, progress: bool = True
                    ) -> Dict[str, np.ndarray]:
    """The representation of every clip of ``dataset`` (eval mode): the
    latent code ``z = mu`` of a model with a latent head, else the pooled
    ``features`` of a plain classifier, else its logits.

    Returns ``z`` ``[N, D]``, ``labels`` ``[N]``, ``preds`` ``[N]`` and the
    softmax ``scores`` ``[N, K]``.
    """
    from topogcn.models.interface import has_latent_head

    latent = has_latent_head(model)
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    n = len(dataset) if max_samples is None else min(max_samples, len(dataset))
    subset = torch.utils.data.Subset(dataset, range(n))
    zs, ys, scores = [], [], []
    for x, y in tqdm(DataLoader(subset, batch_size=batch_size), desc="latents",
                     disable=None if progress else True, leave=False):  # None: off when piped
        if latent:
            z = model.encode(x).z
            logits = model.classifier(z)
        else:
            logits = model(x)
            z = model.features(x) if hasattr(model, "features") else logits
        zs.append(z)
        ys.append(y)
        scores.append(torch.softmax(logits, dim=1))
    model.train(was_training)
    s = torch.cat(scores).numpy()
    return {"z": torch.cat(zs).numpy(), "labels": torch.cat(ys).numpy(),
            "preds": s.argmax(1), "scores": s}


def tsne_embedding(z: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE (scikit-learn) of ``z`` ``[N, D]``; the perplexity is
    lowered for small ``N`` as t-SNE requires."""
    from sklearn.manifold import TSNE

    if len(z) < 3:
        raise ValueError(f"t-SNE needs at least 3 samples, got {len(z)}")
    perp = min(perplexity, max(1.0, (len(z) - 1) / 3))
    return TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(
        z.astype(np.float64)).astype(np.float32)


def silhouette(z: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette score of ``z`` clustered by ``labels`` (scikit-learn;
    1: tight, separated classes, 0: overlapping, <0: mixed up).  ``nan``
    with fewer than two classes."""
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= len(labels):
        return float("nan")
    return float(silhouette_score(z, labels))
