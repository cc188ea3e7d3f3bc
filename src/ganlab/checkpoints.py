"""Reading this project's checkpoints safely (``weights_only=True``) and with clear errors.

``weights_only=True`` keeps a checkpoint from running code, but what it unpickles is still the
file's word: the ``ganlab`` section and the state dict are checked for structure, every size in
them is bounded before a network is built (see :mod:`ganlab.networks.spec`), and the metadata
must agree with the weights' shapes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ganlab.errors import CheckpointError, GanLabError, is_integer
from ganlab.models.conditional_generator import (
    ConditionalImageGenerator,
    card_of,
    require_kind,
)
from ganlab.models.trained_gan import TrainedGAN
from ganlab.networks import build_network
from ganlab.networks.spec import FIELD_BOUNDS

if TYPE_CHECKING:
    from ganlab.models.trained_diffusion import TrainedDiffusion

EMA_PREFIX = "ema_generator."
ROLES = ("generator", "discriminator")
# What a diffusion checkpoint's section holds besides its card: the denoiser's spec, the
# objective and the sampler (see ConditionalDiffusionModel.description).
DIFFUSION_ROLES = ("denoiser", "objective", "sampler")
EMA_DENOISER_PREFIX = "ema_denoiser."
# Metadata entries every ganlab checkpoint has, checked against the networks after loading.
SIZE_FIELDS = ("n_classes", "latent_dim")


def _type_name(value: object) -> str:
    return type(value).__name__


def check_checkpoint(checkpoint: object, where: str) -> dict[str, Any]:
    """The checkpoint dict if its structure is that of a ganlab checkpoint; CheckpointError naming
    ``where`` (the file) and the bad entry otherwise. Network specs are checked when built."""
    if (
        not isinstance(checkpoint, dict)
        or "ganlab" not in checkpoint
        or "state_dict" not in checkpoint
    ):
        raise CheckpointError(f"{where} is not a ganlab checkpoint (no 'ganlab' section)")
    meta, state = checkpoint["ganlab"], checkpoint["state_dict"]
    if not isinstance(meta, dict):
        raise CheckpointError(
            f"{where}: its 'ganlab' section is a {_type_name(meta)}, expected a dict with "
            "the networks' specs, n_classes and the generator card"
        )
    card = card_of(meta, where)
    roles, fields = (
        (DIFFUSION_ROLES, ("n_classes",)) if card.kind == "diffusion" else (ROLES, SIZE_FIELDS)
    )
    for role in roles:
        if not isinstance(meta.get(role), dict):
            found = "missing" if role not in meta else f"a {_type_name(meta[role])}"
            raise CheckpointError(f"{where}: 'ganlab.{role}' is {found}, expected a dict")
    for field in fields:
        low, high = FIELD_BOUNDS[field]
        value = meta.get(field)
        if not is_integer(value) or not low <= value <= high:
            raise CheckpointError(
                f"{where}: 'ganlab.{field}' is {value!r:.40}, expected an integer in {low}..{high}"
            )
    ema_updates = meta.get("ema_updates")
    if ema_updates is not None and (not is_integer(ema_updates) or ema_updates < 0):
        raise CheckpointError(
            f"{where}: 'ganlab.ema_updates' is {ema_updates!r:.40}, expected an integer >= 0"
        )
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        raise CheckpointError(
            f"{where}: its 'state_dict' is a {_type_name(state)}, expected a dict of named tensors"
        )
    return checkpoint


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
    return check_checkpoint(checkpoint, str(path))


def check_finite(state: dict[str, torch.Tensor], where: str) -> None:
    """A diverged run saves NaN weights, which would draw blank images without a word."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{where}: weight {name} holds NaN or infinite values")


def load_state(network: nn.Module, state: dict[str, Any], where: str) -> None:
    """``network.load_state_dict(state)`` (strict), with one clear error for every misfit."""
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{where}: {name} is a {_type_name(value)}, not a tensor")
    check_finite(state, where)
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError, NotImplementedError) as error:
        detail = " ".join(str(error).split())[:300]
        raise CheckpointError(f"{where}: the weights do not fit: {detail}") from error


def network_from(checkpoint: dict[str, Any], role: str, where: str) -> nn.Module:
    """Rebuild ``role`` from a checked checkpoint dict and check its metadata against it."""
    if role not in ROLES:
        raise CheckpointError(f"unknown network {role!r}; expected generator or discriminator")
    meta = checkpoint["ganlab"]
    require_kind(card_of(meta, where), "gan", f"the {role} loader", where)
    try:
        network = build_network(meta[role])
    except CheckpointError as error:
        raise CheckpointError(f"{where}: 'ganlab.{role}': {error}") from error
    weights = checkpoint["state_dict"]
    prefix = f"{role}."
    if role == "generator" and any(k.startswith(EMA_PREFIX) for k in weights):
        # An exponential moving average of the generator samples better than the raw weights.
        prefix = EMA_PREFIX
    state = {k.removeprefix(prefix): v for k, v in weights.items() if k.startswith(prefix)}
    load_state(network, state, f"{role} weights in {where}")
    card = card_of(meta, where)
    described = {
        "ganlab.n_classes": ("n_classes", meta["n_classes"]),
        "ganlab.latent_dim": ("latent_dim", meta["latent_dim"]),
        "ganlab.card.class_names": ("n_classes", card.n_classes),
        "ganlab.card.channels": ("channels", card.channels),
        "ganlab.card.img_size": ("img_size", card.img_size),
    }
    check_sizes(network, described, where, role)
    return network.eval()


def check_sizes(
    network: nn.Module, described: dict[str, tuple[str, int]], where: str, role: str
) -> None:
    """The weights fixed the network's sizes (strict loading compares every shape); the
    description, which runtimes report and check labels against, must say the same.
    ``described`` maps an entry of the file to (the network's attribute, the entry's value)."""
    for entry, (field, value) in described.items():
        actual = getattr(network, field, None)
        if actual is not None and actual != value:
            raise CheckpointError(
                f"{where}: '{entry}' is {value} but the {role}'s weights have {field}={actual}"
            )


def load_network(path: str | os.PathLike, role: str = "generator") -> tuple[nn.Module, dict]:
    """Rebuild the ``generator`` or ``discriminator`` of a checkpoint, in eval mode on the CPU.

    Returns the network and the checkpoint's ``ganlab`` metadata (n_classes, latent_dim, specs).
    """
    if role not in ROLES:
        raise CheckpointError(f"unknown network {role!r}; expected generator or discriminator")
    checkpoint = load_checkpoint(path)
    return network_from(checkpoint, role, str(path)), checkpoint["ganlab"]


def load_generator(path: str | os.PathLike) -> ConditionalImageGenerator:
    """The checkpoint's generator, ready to sample: a GAN's generator (its EMA copy if it has
    one) or a diffusion model's denoiser (likewise), with its card."""
    checkpoint = load_checkpoint(path)
    meta, where = checkpoint["ganlab"], str(path)
    card = card_of(meta, where)
    if card.kind == "diffusion":
        return diffusion_from(checkpoint, where)
    network = network_from(checkpoint, "generator", where)
    return TrainedGAN(network, card, int(meta["latent_dim"]))


def diffusion_from(checkpoint: dict[str, Any], where: str) -> TrainedDiffusion:
    """Rebuild a diffusion model (denoiser, objective, sampler) from a checked checkpoint."""
    from ganlab.diffusion.objectives import objective_from
    from ganlab.diffusion.samplers import sampler_from
    from ganlab.models.trained_diffusion import TrainedDiffusion

    meta = checkpoint["ganlab"]
    card = card_of(meta, where)
    try:
        network = build_network(meta["denoiser"])
        objective = objective_from(meta["objective"])
        sampler_meta = meta["sampler"]
        sampler = sampler_from(sampler_meta.get("name"), sampler_meta.get("steps"))
        model = TrainedDiffusion(network, card, objective, sampler, sampler_meta.get("guidance"))
    except GanLabError as error:
        raise CheckpointError(f"{where}: {error}") from error
    weights = checkpoint["state_dict"]
    prefix = (
        EMA_DENOISER_PREFIX
        if any(k.startswith(EMA_DENOISER_PREFIX) for k in weights)
        else "denoiser."
    )
    state = {k.removeprefix(prefix): v for k, v in weights.items() if k.startswith(prefix)}
    load_state(network, state, f"denoiser weights in {where}")
    described = {
        "ganlab.n_classes": ("n_classes", meta["n_classes"]),
        "ganlab.card.class_names": ("n_classes", card.n_classes),
        "ganlab.card.channels": ("channels", card.channels),
        "ganlab.card.img_size": ("img_size", card.img_size),
    }
    check_sizes(network, described, where, "denoiser")
    network.eval()
    return model
