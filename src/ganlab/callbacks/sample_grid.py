"""Per-epoch sample grid: the fixed noise of the model, one row per class (0-9).

Written as a PNG into the run directory (``samples/epoch_XXX.png`` and ``samples/latest.png``,
the record a CSV-only run keeps) and sent to every image-capable logger (W&B, TensorBoard) at
the step of the epoch's metrics, so the image slider lines up with the curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from torch import nn

from ganlab.sampling import image_grid, run_generator, save_grid


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


class SampleGrid(L.Callback):
    def __init__(self, output_dir: str, every_n_epochs: int = 1) -> None:
        self.output_dir = Path(output_dir) / "samples"
        self.every_n_epochs = max(1, int(every_n_epochs))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch
        if not trainer.is_global_zero or (epoch + 1) % self.every_n_epochs:
            return
        # The model's fixed grid inputs and sizes (MNISTGANModel's attributes; Lightning types
        # a module's attributes as tensors or modules only).
        noise = cast(torch.Tensor, pl_module.grid_noise)
        labels = cast(torch.Tensor, pl_module.grid_labels)
        per_row = cast(int, pl_module.samples_per_class)
        n_classes = cast(int, pl_module.n_classes)
        images = run_generator(cast(nn.Module, pl_module.sampling_generator), noise, labels)
        path = save_grid(images, self.output_dir / f"epoch_{epoch:03d}.png", per_row)
        save_grid(images, self.output_dir / "latest.png", per_row)
        caption = f"epoch {epoch}: one row per class 0-{n_classes - 1}"
        grid = image_grid(images, per_row)
        log_image(trainer, "samples", grid, epoch_metrics_step(trainer), caption, path)
