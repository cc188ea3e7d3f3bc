"""Emoji: 64x64 colour pictures of emoji in nine categories, from the npm packages
``emoji-datasource-google`` (Noto Emoji) and ``emoji-datasource-twitter`` (Twemoji) 16.0.0.

Each package's tarball carries ``package/emoji.json`` (one entry per emoji with its
``category``) and a 64 px RGBA PNG per emoji under ``package/img/<vendor>/64/``. The images are
composited on white, the class is the category (``Component``, the bare skin-tone and hair
swatches, is left out; so are the skin-tone variants, near-duplicates of their base emoji), and
classes are numbered in the alphabetical order of :data:`CATEGORIES`.

The tarballs are fetched with ``npm pack`` when npm is installed, else straight from the
registry, and checked against npm's sha512 integrity either way. Decoding ~1,900 PNGs per
vendor happens once: the uint8 result is cached as one .npz per vendor in ``<data_dir>/emoji``
with the integrity of the tarball it came from, and rebuilt when that does not match.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlab.data.downloads import download, sha512_integrity
from ganlab.data.image_datamodule import ImageDataModule
from ganlab.errors import ConfigError, DataFileError
from ganlab.utils.atomic import atomic_path

VERSION = "16.0.0"
# npm's integrity of each vendor's tarball (registry metadata, `dist.integrity`).
INTEGRITY: dict[str, str] = {
    "google": "sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZ"
    "kOPJCoT8DlPhfQ3A==",
    "twitter": "sha512-7F+uCuHH+7Qnrc15P5tnbvKkg9E6tlzi4MnT2uW1RlN4pLYTza6cP/dstIfSDMtpjFLWuZ"
    "ewWg8jBbuL2eyELQ==",
}
VENDORS = tuple(INTEGRITY)
VENDOR_CHOICES = (*VENDORS, "both")
CATEGORIES = [
    "Activities",
    "Animals & Nature",
    "Flags",
    "Food & Drink",
    "Objects",
    "People & Body",
    "Smileys & Emotion",
    "Symbols",
    "Travel & Places",
]
LEFT_OUT_CATEGORIES = frozenset({"Component"})
SIZE = 64
BACKGROUND = 255  # white, in every channel
DEFAULT_REGISTRY = "https://registry.npmjs.org"
FIX_HINT = "run `make data` (or `ganlab-data --dataset emoji --data-dir {data_dir}`)"


def package_name(vendor: str) -> str:
    return f"emoji-datasource-{vendor}"


def tarball_path(data_dir: str | os.PathLike, vendor: str) -> Path:
    return Path(data_dir) / "downloads" / f"{package_name(vendor)}-{VERSION}.tgz"


def cache_path(data_dir: str | os.PathLike, vendor: str) -> Path:
    return Path(data_dir) / "emoji" / f"{vendor}-{VERSION}-{SIZE}px.npz"


def registry_url() -> str:
    """npm registry: ``GANLAB_NPM_REGISTRY``, else npm's ``npm_config_registry``, else npmjs."""
    url = (
        os.environ.get("GANLAB_NPM_REGISTRY")
        or os.environ.get("npm_config_registry")  # noqa: SIM112 (npm spells it so)
        or DEFAULT_REGISTRY
    )
    return url.rstrip("/")


def npm_executable() -> str | None:
    return shutil.which("npm")


def _npm_pack(npm: str, vendor: str, folder: Path) -> Path:
    """``npm pack <package>@<version>`` into ``folder``: npm fetches the registry's tarball."""
    command = [npm, "pack", f"{package_name(vendor)}@{VERSION}", "--pack-destination", str(folder)]
    command += ["--registry", registry_url(), "--silent"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    packed = folder / f"{package_name(vendor)}-{VERSION}.tgz"
    if result.returncode != 0 or not packed.is_file():
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise DataFileError(f"`npm pack {package_name(vendor)}@{VERSION}` failed: {lines[-1]}")
    return packed


def fetch_tarball(data_dir: str | os.PathLike, vendor: str) -> Path:
    """A copy of ``vendor``'s tarball that matches its pinned integrity, fetched only if the
    one in place is absent or differs; a download that does not match is deleted."""
    target = tarball_path(data_dir, vendor)
    if target.is_file() and sha512_integrity(target) == INTEGRITY[vendor]:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".emoji-") as work:
        npm = npm_executable()
        if npm is not None:
            fetched = _npm_pack(npm, vendor, Path(work))
        else:
            fetched = Path(work) / target.name
            name = package_name(vendor)
            download(f"{registry_url()}/{name}/-/{name}-{VERSION}.tgz", fetched)
        if sha512_integrity(fetched) != INTEGRITY[vendor]:
            raise DataFileError(
                f"the {package_name(vendor)} {VERSION} tarball from {registry_url()} does not "
                "match its pinned sha512 integrity; it was not kept"
            )
        os.replace(fetched, target)
    return target


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 4] RGBA -> uint8 [H, W, 3] RGB over a white background, rounded to the
    nearest integer: ``(c * a + 255 * (255 - a)) / 255``."""
    colour = rgba[..., :3].astype(np.int32)
    alpha = rgba[..., 3:].astype(np.int32)
    mixed = colour * alpha + BACKGROUND * (255 - alpha)
    return ((mixed + 127) // 255).astype(np.uint8)


def decode_rgb_on_white(data: bytes, where: str, size: int | None = None) -> np.ndarray:
    """uint8 [H, W, 3] of one image file's bytes, transparency composited on white; a file
    PIL cannot decode, or not ``size`` pixels square when given, is a DataFileError naming it."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            rgba = np.asarray(image.convert("RGBA"))
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError for bad files
        raise DataFileError(f"image {where} is corrupt ({error})") from error
    if size is not None and rgba.shape[:2] != (size, size):
        raise DataFileError(
            f"image {where} is {rgba.shape[1]}x{rgba.shape[0]}, expected {size}x{size}"
        )
    return composite_on_white(rgba)


def _emoji_entries(metadata: bytes, tarball: Path, vendor: str) -> list[dict[str, Any]]:
    try:
        entries = json.loads(metadata)
    except ValueError as error:
        raise DataFileError(f"package/emoji.json in {tarball} is not valid JSON") from error
    kept = []
    for entry in sorted(entries, key=lambda e: (e.get("sort_order", 0), e["unified"])):
        category = entry.get("category")
        if category in LEFT_OUT_CATEGORIES or not entry.get(f"has_img_{vendor}", False):
            continue
        if category not in CATEGORIES:
            raise DataFileError(f"{tarball}: emoji {entry['unified']} has unknown {category=}")
        kept.append(entry)
    return kept


def decode_tarball(tarball: Path, vendor: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [N, 3, 64, 64] and int64 labels of every non-Component emoji of ``vendor``
    in ``tarball``, in emoji.json's ``sort_order``; one pass over the gzip stream."""
    folder = f"package/img/{vendor}/{SIZE}/"
    pngs: dict[str, bytes] = {}
    metadata: bytes | None = None
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                wanted = member.name == "package/emoji.json" or member.name.startswith(folder)
                handle = archive.extractfile(member) if wanted and member.isfile() else None
                if handle is None:
                    continue
                if member.name == "package/emoji.json":
                    metadata = handle.read()
                else:
                    pngs[member.name[len(folder) :]] = handle.read()
    except (OSError, EOFError, tarfile.TarError) as error:
        raise DataFileError(f"{tarball} is not a readable tarball ({error})") from error
    if metadata is None:
        raise DataFileError(f"{tarball} has no package/emoji.json")
    images, labels = [], []
    for entry in _emoji_entries(metadata, tarball, vendor):
        name = entry["image"]
        if name not in pngs:
            raise DataFileError(f"{tarball} has no {folder}{name}")
        rgb = decode_rgb_on_white(pngs[name], f"{tarball}:{folder}{name}", SIZE)
        images.append(rgb.transpose(2, 0, 1))
        labels.append(CATEGORIES.index(entry["category"]))
    if not images:
        raise DataFileError(f"{tarball} has no {vendor} emoji images")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def build_cache(data_dir: str | os.PathLike, vendor: str) -> Path:
    """Decode ``vendor``'s verified tarball into its .npz cache (written atomically)."""
    tarball = tarball_path(data_dir, vendor)
    if not tarball.is_file():
        hint = FIX_HINT.format(data_dir=data_dir)
        raise DataFileError(f"emoji tarball {tarball} is missing; {hint}")
    if sha512_integrity(tarball) != INTEGRITY[vendor]:
        raise DataFileError(
            f"emoji tarball {tarball} does not match its pinned sha512 integrity; delete it and "
            + FIX_HINT.format(data_dir=data_dir)
        )
    images, labels = decode_tarball(tarball, vendor)
    target = cache_path(data_dir, vendor)
    with atomic_path(target) as tmp, tmp.open("wb") as handle:
        np.savez(
            handle,
            images=images,
            labels=labels,
            integrity=np.asarray(INTEGRITY[vendor]),
            categories=np.asarray(CATEGORIES),
        )
    return target


def read_cache(data_dir: str | os.PathLike, vendor: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached images and labels of ``vendor``, or None when the cache is absent or was
    made from another tarball or with other categories."""
    path = cache_path(data_dir, vendor)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as cache:
            if str(cache["integrity"]) != INTEGRITY[vendor]:
                return None
            if cache["categories"].tolist() != CATEGORIES:
                return None
            return cache["images"], cache["labels"]
    except (OSError, ValueError, KeyError):
        return None


def load_vendor(data_dir: str | os.PathLike, vendor: str) -> tuple[np.ndarray, np.ndarray]:
    cached = read_cache(data_dir, vendor)
    if cached is None:
        build_cache(data_dir, vendor)
        cached = read_cache(data_dir, vendor)
    if cached is None:
        raise DataFileError(f"emoji cache {cache_path(data_dir, vendor)} cannot be read back")
    return cached


def ensure_emoji(data_dir: str | os.PathLike, vendors: Sequence[str] = VENDORS) -> Path:
    """Make sure each vendor's verified tarball and its cache are in place; return the
    cache folder."""
    for vendor in vendors:
        fetch_tarball(data_dir, vendor)
        if read_cache(data_dir, vendor) is None:
            build_cache(data_dir, vendor)
    return cache_path(data_dir, VENDORS[0]).parent


def vendor_list(vendors: str) -> tuple[str, ...]:
    if vendors not in VENDOR_CHOICES:
        raise ConfigError(
            f"datamodule.vendors={vendors!r}; expected one of {', '.join(VENDOR_CHOICES)}"
        )
    return VENDORS if vendors == "both" else (vendors,)


class EmojiDataModule(ImageDataModule):
    """Both vendors' emoji (google first, then twitter) by default; 10 % of each category is
    held out as the test split."""

    name = "emoji"
    evaluator = "emoji"
    sources = ("npm",)
    official_test = False

    def __init__(
        self,
        data_dir: str = "data",
        vendors: str = "both",
        source: str = "npm",
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
            class_names=CATEGORIES,
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
        self.vendors = vendor_list(vendors)

    def ensure_files(self) -> None:
        ensure_emoji(self.data_dir, self.vendors)

    def read_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [load_vendor(self.data_dir, vendor) for vendor in self.vendors]
        images = np.concatenate([images for images, _ in parts])
        labels = np.concatenate([labels for _, labels in parts])
        return torch.from_numpy(images), torch.from_numpy(labels)
