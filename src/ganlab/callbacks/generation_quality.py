"""Logs how good the generated images are: ``val/cond_acc`` after every validation (it picks the
best checkpoint), the rest of :data:`ganlab.metrics.KEYS` (``val/fid``, ``val/kid``, ...) every
``every_n_epochs``, and all of them as ``test/...`` (on more samples, against the test split)
after testing. With ``floor`` on, testing also logs ``test/floor_<key>``: the same metrics for as
many real training images per class as were generated, the score a perfect generator would get
at that count.

The evaluator is the data set's own (its data module names it: a packaged, checksummed
classifier for the offline data sets, else one trained once per data folder and cached); the
images come from fixed seeds so epochs are compared on equal terms. The evaluator's pass over
the real validation images is made once per fit and kept. Under DDP each process measures its
share of the real and generated images and torchmetrics sums the states.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

from ganlab.callbacks.sample_grid import generator_of
from ganlab.data.image_datamodule import batch_loader
from ganlab.errors import ConfigError
from ganlab.metrics import KEYS, QualityMetrics
from ganlab.metrics.conditional_accuracy import conditional_accuracy
from ganlab.metrics.evaluators import load_evaluator_for
from ganlab.models.conditional_generator import ConditionalImageGenerator
from ganlab.sampling import choose_per_class, class_grid_labels

USER = "callbacks.generation_quality"
# The splits this callback reads: in-memory data sets (the image data modules'), or subsets.
InMemorySplit = TensorDataset | Subset


def judged(pl_module: L.LightningModule) -> ConditionalImageGenerator:
    return generator_of(pl_module, USER)


def data_split(trainer: L.Trainer, name: str) -> InMemorySplit:
    """The datamodule's ``data_<name>`` split, set up by the time validation or testing runs."""
    # Lightning attaches trainer.datamodule at fit/test time without declaring the attribute.
    dataset = getattr(getattr(trainer, "datamodule", None), f"data_{name}", None)
    if not isinstance(dataset, InMemorySplit):
        raise ConfigError(
            f"{USER} reads the datamodule's data_{name} split, an in-memory data set such as "
            f"the image data modules'; got a {type(dataset).__name__}"
        )
    return dataset


def samples(
    pl_module: L.LightningModule, per_class: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` images of each class drawn from ``seed`` by the model, and their labels."""
    generator = judged(pl_module)
    labels = class_grid_labels(generator.card.n_classes, per_class, device=pl_module.device)
    return generator.generate(labels, seed=seed), labels


def dataset_labels(dataset: Dataset) -> torch.Tensor:
    """All labels of an in-memory data set (a TensorDataset, or subsets of one), without
    touching its images."""
    if isinstance(dataset, Subset):
        return dataset_labels(dataset.dataset)[torch.as_tensor(dataset.indices, dtype=torch.long)]
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[1]
    raise TypeError(f"cannot read the labels of a {type(dataset).__name__} without loading it")


def real_stand_ins(
    dataset: Dataset, n_classes: int, per_class: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` real images of each class from ``dataset`` (fewer where it has fewer)."""
    labels = dataset_labels(dataset)
    available = torch.bincount(labels, minlength=n_classes).tolist()
    index = choose_per_class(labels, [min(per_class, n) for n in available], seed).tolist()
    # An InMemoryDataset, and a Subset of one, hand out a whole batch; torch's Dataset does not
    # declare __getitems__.
    images, chosen_labels = dataset.__getitems__(index)  # type: ignore[attr-defined]
    return images, chosen_labels


class GenerationQualityCallback(L.Callback):
    def __init__(
        self,
        per_class: int = 100,
        test_per_class: int = 1000,
        every_n_epochs: int = 1,
        seed: int = 1,
        k: int = 3,
        verify: bool = True,
        floor: bool = False,
    ) -> None:
        for name, value in (
            ("per_class", per_class),
            ("test_per_class", test_per_class),
            ("every_n_epochs", every_n_epochs),
            ("k", k),
        ):
            if value < 1:
                raise ConfigError(f"{USER}.{name}={value} must be at least 1")
        self.per_class = per_class
        self.test_per_class = test_per_class
        self.every_n_epochs = every_n_epochs
        self.seed = seed
        self.k = k
        self.verify = verify
        self.floor = floor
        self.classifier: nn.Module | None = None
        self.evaluator_info: dict[str, Any] = {}
        self.val_quality: QualityMetrics | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Load the evaluator the data module names (Lightning runs this before any other
        hook, after the data module's own ``prepare_data``)."""
        judged(pl_module)
        if self.classifier is None:
            datamodule = getattr(trainer, "datamodule", None)
            if datamodule is None:
                raise ConfigError(f"{USER} needs the data module that names the evaluator")
            self.classifier, self.evaluator_info = load_evaluator_for(
                datamodule, verify=self.verify
            )

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.val_quality = None  # a new fit may bring other validation data

    @property
    def evaluator(self) -> Any:
        """The classifier that ``setup`` loaded (Lightning runs it before any other hook)."""
        assert self.classifier is not None, "GenerationQualityCallback.setup() has not run"
        return self.classifier

    def reference(
        self, trainer: L.Trainer, pl_module: L.LightningModule, dataset: InMemorySplit
    ) -> QualityMetrics:
        """A quality metric holding this process's share of the real images of ``dataset``."""
        quality = QualityMetrics(self.evaluator, judged(pl_module).card.n_classes, k=self.k)
        quality.to(pl_module.device)
        share = Subset(dataset, range(trainer.global_rank, len(dataset), trainer.world_size))
        # A loader of its own generator: even unshuffled, a DataLoader draws its base seed from
        # the global RNG, which would change the training run's randomness.
        loader = batch_loader(share, batch_size=quality.batch_size, generator=torch.Generator())
        for images, labels in loader:
            quality.update(images, labels, real=True)
        return quality

    def measure(
        self,
        quality: QualityMetrics,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        per_class: int,
        seed: int,
    ) -> dict[str, float]:
        """Every metric for ``per_class`` images per class drawn from seeded noise."""
        images, labels = samples(pl_module, per_class, seed)
        rank, world = trainer.global_rank, trainer.world_size
        quality.reset()
        quality.update(images[rank::world], labels[rank::world], real=False)
        return quality.compute()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            classifier = self.evaluator.to(pl_module.device)
            images, labels = samples(pl_module, self.per_class, self.seed)
            n_classes = judged(pl_module).card.n_classes
            accuracy, _ = conditional_accuracy(classifier, images, labels, n_classes)
            pl_module.log("val/cond_acc", accuracy, prog_bar=True, sync_dist=True)
            return
        if self.val_quality is None:
            self.val_quality = self.reference(trainer, pl_module, data_split(trainer, "val"))
        values = self.measure(self.val_quality, trainer, pl_module, self.per_class, self.seed)
        self.log_all(pl_module, "val/", values)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # A different seed from validation: the best checkpoint was chosen on the validation noise.
        quality = self.reference(trainer, pl_module, data_split(trainer, "test"))
        values = self.measure(quality, trainer, pl_module, self.test_per_class, self.seed + 1)
        self.log_all(pl_module, "test/", values)
        if self.floor:
            images, labels = real_stand_ins(
                data_split(trainer, "train"),
                judged(pl_module).card.n_classes,
                self.test_per_class,
                self.seed,
            )
            rank, world = trainer.global_rank, trainer.world_size
            quality.reset()
            quality.update(images[rank::world], labels[rank::world], real=False)
            self.log_all(pl_module, "test/floor_", quality.compute())

    @staticmethod
    def log_all(pl_module: L.LightningModule, prefix: str, values: dict[str, float]) -> None:
        # The values are already the same on every process (torchmetrics summed the states);
        # sync_dist only keeps Lightning from warning about epoch-level values under DDP.
        for key in KEYS:
            pl_module.log(
                f"{prefix}{key}",
                values[key],
                prog_bar=prefix == "val/" and key == "cond_acc",
                sync_dist=True,
            )
