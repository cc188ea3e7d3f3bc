"""Data-parallel training, proven on this CPU-only machine with two gloo processes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
import pytest
import torch
from torch import nn

from ganlab.errors import ConfigError
from ganlab.train import instantiate
from ganlab.utils.distributed import (
    average_gradients,
    scaled_learning_rate,
    take_over_gradient_sync,
)
from tests.ddp_gradients import average_on_rank, gradient_problem
from tests.helpers import (
    REPO_ROOT,
    TINY_DIFFUSION,
    assert_one_line_exit,
    image_fingerprint,
    run,
    tiny_cli_overrides,
)


def test_ddp_sim_shards_every_epoch_syncs_gradients_and_writes_one_run(
    tmp_path: Path, tiny_data_dir: Path, make_cfg
) -> None:
    """`trainer=ddp_sim` (plain DDP, find_unused_parameters off): each process gets a disjoint
    half of every epoch, reshuffled per epoch; the halves cover the training split; both
    generators end with identical weights; one Hydra run folder, one W&B run, and sample grids
    and checkpoints written once, by rank 0."""
    shards = tmp_path / "shards"
    command = [sys.executable, str(REPO_ROOT / "run.py"), "trainer=ddp_sim"]
    command += ["trainer.max_epochs=2", "datamodule.batch_size=16", *tiny_cli_overrides()]
    command += ["logger=wandb", "+callbacks.shard_recorder._target_=tests.helpers.ShardRecorder"]
    command += [f"+callbacks.shard_recorder.out_dir={shards}"]
    result = run(command, tmp_path, tiny_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]

    ranks = [json.loads((shards / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [record["world_size"] for record in ranks] == [2, 2]
    datamodule = hydra.utils.instantiate(make_cfg().datamodule)
    datamodule.setup("fit")
    training_split = {image_fingerprint(image) for image, _ in datamodule.data_train}
    assert len(training_split) == len(datamodule.data_train) == 96
    for epoch in ("0", "1"):
        first, second = (set(record["seen"][epoch]) for record in ranks)
        assert len(first) == len(second) == 48
        assert not first & second
        assert first | second == training_split
    assert ranks[0]["seen"]["0"] != ranks[0]["seen"]["1"]  # DistributedSampler.set_epoch
    assert ranks[0]["generator"] == ranks[1]["generator"]

    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert [p.name for p in run_dir.glob(".hydra*")] == [".hydra"]
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [
        "epoch_000.png",
        "epoch_001.png",
        "latest.png",
    ]
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert "last.ckpt" in checkpoints and all("rank" not in name for name in checkpoints)


def test_ddp_sim_trains_the_diffusion_model_in_step(tmp_path: Path, tiny_data_dir: Path) -> None:
    """The diffusion model under `trainer=ddp_sim` (automatic optimisation, Lightning's own
    gradient sync): both processes see disjoint halves and end with the same denoiser."""
    shards = tmp_path / "shards"
    command = [sys.executable, str(REPO_ROOT / "run.py"), "trainer=ddp_sim", *TINY_DIFFUSION]
    command += ["trainer.max_epochs=1", "datamodule.batch_size=16", *tiny_cli_overrides()]
    command += ["+callbacks.shard_recorder._target_=tests.helpers.ShardRecorder"]
    command += [f"+callbacks.shard_recorder.out_dir={shards}"]
    result = run(command, tmp_path, tiny_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((shards / f"rank{r}.json").read_text()) for r in (0, 1)]
    first, second = (set(record["seen"]["0"]) for record in ranks)
    assert first and not first & second
    assert ranks[0]["generator"] == ranks[1]["generator"]


@pytest.mark.parametrize(("rule", "expected"), [("none", 2e-4), ("linear", 8e-4), ("sqrt", 4e-4)])
def test_learning_rate_rules_for_four_processes(rule: str, expected: float) -> None:
    assert scaled_learning_rate(2e-4, 4, rule) == pytest.approx(expected)
    assert scaled_learning_rate(2e-4, 1, rule) == pytest.approx(2e-4)


def test_unknown_learning_rate_rule_is_a_config_error(make_cfg) -> None:
    with pytest.raises(ConfigError, match=r"model\.lr_scaling='cubic' must be one of"):
        instantiate(make_cfg("model.lr_scaling=cubic").model, "model")


def test_gradients_are_left_alone_outside_ddp() -> None:
    layer = nn.Linear(3, 2)
    layer(torch.ones(4, 3)).sum().backward()
    before = layer.weight.grad.clone()
    assert take_over_gradient_sync(layer) is False
    average_gradients(layer.parameters())
    assert torch.equal(layer.weight.grad, before)


def slurm_dry_run(monkeypatch: pytest.MonkeyPatch, *overrides: str) -> None:
    """``ganlab-slurm-dry-run overrides...`` in-process, in the test's folder."""
    from ganlab import slurm

    monkeypatch.setattr(sys, "argv", ["ganlab-slurm-dry-run", *overrides])
    slurm.main()


def test_slurm_dry_run_prints_a_batch_script_sized_from_the_trainer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Multi-node: 2 nodes x 4 GPUs becomes one sbatch job with 4 tasks per node, each task
    one Lightning process; nothing is submitted."""
    monkeypatch.chdir(tmp_path)
    overrides = ["trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"]
    overrides += ["hydra.launcher.partition=gpu", "experiment=train_mnist_dcgan"]
    slurm_dry_run(monkeypatch, *overrides)
    script = capsys.readouterr().out
    assert script.startswith("#!/bin/bash")
    for line in (
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --partition=gpu",
        "#SBATCH --job-name=train_mnist_dcgan",
        "srun ",
    ):
        assert line in script
    assert "8 tasks" in script
    assert (
        "trainer=ddp trainer.devices=4 trainer.num_nodes=2 experiment=train_mnist_dcgan" in script
    )
    assert not (tmp_path / "logs").exists()


def test_slurm_dry_run_needs_a_gpu_count(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert_one_line_exit(
        capsys,
        lambda argv: slurm_dry_run(monkeypatch, *argv),
        ["trainer=ddp"],
        "hydra.launcher.tasks_per_node=-1",
        "trainer.devices=4",
    )


def test_torchrun_processes_share_one_run_folder(tmp_path: Path, tiny_data_dir: Path) -> None:
    """Under torchrun every process composes its own Hydra config; the run folder is named by
    the rendezvous id, so both processes write into one folder and W&B starts one run."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += [str(REPO_ROOT / "run.py"), "trainer=ddp_sim", "trainer.max_epochs=1"]
    command += ["datamodule.batch_size=16", *tiny_cli_overrides(), "logger=wandb"]
    result = run(command, tmp_path, tiny_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert run_dir.name.startswith("torchrun_")
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()


def test_ddp_gradients_are_the_mean_over_processes_of_one_global_batch(tmp_path: Path) -> None:
    """Two processes, each with half of a batch of 8: after averaging, both hold the gradient
    that one process computes on the whole batch (a sum would be twice that, a missing
    all-reduce only half of the batch's)."""
    import torch.multiprocessing as mp

    mp.spawn(
        average_on_rank,
        args=(2, str(tmp_path / "init"), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    model, inputs = gradient_problem()
    model(inputs).pow(2).mean().backward()
    expected = [p.grad for p in model.parameters()]
    for rank in (0, 1):
        grads = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for got, want in zip(grads, expected, strict=True):
            torch.testing.assert_close(got, want)
