"""CIFAR-10: 60k 32x32 colour photos in ten classes, from the python version of its files.

The files are torchvision's layout (``<data_dir>/cifar-10-batches-py/``: ``data_batch_1`` to
``data_batch_5``, ``test_batch``, ``batches.meta``), fetched by torchvision's downloader, which
needs its mirror online. They are pickles; they are read with an unpickler that builds only
plain containers and numpy arrays, so a crafted file cannot run code.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlab.data.image_datamodule import ImageDataModule
from ganlab.errors import DataFileError

CLASS_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
FOLDER = "cifar-10-batches-py"
SPLIT_FILES = {
    "train": [f"data_batch_{i}" for i in range(1, 6)],
    "test": ["test_batch"],
}
# md5 of each file, as torchvision's CIFAR10 checks them.
MD5: dict[str, str] = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
FIX_HINT = (
    "fetch it with torchvision (needs internet): "
    "torchvision.datasets.CIFAR10('{data_dir}', download=True)"
)
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol 2 stores bytes
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR file")
        return super().find_class(module, name)


def read_batch(path: Path) -> dict[str, Any]:
    """One CIFAR pickle as a dict with str keys."""
    try:
        with path.open("rb") as handle:
            content = _ArrayUnpickler(handle, encoding="latin1").load()
    except FileNotFoundError as error:
        raise DataFileError(f"CIFAR-10 file {path} is missing") from error
    except Exception as error:  # unpickling raises many types for a damaged file
        raise DataFileError(f"CIFAR-10 file {path} is not a valid batch ({error})") from error
    if not isinstance(content, dict):
        raise DataFileError(f"CIFAR-10 file {path} does not hold a dict")
    return {
        key.decode() if isinstance(key, bytes) else key: value for key, value in content.items()
    }


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_cifar10(data_dir: str | os.PathLike) -> None:
    folder = Path(data_dir) / FOLDER
    hint = FIX_HINT.format(data_dir=data_dir)
    for name, expected in MD5.items():
        path = folder / name
        if not path.is_file():
            raise DataFileError(f"CIFAR-10 file {path} is missing; {hint}")
        if _md5(path) != expected:
            raise DataFileError(
                f"CIFAR-10 file {path} is corrupt (md5 differs); delete it and {hint}"
            )


def ensure_cifar10(data_dir: str | os.PathLike) -> None:
    """Fetch with torchvision's downloader if a file is missing, then check every md5."""
    folder = Path(data_dir) / FOLDER
    if any(not (folder / name).is_file() for name in MD5):
        from torchvision.datasets import CIFAR10

        try:
            CIFAR10(str(data_dir), train=True, download=True)
        except Exception as error:  # torchvision raises RuntimeError/URLError/OSError variously
            raise DataFileError(
                f"torchvision could not download CIFAR-10 into {data_dir} ({error})"
            ) from error
    verify_cifar10(data_dir)


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10 split 45k/5k/10k (train/val/test) by default."""

    name = "cifar10"
    evaluator = ""
    sources = ("torchvision",)

    def __init__(
        self,
        data_dir: str = "data",
        source: str = "torchvision",
        verify: bool = True,
        img_size: int = 32,
        train_val_test_split: Sequence[int] | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        split_seed: int = 42,
        n_classes: int | None = None,
        channels: int | None = None,
    ) -> None:
        super().__init__(
            class_names=CLASS_NAMES,
            native_channels=3,
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
        ensure_cifar10(self.data_dir)

    def read_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        folder = Path(self.data_dir) / FOLDER
        meta = read_batch(folder / "batches.meta")
        if list(meta.get("label_names", [])) != CLASS_NAMES:
            raise DataFileError(
                f"{folder / 'batches.meta'} names the classes {meta.get('label_names')}, "
                f"expected {CLASS_NAMES}"
            )
        images, labels = [], []
        for name in SPLIT_FILES[split]:
            batch = read_batch(folder / name)
            data = np.asarray(batch.get("data"))
            targets = np.asarray(batch.get("labels"), dtype=np.int64)
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise DataFileError(f"CIFAR-10 file {folder / name} holds no [N, 3072] bytes")
            if len(targets) != len(data):
                raise DataFileError(f"CIFAR-10 file {folder / name}: images and labels differ")
            images.append(data.reshape(-1, 3, 32, 32))
            labels.append(targets)
        return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))
