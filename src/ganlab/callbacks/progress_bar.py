"""Lightning's Rich progress bar, redrawn at its refresh rate only.

Lightning 2.6's ``RichProgressBar`` collects the progress-bar metrics and redraws the console
after every training batch whatever ``refresh_rate`` says; for the MLP pair that is about 3 % of
a training step on 2 CPU cores (docs/performance.md). The bar's position is absolute, so skipping
the batches in between loses nothing.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar as LightningRichProgressBar


class RichProgressBar(LightningRichProgressBar):
    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if (batch_idx + 1) % max(1, self.refresh_rate) == 0 or trainer.is_last_batch:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
