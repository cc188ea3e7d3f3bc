"""The progress bar shows what is left of a time budget, and nothing of one that is absent."""

from __future__ import annotations

import hydra
import lightning as L
import pytest

from ganlab.callbacks import RichProgressBar
from ganlab.callbacks.progress_bar import format_seconds


class RecordBar(L.Callback):
    def __init__(self, bar: RichProgressBar) -> None:
        self.bar, self.items = bar, []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.items.append(self.bar.get_metrics(trainer, pl_module))


@pytest.mark.parametrize("max_time", [{"minutes": 5}, None])
def test_the_bar_shows_the_budget_left_while_training(make_cfg, max_time) -> None:
    cfg = make_cfg()
    bar = RichProgressBar(refresh_rate=1)
    record = RecordBar(bar)
    trainer = L.Trainer(
        max_time=max_time,
        max_steps=4,
        callbacks=[bar, record],
        logger=False,
        enable_checkpointing=False,
        limit_val_batches=0,
        accelerator="cpu",
    )
    trainer.fit(
        hydra.utils.instantiate(cfg.model, _convert_="all"),
        datamodule=hydra.utils.instantiate(cfg.datamodule),
    )
    assert record.items
    if max_time is None:
        assert all("budget left" not in items for items in record.items)
        return
    shown = [items["budget left"] for items in record.items]
    minutes, seconds = (int(part) for part in shown[-1].split(":"))
    assert 4 * 60 < 60 * minutes + seconds <= 5 * 60


def test_seconds_are_shown_as_minutes_and_seconds() -> None:
    assert format_seconds(125.4) == "2:05"
    assert format_seconds(0.2) == "0:00"
    assert format_seconds(3600) == "60:00"
