"""Random-number states in every checkpoint, so that a resumed run continues the same run.

A GAN draws random numbers on every batch (noise, fake labels, the shuffling sampler's seed,
augmentation), from torch's, numpy's and Python's generators. Lightning's checkpoints keep the
weights, optimisers and loops but none of these states, so a resumed run drew other numbers
and ended elsewhere than the uninterrupted one. This callback stores each process's states with
the checkpoint and puts them back while Lightning restores the checkpoint: after the resumed
run has built and set up its model and data (which draw numbers the uninterrupted run drew long
before), and before the first epoch's shuffle, as at the epoch boundary where it was written.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


def capture() -> dict[str, Any]:
    """This process's random-number states, as tensors and plain Python values (what a
    ``weights_only`` checkpoint load accepts; a numpy array is not among them)."""
    legacy = np.random.get_state(legacy=True)
    # The global RandomState runs MT19937, whose state has the legacy tuple form.
    assert isinstance(legacy, tuple)
    kind, keys, position, has_gauss, gauss = legacy
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore(state: dict[str, Any]) -> None:
    """Put back the states that :func:`capture` returned."""
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["gauss"],
        )
    )
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _all_ranks(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every process's states, in rank order (rank 0 writes the checkpoint for all of them)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return [state]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, state)
    return gathered


class RandomState(L.Callback):
    """Saves the random-number states of every process; restores them when a run resumes."""

    def __init__(self) -> None:
        self._rank, self._world_size = 0, 1

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._rank, self._world_size = trainer.global_rank, trainer.world_size

    def state_dict(self) -> dict[str, Any]:
        # Lightning collects callback states on every process before rank 0 writes the file.
        return {"ranks": _all_ranks(capture())}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        ranks = state_dict.get("ranks") or []
        if len(ranks) != self._world_size:
            log.warning(
                "the checkpoint holds random states of %d process(es), this run has %d: "
                "resuming with fresh random numbers, so it will not repeat the original run",
                len(ranks),
                self._world_size,
            )
            return
        restore(ranks[self._rank])
