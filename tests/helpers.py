"""Test helpers that build tiny MNIST files in the real IDX format."""

from __future__ import annotations

import os
import struct
from pathlib import Path

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
    import lightning as L

    model = model or hydra.utils.instantiate(cfg.model, _convert_="all")
    datamodule = hydra.utils.instantiate(cfg.datamodule)
    trainer = L.Trainer(
        max_steps=model.optimizer_steps(batches),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        accelerator="cpu",
    )
    trainer.fit(model, datamodule=datamodule)
    return trainer, model
