"""Shared fixtures: tiny hand-made MNIST files and composed configs that train in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from ganlab.train import CONFIG_DIR
from tests.helpers import REAL_DATA_DIR, TINY_SPLIT, make_tiny_mnist, real_mnist_available


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_mnist(tmp_path_factory.mktemp("tiny_mnist"))


@pytest.fixture
def real_data_dir() -> Path:
    if not real_mnist_available():
        pytest.skip(f"real MNIST not in {REAL_DATA_DIR}; run `make data`")
    return REAL_DATA_DIR


def tiny_overrides(data_dir: Path) -> list[str]:
    return [
        f"paths.data_dir={data_dir}",
        "datamodule.verify=false",
        f"datamodule.train_val_test_split=[{','.join(map(str, TINY_SPLIT))}]",
        "datamodule.batch_size=16",
        "trainer.accelerator=cpu",
        "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1",
        "logger=none",
        "extras.print_config=false",
        "callbacks.generation_quality.per_class=4",
        "callbacks.generation_quality.test_per_class=4",
        "~callbacks.rich_progress_bar",
        "~callbacks.model_summary",
    ]


def compose_train_config(output_dir: Path, overrides: list[str]) -> DictConfig:
    """Compose configs/train.yaml as Hydra would, with the run directory set to ``output_dir``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        del cfg.hydra
    return cfg


@pytest.fixture
def make_cfg(tmp_path: Path, tiny_data_dir: Path):
    """Factory: a composed tiny-data config writing into ``tmp_path / name``."""

    def factory(*extra: str, name: str = "run") -> DictConfig:
        out = tmp_path / name
        out.mkdir(parents=True, exist_ok=True)
        return compose_train_config(out, [*tiny_overrides(tiny_data_dir), *extra])

    return factory


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, tiny_data_dir: Path) -> Path:
    """One tiny default-config run (trained, tested, checkpointed) shared by every test that
    only reads its outputs: generation, evaluation, export, the service and the CLIs."""
    from ganlab.train import train

    out = tmp_path_factory.mktemp("trained_run")
    train(compose_train_config(out, tiny_overrides(tiny_data_dir)))
    return out


@pytest.fixture(scope="session")
def trained_checkpoint(trained_run: Path) -> Path:
    return trained_run / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="session")
def trained_onnx(tmp_path_factory: pytest.TempPathFactory, trained_checkpoint: Path) -> Path:
    from ganlab.deploy.onnx_export import export_onnx

    out = tmp_path_factory.mktemp("onnx") / "generator.onnx"
    export_onnx(trained_checkpoint, out, parity_batch_sizes=(1, 5, 64))
    return out


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """Factory: a fresh tmpfs of ``size`` bytes mounted under ``tmp_path`` (a real file system
    that fills up), unmounted after the test. Needs root; skipped otherwise."""
    import subprocess

    mounted: list[Path] = []

    def mount(size: int, name: str = "small_fs") -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs needs root")
        folder = tmp_path / name
        folder.mkdir()
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture(autouse=True)
def _small_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
