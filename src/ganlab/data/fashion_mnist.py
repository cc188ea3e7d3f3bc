"""Fashion-MNIST: 70k 28x28 grey photos of clothes in ten classes, in MNIST's IDX format.

Files are laid out as torchvision expects (``<data_dir>/FashionMNIST/raw/<name>``), so
``torchvision.datasets.FashionMNIST(data_dir)`` reads the same copy. Two sources fill it:

* ``debian`` (default, works offline here): Debian's package ``dataset-fashion-mnist`` ships the
  four gzipped IDX files under ``/usr/share/datasets/fashion-mnist/``. They are used from there
  when the package is installed; otherwise ``apt-get download`` fetches the .deb (no root
  needed) into a temporary folder in ``<data_dir>/downloads`` and ``dpkg-deb -x`` unpacks it.
* ``torchvision``: torchvision's own downloader, for users who can reach its mirrors.

The pins are the sha256 of the decompressed IDX files: Debian recompressed the archives, so
their gzip bytes differ from upstream's while the decompressed files are the same.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import torch

from ganlab.data.downloads import verify_sha256_files
from ganlab.data.image_datamodule import ImageDataModule
from ganlab.data.mnist_datamodule import read_idx_split
from ganlab.errors import DataFileError
from ganlab.utils.atomic import atomic_path, sha256_of

CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
DEBIAN_PACKAGE = "dataset-fashion-mnist"
# Where the package puts the files, on the system and inside the .deb.
PACKAGE_DIR = "usr/share/datasets/fashion-mnist"
SYSTEM_DIR = Path("/") / PACKAGE_DIR
# torchvision's file name -> sha256 of the decompressed IDX file
RAW_FILES: dict[str, str] = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
SOURCES = ("debian", "torchvision")
FIX_HINT = "run `make data` (or `ganlab-data --dataset fashion_mnist --data-dir {data_dir}`)"


def raw_dir(data_dir: str | os.PathLike) -> Path:
    """Folder that holds the raw IDX files, in torchvision's layout."""
    return Path(data_dir) / "FashionMNIST" / "raw"


def unpack_gzipped(source_dir: Path, names: Sequence[str], folder: Path) -> None:
    """Decompress ``<name>.gz`` from ``source_dir`` into ``folder``; a file whose decompressed
    sha256 differs from its pin is refused and nothing is written in its place."""
    for name in names:
        packed = source_dir / f"{name}.gz"
        if not packed.is_file():
            raise DataFileError(f"Fashion-MNIST archive {packed} is missing")
        with atomic_path(folder / name) as tmp:
            try:
                with gzip.open(packed, "rb") as source, tmp.open("wb") as target:
                    shutil.copyfileobj(source, target, 1 << 20)
            except (OSError, EOFError, zlib.error) as error:
                raise DataFileError(f"{packed} is not a valid gzip file ({error})") from error
            if sha256_of(tmp) != RAW_FILES[name]:
                raise DataFileError(
                    f"{packed} does not decompress to the pinned Fashion-MNIST file {name} "
                    "(sha256 differs); nothing was written"
                )


def _run(command: list[str], cwd: Path, fix: str) -> None:
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise DataFileError(f"{command[0]} is not installed; {fix}") from error
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise DataFileError(f"`{' '.join(command)}` failed: {lines[-1]}; {fix}")


def fetch_from_debian(data_dir: str | os.PathLike, names: Sequence[str]) -> None:
    """Fill ``names`` from Debian's package: the installed copy if there is one, else the .deb
    fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x`` in a temporary folder."""
    if SYSTEM_DIR.is_dir():
        unpack_gzipped(SYSTEM_DIR, names, raw_dir(data_dir))
        return
    fix = "or use datamodule.source=torchvision"
    downloads = Path(data_dir) / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".fashion-mnist-") as work:
        folder = Path(work)
        _run(["apt-get", "download", DEBIAN_PACKAGE], folder, fix)
        debs = sorted(folder.glob(f"{DEBIAN_PACKAGE}_*.deb"))
        if not debs:
            raise DataFileError(f"apt-get download left no {DEBIAN_PACKAGE} package; {fix}")
        _run(["dpkg-deb", "-x", debs[-1].name, "root"], folder, fix)
        unpack_gzipped(folder / "root" / PACKAGE_DIR, names, raw_dir(data_dir))


def fetch_with_torchvision(data_dir: str | os.PathLike) -> None:
    """Use torchvision's downloader (needs access to its mirrors)."""
    from torchvision.datasets import FashionMNIST

    try:
        for train in (True, False):
            FashionMNIST(str(data_dir), train=train, download=True)
    except Exception as error:  # torchvision raises RuntimeError/URLError/OSError variously
        raise DataFileError(
            f"torchvision could not download Fashion-MNIST into {data_dir} ({error}); "
            "offline, use datamodule.source=debian"
        ) from error


def ensure_fashion_mnist(data_dir: str | os.PathLike, source: str = "debian") -> Path:
    """Make sure the four verified raw files are in place; return their folder."""
    if source not in SOURCES:
        raise DataFileError(
            f"unknown Fashion-MNIST source {source!r}; expected one of {', '.join(SOURCES)}"
        )
    folder = raw_dir(data_dir)
    missing = [name for name in RAW_FILES if not (folder / name).is_file()]
    if missing:
        if source == "debian":
            fetch_from_debian(data_dir, missing)
        else:
            fetch_with_torchvision(data_dir)
    verify_sha256_files(folder, RAW_FILES, "Fashion-MNIST", FIX_HINT.format(data_dir=data_dir))
    return folder


class FashionMNISTDataModule(ImageDataModule):
    """Fashion-MNIST split 55k/5k/10k (train/val/test) by default, like MNIST."""

    name = "fashion_mnist"
    evaluator = "fashion_mnist"
    sources = SOURCES
    # 5,000 of the 60,000 training images, as for MNIST.
    val_fraction = 1 / 12

    def __init__(
        self,
        data_dir: str = "data",
        source: str = "debian",
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
        ensure_fashion_mnist(self.data_dir, self.source)

    def read_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        hint = FIX_HINT.format(data_dir=self.data_dir)
        return read_idx_split(
            raw_dir(self.data_dir), split, len(CLASS_NAMES), "Fashion-MNIST", hint
        )
