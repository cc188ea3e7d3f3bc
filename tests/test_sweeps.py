"""Hyperparameter sweeps: Optuna over the recipe, judged by the best validated classifier-FID."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from ganlab.errors import ConfigError
from ganlab.train import objective
from ganlab.utils.sweep_summary import rank_trials
from tests.helpers import REPO_ROOT, run, tiny_cli_overrides


def logged_values(trial_dir: Path, name: str) -> list[float]:
    with (trial_dir / "csv" / "metrics.csv").open() as handle:
        return [float(row[name]) for row in csv.DictReader(handle) if row.get(name)]


def test_two_trial_optuna_sweep_collects_trials_and_the_best_config(
    tmp_path: Path, tiny_data_dir: Path
) -> None:
    command = [sys.executable, str(REPO_ROOT / "run.py"), "-m", "hparams_search=mnist_optuna"]
    command += ["hydra.sweeper.n_trials=2", "trainer.max_epochs=2", "datamodule.batch_size=16"]
    result = run([*command, *tiny_cli_overrides()], tmp_path, tiny_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]

    (sweep_dir,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    record = json.loads((sweep_dir / "trials.json").read_text())
    assert record["optimized_metric"] == "val/fid" and record["direction"] == "minimize"
    trials = record["trials"]
    assert sorted(t["trial"] for t in trials) == ["0", "1"]
    objectives = [t["objective"] for t in trials]
    assert objectives == sorted(objectives) and all(math.isfinite(v) for v in objectives)
    for trial in trials:
        trial_dir = sweep_dir / trial["trial"]
        # The objective is the best of the epochs' val/fid, not the last one.
        assert len(logged_values(trial_dir, "val/fid")) == 2
        assert trial["objective"] == pytest.approx(min(logged_values(trial_dir, "val/fid")))
        assert any(o.startswith("model.optimizer_g.lr=") for o in trial["overrides"])

    best = sweep_dir / trials[0]["trial"]
    assert (sweep_dir / "best_config.yaml").read_text() == (best / ".hydra/config.yaml").read_text()
    optuna_result = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert optuna_result["best_value"] == pytest.approx(objectives[0])
    best_lr = OmegaConf.load(sweep_dir / "best_config.yaml").model.optimizer_g.lr
    assert optuna_result["best_params"]["model.optimizer_g.lr"] == pytest.approx(best_lr)


@pytest.mark.parametrize(
    ("direction", "order"), [("minimize", ["b", "a", "c", "d"]), ("maximize", ["a", "b", "c", "d"])]
)
def test_trials_rank_best_first_and_unfinished_last(direction: str, order: list[str]) -> None:
    trials = [
        {"trial": "c", "objective": None},
        {"trial": "a", "objective": 3.0},
        {"trial": "d", "objective": float("nan")},
        {"trial": "b", "objective": 1.0},
    ]
    assert [t["trial"] for t in rank_trials(trials, direction)] == order


def test_objective_names_what_was_logged_when_the_metric_is_missing() -> None:
    cfg = OmegaConf.create({"optimized_metric": "val/fdi"})
    with pytest.raises(ConfigError, match=r"optimized_metric=val/fdi was not logged.*val/fid"):
        objective(cfg, {"val/fid": 3.0, "val/cond_acc": 0.9}, callbacks=[])
    assert objective(OmegaConf.create({"optimized_metric": None}), {"val/fid": 3.0}, []) is None
    assert objective(OmegaConf.create({"optimized_metric": "val/fid"}), {"val/fid": 3.0}, []) == 3.0
