"""Fetch files and check them against pins: the steps every data set shares.

A pinned file is accepted only when its digest matches; a download that does not match is
deleted before the error is raised, so a tampered copy never stays in the data folder.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from ganlab.errors import DataFileError
from ganlab.utils.atomic import atomic_path, sha256_of


def atomic_copy(source: IO[bytes], target: Path) -> None:
    """Stream ``source`` (a binary file object) into ``target`` atomically."""
    with atomic_path(target) as tmp, tmp.open("wb") as handle:
        shutil.copyfileobj(source, handle, 1 << 20)


def sha512_integrity(path: str | os.PathLike) -> str:
    """npm's ``integrity`` string of a file: ``sha512-`` and the base64 digest."""
    digest = hashlib.sha512()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def verify_sha256_files(folder: Path, pins: Mapping[str, str], what: str, hint: str) -> None:
    """Raise :class:`DataFileError` naming the first file in ``folder`` that is missing or whose
    sha256 differs from ``pins`` (file name -> hex digest)."""
    for name, expected in pins.items():
        path = folder / name
        if not path.is_file():
            raise DataFileError(f"{what} file {path} is missing; {hint}")
        if sha256_of(path) != expected:
            raise DataFileError(
                f"{what} file {path} is corrupt (sha256 differs from the pinned value); "
                f"delete it and {hint}"
            )


def download(url: str, target: Path, timeout: float = 300) -> None:
    """Download ``url`` into ``target`` atomically; network errors become one DataFileError."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            atomic_copy(response, target)
    except OSError as error:
        raise DataFileError(f"could not download {url}: {error}") from error
