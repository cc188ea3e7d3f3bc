"""Reading this project's checkpoints safely (``weights_only=True``) and with clear errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganlab.errors import CheckpointError
from ganlab.networks import build_network

EMA_PREFIX = "ema_generator."


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load on the CPU with ``weights_only=True``; raise CheckpointError if unusable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a damaged file can fail anywhere inside the unpickler
        detail = f"{type(error).__name__}: {str(error).split('. ')[0][:160]}"
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable ({detail})") from error
    if (
        not isinstance(checkpoint, dict)
        or "ganlab" not in checkpoint
        or "state_dict" not in checkpoint
    ):
        raise CheckpointError(f"{path} is not a ganlab GAN checkpoint (no 'ganlab' section)")
    return checkpoint


def load_network(path: str | os.PathLike, role: str = "generator") -> tuple[nn.Module, dict]:
    """Rebuild the ``generator`` or ``discriminator`` of a checkpoint, in eval mode on the CPU.

    Returns the network and the checkpoint's ``ganlab`` metadata (n_classes, latent_dim, specs).
    """
    checkpoint = load_checkpoint(path)
    meta = checkpoint["ganlab"]
    if role not in ("generator", "discriminator"):
        raise CheckpointError(f"unknown network {role!r}; expected generator or discriminator")
    network = build_network(meta[role])
    weights = checkpoint["state_dict"]
    prefix = f"{role}."
    if role == "generator" and any(k.startswith(EMA_PREFIX) for k in weights):
        # An exponential moving average of the generator samples better than the raw weights.
        prefix = EMA_PREFIX
    state = {k.removeprefix(prefix): v for k, v in weights.items() if k.startswith(prefix)}
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"{role} weights in {path} do not fit: {error}") from error
    return network.eval(), meta


def load_generator(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """The checkpoint's generator (its EMA copy if it has one), ready to sample."""
    return load_network(path, "generator")
