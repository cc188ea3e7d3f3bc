"""Build a Lightning Trainer from the ``trainer`` config, translating the assignment's options.

* ``gpus`` (Lightning 1.x) becomes ``accelerator``/``devices``; asking for GPUs that this
  machine does not have is a :class:`ConfigError`, not a CUDA traceback.
* ``max_steps`` counts training batches. Lightning's ``global_step`` counts optimiser steps, and a
  GAN batch makes one per optimiser (fewer generator steps with ``n_critic``), so the value is
  converted by the model's ``optimizer_steps`` before it reaches the Trainer.
* Checkpoints are written by :class:`~ganlab.utils.checkpoint_io.AtomicCheckpointIO` (in the
  checkpoint's folder, fsynced, renamed) unless the config brings its own checkpoint plugin.
* ``precision: bf16-mixed`` on a CPU without bf16 instructions (AVX-512 BF16 or AMX) becomes
  ``32-true``: there oneDNN emulates bf16, and the DCGAN recipe trains ten times slower
  (72 against 704 images/s on a 2-core AVX2 machine) instead of nearly twice as fast.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins import CheckpointIO
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig

from ganlab.errors import ConfigError, is_integer
from ganlab.utils.checkpoint_io import AtomicCheckpointIO
from ganlab.utils.mappings import plain_dict

log = logging.getLogger(__name__)


def translate_gpus(options: dict[str, Any]) -> dict[str, Any]:
    """Replace the legacy ``gpus`` option by ``accelerator`` and ``devices``."""
    gpus = options.pop("gpus", None)
    if gpus is None:
        return options
    if not is_integer(gpus) or gpus < 0:
        raise ConfigError(f"trainer.gpus={gpus!r} must be a non-negative integer")
    if gpus == 0:
        options.update(accelerator="cpu", devices=1)
        return options
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if available < gpus:
        raise ConfigError(
            f"trainer.gpus={gpus} asks for {gpus} GPU(s) but this machine has {available}; "
            "use trainer.gpus=0 to train on the CPU"
        )
    options.update(accelerator="gpu", devices=gpus)
    return options


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware; elsewhere oneDNN emulates it, slowly."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def machine_description() -> str:
    """The machine a measurement ran on, as results files record it: architecture, cores,
    CPU kind (bf16 in hardware or not, which halves a float32 CPU's budget) and torch."""
    import os
    import platform

    kind = "bf16 CPU" if native_cpu_bf16() else "AVX2 CPU (float32)"
    return f"{platform.machine()}, {os.cpu_count()} cores, {kind}, torch {torch.__version__}"


def runnable_precision(precision: str, accelerator: str = "auto") -> str:
    """``precision``, or 32-true where bf16 would only be emulated (see the module docstring).

    Training and the benchmarks share this rule, so a benchmark times what training runs."""
    precision = str(precision)
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    if precision.startswith("bf16") and on_cpu and not native_cpu_bf16():
        return "32-true"
    return precision


INTEGER_OPTIONS = (
    "max_epochs",
    "min_epochs",
    "max_steps",
    "min_steps",
    "log_every_n_steps",
    "check_val_every_n_epoch",
    "num_sanity_val_steps",
)


def check_integer_options(options: dict[str, Any]) -> None:
    for key in INTEGER_OPTIONS:
        value = options.get(key)
        if value is not None and not is_integer(value):
            raise ConfigError(f"trainer.{key}={value!r} must be an integer")


def build_trainer(
    trainer_cfg: DictConfig | dict[str, Any],
    *,
    callbacks: list[Callback] | None = None,
    loggers: list[Logger] | bool = False,
    optimizer_steps: Callable[[int], int] | None = None,
) -> L.Trainer:
    options = plain_dict(trainer_cfg)
    options.pop("_target_", None)
    options = translate_gpus(options)
    asked = str(options.get("precision", "32-true"))
    options["precision"] = runnable_precision(asked, options.get("accelerator", "auto"))
    if options["precision"] != asked:
        log.warning(
            "trainer.precision=%s: this CPU has no bf16 instructions, so training in %s "
            "(emulated bf16 is about ten times slower here)",
            asked,
            options["precision"],
        )
    check_integer_options(options)
    max_steps = options.get("max_steps", -1)
    if max_steps is not None and max_steps > 0 and optimizer_steps is not None:
        options["max_steps"] = optimizer_steps(max_steps)
    if options.get("accelerator") in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.accelerator={options['accelerator']} but no CUDA GPU is visible; "
            "use trainer.accelerator=cpu"
        )
    plugins = list(options.pop("plugins", None) or [])
    if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
        plugins.append(AtomicCheckpointIO())
    try:
        return L.Trainer(**options, plugins=plugins, callbacks=callbacks or [], logger=loggers)
    except TypeError as error:
        raise ConfigError(f"invalid trainer option: {error}") from error
    except (ValueError, RuntimeError, MisconfigurationException) as error:
        raise ConfigError(f"invalid trainer configuration: {error}") from error


def batches_done(trainer: L.Trainer) -> int:
    """Training batches completed so far, across epochs: the step that loggers record."""
    return trainer.fit_loop.epoch_loop.total_batch_idx + 1
