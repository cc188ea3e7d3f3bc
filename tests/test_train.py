"""End-to-end training on tiny data: fast_dev_run, checkpoints, resume, step counting, loggers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.checkpoints import load_checkpoint, load_generator, load_network
from ganlab.errors import CheckpointError, ConfigError
from ganlab.generate import generate_images
from ganlab.train import train
from tests.helpers import SimulatedCrashError, fit_batches


def test_fast_dev_run_trains_validates_and_tests(make_cfg) -> None:
    cfg = make_cfg("debug=fast_dev_run", "logger=none")
    metrics = train(cfg)
    for key in ("train/g_loss_epoch", "train/d_loss_epoch", "test/g_loss", "test/d_loss"):
        assert key in metrics and torch.isfinite(torch.tensor(metrics[key]))


def test_one_batch_updates_both_networks(make_cfg) -> None:
    import hydra

    cfg = make_cfg()
    model = hydra.utils.instantiate(cfg.model, _convert_="all")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer, _ = fit_batches(cfg, 1, model)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert any(k.startswith("generator.model") for k in changed)
    assert any(k.startswith("discriminator.model") for k in changed)
    assert trainer.global_step == 2, "one generator and one discriminator step"


def test_one_epoch_writes_checkpoints_samples_curves_and_summary(make_cfg) -> None:
    cfg = make_cfg()
    train(cfg)
    out = Path(cfg.paths.output_dir)
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert list((out / "checkpoints").glob("epoch_000.ckpt")), "best checkpoint kept"
    assert (out / "samples" / "epoch_000.png").is_file()
    assert (out / "samples" / "latest.png").is_file()
    assert (out / "loss_curves.png").stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    assert 0.0 <= summary["metrics"]["val/cond_acc"] <= 1.0
    assert 0.0 <= summary["metrics"]["test/cond_acc"] <= 1.0
    assert summary["fit_seconds"] > 0 and summary["epochs"] == 1
    assert summary["best_checkpoint"].endswith("epoch_000.ckpt")


def test_the_sample_grid_has_one_row_per_class(make_cfg) -> None:
    from PIL import Image

    cfg = make_cfg("callbacks.sample_grid.per_class=5")
    train(cfg)
    grid = Image.open(Path(cfg.paths.output_dir) / "samples" / "latest.png")
    # 32 px images with 2 px padding: 5 columns, 10 rows.
    assert grid.size == (5 * 34 + 2, 10 * 34 + 2)


def test_checkpoint_loads_with_weights_only_and_generates(make_cfg) -> None:
    cfg = make_cfg()
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    checkpoint = load_checkpoint(ckpt)  # weights_only=True inside
    assert checkpoint["ganlab"]["latent_dim"] == cfg.model.latent_dim
    generator = load_generator(ckpt).network
    images, labels, _ = generate_images(ckpt, ["5"], 4, seed=3)
    again, _, _ = generate_images(ckpt, ["5"], 4, seed=3)
    assert images.shape == (4, 1, 32, 32) and labels.tolist() == [5, 5, 5, 5]
    assert np.array_equal(images, again), "same seed must give the same images"
    other, _, _ = generate_images(ckpt, ["5"], 4, seed=4)
    assert not np.array_equal(images, other)
    assert not generator.training
    discriminator, _ = load_network(ckpt, "discriminator")
    assert discriminator(torch.from_numpy(images), torch.from_numpy(labels)).shape == (4,)
    with pytest.raises(CheckpointError, match="unknown network 'critic'"):
        load_network(ckpt, "critic")


def test_resume_continues_epochs_steps_and_curves(make_cfg) -> None:
    first = make_cfg(name="first")
    train(first)
    last = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    state = load_checkpoint(last)
    batches_per_epoch = 96 // 16
    assert state["global_step"] == 2 * batches_per_epoch  # one G and one D step per batch

    second = make_cfg(f"ckpt_path={last}", "trainer.max_epochs=2", name="second")
    train(second)
    resumed = load_checkpoint(Path(second.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert resumed["epoch"] == 1
    assert resumed["global_step"] == 4 * batches_per_epoch
    curves = resumed["callbacks"]
    history = next(v for k, v in curves.items() if k.startswith("LossCurves"))
    assert [epoch for epoch, _ in history["epochs"]["train/g_loss_epoch"]] == [1, 2]


def final_state(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


def assert_same_tensors(mine, theirs, where: str = "") -> None:
    """Equal nested containers of tensors and plain values, bit for bit."""
    if isinstance(mine, dict):
        assert mine.keys() == theirs.keys(), where
        for key in mine:
            assert_same_tensors(mine[key], theirs[key], f"{where}.{key}")
    elif isinstance(mine, list | tuple):
        assert len(mine) == len(theirs), where
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            assert_same_tensors(a, b, f"{where}[{i}]")
    elif isinstance(mine, torch.Tensor):
        assert torch.equal(mine, theirs), where
    else:
        assert mine == theirs, where


@dataclass
class FinishedRun:
    run_dir: Path
    metrics: dict[str, float]


def crash_and_resume(make_cfg, overrides: list[str]) -> tuple[FinishedRun, FinishedRun]:
    """The run of ``overrides`` straight through, and the same run killed before batch 3 of its
    second epoch (after last.ckpt of the first was written) and resumed from last.ckpt."""
    straight_cfg = make_cfg(*overrides, name="straight")
    straight = FinishedRun(Path(straight_cfg.paths.output_dir), train(straight_cfg))
    crashed_cfg = make_cfg(
        *overrides,
        "+callbacks.crash._target_=tests.helpers.CrashAt",
        "+callbacks.crash.epoch=1",
        "+callbacks.crash.batch=3",
        name="crashed",
    )
    with pytest.raises(SimulatedCrashError):
        train(crashed_cfg)
    last = Path(crashed_cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert load_checkpoint(last)["epoch"] == 0
    resumed_cfg = make_cfg(*overrides, f"ckpt_path={last}", name="resumed")
    return straight, FinishedRun(Path(resumed_cfg.paths.output_dir), train(resumed_cfg))


@pytest.mark.parametrize(
    "recipe",
    [
        pytest.param([], id="assignment-mlp"),
        pytest.param(["experiment=train_mnist_dcgan", "datamodule.batch_size=16"], id="dcgan-ema"),
    ],
)
def test_a_run_killed_in_epoch_two_and_resumed_ends_where_the_uninterrupted_run_ends(
    make_cfg, recipe: list[str]
) -> None:
    """Weights, EMA weights, optimiser moments, loop counters and every logged metric of the
    resumed run equal the uninterrupted run's, bit for bit: the random-number states, the
    optimisers and the EMA counter all came back from last.ckpt."""
    straight_run, resumed_run = crash_and_resume(make_cfg, [*recipe, "trainer.max_epochs=2"])
    straight, resumed = straight_run.metrics, resumed_run.metrics

    assert "val/fid" in straight and "test/cond_acc" in straight
    assert resumed == straight
    mine, theirs = final_state(resumed_run.run_dir), final_state(straight_run.run_dir)
    for key in ("state_dict", "optimizer_states", "ganlab", "global_step", "epoch"):
        assert_same_tensors(mine[key], theirs[key], key)
    assert len(mine["optimizer_states"][0]["state"]) > 0  # Adam's moments were compared


def test_resume_without_the_random_states_would_not_repeat_the_run(make_cfg) -> None:
    """The control for the test above: with the random-state callback removed, the same
    crash and resume give other numbers, so that test's equality is the callback's doing."""
    straight_run, resumed_run = crash_and_resume(
        make_cfg, ["trainer.max_epochs=2", "~callbacks.random_state"]
    )
    straight, resumed = straight_run.metrics, resumed_run.metrics
    assert resumed["train/g_loss_epoch"] != straight["train/g_loss_epoch"]


def test_max_time_is_the_budget_even_inside_the_first_epoch(make_cfg) -> None:
    """No min_epochs floor: a 1-second budget stops a run whose batches take 0.3 s each in its
    first epoch, after about three batches, not after the epoch's six."""
    cfg = make_cfg(
        "trainer.max_time=00:00:00:01",
        "trainer.max_epochs=5",
        "test=false",
        "+callbacks.slow._target_=tests.helpers.SlowBatches",
        "+callbacks.slow.seconds=0.3",
    )
    train(cfg)
    state = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert state["epoch"] == 0
    assert 2 * 2 <= state["global_step"] < 2 * 6  # one G and one D step per batch


def test_last_checkpoint_follows_every_epoch_and_best_keeps_the_best(make_cfg) -> None:
    # Monitoring the epoch number with mode=min makes epoch 0 the best forever.
    cfg = make_cfg(
        "trainer.max_epochs=3",
        "callbacks.model_checkpoint.monitor=epoch",
        "callbacks.model_checkpoint.mode=min",
        "test=false",
    )
    train(cfg)
    folder = Path(cfg.paths.output_dir) / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["epoch_000.ckpt", "last.ckpt"]
    assert load_checkpoint(folder / "last.ckpt")["epoch"] == 2
    assert load_checkpoint(folder / "epoch_000.ckpt")["epoch"] == 0


def test_max_steps_counts_batches_not_optimizer_steps(make_cfg) -> None:
    cfg = make_cfg("trainer.max_steps=4", "trainer.max_epochs=5", "test=false")
    train(cfg)
    state = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert state["global_step"] == 2 * 4
    history = next(v for k, v in state["callbacks"].items() if k.startswith("LossCurves"))
    assert [batch for batch, _ in history["steps"]["train/g_loss_step"]] == [1, 2, 3, 4]


def test_missing_or_corrupt_resume_checkpoint_is_rejected(make_cfg, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        train(make_cfg(f"ckpt_path={tmp_path / 'nope.ckpt'}"))
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or unreadable"):
        train(make_cfg(f"ckpt_path={bad}"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.optimizer_g.lr=-1", r"model.optimizer_g: Invalid learning rate: -1"),
        ("model.optimizer_d.lr=abc", r"model.optimizer_d: '<=' not supported"),
    ],
)
def test_invalid_optimizer_arguments_name_their_key(make_cfg, override, message) -> None:
    with pytest.raises(ConfigError, match=message):
        train(make_cfg(override, "test=false"))


def test_gpus_is_translated_and_checked(make_cfg) -> None:
    train(make_cfg("trainer.gpus=0", "trainer.accelerator=auto", "debug=fast_dev_run"))
    if not torch.cuda.is_available():
        with pytest.raises(
            ConfigError, match=r"trainer.gpus=1 asks for 1 GPU\(s\) but this machine has 0"
        ):
            train(make_cfg("trainer.gpus=1"))


def test_log_interval_counts_batches(make_cfg) -> None:
    """log_every_n_steps=2 over 6 batches logs batches 1, 3, 5 (not every 2 optimiser steps)."""
    import csv

    cfg = make_cfg("logger=csv", "trainer.log_every_n_steps=2", "test=false")
    train(cfg)
    with (Path(cfg.paths.output_dir) / "csv" / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows if r["train/g_loss_step"]] == [1, 3, 5]
    assert [r["val/cond_acc"] for r in rows if r["val/cond_acc"]], "validation metrics logged"


def test_tensorboard_logger_is_selectable(make_cfg) -> None:
    cfg = make_cfg("logger=tensorboard", "trainer.max_steps=3", "test=false")
    train(cfg)
    assert list((Path(cfg.paths.output_dir) / "tensorboard").rglob("events.out.tfevents.*"))


def test_wandb_runs_offline_and_keeps_the_sample_images(make_cfg, monkeypatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = make_cfg("logger=wandb")
    train(cfg)
    runs = list((Path(cfg.paths.output_dir) / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, "W&B must run offline without an API key"
    images = [p.name for p in (runs[0] / "files" / "media" / "images").glob("*.png")]
    assert any(name.startswith("samples") for name in images)
    assert any(name.startswith("loss_curves") for name in images)


@pytest.mark.parametrize(
    ("offline", "env", "expected"),
    [
        (None, {}, True),
        (None, {"WANDB_API_KEY": "x"}, False),
        (None, {"WANDB_MODE": "online"}, False),
        (None, {"WANDB_MODE": "offline", "WANDB_API_KEY": "x"}, True),
        (True, {"WANDB_API_KEY": "x"}, True),
        (False, {}, False),
    ],
)
def test_wandb_goes_online_only_when_asked(monkeypatch, offline, env, expected) -> None:
    from ganlab.utils.wandb import wandb_should_be_offline

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert wandb_should_be_offline(offline) is expected


def test_cpu_threads_are_pinned_and_checked(make_cfg) -> None:
    train(make_cfg("extras.cpu_threads=1", "debug=fast_dev_run"))
    assert torch.get_num_threads() == 1
    with pytest.raises(ConfigError, match=r"extras.cpu_threads=0 must be a positive integer"):
        train(make_cfg("extras.cpu_threads=0"))


def test_a_run_ends_with_where_it_is_its_numbers_against_real_digits_and_what_next(
    make_cfg, capsys
) -> None:
    cfg = make_cfg()
    train(cfg)
    out = capsys.readouterr().out
    run_dir = Path(cfg.paths.output_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert f"Run folder: {run_dir}" in out
    fid_line = next(line for line in out.splitlines() if line.strip().startswith("FID "))
    generated, real = (float(part.split()[-1]) for part in fid_line.split("|"))
    assert generated == pytest.approx(summary["metrics"]["test/fid"], abs=0.005)
    assert real == pytest.approx(summary["metrics"]["test/floor_fid"], abs=0.005)
    assert f"ganlab-generate {summary['best_checkpoint']} --labels 5" in out
    assert str(run_dir / "samples" / "latest.png") in out
