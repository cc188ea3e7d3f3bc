"""MNIST on the shared in-memory :class:`ImageDataModule`: 70k 28x28 grey digits, "0".."9".

The IDX reading here also serves Fashion-MNIST, which ships in the same format. The generic
pieces that used to live here (``InMemoryDataset``, ``batch_loader``, ``keep_batch``,
``to_model_range``) are re-exported for the modules that import them from this one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ganlab.data.image_datamodule import (
    ImageDataModule,
    InMemoryDataset,
    batch_loader,
    keep_batch,
    to_model_range,
)
from ganlab.data.mnist_files import FIX_HINT, SOURCES, ensure_mnist, raw_dir
from ganlab.errors import DataFileError

__all__ = [
    "CLASS_NAMES",
    "N_CLASSES",
    "InMemoryDataset",
    "MNISTDataModule",
    "batch_loader",
    "keep_batch",
    "load_split",
    "read_idx",
    "read_idx_split",
    "to_model_range",
]

CLASS_NAMES = [str(digit) for digit in range(10)]
N_CLASSES = len(CLASS_NAMES)
IDX_PREFIX = {"train": "train", "test": "t10k"}


def read_idx(path: Path, what: str = "MNIST") -> torch.Tensor:
    """Read one IDX file with torchvision's reader, turning format errors into DataFileError."""
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

    try:
        return read_sn3_pascalvincent_tensor(str(path), strict=False)
    except FileNotFoundError as error:
        raise DataFileError(
            f"{what} file {path} is missing; run `make data` to fetch it"
        ) from error
    except Exception as error:  # torchvision asserts on bad magic numbers / truncated payloads
        raise DataFileError(f"{what} file {path} is not a valid IDX file ({error})") from error


def read_idx_split(
    folder: Path, split: str, n_classes: int, what: str, hint: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images [N, H, W] and int64 labels of the ``train`` or ``test`` pair of IDX files
    in ``folder``, named as torchvision names them."""
    prefix = IDX_PREFIX[split]
    images = read_idx(folder / f"{prefix}-images-idx3-ubyte", what)
    labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte", what).long()
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataFileError(
            f"{what} files {prefix}-* in {folder} disagree: {tuple(images.shape)} images vs "
            f"{tuple(labels.shape)} labels; {hint}"
        )
    if labels.numel() and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataFileError(f"{what} labels in {folder} fall outside 0..{n_classes - 1}")
    return images, labels


def load_split(
    data_dir: str | os.PathLike, split: str, img_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [-1, 1] at ``img_size`` and int64 labels of the MNIST ``train`` or ``test``
    files."""
    hint = FIX_HINT.format(data_dir=data_dir)
    images, labels = read_idx_split(raw_dir(data_dir), split, N_CLASSES, "MNIST", hint)
    return to_model_range(images, img_size), labels


class MNISTDataModule(ImageDataModule):
    """MNIST split 55k/5k/10k (train/val/test) by default; images at ``img_size`` pixels."""

    name = "mnist"
    evaluator = "mnist"
    sources = SOURCES
    # 5,000 of the 60,000 training images: the customary 55k/5k/10k split.
    val_fraction = 1 / 12

    def __init__(
        self,
        data_dir: str = "data",
        source: str = "registry",
        verify: bool = True,
        img_size: int = 32,
        train_val_test_split: Sequence[int] | None = (55_000, 5_000, 10_000),
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        split_seed: int = 42,
        n_classes: int | None = None,
        channels: int | None = None,
    ) -> None:
        super().__init__(
            class_names=CLASS_NAMES,
            native_channels=1,
            data_dir=data_dir,
            img_size=img_size,
            train_val_test_split=train_val_test_split,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            split_seed=split_seed,
            verify=verify,
            source=source,
            n_classes=n_classes,
            channels=channels,
        )

    def ensure_files(self) -> None:
        ensure_mnist(self.data_dir, self.source)

    def read_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        hint = FIX_HINT.format(data_dir=self.data_dir)
        return read_idx_split(raw_dir(self.data_dir), split, N_CLASSES, "MNIST", hint)
