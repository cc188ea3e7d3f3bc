"""Exponential moving average (EMA) of a network's weights (Yazici et al., 2019 for GANs).

GAN weights keep oscillating around a good solution; their running average samples visibly
cleaner images at no training cost. The average starts as a copy of the network and warms up:
the effective decay is ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so early
averages are not dominated by the random initial weights.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ganlab.errors import ConfigError


def ema_copy(network: nn.Module) -> nn.Module:
    """A frozen copy of ``network`` to hold the average."""
    average = copy.deepcopy(network)
    average.requires_grad_(False)
    return average


def effective_decay(decay: float, updates: int) -> float:
    """The decay for update number ``updates`` (0-based), with warm-up."""
    return min(decay, (1 + updates) / (10 + updates))


def check_decay(decay: float) -> None:
    if not 0.0 < decay < 1.0:
        raise ConfigError(f"model.ema_decay={decay} must be in (0, 1), or null to disable EMA")


@torch.no_grad()
def update_ema(average: nn.Module, network: nn.Module, decay: float) -> None:
    """Move ``average``'s parameters towards ``network``'s; copy buffers (BatchNorm statistics)."""
    for mine, theirs in zip(average.parameters(), network.parameters(), strict=True):
        mine.lerp_(theirs, 1.0 - decay)
    for mine, theirs in zip(average.buffers(), network.buffers(), strict=True):
        mine.copy_(theirs)
