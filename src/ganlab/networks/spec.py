"""Rebuild a network from a plain dict, without Hydra or Lightning.

A checkpoint stores ``network_spec(generator)``: the class path plus its constructor arguments,
all primitives, so it loads with ``torch.load(weights_only=True)`` and the generator can be
rebuilt by code that imports neither Lightning nor Hydra (exports, the HTTP service).

A spec comes from a file, so it is checked before anything is built: every argument must have
the type of the constructor's default, every size lies within :data:`FIELD_BOUNDS`, and the
network, counted without being built (each network's ``parameter_count``), must have at most
:data:`MAX_PARAMETERS` parameters. A corrupt or hostile spec is then a one-line
:class:`CheckpointError`, never a many-terabyte allocation.
"""

from __future__ import annotations

import importlib
import inspect
import math
import reprlib
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from ganlab.deploy.backends import INFO_BOUNDS
from ganlab.errors import CheckpointError, GanLabError, is_integer

ALLOWED_PREFIX = "ganlab.networks."
# 100 million parameters (400 MB in float32): a hundred times the largest network this project
# trains; a spec beyond it is corrupt, not ambitious.
MAX_PARAMETERS = 100_000_000
# Inclusive bounds of integer constructor arguments (elements, for lists such as hidden_dims).
# The MNIST networks use 10 classes, latent 100, 1 channel, 28 or 32 px, widths up to 1024.
# The sizes a runtime reads from a model (n_classes, latent_dim, channels, img_size) share the
# bounds of the torch-free backends, which check them in ONNX metadata too.
FIELD_BOUNDS: dict[str, tuple[int, int]] = {
    **INFO_BOUNDS,
    "depth": (1, 16),
    "refine_layers": (0, 16),
    "upsamples": (1, 8),
}
DEFAULT_INT_BOUNDS = (1, 65_536)
# Lists of layer widths: each layer costs a module, so their length is bounded too.
MAX_LIST_LENGTH = 16
MAX_STRING_LENGTH = 100
FLOAT_BOUNDS: dict[str, tuple[float, float]] = {"dropout": (0.0, 1.0)}


def _short_repr() -> reprlib.Repr:
    """A repr that stays short whatever a file holds (a list of a million widths, say)."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = 40
    short.maxlist = short.maxtuple = short.maxdict = 4
    short.maxlevel = 2
    return short


_short = _short_repr().repr


@runtime_checkable
class SelfDescribing(Protocol):
    """A ganlab network: ``spec()`` lists its constructor arguments, so a file can rebuild it."""

    def spec(self) -> dict[str, Any]: ...


def network_spec(module: nn.Module) -> dict[str, Any]:
    """Class path and constructor arguments of a network that defines ``spec()``."""
    if not isinstance(module, SelfDescribing):
        raise TypeError(f"{type(module).__qualname__} has no spec(), so no file can rebuild it")
    cls = type(module)
    return {"_target_": f"{cls.__module__}.{cls.__qualname__}", **module.spec()}


def _network_class(target: object) -> type[nn.Module]:
    if not isinstance(target, str) or not target.startswith(ALLOWED_PREFIX):
        raise CheckpointError(f"network class {_short(target)} is not one of ganlab's networks")
    module_name, _, class_name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise CheckpointError(f"cannot rebuild network {_short(target)}: {error}") from error
    # Only classes defined in ganlab.networks that describe themselves: not a helper function,
    # not torch's own modules re-exported there.
    if (
        not isinstance(cls, type)
        or not issubclass(cls, nn.Module)
        or not cls.__module__.startswith(ALLOWED_PREFIX)
        or not callable(getattr(cls, "spec", None))
    ):
        raise CheckpointError(f"{_short(target)} is not one of ganlab's networks")
    return cls


def _check_integer(target: str, name: str, value: object, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if not is_integer(value) or not low <= value <= high:
        raise CheckpointError(
            f"{target}: {name}={_short(value)} must be an integer in {low}..{high}"
        )


def _check_argument(target: str, name: str, value: object, default: object) -> None:
    """The argument has the type of the constructor's default and lies within its bounds."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise CheckpointError(f"{target}: {name}={_short(value)} must be true or false")
    elif isinstance(default, int):
        _check_integer(target, name, value, FIELD_BOUNDS.get(name, DEFAULT_INT_BOUNDS))
    elif isinstance(default, float):
        low, high = FLOAT_BOUNDS.get(name, (-math.inf, math.inf))
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            raise CheckpointError(
                f"{target}: {name}={_short(value)} must be a finite number in {low}..{high}"
            )
    elif isinstance(default, str):
        if not isinstance(value, str) or len(value) > MAX_STRING_LENGTH:
            raise CheckpointError(f"{target}: {name}={_short(value)} must be a short string")
    elif isinstance(default, tuple | list):
        if not isinstance(value, tuple | list) or len(value) > MAX_LIST_LENGTH:
            raise CheckpointError(
                f"{target}: {name}={_short(value)} must be a list of at most "
                f"{MAX_LIST_LENGTH} integers"
            )
        for item in value:
            _check_integer(
                target, f"{name} entry", item, FIELD_BOUNDS.get(name, DEFAULT_INT_BOUNDS)
            )
    else:
        raise CheckpointError(f"{target}: argument {name} cannot be rebuilt from a file")


def check_spec(spec: object) -> tuple[type[nn.Module], dict[str, Any]]:
    """The class and keyword arguments of a well-formed, bounded spec; CheckpointError if not."""
    if not isinstance(spec, dict):
        raise CheckpointError(
            f"network spec {_short(spec)} is not a mapping of '_target_' and arguments"
        )
    kwargs = dict(spec)
    target = kwargs.pop("_target_", "")
    cls = _network_class(target)
    if not all(isinstance(key, str) for key in kwargs):
        raise CheckpointError(f"{target}: argument names {_short(list(kwargs))} must be strings")
    signature = inspect.signature(cls)
    try:
        signature.bind(**kwargs)
    except TypeError as error:
        raise CheckpointError(f"{target}: {error}") from error
    for name, parameter in signature.parameters.items():
        if name in kwargs:
            _check_argument(target, name, kwargs[name], parameter.default)
    return cls, kwargs


def parameter_count(cls: type[nn.Module], kwargs: dict[str, Any]) -> int:
    """Parameters of ``cls(**kwargs)`` without allocating them: the class's own
    ``parameter_count`` where it has one (arithmetic, instant), else a build on the meta device
    (shapes only, but its first use costs seconds)."""
    count = getattr(cls, "parameter_count", None)
    if callable(count):
        arguments = inspect.signature(cls).bind(**kwargs)
        arguments.apply_defaults()
        return int(count(**arguments.arguments))
    with torch.device("meta"):
        probe = cls(**kwargs)
    return sum(tensor.numel() for tensor in probe.parameters())


def build_network(spec: object) -> nn.Module:
    """Instantiate a network from :func:`network_spec` output; only ganlab networks are allowed,
    with arguments of the right types and a bounded size."""
    cls, kwargs = check_spec(spec)
    target = f"{cls.__module__}.{cls.__qualname__}"
    try:
        count = parameter_count(cls, kwargs)
    except GanLabError as error:  # the network's own argument checks
        raise CheckpointError(f"cannot rebuild network {target}: {error}") from error
    except (TypeError, ValueError, RuntimeError, OverflowError) as error:
        detail = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
        raise CheckpointError(f"cannot rebuild network {target}: {detail}") from error
    if count > MAX_PARAMETERS:
        raise CheckpointError(
            f"{target} with {_short(kwargs)} would have {count:,} parameters, more than the "
            f"{MAX_PARAMETERS:,} a ganlab network may have; the file's metadata is corrupt"
        )
    return cls(**kwargs)
