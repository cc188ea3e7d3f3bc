"""Atomic writes: a failure half-way leaves the previous file untouched and no debris."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganlab.utils.atomic import atomic_path


def test_success_replaces_the_target(tmp_path: Path) -> None:
    target = tmp_path / "out" / "file.bin"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


def test_failure_keeps_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="No space left"), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise OSError(28, "No space left on device")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]
