"""The benchmark scripts stay runnable: each one, on real MNIST, at a few batches.

Their numbers come from full runs written into docs/performance.md; here only the plumbing is
checked (they finish, and their JSON holds the fields the docs quote). The scripts run in this
process as ``__main__`` (as ``python benchmarks/<name>.py`` would run them): a fresh interpreter
per script would spend about 9 s of the test's time importing Lightning.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.mnist


BENCHMARKS = REPO_ROOT / "benchmarks"


def run_script(script: str, monkeypatch, *argv: str) -> None:
    """``python benchmarks/<script>.py ARGV`` in this process; the thread count it may change
    is put back afterwards."""
    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / f"{script}.py"), *argv])
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the scripts import their siblings
    monkeypatch.setenv("WANDB_MODE", "offline")
    threads = torch.get_num_threads()
    try:
        runpy.run_path(str(BENCHMARKS / f"{script}.py"), run_name="__main__")
    finally:
        torch.set_num_threads(threads)


def bench(script: str, tmp_path: Path, data_dir: Path, monkeypatch, *args: str) -> dict:
    out = tmp_path / f"{script}.json"
    monkeypatch.chdir(tmp_path)
    run_script(script, monkeypatch, "--data-dir", str(data_dir), "--out", str(out), *args)
    return json.loads(out.read_text())


def test_training_throughput_compares_both_paths_per_round(
    tmp_path, real_data_dir, monkeypatch
) -> None:
    report = bench(
        "train_throughput",
        tmp_path,
        real_data_dir,
        monkeypatch,
        *("--experiment", "train_mnist_dcgan", "--batches", "4", "--rounds", "2"),
    )
    assert len(report["lightning_over_bare_per_round"]) == 2
    assert 0 < report["lightning_over_bare"] < 10
    assert set(report["median_images_per_s"]) == {"bare PyTorch loop", "ganlab Lightning path"}


def test_upsampling_benchmark_times_two_generators_that_agree(
    tmp_path, real_data_dir, monkeypatch
) -> None:
    report = bench(
        "generator_upsampling",
        tmp_path,
        real_data_dir,
        monkeypatch,
        "--batches",
        "2",
        "--rounds",
        "2",
    )
    assert len(report["speedup_per_round"]) == 2 and report["speedup"] > 0
    assert set(report["median_images_per_s"]) == {
        "low-resolution upsampling (project)",
        "nn.Upsample + Conv2d",
    }
    assert report["max_abs_output_difference"] < 1e-4  # the same function, computed two ways


def test_time_to_quality_checks_the_generator_while_training(
    tmp_path, real_data_dir, monkeypatch
) -> None:
    report = bench(
        "time_to_quality",
        tmp_path,
        real_data_dir,
        monkeypatch,
        *("--every", "3", "--per-class", "10", "--max-minutes", "0.0001"),
        *("--quality-at", "0", "--quality-per-class", "20", "datamodule.batch_size=16"),
    )
    (check,) = report["checks"]  # the budget is spent after the first check
    assert check["batches"] == 3 and 0.0 <= check["accuracy"] <= 1.0
    assert check["train_seconds"] == report["train_seconds_total"] > 0
    assert report["batch_size"] == 16 and report["overrides"] == ["datamodule.batch_size=16"]
    (measured,) = report["quality"]  # the first batch passes the 0-second mark
    assert measured["batches"] == 1 and measured["fid"] > 0 and 0 <= measured["recall"] <= 1


def test_threads_data_loading_and_the_gpu_script_run_on_the_cpu(
    tmp_path, real_data_dir, monkeypatch
) -> None:
    settings = bench(
        "cpu_settings",
        tmp_path,
        real_data_dir,
        monkeypatch,
        *("--threads", "1", "2", "--batch-sizes", "32", "--images", "64", "--rounds", "1"),
    )
    assert set(settings["median_images_per_s"]) == {"1 threads, batch 32", "2 threads, batch 32"}
    loading = bench(
        "data_loading", tmp_path, real_data_dir, monkeypatch, "--batches", "20", "--rounds", "1"
    )
    assert set(loading["median_ms_per_batch"]) == {"per-sample collation", "index per batch"}
    gpu = bench(
        "gpu_training",
        tmp_path,
        real_data_dir,
        monkeypatch,
        *("--device", "cpu", "--fraction", "0.03", "--repeats", "1", "--batch-sizes", "512"),
    )
    assert set(gpu["epoch_seconds"]) == {
        "mlp bare, batch 512",
        "mlp lightning, batch 64",
        "dcgan recipe bare, batch 64",
    }
    assert set(gpu["sampling"]) == {"mlp batch 1", "mlp batch 1024"}


def test_a_wrong_override_of_a_benchmark_ends_in_one_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        run_script("time_to_quality", monkeypatch, "model.nope=1")
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: Could not override 'model.nope'. To append to your config use +model.nope=1"
    )
    assert list(tmp_path.iterdir()) == []  # nothing written
