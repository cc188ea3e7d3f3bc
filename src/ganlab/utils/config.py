"""Config helpers for the entry points."""

from __future__ import annotations

import os
import re
import sys
from datetime import datetime
from typing import Any

import hydra
import rich
import rich.syntax
import rich.tree
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from ganlab.errors import ConfigError, GanLabError
from ganlab.utils.mappings import plain_dict

GROUPS_FIRST = ("datamodule", "model", "callbacks", "logger", "trainer", "paths", "extras")

# `experiment=train_mnist_gan.yaml` (the assignment's spelling): Hydra wants a config name.
_GROUP_OVERRIDE_WITH_SUFFIX = re.compile(r"^([+~]{0,2}[\w/.-]+=)([\w/.-]+)\.ya?ml$")


def run_id() -> str:
    """The run folder's name: a timestamp, or under ``torchrun`` the rendezvous id.

    torchrun starts every process itself, and each composes its own Hydra config; a timestamp
    would give each process (on each node) a run folder of its own. The rendezvous id is the
    same in all of them (``--rdzv-id``; ``--standalone`` draws one).
    """
    rendezvous = os.environ.get("TORCHELASTIC_RUN_ID", "none")
    if rendezvous != "none":
        return f"torchrun_{rendezvous}"
    return datetime.now().strftime("%Y-%m-%d_%H-%M-%S")


def register_resolvers() -> None:
    """``${run_id:}`` for the Hydra config (idempotent)."""
    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", run_id, use_cache=True)


def normalise_argv(argv: list[str] | None = None) -> list[str]:
    """Strip a ``.yaml`` suffix from config-group overrides, in place in ``sys.argv``."""
    args = sys.argv if argv is None else argv
    args[1:] = [_GROUP_OVERRIDE_WITH_SUFFIX.sub(r"\1\2", arg) for arg in args[1:]]
    return args


def describe_hydra_error(error: BaseException) -> str:
    """Hydra's multi-line composition errors as one line, without the search-path dump."""
    lines: list[str] = []
    for part in (error, error.__cause__):
        if part is None:
            continue
        for line in str(part).splitlines():
            line = line.strip()
            if line.startswith("Config search path"):
                break
            if line and not line.startswith(("See https://", "full_key:", "object_type=")):
                lines.append(line.rstrip(":."))
    return "; ".join(lines) or type(error).__name__


def check_overrides(config_dir: str, config_name: str, overrides: list[str]) -> None:
    """Compose the config once so that a wrong key or group name fails in one line.

    Skipped when Hydra flags (``--multirun``, ``--cfg`` ...) are present: sweeps use override
    syntax that only Hydra's own runner understands.
    """
    if any(arg.startswith("-") for arg in overrides):
        return
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(config_dir, version_base="1.3"):
            compose(config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(describe_hydra_error(error)) from error


def print_config_tree(cfg: DictConfig) -> None:
    """Show the composed config as a tree, one branch per group."""
    tree = rich.tree.Tree("config", guide_style="dim")
    keys = [k for k in GROUPS_FIRST if k in cfg] + [k for k in cfg if k not in GROUPS_FIRST]
    for key in keys:
        branch = tree.add(str(key), style="bold")
        value = cfg[key]
        text = (
            OmegaConf.to_yaml(value, resolve=True) if isinstance(value, DictConfig) else str(value)
        )
        branch.add(rich.syntax.Syntax(text, "yaml"))
    rich.print(tree)


def instantiate(cfg: Any, what: str) -> Any:
    """Hydra's instantiate, with errors from the target reported against the config group."""
    try:
        # _convert_=all: plain lists/dicts, so no OmegaConf object reaches a checkpoint.
        return hydra.utils.instantiate(cfg, _convert_="all")
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, GanLabError):
            raise cause from None
        raise ConfigError(f"cannot build {what}: {' '.join(str(error).split())}") from error


def instantiate_partial(cfg: DictConfig, what: str) -> Any:
    """A factory from a ``_target_`` config, for arguments Hydra must not convert (dataclasses)."""
    return instantiate({**plain_dict(cfg), "_partial_": True}, what)
