"""W&B for the lab: offline by default, same rule as training (utils/wandb.py)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ganlab.utils.wandb import wandb_should_be_offline


class Tracker:
    """Tables, images and summary numbers to one W&B run (or nowhere when disabled)."""

    def __init__(
        self,
        enabled: bool,
        run_dir: Path,
        project: str,
        name: str,
        config: Mapping[str, Any],
        offline: bool | None = None,
    ) -> None:
        self.run = None
        if not enabled:
            return
        import wandb

        mode: Literal["offline", "online"] = (
            "offline" if wandb_should_be_offline(offline) else "online"
        )
        os.environ.setdefault("WANDB_MODE", mode)
        self.run = wandb.init(
            project=project,
            name=name,
            dir=str(run_dir),
            mode=mode,
            config=dict(config),
            reinit="finish_previous",
        )

    def table(self, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if self.run is None or not rows:
            return
        import wandb

        columns = list(rows[0].keys())
        data = [[_plain(row.get(c)) for c in columns] for row in rows]
        # wandb types columns as list[str | int], which a list[str] is not (lists are invariant).
        table = wandb.Table(columns=columns, data=data)  # type: ignore[arg-type]
        self.run.log({key: table})

    def images(self, paths: Mapping[str, Path]) -> None:
        if self.run is None:
            return
        import wandb

        self.run.log({key: wandb.Image(str(path)) for key, path in paths.items()})

    def summary(self, values: Mapping[str, float]) -> None:
        if self.run is not None:
            self.run.summary.update(dict(values))

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()


def _plain(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)
