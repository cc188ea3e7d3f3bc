"""Any folder of labelled images: one sub-folder per class, classes in sorted name order.

Images may be grey or colour (converted to ``channels``; transparency is composited on white)
and of any size, as long as all share one square size, which is resized to ``img_size`` once.
Images of different or non-square sizes are refused, naming two files, unless ``resize`` is set:
then each image is centre-cropped to a square and resized on its own. The folder has no
official test split, so 10 % of every class is held out (see :class:`ImageDataModule`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ganlab.data.emoji import decode_rgb_on_white
from ganlab.data.image_datamodule import ImageDataModule
from ganlab.errors import DataFileError

EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})


def class_folders(root: Path) -> list[Path]:
    """The class sub-folders of ``root`` in sorted name order; at least two, each with images."""
    if not root.is_dir():
        raise DataFileError(f"image folder {root} does not exist")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not any(image_files(folder) for folder in folders):
        raise DataFileError(f"image folder {root} has no images in class sub-folders")
    empty = [folder for folder in folders if not image_files(folder)]
    if empty:
        raise DataFileError(f"class folder {empty[0]} has no images")
    if len(folders) < 2:
        raise DataFileError(
            f"image folder {root} has one class ({folders[0].name}); a class-conditional GAN "
            "needs at least two sub-folders"
        )
    return folders


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)


def centre_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """uint8 [H, W, 3] centre-cropped to a square and resized to ``size``."""
    from PIL import Image

    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(pixels[top : top + side, left : left + side])
    return np.asarray(square.resize((size, size), Image.Resampling.BILINEAR))


class ImageFolderDataModule(ImageDataModule):
    """Images under ``root``/<class>/; the class index is the sorted position of its folder."""

    name = "image_folder"
    evaluator = ""
    official_test = False
    converts_channels = True

    def __init__(
        self,
        root: str | None = None,
        data_dir: str = "data",
        resize: bool = False,
        source: str = "local",
        verify: bool = True,
        img_size: int = 64,
        train_val_test_split: Sequence[int] | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        split_seed: int = 42,
        n_classes: int | None = None,
        channels: int | None = 3,
    ) -> None:
        self.root = Path(root) if root else Path(data_dir) / "images"
        self.folders = class_folders(self.root)
        super().__init__(
            class_names=[folder.name for folder in self.folders],
            native_channels=channels or 3,
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
        self.resize = resize

    def ensure_files(self) -> None:
        self.folders = class_folders(self.root)

    def read_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        images: list[np.ndarray] = []
        labels: list[int] = []
        first: tuple[Path, tuple[int, int]] | None = None
        for label, folder in enumerate(self.folders):
            for path in image_files(folder):
                pixels = decode_rgb_on_white(path.read_bytes(), str(path))
                shape = pixels.shape[:2]
                if self.resize:
                    pixels = centre_square(pixels, self.img_size)
                elif first is None:
                    first = (path, shape)
                    if shape[0] != shape[1]:
                        raise DataFileError(
                            f"image {path} is {shape[1]}x{shape[0]}, not square; set "
                            "datamodule.resize=true to centre-crop and resize every image"
                        )
                elif shape != first[1]:
                    raise DataFileError(
                        f"images differ in size: {first[0]} is {first[1][1]}x{first[1][0]}, "
                        f"{path} is {shape[1]}x{shape[0]}; set datamodule.resize=true to "
                        "resize every image"
                    )
                images.append(pixels.transpose(2, 0, 1))
                labels.append(label)
        return torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64)
