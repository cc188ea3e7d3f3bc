"""The benchmark scripts stay runnable: each one, on real MNIST, at a few batches.

Their numbers come from full runs written into docs/performance.md; here only the plumbing is
checked (they finish, and their JSON holds the fields the docs quote).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, run

pytestmark = pytest.mark.mnist


def bench(script: str, tmp_path: Path, data_dir: Path, *args: str) -> dict:
    out = tmp_path / f"{script}.json"
    command = [sys.executable, str(REPO_ROOT / "benchmarks" / f"{script}.py")]
    command += ["--data-dir", str(data_dir), "--out", str(out), *args]
    result = run(command, tmp_path, data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


def test_training_throughput_compares_both_paths_per_round(tmp_path, real_data_dir) -> None:
    report = bench(
        "train_throughput",
        tmp_path,
        real_data_dir,
        *("--experiment", "train_mnist_dcgan", "--batches", "4", "--rounds", "2"),
    )
    assert len(report["lightning_over_bare_per_round"]) == 2
    assert 0 < report["lightning_over_bare"] < 10
    assert set(report["median_images_per_s"]) == {"bare PyTorch loop", "ganlab Lightning path"}


def test_upsampling_benchmark_times_two_generators_that_agree(tmp_path, real_data_dir) -> None:
    report = bench(
        "generator_upsampling", tmp_path, real_data_dir, "--batches", "2", "--rounds", "2"
    )
    assert len(report["speedup_per_round"]) == 2 and report["speedup"] > 0
    assert set(report["median_images_per_s"]) == {
        "low-resolution upsampling (project)",
        "nn.Upsample + Conv2d",
    }
    assert report["max_abs_output_difference"] < 1e-4  # the same function, computed two ways


def test_time_to_quality_checks_the_generator_while_training(tmp_path, real_data_dir) -> None:
    report = bench(
        "time_to_quality",
        tmp_path,
        real_data_dir,
        *("--every", "3", "--per-class", "10", "--max-minutes", "0.0001"),
        *("--quality-at", "0", "--quality-per-class", "20", "datamodule.batch_size=16"),
    )
    (check,) = report["checks"]  # the budget is spent after the first check
    assert check["batches"] == 3 and 0.0 <= check["accuracy"] <= 1.0
    assert check["train_seconds"] == report["train_seconds_total"] > 0
    assert report["batch_size"] == 16 and report["overrides"] == ["datamodule.batch_size=16"]
    (measured,) = report["quality"]  # the first batch passes the 0-second mark
    assert measured["batches"] == 1 and measured["fid"] > 0 and 0 <= measured["recall"] <= 1


def test_threads_data_loading_and_the_gpu_script_run_on_the_cpu(tmp_path, real_data_dir) -> None:
    settings = bench(
        "cpu_settings",
        tmp_path,
        real_data_dir,
        *("--threads", "1", "2", "--batch-sizes", "32", "--images", "64", "--rounds", "1"),
    )
    assert set(settings["median_images_per_s"]) == {"1 threads, batch 32", "2 threads, batch 32"}
    loading = bench("data_loading", tmp_path, real_data_dir, "--batches", "20", "--rounds", "1")
    assert set(loading["median_ms_per_batch"]) == {"per-sample collation", "index per batch"}
    gpu = bench(
        "gpu_training",
        tmp_path,
        real_data_dir,
        *("--device", "cpu", "--fraction", "0.08", "--repeats", "1", "--batch-sizes", "512"),
    )
    assert set(gpu["epoch_seconds"]) == {
        "mlp bare, batch 512",
        "mlp lightning, batch 64",
        "dcgan recipe bare, batch 64",
    }
    assert set(gpu["sampling"]) == {"mlp batch 1", "mlp batch 1024"}


def test_a_wrong_override_of_a_benchmark_ends_in_one_line(tmp_path) -> None:
    command = [sys.executable, str(REPO_ROOT / "benchmarks" / "time_to_quality.py"), "model.nope=1"]
    result = run(command, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: Could not override 'model.nope'. To append to your config use +model.nope=1"
    )
