"""Checkpoints written crash-safely, beside their target.

Lightning's own writer goes through fsspec, whose local transaction writes a temporary file in
the system's temp folder and moves it into place; when the run folder is on another file system
that move is a copy over the target, so a full disk or a kill during the copy leaves a
truncated ``last.ckpt`` and nothing to resume from, with an error naming the temp folder. Here
the bytes go to a temporary file in the checkpoint's own folder, are fsynced and renamed over
the target (:func:`ganlab.utils.atomic.atomic_path`): the previous checkpoint stays whole until
the new one is complete, and a failure names the checkpoint being written.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from ganlab.utils.atomic import atomic_path


def remove_stale_temporaries(target: Path) -> None:
    """Delete temporary files that a killed writer of ``target`` left behind (a SIGKILL leaves
    no chance to clean up); only this process writes checkpoints into the folder."""
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        stale.unlink(missing_ok=True)


class AtomicCheckpointIO(TorchCheckpointIO):
    """:class:`TorchCheckpointIO` whose ``save_checkpoint`` writes atomically in place."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        target = Path(path)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        remove_stale_temporaries(target)
        try:
            with atomic_path(target) as tmp, tmp.open("wb") as handle:
                handle.write(buffer.getbuffer())
        except OSError as error:
            # Name the checkpoint being written, not the temporary file beside it.
            raise OSError(error.errno, error.strerror or str(error), str(target)) from error
