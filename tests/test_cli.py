"""The command lines as a user types them: the assignment's commands and every bad input."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REPO_ROOT, assert_one_line_error, run, tiny_cli_overrides


def test_the_assignments_commands_run(tmp_path: Path, tiny_data_dir: Path) -> None:
    """`python run.py experiment=train_mnist_gan.yaml trainer.gpus=0 ...` as in the assignment."""
    command = [
        sys.executable,
        str(REPO_ROOT / "run.py"),
        "experiment=train_mnist_gan.yaml",
        "trainer.gpus=0",
        "trainer.max_epochs=1",
        "datamodule.batch_size=32",
        *tiny_cli_overrides(),
    ]
    result = run(command, tmp_path, tiny_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = list((tmp_path / "logs" / "train_mnist_gan" / "runs").iterdir())
    assert len(runs) == 1
    assert (runs[0] / "checkpoints" / "last.ckpt").is_file()
    assert (runs[0] / "samples" / "epoch_000.png").is_file()
    config = (runs[0] / ".hydra" / "config.yaml").read_text()
    assert "batch_size: 32" in config and "max_epochs: 1" in config


def test_gpus_1_without_a_gpu_is_one_line(tmp_path: Path, tiny_data_dir: Path) -> None:
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    command = [sys.executable, str(REPO_ROOT / "run.py"), "experiment=train_mnist_gan.yaml"]
    result = run([*command, "trainer.gpus=1", *tiny_cli_overrides()], tmp_path, tiny_data_dir)
    assert_one_line_error(result, "trainer.gpus=1", "use trainer.gpus=0")


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("trainer.max_epoch=3", "Key 'max_epoch' is not in struct"),
        ("experiment=train_mnist_gann", "Could not find 'experiment/train_mnist_gann'"),
        ("datamodule.batch_size=0", "datamodule.batch_size=0 must be a positive integer"),
        ("trainer.devices=0", "`Trainer(devices=0)` value is not a valid input"),
    ],
)
def test_bad_training_config_is_one_line(tmp_path: Path, tiny_data_dir, override, fragment) -> None:
    result = run(["ganlab-train", override, *tiny_cli_overrides()], tmp_path, tiny_data_dir)
    assert_one_line_error(result, fragment)


def test_missing_data_is_one_line(tmp_path: Path) -> None:
    env_dir = tmp_path / "empty"
    result = run(
        ["ganlab-train", "datamodule.verify=false", "extras.print_config=false", "logger=none"],
        tmp_path,
        env_dir,
    )
    assert_one_line_error(result, "train-images-idx3-ubyte is missing", "make data")


def test_generate_writes_png_and_npz(tmp_path: Path, trained_checkpoint: Path) -> None:
    out = tmp_path / "five"
    args = ["--labels", "5", "--n", "6", "--seed", "1", "--out", str(out)]
    result = run(["ganlab-generate", str(trained_checkpoint), *args], tmp_path)
    assert result.returncode == 0, result.stderr
    with np.load(out.with_suffix(".npz")) as data:
        assert data["images"].dtype == np.uint8 and data["images"].shape == (6, 32, 32)
        assert data["labels"].dtype == np.int64 and data["labels"].tolist() == [5] * 6
    assert out.with_suffix(".png").stat().st_size > 100


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [
        ("10", "label 10 is out of range"),
        ("-1", "label -1 is out of range"),
        ("five", "label 'five' is not a class number"),
    ],
)
def test_generate_rejects_bad_labels(tmp_path, trained_checkpoint, labels, fragment) -> None:
    result = run(["ganlab-generate", str(trained_checkpoint), "--labels", labels], tmp_path)
    assert_one_line_error(result, fragment)
    assert not list(tmp_path.glob("generated.*")), "nothing is written on bad input"


def test_generate_rejects_missing_and_corrupt_checkpoints(
    tmp_path: Path, trained_checkpoint
) -> None:
    result = run(["ganlab-generate", str(tmp_path / "missing.ckpt")], tmp_path)
    assert_one_line_error(result, "missing.ckpt does not exist")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(trained_checkpoint.read_bytes()[:5000])
    result = run(["ganlab-generate", str(truncated)], tmp_path)
    assert_one_line_error(result, "truncated.ckpt is corrupt or unreadable")


def test_generate_does_not_overwrite_on_failure(tmp_path: Path, trained_checkpoint: Path) -> None:
    keep = tmp_path / "keep.png"
    keep.write_bytes(b"precious")
    result = run(
        ["ganlab-generate", str(trained_checkpoint), "--n", "0", "--out", "keep"], tmp_path
    )
    assert_one_line_error(result, "--n 0 for 10 label(s) must give between 1")
    assert keep.read_bytes() == b"precious"


def test_unwritable_output_is_one_line_and_keeps_nothing(tmp_path, trained_checkpoint) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("I am a file")
    out = not_a_folder / "five"
    result = run(["ganlab-generate", str(trained_checkpoint), "--out", str(out)], tmp_path)
    assert_one_line_error(result, "File exists", str(not_a_folder))
    assert not_a_folder.read_text() == "I am a file"


def test_data_command_reports_an_unreachable_index(tmp_path: Path) -> None:
    env = {"GANLAB_INDEX_URL": "http://127.0.0.1:9/simple"}
    os.environ.update(env)
    try:
        result = run(["ganlab-data", "--data-dir", str(tmp_path / "d")], tmp_path)
    finally:
        del os.environ["GANLAB_INDEX_URL"]
    assert_one_line_error(result, "could not reach the package index")


def test_evaluate_reports_conditional_accuracy_as_json(
    tmp_path: Path, trained_checkpoint: Path, tiny_data_dir: Path
) -> None:
    import json

    out = tmp_path / "report.json"
    args = ["--per-class", "5", "--data-dir", str(tiny_data_dir), "--out", str(out)]
    result = run(["ganlab-evaluate", str(trained_checkpoint), *args], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report == json.loads(result.stdout)
    assert report["samples"] == 50
    assert 0.0 <= report["conditional_accuracy"] <= 1.0
    assert sorted(report["per_class_accuracy"], key=int) == [str(c) for c in range(10)]


def test_evaluate_rejects_a_non_positive_sample_count(tmp_path, trained_checkpoint) -> None:
    result = run(["ganlab-evaluate", str(trained_checkpoint), "--per-class", "0"], tmp_path)
    assert_one_line_error(result, "--per-class 0 must be at least 1")


def test_evaluate_rejects_a_missing_source(tmp_path: Path) -> None:
    result = run(["ganlab-evaluate", str(tmp_path / "none.npz")], tmp_path)
    assert_one_line_error(result, "none.npz does not exist")


def test_discriminator_example_runs(tmp_path: Path, trained_checkpoint, tiny_data_dir) -> None:
    example = str(REPO_ROOT / "examples" / "discriminator_scores.py")
    args = [str(trained_checkpoint), "--data-dir", str(tiny_data_dir), "--n", "16"]
    result = run([sys.executable, example, *args], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "real scored above generated" in result.stdout
