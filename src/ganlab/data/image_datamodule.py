"""A data set of labelled images held in memory as tensors normalised once.

Every data set the lab trains on is small enough to decode, resize and scale to [-1, 1] once at
``setup`` instead of per sample on every epoch, and batches are cut from those tensors with one
indexing operation each instead of being collated from single samples. A data set only says how
to read its files (:meth:`ImageDataModule.read_split`, uint8 pixels and labels); this base
checks what was read, converts channels, resizes, scales and splits.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset, random_split

from ganlab.errors import ConfigError, DataFileError

SPLITS = ("train", "test")
# ITU-R BT.601 luma weights: how a colour image becomes grey.
LUMA = (0.299, 0.587, 0.114)


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


def to_model_range(images: torch.Tensor, img_size: int) -> torch.Tensor:
    """uint8 [N, H, W] or [N, C, H, W] -> float32 [N, C, img_size, img_size] in [-1, 1],
    the generator's range."""
    x = (images.unsqueeze(1) if images.ndim == 3 else images).float().div_(255.0)
    if x.shape[-1] != img_size:
        x = F.interpolate(x, size=(img_size, img_size), mode="bilinear", antialias=True)
        x = x.clamp_(0.0, 1.0)
    return x.mul_(2.0).sub_(1.0)


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 [N, C, H, W] with C in {1, 3} -> the same images with ``channels`` channels:
    grey is repeated into red, green and blue; colour becomes grey by BT.601 luma."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        weights = torch.tensor(LUMA).view(1, 3, 1, 1)
        grey = (images.float() * weights).sum(dim=1, keepdim=True)
        return grey.round_().clamp_(0, 255).to(torch.uint8)
    raise DataFileError(f"cannot turn {have}-channel images into {channels}-channel ones")


def stratified_holdout(
    labels: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (kept, held out) that hold out ``fraction`` of every class, chosen by ``seed``.

    A class with at least two images gives at least one to each side, so every class is both
    trained on and evaluated. Both index tensors are sorted, so the order of the data is kept.
    """
    generator = torch.Generator().manual_seed(seed)
    held: list[torch.Tensor] = []
    for cls in torch.unique(labels).tolist():
        members = (labels == cls).nonzero().flatten()
        n = len(members)
        count = round(fraction * n)
        if n >= 2:
            count = min(max(count, 1), n - 1)
        order = torch.randperm(n, generator=generator)
        held.append(members[order[:count]])
    held_out = torch.cat(held).sort().values if held else torch.zeros(0, dtype=torch.long)
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[held_out] = False
    return keep.nonzero().flatten(), held_out


def _split_counts(value: Sequence[int] | None) -> tuple[int, int, int] | None:
    if value is None:
        return None
    counts = list(value)
    if len(counts) != 3 or any(isinstance(n, bool) or not isinstance(n, int) for n in counts):
        raise ConfigError(
            f"datamodule.train_val_test_split={counts} must be three image counts "
            "(train, val, test) or null for the data set's default"
        )
    if min(counts) < 1:
        raise ConfigError(f"datamodule.train_val_test_split={counts} must be three positive sizes")
    return counts[0], counts[1], counts[2]


class ImageDataModule(L.LightningDataModule):
    """Labelled images of one data set, split into train/val/test subsets of one in-memory
    tensor pair each.

    Subclasses set :attr:`name` and :attr:`evaluator`, pass their class names and native
    channel count, and implement :meth:`read_split` (and :meth:`ensure_files` when their files
    can be fetched and verified). Data sets without an official test split set
    :attr:`official_test` to False and read everything as split ``"all"``; the base then holds
    out a class-stratified :attr:`holdout_fraction` with a fixed seed as the test split, so the
    test images are the same in every run.
    """

    name: str = ""
    # Name of the pinned evaluator for this data; "" means one is trained per data folder.
    evaluator: str = ""
    sources: tuple[str, ...] = ("local",)
    official_test: bool = True
    holdout_fraction: float = 0.1
    holdout_seed: int = 0
    # Share of the training pool drawn at random as the validation set when the split is null.
    val_fraction: float = 0.1
    # Whether `channels` may differ from the data's own (ImageFolder converts; fixed sets do not).
    converts_channels: bool = False

    def __init__(
        self,
        *,
        class_names: Sequence[str],
        native_channels: int,
        data_dir: str | os.PathLike = "data",
        img_size: int = 32,
        train_val_test_split: Sequence[int] | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        split_seed: int = 42,
        verify: bool = True,
        source: str | None = None,
        n_classes: int | None = None,
        channels: int | None = None,
    ) -> None:
        super().__init__()
        if img_size < 8:
            raise ConfigError(f"datamodule.img_size={img_size} is too small; use at least 8")
        if batch_size < 1:
            raise ConfigError(f"datamodule.batch_size={batch_size} must be a positive integer")
        source = source or self.sources[0]
        if source not in self.sources:
            raise ConfigError(
                f"datamodule.source={source!r} is not a source of {self.name}; expected one of "
                f"{', '.join(self.sources)}"
            )
        self.class_names: list[str] = list(class_names)
        if n_classes is not None and n_classes != len(self.class_names):
            raise ConfigError(
                f"datamodule.n_classes={n_classes} but {self.name} has {len(self.class_names)} "
                f"classes ({', '.join(self.class_names)})"
            )
        if channels is not None and channels not in (1, 3):
            raise ConfigError(f"datamodule.channels={channels} must be 1 (grey) or 3 (colour)")
        if channels is not None and channels != native_channels and not self.converts_channels:
            raise ConfigError(
                f"datamodule.channels={channels} but {self.name} images have {native_channels}"
            )
        self.channels: int = channels or native_channels
        self.data_dir = str(data_dir)
        self.source = source
        self.verify = verify
        self.img_size = img_size
        self.split = _split_counts(train_val_test_split)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.split_seed = split_seed
        # Subsets of the InMemoryDataset of each split, once setup() has run.
        self.data_train: Subset[tuple[torch.Tensor, ...]] | None = None
        self.data_val: Subset[tuple[torch.Tensor, ...]] | None = None
        self.data_test: Subset[tuple[torch.Tensor, ...]] | None = None
        self._all: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def ensure_files(self) -> None:
        """Fetch the files if the source allows it and verify them; raise DataFileError."""

    def read_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images [N, C, H, W] (or [N, H, W]) and int64 labels of ``split``: "train" or
        "test", or "all" for a data set without an official test split."""
        raise NotImplementedError

    def prepare_data(self) -> None:
        if self.verify:
            self.ensure_files()

    def load_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """float32 images [N, C, img_size, img_size] in [-1, 1] and int64 labels of ``split``
        ("train" or "test"): what training draws from and evaluation compares against."""
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        if self.official_test:
            images, labels = self._checked(*self.read_split(split), split)
        else:
            if self._all is None:
                self._all = self._checked(*self.read_split("all"), "all")
            images, labels = self._all
            kept, held_out = stratified_holdout(labels, self.holdout_fraction, self.holdout_seed)
            index = kept if split == "train" else held_out
            images, labels = images[index], labels[index]
        return to_model_range(to_channels(images, self.channels), self.img_size), labels

    def _checked(
        self, images: torch.Tensor, labels: torch.Tensor, split: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        where = f"{self.name} {split} data in {self.data_dir}"
        if images.ndim == 3:
            images = images.unsqueeze(1)
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != images.shape[-2]:
            raise DataFileError(
                f"{where}: expected square uint8 images, got {images.dtype} {tuple(images.shape)}"
            )
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataFileError(
                f"{where}: {tuple(images.shape)} images vs {tuple(labels.shape)} labels"
            )
        if len(images) == 0:
            raise DataFileError(f"{where}: no images")
        labels = labels.long()
        if labels.min() < 0 or labels.max() >= self.n_classes:
            raise DataFileError(f"{where}: labels fall outside 0..{self.n_classes - 1}")
        if images.shape[1] not in (1, 3):
            raise DataFileError(f"{where}: images have {images.shape[1]} channels")
        return images, labels

    def default_split(self, n_pool: int, n_test: int) -> tuple[int, int, int]:
        """The split a null ``train_val_test_split`` stands for: :attr:`val_fraction` of the
        training pool for validation, the rest for training, the whole test split."""
        n_val = max(1, round(self.val_fraction * n_pool))
        return n_pool - n_val, n_val, n_test

    def setup(self, stage: str | None = None) -> None:
        if self.data_train is not None:
            return
        fit_pool = InMemoryDataset(*self.load_split("train"))
        test_set = InMemoryDataset(*self.load_split("test"))
        self._all = None
        split = self.split or self.default_split(len(fit_pool), len(test_set))
        n_train, n_val, n_test = split
        if n_train < 1 or n_train + n_val > len(fit_pool) or n_test > len(test_set):
            raise ConfigError(
                f"datamodule.train_val_test_split={list(split)} asks for more images than "
                f"the files hold ({len(fit_pool)} train+val, {len(test_set)} test)"
            )
        generator = torch.Generator().manual_seed(self.split_seed)
        unused = len(fit_pool) - n_train - n_val
        self.data_train, self.data_val, _ = random_split(
            fit_pool, [n_train, n_val, unused], generator=generator
        )
        self.data_test = Subset(test_set, range(n_test))

    def _loader(self, dataset: Dataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() before asking for a data loader")
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
