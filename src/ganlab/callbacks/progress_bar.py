"""Lightning's Rich progress bar, redrawn at its refresh rate only, with the time budget.

Lightning 2.6's ``RichProgressBar`` collects the progress-bar metrics and redraws the console
after every training batch whatever ``refresh_rate`` says; for the MLP pair that is about 3 % of
a training step on 2 CPU cores (docs/performance.md). The bar's position is absolute, so skipping
the batches in between loses nothing.

When the run has a wall-clock budget (``trainer.max_time``), the bar also shows how much of it
is left, so a time-budgeted recipe says when it will stop instead of an epoch count it will
not reach.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar as LightningRichProgressBar
from lightning.pytorch.callbacks import Timer


def budget_left(trainer: L.Trainer) -> float | None:
    """Seconds left in the training budget (``trainer.max_time``); None without one."""
    for callback in trainer.callbacks:
        if isinstance(callback, Timer):
            remaining = callback.time_remaining()
            return None if remaining is None else max(0.0, remaining)
    return None


def format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class RichProgressBar(LightningRichProgressBar):
    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        left = budget_left(trainer)
        if left is not None and trainer.training:
            items["budget left"] = format_seconds(left)
        return items

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
