"""Write files so that a crash or a full disk never leaves a half-written file in place; check
what was written by its sha256.

The recipe is the classic one: write a temporary file in the target's own folder (a rename is
atomic only within one file system), fsync it, rename it over the target, fsync the folder so
that the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ganlab.errors import OutputError, describe_os_error


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a file's bytes to the disk (an error such as a full disk surfaces here)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Persist a folder's entries (a rename); a no-op where folders cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_writable_target(target: str | os.PathLike) -> Path:
    """Raise IsADirectoryError now if ``target`` is a folder, before any file is written."""
    target = Path(target)
    if target.is_dir():
        raise IsADirectoryError(21, "Is a directory; cannot write a file over it", str(target))
    return target


def _temporary_beside(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


@contextmanager
def atomic_paths(*targets: str | os.PathLike, mode: int = 0o644) -> Iterator[list[Path]]:
    """Yield temporary paths beside ``targets``; when the block succeeds each is fsynced and
    renamed over its target, so paired outputs appear together or not at all.

    Every target is checked before anything is written. On any error all temporary files are
    removed and the targets keep their previous content; with several targets that includes a
    rename failing after an earlier one succeeded (the earlier targets are put back from hard
    links of their previous content).
    """
    paths = [check_writable_target(target) for target in targets]
    temporaries: list[Path] = []
    previous: dict[Path, Path | None] = {}  # target -> hard link of its old content, if any
    try:
        temporaries = [_temporary_beside(path) for path in paths]
        yield temporaries
        for tmp in temporaries:
            os.chmod(tmp, mode)
            fsync_file(tmp)
        if len(paths) > 1:
            previous = {path: _keep_previous(path) for path in paths}
        try:
            for tmp, path in zip(temporaries, paths, strict=True):
                os.replace(tmp, path)
        except BaseException:
            _put_back(
                previous,
                done=[p for t, p in zip(temporaries, paths, strict=True) if not t.exists()],
            )
            raise
        for folder in {path.parent for path in paths}:
            fsync_dir(folder)
    finally:
        for tmp in temporaries:
            tmp.unlink(missing_ok=True)
        for kept in previous.values():
            if kept is not None:
                kept.unlink(missing_ok=True)


def _keep_previous(target: Path) -> Path | None:
    """A hard link to ``target``'s current content (None if there is none), for rolling back."""
    if not target.exists():
        return None
    kept = _temporary_beside(target)
    kept.unlink()
    os.link(target, kept)
    return kept


def _put_back(previous: dict[Path, Path | None], done: list[Path]) -> None:
    """Undo the renames already made: old content back where there was some, else remove."""
    for path in done:
        kept = previous.get(path)
        if kept is None:
            path.unlink(missing_ok=True)
        else:
            os.replace(kept, path)


@contextmanager
def atomic_path(target: str | os.PathLike, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` in one rename.

    On any error the temporary file is removed and ``target`` keeps its previous content.
    """
    with atomic_paths(target, mode=mode) as (tmp,):
        yield tmp


def write_outputs(files: Mapping[str | os.PathLike, bytes]) -> None:
    """Write the files of one result (images and their arrays, weights and their description)
    all or none: every target is checked before any is written, each is written to a temporary
    file beside it, and all are renamed at the end (:func:`atomic_paths`).

    A file-system error becomes one :class:`OutputError` that names the targets and their
    folder, not the hidden temporary file the error happened in."""
    targets = [Path(target) for target in files]
    folders = sorted({str(target.parent) for target in targets})
    names = " and ".join(target.name for target in targets)
    writing = False
    try:
        with atomic_paths(*targets) as temporaries:
            writing = True
            for temporary, data in zip(temporaries, files.values(), strict=True):
                temporary.write_bytes(data)
    except OSError as error:
        # Before writing, the error names the culprit itself (a folder where a file should
        # be); afterwards its file name is a temporary one, removed by now.
        reason = (error.strerror or str(error)) if writing else describe_os_error(error)
        raise OutputError(f"cannot write {names} in {', '.join(folders)}: {reason}") from error


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks: how fetched data and models are verified."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
