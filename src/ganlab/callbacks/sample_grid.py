"""Per-epoch sample grid: one row per class, drawn from the same seed every epoch so that
progress is visible and comparable across epochs and runs.

Written as a PNG into the run directory (``samples/epoch_XXX.png`` and ``samples/latest.png``,
the record a CSV-only run keeps) and sent to every image-capable logger (W&B, TensorBoard) at
the step of the epoch's metrics, so the image slider lines up with the curves.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

from ganlab.errors import ConfigError
from ganlab.models.conditional_generator import ConditionalImageGenerator
from ganlab.sampling import class_grid_labels, image_grid, save_grid


def epoch_metrics_step(trainer: L.Trainer) -> int:
    """The logger step of the metrics of the epoch that just ended (its training means and its
    validation), read in ``on_train_epoch_end`` or ``on_fit_end``.

    Lightning logs with the count of batches that stepped (what its own LearningRateMonitor
    reads): the epoch's last batch is step ``count - 1``, and the counter has already moved past
    it when these hooks run (the fit loop steps it back by one to log the epoch's means).
    """
    return max(0, trainer.fit_loop.epoch_loop._batches_that_stepped - 1)


def log_image(
    trainer: L.Trainer,
    key: str,
    image: np.ndarray,
    step: int,
    caption: str,
    path: Path,
) -> None:
    """Send one H x W x C uint8 image, written to ``path`` already, to every image-capable
    logger at ``step``; a CSV logger has no images, the PNG in the run folder is its record."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(key, [str(path)], step=step, caption=[caption])
        elif isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(key, image, step, dataformats="HWC")


def generator_of(pl_module: L.LightningModule, user: str) -> ConditionalImageGenerator:
    """``pl_module`` as a conditional image generator; ConfigError naming ``user`` (the config
    key of the callback) if the model does not keep that contract."""
    if not isinstance(pl_module, ConditionalImageGenerator):
        raise ConfigError(
            f"{user} draws from a conditional image generator; the model "
            f"{type(pl_module).__name__} does not implement ConditionalImageGenerator"
        )
    return pl_module


class SampleGrid(L.Callback):
    """``per_class`` images of every class from seed ``seed``, one row per class."""

    def __init__(
        self, output_dir: str, every_n_epochs: int = 1, per_class: int = 8, seed: int = 0
    ) -> None:
        if per_class < 1:
            raise ConfigError(f"callbacks.sample_grid.per_class={per_class} must be at least 1")
        self.output_dir = Path(output_dir) / "samples"
        self.every_n_epochs = max(1, int(every_n_epochs))
        self.per_class = per_class
        self.seed = seed

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch
        if not trainer.is_global_zero or (epoch + 1) % self.every_n_epochs:
            return
        generator = generator_of(pl_module, "callbacks.sample_grid")
        card = generator.card
        labels = class_grid_labels(card.n_classes, self.per_class, device=pl_module.device)
        images = generator.generate(labels, seed=self.seed)
        path = save_grid(images, self.output_dir / f"epoch_{epoch:03d}.png", self.per_class)
        save_grid(images, self.output_dir / "latest.png", self.per_class)
        caption = f"epoch {epoch}: one row per class: {', '.join(card.class_names)}"
        grid = image_grid(images, self.per_class)
        log_image(trainer, "samples", grid, epoch_metrics_step(trainer), caption, path)
