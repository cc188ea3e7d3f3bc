"""Checkpoints survive a full disk, a failure between write and rename, and a kill mid-write."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganlab.errors import errors_as_one_line
from ganlab.utils.checkpoint_io import AtomicCheckpointIO
from ganlab.utils.trainer import build_trainer

PAYLOAD = 96 * 1024  # float32 values: 384 KiB of tensor data per checkpoint


def checkpoint(value: float) -> dict:
    return {"epoch": int(value), "state_dict": {"w": torch.full((PAYLOAD,), value)}}


def assert_holds(path: Path, value: float) -> None:
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    assert loaded["epoch"] == int(value)
    assert torch.equal(loaded["state_dict"]["w"], torch.full((PAYLOAD,), value))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_the_trainer_writes_checkpoints_with_the_atomic_writer() -> None:
    trainer = build_trainer({"accelerator": "cpu"})
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)


def test_a_full_disk_keeps_the_previous_checkpoint_and_names_the_target(
    small_tmpfs, capsys
) -> None:
    folder = small_tmpfs(600 * 1024)  # one checkpoint fits, a second beside it does not
    target = folder / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint(checkpoint(1.0), target)
    with pytest.raises(OSError) as raised:
        io.save_checkpoint(checkpoint(2.0), target)
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(target)
    assert_holds(target, 1.0)
    assert leftovers(folder) == []
    # What a user sees: one line that names the checkpoint, exit code 2.
    with pytest.raises(SystemExit) as exited, errors_as_one_line():
        io.save_checkpoint(checkpoint(2.0), target)
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"error: No space left on device: {target}\n"


def test_a_failure_between_write_and_rename_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint(checkpoint(1.0), target)

    def crash(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="Input/output error"):
        io.save_checkpoint(checkpoint(2.0), target)
    monkeypatch.undo()
    assert_holds(target, 1.0)
    assert leftovers(tmp_path) == []


WRITER = """
import sys, torch
from ganlab.utils.checkpoint_io import AtomicCheckpointIO
target, io = sys.argv[1], AtomicCheckpointIO()
value = 0.0
while True:
    value += 1.0
    weights = torch.full((SIZE,), value)
    io.save_checkpoint({"epoch": int(value), "state_dict": {"w": weights}}, target)
""".replace("SIZE", str(4 * PAYLOAD))


def test_a_kill_during_writes_never_leaves_a_broken_checkpoint(tmp_path: Path) -> None:
    """A process rewriting a 1.5 MB checkpoint in a loop is killed (SIGKILL, no clean-up)
    while it writes: the file is whole and loadable, and the next save removes the temporary
    file the killed writer left."""
    target = tmp_path / "last.ckpt"
    for delay in (0.13,):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)])
        try:
            deadline = time.monotonic() + 60
            while not target.exists():
                assert writer.poll() is None, "the writer died on its own"
                assert time.monotonic() < deadline, "the writer never wrote"
                time.sleep(0.01)
            time.sleep(delay)
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait()
        loaded = torch.load(target, map_location="cpu", weights_only=True)
        value = float(loaded["epoch"])
        assert torch.equal(loaded["state_dict"]["w"], torch.full((4 * PAYLOAD,), value))
    AtomicCheckpointIO().save_checkpoint(checkpoint(7.0), target)
    assert_holds(target, 7.0)
    assert leftovers(tmp_path) == []
