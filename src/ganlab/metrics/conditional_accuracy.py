"""Conditional accuracy: the share of generated images the evaluator assigns to the requested class.

On its own it cannot tell a good generator from one that draws the same perfect digit every
time; read it together with sample grids (and, later, diversity metrics).
"""

from __future__ import annotations

import torch
from torch import nn

from ganlab.metrics.mnist_classifier import predict


def conditional_accuracy(
    classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor, n_classes: int = 10
) -> tuple[float, list[float]]:
    """Overall accuracy and accuracy per requested class (NaN for a class with no images)."""
    correct = (predict(classifier, images) == labels.cpu()).float()
    per_class = []
    for cls in range(n_classes):
        mask = labels.cpu() == cls
        per_class.append(float(correct[mask].mean()) if mask.any() else float("nan"))
    return float(correct.mean()), per_class
