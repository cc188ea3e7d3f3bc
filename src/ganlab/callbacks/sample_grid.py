"""Per-epoch sample grid: the fixed noise of the model, one row per class (0-9).

Written as a PNG into the run directory (``samples/epoch_XXX.png`` and ``samples/latest.png``)
and sent to every image-capable logger, so a user without W&B still sees the pictures.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

from ganlab.sampling import image_grid, run_generator, save_grid
from ganlab.utils.trainer import batches_done


class SampleGrid(L.Callback):
    def __init__(self, output_dir: str, every_n_epochs: int = 1) -> None:
        self.output_dir = Path(output_dir) / "samples"
        self.every_n_epochs = max(1, int(every_n_epochs))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch
        if not trainer.is_global_zero or (epoch + 1) % self.every_n_epochs:
            return
        images = run_generator(
            pl_module.sampling_generator, pl_module.grid_noise, pl_module.grid_labels
        )
        per_row = pl_module.samples_per_class
        path = save_grid(images, self.output_dir / f"epoch_{epoch:03d}.png", per_row)
        save_grid(images, self.output_dir / "latest.png", per_row)
        caption = f"epoch {epoch}: one row per class 0-{pl_module.n_classes - 1}"
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                step = batches_done(trainer)
                logger.log_image("samples", [str(path)], step=step, caption=[caption])
            elif isinstance(logger, TensorBoardLogger):
                grid = image_grid(images, per_row)
                logger.experiment.add_image("samples", grid, epoch, dataformats="HWC")
