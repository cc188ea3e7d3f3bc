"""Rebuild a network from a plain dict, without Hydra or Lightning.

A checkpoint stores ``network_spec(generator)``: the class path plus its constructor arguments,
all primitives, so it loads with ``torch.load(weights_only=True)`` and the generator can be
rebuilt by code that imports neither Lightning nor Hydra (exports, the HTTP service).
"""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from ganlab.errors import CheckpointError

ALLOWED_PREFIX = "ganlab.networks."


def network_spec(module: nn.Module) -> dict[str, Any]:
    """Class path and constructor arguments of a network that defines ``spec()``."""
    cls = type(module)
    return {"_target_": f"{cls.__module__}.{cls.__qualname__}", **module.spec()}


def build_network(spec: dict[str, Any]) -> nn.Module:
    """Instantiate a network from :func:`network_spec` output; only ganlab networks are allowed."""
    kwargs = dict(spec)
    target = str(kwargs.pop("_target_", ""))
    if not target.startswith(ALLOWED_PREFIX):
        raise CheckpointError(f"network class {target!r} is not one of ganlab's networks")
    module_name, _, class_name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
        return cls(**kwargs)
    except (ImportError, AttributeError, TypeError) as error:
        raise CheckpointError(f"cannot rebuild network {target}: {error}") from error
