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

WEIGHTS_NAME = "generator.safetensors"
CONFIG_NAME = "generator.json"
EXPORT_FORMAT = "ganlab.generator/1"


def describe(generator: nn.Module, meta: dict[str, Any], source: str) -> dict[str, Any]:
    """What a runtime needs to know about an exported generator."""
    from ganlab.networks import network_spec

    network = network_spec(generator)
    return {
        "format": EXPORT_FORMAT,
        "network": network,
        "n_classes": int(meta["n_classes"]),
        "latent_dim": int(meta["latent_dim"]),
        # Every generator's spec holds its output size (the same values as its attributes).
        "channels": int(network["channels"]),
        "img_size": int(network["img_size"]),
        "source": source,
    }


def export_weights(checkpoint: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write the checkpoint's generator (its EMA copy when it has one) as safetensors + JSON.

    Both files appear together or not at all: the pair is checked, written to temporary files
    beside the targets and renamed at the end, so a full disk keeps the previous pair."""
    from safetensors.torch import save

    from ganlab.checkpoints import load_generator
    from ganlab.utils.atomic import write_outputs

    generator, meta = load_generator(checkpoint)
    out = Path(out_dir)
    state = {k: v.contiguous() for k, v in generator.state_dict().items()}
    description = describe(generator, meta, str(checkpoint))
    # Serialised in memory so that a write error is an OSError of the file, naming its folder,
    # not a SafetensorError that hides errno.
    write_outputs(
        {
            out / WEIGHTS_NAME: save(state),
            out / CONFIG_NAME: (json.dumps(description, indent=2) + "\n").encode(),
        }
    )
    return out


def read_description(out_dir: str | os.PathLike) -> dict[str, Any]:
    """The exported generator's description, checked for structure and bounded sizes."""
    from ganlab.deploy.backends import model_info

    path = Path(out_dir) / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist; export it with `ganlab-export weights`")
    try:
        description = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as error:
        raise CheckpointError(f"{path} is not valid JSON ({error})") from error
    if not isinstance(description, dict) or description.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{path} is not a ganlab generator description ({EXPORT_FORMAT})")
    model_info(description, path, "torch")
    return description


def load_weights(out_dir: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild an exported generator in eval mode on the CPU, and return its description."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ganlab.checkpoints import load_state
    from ganlab.networks import build_network

    description = read_description(out_dir)
    config = Path(out_dir) / CONFIG_NAME
    try:
        generator = build_network(description.get("network"))
    except CheckpointError as error:
        raise CheckpointError(f"{config}: 'network': {error}") from error
    path = Path(out_dir) / WEIGHTS_NAME
    try:
        state = load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise CheckpointError(f"{path} is missing or corrupt ({error})") from error
    load_state(generator, state, str(path))
    # The weights fixed the network's sizes; the description, which runtimes report and check
    # labels against, must say the same.
    for field in ("n_classes", "latent_dim", "channels", "img_size"):
        if description[field] != getattr(generator, field, None):
            raise CheckpointError(
                f"{config}: '{field}' is {description[field]} but the weights in {path} have "
                f"{field}={getattr(generator, field, None)}"
            )
    return generator.eval(), description
