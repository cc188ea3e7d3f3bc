"""The command lines as a user types them: the assignment's commands and one generation run as
real processes (they prove the console scripts' wiring), and every bad input in-process, through
each command's ``main``: one line ``error: ...``, exit 2, nothing written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from ganlab import evaluate, generate
from ganlab.data import mnist_files
from tests.conftest import compose_train_config, tiny_overrides
from tests.helpers import (
    REPO_ROOT,
    assert_one_line_exit,
    run,
    tiny_cli_overrides,
)


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


def train_in_process(tmp_path: Path, data_dir: Path):
    """``ganlab-train`` with Hydra's runner replaced by a plain compose (the subprocess tests
    above cover the runner): the overrides' check, then the Hydra task itself, which Hydra's
    decorator runs directly when given the config."""
    from ganlab.errors import one_line_errors
    from ganlab.train import CONFIG_DIR, _hydra_main
    from ganlab.utils.config import check_overrides, normalise_argv

    @one_line_errors
    def main(argv: list[str]) -> None:
        overrides = normalise_argv(["ganlab-train", *argv])[1:]
        check_overrides(CONFIG_DIR, "train", overrides)
        _hydra_main(compose_train_config(tmp_path, overrides))

    return lambda argv: main([*tiny_overrides(data_dir), *argv])


def test_gpus_1_without_a_gpu_is_one_line(tmp_path: Path, tiny_data_dir, capsys) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    main = train_in_process(tmp_path, tiny_data_dir)
    argv = ["experiment=train_mnist_gan.yaml", "trainer.gpus=1"]
    assert_one_line_exit(capsys, main, argv, "trainer.gpus=1", "use trainer.gpus=0")


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("trainer.max_epoch=3", "Key 'max_epoch' is not in struct"),
        ("experiment=train_mnist_gann", "Could not find 'experiment/train_mnist_gann'"),
        ("datamodule.batch_size=0", "datamodule.batch_size=0 must be a positive integer"),
        ("trainer.devices=0", "`Trainer(devices=0)` value is not a valid input"),
    ],
)
def test_bad_training_config_is_one_line(
    tmp_path: Path, tiny_data_dir, override, fragment, capsys
) -> None:
    assert_one_line_exit(capsys, train_in_process(tmp_path, tiny_data_dir), [override], fragment)


def test_missing_data_is_one_line(tmp_path: Path, capsys) -> None:
    main = train_in_process(tmp_path, tmp_path / "empty")
    assert_one_line_exit(capsys, main, [], "train-images-idx3-ubyte is missing", "make data")


def test_console_scripts_resolve() -> None:
    """Every console script names a callable that exists: the wiring the in-process tests
    below take for granted."""
    from importlib.metadata import distribution

    scripts = [ep for ep in distribution("ganlab").entry_points if ep.group == "console_scripts"]
    assert {"ganlab-generate", "ganlab-evaluate", "ganlab-export", "ganlab-train"} <= {
        ep.name for ep in scripts
    }
    for entry_point in scripts:
        assert callable(entry_point.load()), entry_point


def test_generate_writes_png_and_npz(tmp_path: Path, trained_checkpoint: Path, capsys) -> None:
    out = tmp_path / "five"
    args = ["--labels", "5", "--n", "6", "--seed", "1", "--out", str(out)]
    generate.main([str(trained_checkpoint), *args])
    assert capsys.readouterr().out.startswith("wrote 6 images to")
    with np.load(out.with_suffix(".npz")) as data:
        assert data["images"].dtype == np.uint8 and data["images"].shape == (6, 32, 32)
        assert data["labels"].dtype == np.int64 and data["labels"].tolist() == [5] * 6
    assert out.with_suffix(".png").stat().st_size > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["five.npz", "five.png"]


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [
        ("10", "label 10 is out of range"),
        ("-1", "label -1 is out of range"),
        ("five", "label 'five' is not a class number"),
    ],
)
def test_generate_rejects_bad_labels(
    tmp_path, trained_checkpoint, labels, fragment, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    assert_one_line_exit(capsys, generate.main, [trained_checkpoint, "--labels", labels], fragment)
    assert not list(tmp_path.glob("generated.*")), "nothing is written on bad input"


def test_generate_rejects_missing_and_corrupt_checkpoints(
    tmp_path: Path, trained_checkpoint, capsys
) -> None:
    out = ["--out", tmp_path / "out"]
    missing = tmp_path / "missing.ckpt"
    assert_one_line_exit(capsys, generate.main, [missing, *out], "missing.ckpt does not exist")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(trained_checkpoint.read_bytes()[:5000])
    assert_one_line_exit(
        capsys, generate.main, [truncated, *out], "truncated.ckpt is corrupt or unreadable"
    )
    assert not list(tmp_path.glob("out.*"))


def test_generate_does_not_overwrite_on_failure(
    tmp_path: Path, trained_checkpoint: Path, capsys
) -> None:
    keep = tmp_path / "keep.png"
    keep.write_bytes(b"precious")
    argv = [trained_checkpoint, "--n", "0", "--out", tmp_path / "keep"]
    assert_one_line_exit(capsys, generate.main, argv, "--n 0 for 10 label(s) must give between 1")
    assert keep.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]


def test_unwritable_output_is_one_line_and_keeps_nothing(
    tmp_path, trained_checkpoint, capsys
) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("I am a file")
    argv = [trained_checkpoint, "--out", not_a_folder / "five"]
    assert_one_line_exit(capsys, generate.main, argv, "File exists", str(not_a_folder))
    assert not_a_folder.read_text() == "I am a file"
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_data_command_reports_an_unreachable_index(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GANLAB_INDEX_URL", "http://127.0.0.1:9/simple")
    assert_one_line_exit(
        capsys,
        mnist_files.main,
        ["--data-dir", tmp_path / "d"],
        "could not reach the package index",
    )


def test_evaluate_reports_conditional_accuracy_as_json(
    tmp_path: Path, trained_checkpoint: Path, tiny_data_dir: Path, capsys
) -> None:
    out = tmp_path / "report.json"
    args = ["--per-class", "5", "--data-dir", str(tiny_data_dir), "--out", str(out)]
    evaluate.main([str(trained_checkpoint), *args])
    report = json.loads(out.read_text())
    assert report == json.loads(capsys.readouterr().out)
    assert report["samples"] == 50
    assert 0.0 <= report["conditional_accuracy"] <= 1.0
    assert sorted(report["per_class_accuracy"], key=int) == [str(c) for c in range(10)]


def test_evaluate_rejects_a_non_positive_sample_count(trained_checkpoint, capsys) -> None:
    argv = [trained_checkpoint, "--per-class", "0"]
    assert_one_line_exit(capsys, evaluate.main, argv, "--per-class 0 must be between 1 and")


def test_evaluate_rejects_a_missing_source(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "none.npz"
    assert_one_line_exit(capsys, evaluate.main, [missing], "none.npz does not exist")


def test_discriminator_example_runs(trained_checkpoint, tiny_data_dir, monkeypatch, capsys) -> None:
    """``python examples/discriminator_scores.py ...``, run in this process as ``__main__``."""
    import runpy

    example = str(REPO_ROOT / "examples" / "discriminator_scores.py")
    args = [str(trained_checkpoint), "--data-dir", str(tiny_data_dir), "--n", "16"]
    monkeypatch.setattr(sys, "argv", [example, *args])
    runpy.run_path(example, run_name="__main__")
    assert "real scored above generated" in capsys.readouterr().out
