"""MNIST as a LightningDataModule, held in memory as tensors normalised once.

The whole set is 70k images of 28x28 bytes (55 MB), so it is decoded, resized and scaled to
[-1, 1] once at ``setup`` instead of per sample on every epoch, and batches are cut from those
tensors with one indexing operation each instead of being collated from single samples.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset, random_split

from ganlab.data.mnist_files import FIX_HINT, ensure_mnist, raw_dir
from ganlab.errors import ConfigError, DataFileError

N_CLASSES = 10


class InMemoryDataset(TensorDataset):
    """Tensors in memory that hand out a whole batch per indexing operation.

    The DataLoader calls ``__getitems__`` with a batch's indices when a dataset has it (also
    through ``Subset``), so a batch costs one ``tensor[indices]`` per tensor rather than 64
    single-sample lookups and a ``torch.stack``. Samplers are unchanged, so shuffling and
    Lightning's ``DistributedSampler`` work as usual.
    """

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return tuple(tensor[index] for tensor in self.tensors)


def keep_batch(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """collate_fn for :class:`InMemoryDataset`: its batches are already stacked."""
    return batch


def batch_loader(dataset: Dataset, **options: Any) -> DataLoader:
    """A DataLoader over ``dataset``; batches of an :class:`InMemoryDataset` (or a subset of
    one) are taken as they come, anything else is collated as usual."""
    root = dataset
    while isinstance(root, Subset):
        root = root.dataset
    if isinstance(root, InMemoryDataset):
        options.setdefault("collate_fn", keep_batch)
    return DataLoader(dataset, **options)


def read_idx(path: Path) -> torch.Tensor:
    """Read one IDX file with torchvision's reader, turning format errors into DataFileError."""
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

    try:
        return read_sn3_pascalvincent_tensor(str(path), strict=False)
    except FileNotFoundError as error:
        raise DataFileError(f"MNIST file {path} is missing; run `make data` to fetch it") from error
    except Exception as error:  # torchvision asserts on bad magic numbers / truncated payloads
        raise DataFileError(f"MNIST file {path} is not a valid IDX file ({error})") from error


def to_model_range(images: torch.Tensor, img_size: int) -> torch.Tensor:
    """uint8 [N, H, W] or [N, C, H, W] -> float32 [N, C, img_size, img_size] in [-1, 1],
    the generator's range."""
    x = (images.unsqueeze(1) if images.ndim == 3 else images).float().div_(255.0)
    if x.shape[-1] != img_size:
        x = F.interpolate(x, size=(img_size, img_size), mode="bilinear", antialias=True)
        x = x.clamp_(0.0, 1.0)
    return x.mul_(2.0).sub_(1.0)


def load_split(
    data_dir: str | os.PathLike, split: str, img_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [-1, 1] at ``img_size`` and int64 labels of the ``train`` or ``test`` file."""
    folder = raw_dir(data_dir)
    prefix = {"train": "train", "test": "t10k"}[split]
    images = read_idx(folder / f"{prefix}-images-idx3-ubyte")
    labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte").long()
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataFileError(
            f"MNIST files {prefix}-* in {folder} disagree: {tuple(images.shape)} images vs "
            f"{tuple(labels.shape)} labels; {FIX_HINT.format(data_dir=data_dir)}"
        )
    if labels.numel() and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise DataFileError(f"MNIST labels in {folder} fall outside 0..{N_CLASSES - 1}")
    return to_model_range(images, img_size), labels


class MNISTDataModule(L.LightningDataModule):
    """MNIST split 55k/5k/10k (train/val/test) by default; images at ``img_size`` pixels."""

    def __init__(
        self,
        data_dir: str = "data",
        source: str = "registry",
        verify: bool = True,
        img_size: int = 32,
        train_val_test_split: tuple[int, int, int] = (55_000, 5_000, 10_000),
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        split_seed: int = 42,
    ) -> None:
        super().__init__()
        if img_size < 8:
            raise ConfigError(f"datamodule.img_size={img_size} is too small; use at least 8")
        if batch_size < 1:
            raise ConfigError(f"datamodule.batch_size={batch_size} must be a positive integer")
        if len(train_val_test_split) != 3 or min(train_val_test_split) < 1:
            raise ConfigError(
                f"datamodule.train_val_test_split={list(train_val_test_split)} must be three "
                "positive sizes"
            )
        self.data_dir = data_dir
        self.source = source
        self.verify = verify
        self.img_size = img_size
        self.split = tuple(int(n) for n in train_val_test_split)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.split_seed = split_seed
        # Subsets of the InMemoryDataset of each file, once setup() has run.
        self.data_train: Subset[tuple[torch.Tensor, ...]] | None = None
        self.data_val: Subset[tuple[torch.Tensor, ...]] | None = None
        self.data_test: Subset[tuple[torch.Tensor, ...]] | None = None

    @property
    def n_classes(self) -> int:
        return N_CLASSES

    def prepare_data(self) -> None:
        if self.verify:
            ensure_mnist(self.data_dir, self.source)

    def setup(self, stage: str | None = None) -> None:
        if self.data_train is not None:
            return
        fit_pool = InMemoryDataset(*load_split(self.data_dir, "train", self.img_size))
        test_set = InMemoryDataset(*load_split(self.data_dir, "test", self.img_size))
        n_train, n_val, n_test = self.split
        if n_train + n_val > len(fit_pool) or n_test > len(test_set):
            raise ConfigError(
                f"datamodule.train_val_test_split={list(self.split)} asks for more images than "
                f"the files hold ({len(fit_pool)} train+val, {len(test_set)} test)"
            )
        generator = torch.Generator().manual_seed(self.split_seed)
        unused = len(fit_pool) - n_train - n_val
        self.data_train, self.data_val, _ = random_split(
            fit_pool, [n_train, n_val, unused], generator=generator
        )
        self.data_test = Subset(test_set, range(n_test))

    def _loader(self, dataset, shuffle: bool) -> DataLoader:
        return batch_loader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            drop_last=shuffle,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.data_train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.data_val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.data_test, shuffle=False)
