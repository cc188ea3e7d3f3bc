"""Conditional accuracy: the share of generated images the evaluator assigns to the requested class.

On its own it cannot tell a good generator from one that draws the same perfect digit every
time; read it next to the diversity metrics of :class:`~ganlab.metrics.QualityMetrics`.
"""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import Metric

from ganlab.metrics.classifier import predict


class ConditionalAccuracy(Metric):
    """Counts per requested class, summed across processes; ``update`` takes predicted classes."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    # Metric states (add_state), declared for the type checker.
    correct: torch.Tensor
    total: torch.Tensor

    def __init__(self, n_classes: int = 10, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n_classes = n_classes
        self.add_state("correct", torch.zeros(n_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros(n_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, predicted: torch.Tensor, labels: torch.Tensor) -> None:
        labels = labels.to(self.correct.device)
        self.correct += torch.bincount(
            labels[predicted.to(labels.device) == labels], minlength=self.n_classes
        )
        self.total += torch.bincount(labels, minlength=self.n_classes)

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Overall accuracy and accuracy per requested class (NaN for a class with no images)."""
        per_class = self.correct.double() / self.total.double()  # 0/0 -> NaN
        return self.correct.sum().double() / self.total.sum(), per_class


def conditional_accuracy(
    classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor, n_classes: int = 10
) -> tuple[float, list[float]]:
    """One-shot form of :class:`ConditionalAccuracy` for a classifier and a set of images."""
    metric = ConditionalAccuracy(n_classes)
    metric.update(predict(classifier, images), labels.cpu())
    overall, per_class = metric.compute()
    return float(overall), per_class.tolist()
