"""Precision and recall of a generator as k-nearest-neighbour manifolds in feature space
(Kynkäänniemi et al., "Improved Precision and Recall Metric for Assessing Generative Models",
NeurIPS 2019).

Each real feature vector gets a ball reaching its k-th nearest real neighbour; the union of
the balls estimates the real manifold. Precision is the share of generated images inside it
(are the samples realistic?); recall swaps the roles (does the generator cover the variety of
the real images?). A generator that repeats a few perfect digits has high precision and low
recall. Both depend on k and on the sample sizes (balls shrink as a set grows), so compare
numbers taken with the same k and counts. torchmetrics has no such metric.

Distances are taken in chunks of rows with ``torch.cdist``, so memory stays at
``chunk_size x n`` floats: 10,000 real against 10,000 generated images took 1.3 s on 2 CPU
cores. The real balls are kept between ``compute`` calls, so a training run pays for them once.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


def knn_radii(features: torch.Tensor, k: int, chunk_size: int = 1024) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row."""
    radii = [
        # k + 1 smallest: the nearest row of each is itself, at distance 0. (topk is ~7x faster
        # than kthvalue on 1024 x 10,000 distances.)
        torch.cdist(chunk, features).topk(k + 1, dim=1, largest=False).values[:, -1]
        for chunk in features.split(chunk_size)
    ]
    return torch.cat(radii)


def manifold_overlap(
    real: torch.Tensor,
    fake: torch.Tensor,
    real_radii: torch.Tensor,
    fake_radii: torch.Tensor,
    chunk_size: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Share of ``fake`` inside some real ball (precision) and of ``real`` inside some fake
    ball (recall), from one pass over the fake-to-real distances."""
    fake_inside = []
    real_inside = torch.zeros(len(real), dtype=torch.bool, device=real.device)
    for chunk, chunk_radii in zip(
        fake.split(chunk_size), fake_radii.split(chunk_size), strict=True
    ):
        distances = torch.cdist(chunk, real)
        fake_inside.append((distances <= real_radii).any(dim=1))
        real_inside |= (distances <= chunk_radii[:, None]).any(dim=0)
    return torch.cat(fake_inside).double().mean(), real_inside.double().mean()


class PrecisionRecall(Metric):
    """``update(features, real)``; ``compute()`` gives (precision, recall). ``reset()`` forgets
    only the generated side, so the real balls are computed once and reused."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    # Metric states (add_state, list states), declared for the type checker.
    real_features: list[torch.Tensor]
    fake_features: list[torch.Tensor]

    def __init__(self, k: int = 3, chunk_size: int = 1024, **kwargs) -> None:
        super().__init__(**kwargs)
        if k < 1:
            raise ValueError(f"k={k} must be at least 1")
        self.k = k
        self.chunk_size = chunk_size
        self.add_state("real_features", [], dist_reduce_fx="cat")
        self.add_state("fake_features", [], dist_reduce_fx="cat")
        self._real_radii: torch.Tensor | None = None

    def update(self, features: torch.Tensor, real: bool) -> None:
        if real:
            self.real_features.append(features.float())
            self._real_radii = None
        else:
            self.fake_features.append(features.float())

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        real = dim_zero_cat(self.real_features)
        fake = dim_zero_cat(self.fake_features)
        for side, features in (("real", real), ("generated", fake)):
            if len(features) <= self.k:
                raise ValueError(
                    f"precision/recall with k={self.k} need more than {self.k} {side} images, "
                    f"got {len(features)}"
                )
        if self._real_radii is None or self._real_radii.device != real.device:
            self._real_radii = knn_radii(real, self.k, self.chunk_size)
        fake_radii = knn_radii(fake, self.k, self.chunk_size)
        return manifold_overlap(real, fake, self._real_radii, fake_radii, self.chunk_size)

    def reset(self) -> None:
        real_features = list(self.real_features)
        super().reset()
        self.real_features = real_features
