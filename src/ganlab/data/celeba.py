"""CelebA: 202,599 aligned face photos (178x218), labelled by one of its 40 binary attributes.

The files are torchvision's layout (``<data_dir>/celeba/``: ``img_align_celeba/*.jpg``,
``list_attr_celeba.txt``, ``list_eval_partition.txt``), fetched by torchvision's downloader
(Google Drive, online only). Each photo is centre-cropped to a square and resized to
``img_size`` while it is decoded, so memory holds only the small images. The class is the
chosen attribute (default ``Smiling``): 0 = without it, 1 = with it. The official partitions
train (0) and valid (1) form the training pool; test (2) is the test split.

Memory: the float32 tensors take 3 * img_size**2 * 4 bytes per image, about 10 GB for all
202,599 images at 64 px.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ganlab.data.image_datamodule import ImageDataModule
from ganlab.errors import DataFileError

FOLDER = "celeba"
IMAGES = "img_align_celeba"
ATTRIBUTES_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
# md5 of the label files, as torchvision's CelebA checks them.
MD5 = {
    ATTRIBUTES_FILE: "75e246fa4810816ffd6ee81facbd244c",
    PARTITION_FILE: "d32c9cbf5e040fd4025c592c306e6668",
}
PARTITIONS = {"train": {0, 1}, "test": {2}}
FIX_HINT = (
    "fetch it with torchvision (needs internet): "
    "torchvision.datasets.CelebA('{data_dir}', download=True)"
)


def attribute_class_names(attribute: str) -> list[str]:
    """["not smiling", "smiling"] for "Smiling": index = the attribute's 0/1 value."""
    words = attribute.replace("_", " ").lower()
    return [f"not {words}", words]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def verify_celeba(data_dir: str | os.PathLike) -> None:
    folder = Path(data_dir) / FOLDER
    hint = FIX_HINT.format(data_dir=data_dir)
    for name, expected in MD5.items():
        path = folder / name
        if not path.is_file():
            raise DataFileError(f"CelebA file {path} is missing; {hint}")
        if _md5(path) != expected:
            raise DataFileError(
                f"CelebA file {path} is corrupt (md5 differs); delete it and {hint}"
            )
    if not (folder / IMAGES).is_dir():
        raise DataFileError(f"CelebA folder {folder / IMAGES} is missing; {hint}")


def ensure_celeba(data_dir: str | os.PathLike) -> None:
    """Fetch with torchvision's downloader if something is missing, then check the label files."""
    folder = Path(data_dir) / FOLDER
    if not (folder / IMAGES).is_dir() or any(not (folder / name).is_file() for name in MD5):
        from torchvision.datasets import CelebA

        try:
            CelebA(str(data_dir), split="all", download=True)
        except Exception as error:  # torchvision raises RuntimeError/URLError/OSError variously
            raise DataFileError(
                f"torchvision could not download CelebA into {data_dir} ({error})"
            ) from error
    verify_celeba(data_dir)


def _lines(path: Path) -> list[list[str]]:
    try:
        return [line.split() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError as error:
        raise DataFileError(f"CelebA file {path} is missing") from error


def read_attribute(path: Path, attribute: str) -> dict[str, int]:
    """image file name -> 1 if it has ``attribute`` else 0, from list_attr_celeba.txt (a count,
    then the attribute names, then one row of -1/1 per image)."""
    rows = _lines(path)
    if len(rows) < 2:
        raise DataFileError(f"CelebA file {path} has no attribute header")
    names = rows[1]
    if attribute not in names:
        raise DataFileError(f"CelebA attribute {attribute!r} is not in {path} (it has {names})")
    column = names.index(attribute) + 1
    values: dict[str, int] = {}
    for row in rows[2:]:
        if len(row) != len(names) + 1 or row[column] not in ("-1", "1"):
            raise DataFileError(f"CelebA file {path}: malformed row for {row[0]}")
        values[row[0]] = int(row[column] == "1")
    return values


def read_partition(path: Path) -> dict[str, int]:
    """image file name -> partition (0 train, 1 valid, 2 test), from list_eval_partition.txt."""
    partition = {}
    for row in _lines(path):
        if len(row) != 2 or row[1] not in ("0", "1", "2"):
            raise DataFileError(f"CelebA file {path}: malformed row {' '.join(row)!r}")
        partition[row[0]] = int(row[1])
    return partition


def load_face(path: Path, size: int) -> np.ndarray:
    """uint8 [3, size, size]: the photo centre-cropped to a square, then resized."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except FileNotFoundError as error:
        raise DataFileError(f"CelebA image {path} is missing") from error
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError for bad files
        raise DataFileError(f"CelebA image {path} is corrupt ({error})") from error
    side = min(rgb.size)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    square = rgb.crop((left, top, left + side, top + side))
    return np.asarray(square.resize((size, size), Image.Resampling.BILINEAR)).transpose(2, 0, 1)


class CelebADataModule(ImageDataModule):
    """CelebA faces at 64 px by default, two classes from one attribute."""

    name = "celeba"
    evaluator = ""
    sources = ("torchvision",)

    def __init__(
        self,
        data_dir: str = "data",
        attribute: str = "Smiling",
        source: str = "torchvision",
        verify: bool = True,
        img_size: int = 64,
        train_val_test_split: Sequence[int] | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        split_seed: int = 42,
        n_classes: int | None = None,
        channels: int | None = None,
    ) -> None:
        super().__init__(
            class_names=attribute_class_names(attribute),
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
        self.attribute = attribute

    def ensure_files(self) -> None:
        ensure_celeba(self.data_dir)

    def read_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        folder = Path(self.data_dir) / FOLDER
        values = read_attribute(folder / ATTRIBUTES_FILE, self.attribute)
        partition = read_partition(folder / PARTITION_FILE)
        names = sorted(name for name, part in partition.items() if part in PARTITIONS[split])
        unlabelled = [name for name in names if name not in values]
        if unlabelled:
            raise DataFileError(f"CelebA image {unlabelled[0]} has no row in {ATTRIBUTES_FILE}")
        if not names:
            raise DataFileError(f"CelebA has no {split} images in {folder / PARTITION_FILE}")
        paths = [folder / IMAGES / name for name in names]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            faces = list(pool.map(lambda path: load_face(path, self.img_size), paths))
        labels = torch.tensor([values[name] for name in names], dtype=torch.int64)
        return torch.from_numpy(np.stack(faces)), labels
