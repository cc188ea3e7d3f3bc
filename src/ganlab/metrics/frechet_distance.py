"""Fréchet distance in the evaluator's feature space, overall (``fid``) and per class
(``intra_fid``).

FID compares Gaussians fitted to the features of real and generated images. Inception cannot be
downloaded here, so the features are the 128-d penultimate layer of the data set's own
evaluator classifier (a "Fréchet classifier distance", see :mod:`ganlab.metrics.evaluators`);
values are comparable with each other for one data set and evaluator, not across data sets and
not with published Inception FIDs. Intra-class FID averages the distance between generated and real
images of each class, so a generator whose 4s look like 9s, or whose 7s all look alike, cannot
hide behind an overall distribution that looks right.

torchmetrics' ``FrechetInceptionDistance`` does the maths (float64 sums, eigenvalues of the
covariance product). It is handed an identity "extractor" because
:class:`~ganlab.metrics.QualityMetrics` computes the features once per batch and shares
them with the other metrics. Measured with the real evaluator on the MNIST test digits (whose
features have 27 dead ReLU units, so the covariances are singular): a set's distance to itself
is -4e-10 for all 10,000 images and within 2e-7 of 0 per class at 100 images per class (fewer
images than dimensions), against a real-vs-real floor of 2.4; no reason to re-derive the maths.

One measured change: the eigenvalues are taken on one thread. On a 2-core machine with another
process busy, LAPACK's ``eigvals`` of a 128 x 128 matrix took 0.7 s on two threads (OpenMP
workers spin while they wait) and 3 ms on one; intra-class FID takes eleven of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.image.fid import FrechetInceptionDistance


class PrecomputedFeatures(nn.Module):
    """Identity with ``num_features``: torchmetrics neither probes it with a dummy image nor
    changes its input, so the distance's ``update`` takes features instead of images."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


@contextmanager
def one_thread() -> Iterator[None]:
    """Run small dense linear algebra on one thread (see the module docstring)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class FrechetDistance(FrechetInceptionDistance):
    """FID over precomputed features: ``update(features, real)``. ``reset()`` forgets only the
    generated side, so the real statistics are computed once and compared many times."""

    def __init__(self, num_features: int, **kwargs) -> None:
        super().__init__(
            feature=PrecomputedFeatures(num_features), reset_real_features=False, **kwargs
        )

    def compute(self) -> torch.Tensor:
        with one_thread():
            return super().compute()


class IntraClassFrechetDistance(Metric):
    """Mean over classes of the Fréchet distance between generated and real images of that
    class; classes with fewer than two images on either side are left out (NaN)."""

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    # Metric states (add_state), declared for the type checker.
    real_count: torch.Tensor
    fake_count: torch.Tensor

    def __init__(self, n_classes: int, num_features: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n_classes = n_classes
        self.per_class = nn.ModuleList(FrechetDistance(num_features) for _ in range(n_classes))
        # The counts decide which classes have a distance; as metric states they are summed
        # across processes, so every process takes the same branch in compute().
        self.add_state("real_count", torch.zeros(n_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("fake_count", torch.zeros(n_classes, dtype=torch.long), dist_reduce_fx="sum")

    def _distances(self) -> list[FrechetDistance]:
        # nn.ModuleList (which moves the metrics with this one) is not generic; __init__ fills
        # it with FrechetDistance metrics only.
        return cast(list[FrechetDistance], list(self.per_class))

    def update(self, features: torch.Tensor, labels: torch.Tensor, real: bool) -> None:
        labels = labels.to(features.device)
        # Every class is updated, even with no rows, so that each one has seen an update.
        for cls, distance in enumerate(self._distances()):
            distance.update(features[labels == cls], real=real)
        counts = torch.bincount(labels, minlength=self.n_classes).to(self.real_count.device)
        if real:
            self.real_count += counts
        else:
            self.fake_count += counts

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean over classes and the distance of each class."""
        values = torch.full((self.n_classes,), float("nan"), dtype=torch.float64)
        for cls, distance in enumerate(self._distances()):
            if self.real_count[cls] >= 2 and self.fake_count[cls] >= 2:
                values[cls] = float(distance.compute())
        return values.nanmean(), values

    def reset(self) -> None:
        """Forget the generated images; keep the real side, like :class:`FrechetDistance`."""
        real_count = self.real_count
        super().reset()
        self.real_count = real_count
        for distance in self._distances():
            distance.reset()
