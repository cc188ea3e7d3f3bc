"""Logs ``val/cond_acc`` after each validation: how often the evaluator reads the requested digit.

The evaluator is the project's own MNIST classifier (trained once per data folder and cached);
the images come from fixed noise so epochs are compared on equal terms.
"""

from __future__ import annotations

import lightning as L
import torch

from ganlab.metrics.conditional_accuracy import conditional_accuracy
from ganlab.metrics.mnist_classifier import load_or_train_classifier
from ganlab.sampling import class_grid_labels, run_generator, sample_noise


class ConditionalAccuracy(L.Callback):
    def __init__(
        self, data_dir: str, per_class: int = 100, seed: int = 1, verify: bool = True
    ) -> None:
        self.data_dir = data_dir
        self.per_class = per_class
        self.seed = seed
        self.verify = verify
        self.classifier: torch.nn.Module | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.classifier is None:
            self.classifier, _ = load_or_train_classifier(self.data_dir, verify=self.verify)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self.classifier.to(pl_module.device)
        labels = class_grid_labels(pl_module.n_classes, self.per_class, device=pl_module.device)
        noise = sample_noise(
            len(labels), pl_module.latent_dim, seed=self.seed, device=pl_module.device
        )
        images = run_generator(pl_module.generator, noise, labels)
        accuracy, _ = conditional_accuracy(self.classifier, images, labels, pl_module.n_classes)
        pl_module.log("val/cond_acc", accuracy, prog_bar=True, sync_dist=True)
