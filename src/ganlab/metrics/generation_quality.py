"""Every quality number of generated images against real ones, from one evaluator pass per batch.

The evaluator's features feed the Fréchet distances, the kernel distance (KID) and
precision/recall, its logits feed conditional accuracy and the Inception-style score; nothing
is computed twice. Any :class:`~ganlab.metrics.classifier.ImageClassifier` will do (the data
set's own, see :mod:`ganlab.metrics.evaluators`). The real side
survives ``reset()``: a training run measures its validation images once and compares each
epoch's samples with them.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

from ganlab.errors import ConfigError
from ganlab.metrics.classifier import ImageClassifier, features_and_logits
from ganlab.metrics.conditional_accuracy import ConditionalAccuracy
from ganlab.metrics.frechet_distance import FrechetDistance, IntraClassFrechetDistance
from ganlab.metrics.inception_score import InceptionScore
from ganlab.metrics.kernel_inception_distance import KernelInceptionDistance
from ganlab.metrics.precision_recall import PrecisionRecall

KEYS = ("cond_acc", "fid", "intra_fid", "kid", "inception_score", "precision", "recall")


class QualityMetrics(Metric):
    """``update(images, labels, real)`` with images in [-1, 1] (any size) and int64 labels;
    ``compute()`` gives a flat dict of floats: :data:`KEYS`, ``kid_std`` (KID's spread over its
    subsets) and the counts ``n_real`` and ``n_fake``. ``n_classes`` defaults to the
    classifier's and must equal it."""

    is_differentiable = False
    full_state_update = False
    # Metric states (add_state), declared for the type checker.
    n_real: torch.Tensor
    n_fake: torch.Tensor

    def __init__(
        self,
        classifier: ImageClassifier,
        n_classes: int | None = None,
        k: int = 3,
        batch_size: int = 256,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        known = classifier.head.out_features
        if n_classes is None:
            n_classes = known
        elif n_classes != known:
            raise ConfigError(
                f"the evaluator knows {known} classes but the images come in {n_classes}; "
                "use the evaluator of the data set the generator was trained on"
            )
        self.classifier = classifier.eval()
        self.n_classes = n_classes
        self.k = k
        self.batch_size = batch_size
        num_features = classifier.head.in_features
        self.cond_acc = ConditionalAccuracy(n_classes)
        self.fid = FrechetDistance(num_features)
        self.intra_fid = IntraClassFrechetDistance(n_classes, num_features)
        self.kid = KernelInceptionDistance()
        self.inception_score = InceptionScore(n_classes)
        self.precision_recall = PrecisionRecall(k)
        self.add_state("n_real", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("n_fake", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, images: torch.Tensor, labels: torch.Tensor, real: bool) -> None:
        if not len(labels):
            return
        if labels.min() < 0 or labels.max() >= self.n_classes:
            raise ConfigError(
                f"labels must lie in 0..{self.n_classes - 1}, the evaluator's classes; got "
                f"{int(labels.min())}..{int(labels.max())}"
            )
        features, logits = features_and_logits(self.classifier, images, self.batch_size)
        labels = labels.to(features.device)
        self.fid.update(features, real=real)
        self.intra_fid.update(features, labels, real=real)
        self.kid.update(features, real=real)
        self.precision_recall.update(features, real=real)
        if real:
            self.n_real += len(labels)
        else:
            self.cond_acc.update(logits.argmax(dim=1), labels)
            self.inception_score.update(logits)
            self.n_fake += len(labels)

    def compute(self) -> dict[str, float]:
        needed = self.k + 1
        if self.n_real < needed or self.n_fake < needed:
            raise ConfigError(
                f"quality metrics need at least {needed} real and {needed} generated images "
                f"(k={self.k} neighbours); got {int(self.n_real)} and {int(self.n_fake)}"
            )
        precision, recall = self.precision_recall.compute()
        kid, kid_std = self.kid.compute()
        values = {
            "cond_acc": self.cond_acc.compute()[0],
            "fid": self.fid.compute(),
            "intra_fid": self.intra_fid.compute()[0],
            "kid": kid,
            "inception_score": self.inception_score.compute(),
            "precision": precision,
            "recall": recall,
        }
        result = {key: float(value) for key, value in values.items()}
        counts = {"n_real": int(self.n_real), "n_fake": int(self.n_fake)}
        return {**result, "kid_std": float(kid_std), **counts}

    def per_class(self) -> dict[str, list[float]]:
        """Conditional accuracy and Fréchet distance of each class (NaN where undefined)."""
        return {
            "accuracy": self.cond_acc.compute()[1].tolist(),
            "fid": self.intra_fid.compute()[1].tolist(),
        }

    def reset(self) -> None:
        """Forget the generated images; the real side stays (build a new one for new data)."""
        n_real = self.n_real
        super().reset()
        self.n_real = n_real
        for metric in (
            self.cond_acc,
            self.fid,
            self.intra_fid,
            self.kid,
            self.inception_score,
            self.precision_recall,
        ):
            metric.reset()
