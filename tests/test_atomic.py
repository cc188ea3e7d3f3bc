"""Paired outputs appear together or not at all, whatever fails and when."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from ganlab.utils.atomic import atomic_paths


def write_pair(first: Path, second: Path, text: str) -> None:
    with atomic_paths(first, second) as (a, b):
        a.write_text(f"{text} 1")
        b.write_text(f"{text} 2")


def fail_on_call(monkeypatch: pytest.MonkeyPatch, number: int) -> None:
    """``os.replace`` raises on its ``number``-th call from now on, and only then."""
    real, calls = os.replace, []

    def replace(*args, **kwargs):
        calls.append(args)
        if len(calls) == number:
            raise OSError(errno.EIO, "Input/output error")
        return real(*args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("existed", [True, False])
def test_a_second_rename_that_fails_leaves_the_first_target_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existed: bool
) -> None:
    first, second = tmp_path / "a.png", tmp_path / "a.npz"
    if existed:
        write_pair(first, second, "old")
    fail_on_call(monkeypatch, 2)
    with pytest.raises(OSError, match="Input/output error"):
        write_pair(first, second, "new")
    monkeypatch.undo()
    if existed:
        assert (first.read_text(), second.read_text()) == ("old 1", "old 2")
    else:
        assert not first.exists() and not second.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["a.npz", "a.png"] if existed else [])


def test_a_folder_in_the_way_of_either_target_writes_nothing(tmp_path: Path) -> None:
    first, second = tmp_path / "b.png", tmp_path / "b.npz"
    second.mkdir()
    with pytest.raises(IsADirectoryError):
        write_pair(first, second, "new")
    assert not first.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.npz"]


def test_a_successful_write_replaces_both_and_leaves_nothing_else(tmp_path: Path) -> None:
    first, second = tmp_path / "c.png", tmp_path / "c.npz"
    write_pair(first, second, "old")
    write_pair(first, second, "new")
    assert (first.read_text(), second.read_text()) == ("new 1", "new 2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz", "c.png"]
