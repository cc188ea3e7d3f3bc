"""Test helpers: tiny MNIST files in the real IDX format, command-line runs, a shard recorder."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np

from ganlab.data.mnist_files import RAW_FILES, raw_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA_DIR = Path(os.environ.get("GANLAB_DATA_DIR", REPO_ROOT / "data"))
TINY_SPLIT = (96, 32, 32)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an uint8 array in the IDX format MNIST uses (magic 0x08 = unsigned byte)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def make_tiny_mnist(data_dir: Path, n_train: int = 128, n_test: int = 32, seed: int = 0) -> Path:
    """Random 28x28 images whose centre brightness encodes the label; exercises every code path."""
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, size=(n, 28, 28))
        images[:, 8:20, 8:20] += (labels * 19)[:, None, None]
        write_idx(raw_dir(data_dir) / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw_dir(data_dir) / f"{prefix}-labels-idx1-ubyte", labels)
    return data_dir


def real_mnist_available() -> bool:
    return all((raw_dir(REAL_DATA_DIR) / name).is_file() for name in RAW_FILES)


def fit_batches(cfg, batches: int, model=None):
    """``Trainer.fit`` of ``cfg``'s model (or ``model``) for ``batches`` training batches, with
    no validation, logging or checkpoints: for tests that inspect the networks afterwards."""
    import hydra

    model = model or hydra.utils.instantiate(cfg.model, _convert_="all")
    trainer = bare_trainer(model, batches)
    trainer.fit(model, datamodule=hydra.utils.instantiate(cfg.datamodule))
    return trainer, model


def bare_trainer(model, batches: int) -> L.Trainer:
    """A CPU Trainer for ``batches`` training batches of ``model`` and nothing else: no
    validation, logging, checkpoints, progress bar or summary."""
    return L.Trainer(
        max_steps=model.optimizer_steps(batches),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        accelerator="cpu",
    )


def script(name: str) -> str:
    """A console script installed next to this interpreter (the project's virtualenv)."""
    return str(Path(sys.executable).parent / name)


def run(args: list[str], cwd: Path, data_dir: Path | None = None, timeout: int = 300):
    if not args[0].endswith(("python", "python3")) and not os.path.isabs(args[0]):
        args = [script(args[0]), *args[1:]]
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", PYTHONUNBUFFERED="1")
    if data_dir is not None:
        env["GANLAB_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


# The diffusion model trained as small as a test allows: two levels of 8 and 16 channels.
TINY_DIFFUSION = [
    "experiment=mnist_diffusion",
    "model.denoiser.widths=[8,16]",
    "model.denoiser.norm_groups=4",
    "model.sampler.steps=2",
    "trainer.max_time=null",
]


def tiny_cli_overrides() -> list[str]:
    return [
        "datamodule.verify=false",
        f"datamodule.train_val_test_split=[{','.join(map(str, TINY_SPLIT))}]",
        "callbacks.generation_quality.per_class=4",
        "callbacks.generation_quality.test_per_class=4",
        "extras.print_config=false",
        "logger=csv",
    ]


def assert_one_line_exit(capsys, main, argv: list, *fragments: str) -> str:
    """Run a console script's ``main(argv)`` in-process: exit code 2, exactly one stderr line,
    starting ``error: ``, no traceback, every fragment in it. Returns the line."""
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        main([str(arg) for arg in argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err[-2000:]
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-2000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def image_fingerprint(image) -> str:
    """A short hash of one image tensor's bytes: identifies a training example across processes."""
    return hashlib.sha1(image.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()[
        :16
    ]


class ShardRecorder(L.Callback):
    """Test callback for DDP runs: each process writes ``rank<N>.json`` with the fingerprints of
    the training images it was given, per epoch, and its generator's (or denoiser's) weights at the
    end."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.seen: dict[int, list[str]] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        prints = [image_fingerprint(image) for image in batch[0]]
        self.seen.setdefault(trainer.current_epoch, []).extend(prints)

    def on_train_end(self, trainer, pl_module) -> None:
        network = getattr(pl_module, "generator", None) or pl_module.denoiser
        weights = [p.detach().double().flatten().tolist() for p in network.parameters()]
        self.out_dir.mkdir(parents=True, exist_ok=True)
        record = {"world_size": trainer.world_size, "seen": self.seen, "generator": weights}
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


class SimulatedCrashError(RuntimeError):
    """Raised by :class:`CrashAt`: stands for a kill in the middle of training."""


class CrashAt(L.Callback):
    """Test callback: end the run with :class:`SimulatedCrashError` before batch ``batch`` of epoch
    ``epoch`` (both 0-based), after the checkpoints of the earlier epochs were written."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            raise SimulatedCrashError(f"simulated crash at epoch {self.epoch}, batch {self.batch}")


class SlowBatches(L.Callback):
    """Test callback: every training batch takes at least ``seconds`` longer."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        import time

        time.sleep(self.seconds)
