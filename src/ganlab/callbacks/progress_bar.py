"""Lightning's Rich progress bar, updated at its refresh rate only, with the time budget.

``refresh_rate`` means what it means for Lightning's ``RichProgressBar``: redraws per second.
Lightning 2.6 still collects the progress-bar metrics and updates the bar after every training
batch, although Rich draws at most ``refresh_rate`` of those states a second; for the MLP pair
that costs about 3 % of a training step on 2 CPU cores (docs/performance.md). This bar updates
after a training batch only when a redraw could show it (``1 / refresh_rate`` seconds after the
last update) and after an epoch's last batch. The bar's position is absolute, so skipping the
batches in between loses nothing.

When the run has a wall-clock budget (``trainer.max_time``), the bar also shows how much of it
is left, so a time-budgeted recipe says when it will stop instead of an epoch count it will
not reach.
"""

from __future__ import annotations

import math
from time import monotonic
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar as LightningRichProgressBar
from lightning.pytorch.callbacks import Timer


def budget_left(trainer: L.Trainer) -> float | None:
    """Seconds left in the training budget (``trainer.max_time``); None without one."""
    callbacks: list[L.Callback] = trainer.callbacks  # type: ignore[attr-defined]  # a property Lightning does not annotate
    for callback in callbacks:
        if isinstance(callback, Timer):
            remaining = callback.time_remaining()
            return None if remaining is None else max(0.0, remaining)
    return None


def format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class RichProgressBar(LightningRichProgressBar):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_update = -math.inf  # monotonic() of the last per-batch update

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
        now = monotonic()
        if (
            self.is_enabled
            and not trainer.is_last_batch
            and now - self._last_update < 1.0 / self.refresh_rate
        ):
            return  # Rich would not draw this state before the next one replaces it
        self._last_update = now
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
