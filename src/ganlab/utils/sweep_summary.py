"""Collect a finished sweep into one place: every trial's objective and the best trial's config.

Hydra writes each trial into ``<sweep dir>/<job number>/`` and the Optuna sweeper adds
``optimization_results.yaml`` (best parameters only). This Hydra callback adds, next to it:

* ``trials.json``: per trial, its overrides, objective and final metrics, best first;
* ``best_config.yaml``: the complete composed config of the best trial, ready to rerun with
  ``python run.py --config-path <sweep dir> --config-name best_config``.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ganlab.utils.atomic import atomic_path

log = logging.getLogger(__name__)


def read_trials(sweep_dir: Path) -> list[dict[str, Any]]:
    """One record per trial folder that finished (wrote ``summary.json``)."""
    trials = []
    for summary_file in sweep_dir.glob("*/summary.json"):
        folder = summary_file.parent
        summary = json.loads(summary_file.read_text())
        overrides_file = folder / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
        trials.append(
            {
                "trial": folder.name,
                "objective": summary.get("objective"),
                "overrides": overrides,
                "metrics": summary.get("metrics", {}),
                "folder": str(folder),
            }
        )
    return trials


def rank_trials(trials: list[dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    """Best first; trials without a finite objective last."""
    sign = -1.0 if direction == "maximize" else 1.0

    def key(trial: dict[str, Any]) -> tuple[bool, float]:
        value = trial["objective"]
        finite = isinstance(value, int | float) and math.isfinite(value)
        return (not finite, sign * value if finite else 0.0)

    return sorted(trials, key=key)


class SweepSummary(Callback):
    """Hydra callback: writes ``trials.json`` and ``best_config.yaml`` when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        direction = str(config.hydra.sweeper.get("direction", "minimize"))
        trials = rank_trials(read_trials(sweep_dir), direction)
        if not trials:
            log.warning("Sweep %s: no trial finished", sweep_dir)
            return
        record = {
            "optimized_metric": config.get("optimized_metric"),
            "direction": direction,
            "trials": trials,
        }
        with atomic_path(sweep_dir / "trials.json") as tmp:
            tmp.write_text(json.dumps(record, indent=2))
        best = trials[0]
        best_config = Path(best["folder"]) / ".hydra" / "config.yaml"
        if best_config.is_file():
            with atomic_path(sweep_dir / "best_config.yaml") as tmp:
                shutil.copyfile(best_config, tmp)
        log.info(
            "Sweep %s: best trial %s, %s=%s, overrides %s",
            sweep_dir,
            best["trial"],
            record["optimized_metric"],
            best["objective"],
            " ".join(best["overrides"]),
        )
