"""Plain generator weights: a safetensors file plus a JSON description, no Lightning, no Hydra.

    ganlab-export weights logs/.../last.ckpt --out exported/   # generator.safetensors + .json

:func:`load_weights` needs only torch, safetensors and ``ganlab.networks``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ganlab.errors import CheckpointError
from ganlab.models.conditional_generator import card_of, require_kind
from ganlab.models.trained_gan import TrainedGAN

WEIGHTS_NAME = "generator.safetensors"
CONFIG_NAME = "generator.json"
EXPORT_FORMAT = "ganlab.generator/1"


def describe(model: TrainedGAN, source: str) -> dict[str, Any]:
    """What a runtime needs to know about an exported generator: its network, its sizes and
    its card (data set, class names, evaluator)."""
    from ganlab.networks import network_spec

    card = model.card
    return {
        "format": EXPORT_FORMAT,
        "network": network_spec(model.network),
        "n_classes": card.n_classes,
        "latent_dim": model.latent_dim,
        "channels": card.channels,
        "img_size": card.img_size,
        "card": card.to_dict(),
        "source": source,
    }


def export_weights(checkpoint: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write the checkpoint's generator (its EMA copy when it has one) as safetensors + JSON.

    Both files appear together or not at all: the pair is checked, written to temporary files
    beside the targets and renamed at the end, so a full disk keeps the previous pair."""
    from safetensors.torch import save

    from ganlab.checkpoints import load_generator
    from ganlab.utils.atomic import write_outputs

    model = load_generator(checkpoint)
    require_kind(model.card, "gan", "ganlab-export weights", str(checkpoint))
    assert isinstance(model, TrainedGAN)
    out = Path(out_dir)
    state = {k: v.contiguous() for k, v in model.network.state_dict().items()}
    description = describe(model, str(checkpoint))
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


def load_weights(out_dir: str | os.PathLike) -> TrainedGAN:
    """Rebuild an exported generator, in eval mode on the CPU, with its card."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ganlab.checkpoints import check_sizes, load_state
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
    card = card_of(description, str(config))
    fields = ("n_classes", "latent_dim", "channels", "img_size")
    described = {field: (field, description[field]) for field in fields}
    described["card.class_names"] = ("n_classes", card.n_classes)
    check_sizes(generator, described, str(config), f"generator in {path}")
    return TrainedGAN(generator, card, int(description["latent_dim"]))
