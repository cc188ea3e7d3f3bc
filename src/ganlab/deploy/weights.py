"""Plain generator weights: a safetensors file plus a JSON description, no Lightning, no Hydra.

    ganlab-export weights logs/.../last.ckpt --out exported/   # generator.safetensors + .json

:func:`load_weights` needs only torch, safetensors and ``ganlab.networks``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from torch import nn

from ganlab.errors import CheckpointError
from ganlab.utils.atomic import atomic_path

WEIGHTS_NAME = "generator.safetensors"
CONFIG_NAME = "generator.json"
EXPORT_FORMAT = "ganlab.generator/1"


def describe(generator: nn.Module, meta: dict[str, Any], source: str) -> dict[str, Any]:
    """What a runtime needs to know about an exported generator."""
    from ganlab.networks import network_spec

    return {
        "format": EXPORT_FORMAT,
        "network": network_spec(generator),
        "n_classes": int(meta["n_classes"]),
        "latent_dim": int(meta["latent_dim"]),
        "channels": int(generator.channels),
        "img_size": int(generator.img_size),
        "source": source,
    }


def export_weights(checkpoint: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write the checkpoint's generator (its EMA copy when it has one) as safetensors + JSON."""
    from safetensors.torch import save_file

    from ganlab.checkpoints import load_generator

    generator, meta = load_generator(checkpoint)
    out = Path(out_dir)
    state = {k: v.contiguous() for k, v in generator.state_dict().items()}
    with atomic_path(out / WEIGHTS_NAME) as tmp:
        save_file(state, str(tmp))
    with atomic_path(out / CONFIG_NAME) as tmp:
        tmp.write_text(json.dumps(describe(generator, meta, str(checkpoint)), indent=2) + "\n")
    return out


def read_description(out_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(out_dir) / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist; export it with `ganlab-export weights`")
    try:
        description = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not valid JSON ({error})") from error
    if description.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{path} is not a ganlab generator description ({EXPORT_FORMAT})")
    return description


def load_weights(out_dir: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild an exported generator in eval mode on the CPU, and return its description."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ganlab.networks import build_network

    description = read_description(out_dir)
    path = Path(out_dir) / WEIGHTS_NAME
    try:
        state = load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise CheckpointError(f"{path} is missing or corrupt ({error})") from error
    generator = build_network(description["network"])
    try:
        generator.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(
            f"{path} does not fit {description['network']['_target_']}"
        ) from error
    return generator.eval(), description
