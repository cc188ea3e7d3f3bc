"""Logs how often the evaluator reads the requested digit: ``val/cond_acc`` after each
validation, ``test/cond_acc`` (on more samples) after testing.

The evaluator is the project's own MNIST classifier (trained once per data folder and cached);
the images come from fixed noise so epochs are compared on equal terms.
"""

from __future__ import annotations

import lightning as L
import torch

from ganlab.metrics.conditional_accuracy import conditional_accuracy
from ganlab.metrics.mnist_classifier import load_or_train_classifier
from ganlab.sampling import class_grid_labels, generate


class ConditionalAccuracy(L.Callback):
    def __init__(
        self,
        data_dir: str,
        per_class: int = 100,
        test_per_class: int = 1000,
        seed: int = 1,
        verify: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.per_class = per_class
        self.test_per_class = test_per_class
        self.seed = seed
        self.verify = verify
        self.classifier: torch.nn.Module | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.classifier is None:
            self.classifier, _ = load_or_train_classifier(self.data_dir, verify=self.verify)

    def measure(self, pl_module: L.LightningModule, per_class: int, seed: int) -> float:
        """Conditional accuracy of ``per_class`` images per class drawn from seeded noise."""
        self.classifier.to(pl_module.device)
        labels = class_grid_labels(pl_module.n_classes, per_class, device=pl_module.device)
        images = generate(pl_module.generator, labels, pl_module.latent_dim, seed=seed)
        accuracy, _ = conditional_accuracy(self.classifier, images, labels, pl_module.n_classes)
        return accuracy

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        accuracy = self.measure(pl_module, self.per_class, self.seed)
        pl_module.log("val/cond_acc", accuracy, prog_bar=True, sync_dist=True)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # A different seed from validation: the best checkpoint was chosen on the validation noise.
        accuracy = self.measure(pl_module, self.test_per_class, self.seed + 1)
        pl_module.log("test/cond_acc", accuracy, sync_dist=True)
