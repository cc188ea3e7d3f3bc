"""Data set name -> its LightningDataModule class, imported only when asked for."""

from __future__ import annotations

import importlib

from ganlab.data.image_datamodule import ImageDataModule
from ganlab.errors import ConfigError

DATASETS: dict[str, str] = {
    "mnist": "ganlab.data.mnist_datamodule:MNISTDataModule",
    "fashion_mnist": "ganlab.data.fashion_mnist:FashionMNISTDataModule",
    "emoji": "ganlab.data.emoji:EmojiDataModule",
    "cifar10": "ganlab.data.cifar10:CIFAR10DataModule",
    "celeba": "ganlab.data.celeba:CelebADataModule",
    "image_folder": "ganlab.data.image_folder:ImageFolderDataModule",
}


def datamodule_class(name: str) -> type[ImageDataModule]:
    """The class of data set ``name``; an unknown name is a ConfigError listing the known ones."""
    if name not in DATASETS:
        raise ConfigError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}")
    module, _, attribute = DATASETS[name].partition(":")
    cls: type[ImageDataModule] = getattr(importlib.import_module(module), attribute)
    return cls
