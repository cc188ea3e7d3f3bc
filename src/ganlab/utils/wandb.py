"""W&B that never needs the network unless the user asks for it.

Offline is the default. The run goes online when the user says so: ``WANDB_MODE=online``, an
API key in ``WANDB_API_KEY``, or ``logger.wandb.offline=false``. Offline runs sync later with
``wandb sync <run dir>``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightning.pytorch.loggers import WandbLogger


def wandb_should_be_offline(offline: bool | None) -> bool:
    """Explicit config wins; otherwise online only with WANDB_MODE=online or an API key set."""
    if offline is not None:
        return bool(offline)
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in ("offline", "disabled", "dryrun"):
        return True
    return not (mode == "online" or os.environ.get("WANDB_API_KEY"))


def make_wandb_logger(offline: bool | None = None, **kwargs: Any) -> WandbLogger:
    """A Lightning WandbLogger whose mode follows :func:`wandb_should_be_offline`."""
    from lightning.pytorch.loggers import WandbLogger  # here: the assistant lab needs no Lightning

    is_offline = wandb_should_be_offline(offline)
    if is_offline:
        # Stops wandb from probing the network for updates or credentials.
        os.environ.setdefault("WANDB_MODE", "offline")
    os.makedirs(kwargs.get("save_dir", "."), exist_ok=True)
    return WandbLogger(offline=is_offline, **kwargs)
