"""Gradient averaging for GANs under DDP, without ``find_unused_parameters``.

A GAN step runs two backward passes, each touching only one network: the discriminator's loss
never reaches the generator's weights, and the generator's step freezes the discriminator.
PyTorch's DDP reducer expects every parameter to receive a gradient in every backward pass, so
it fails (or, with ``find_unused_parameters=True``, walks the whole autograd graph after every
forward to find the unused ones). Instead the model switches the reducer off and averages each
optimiser's gradients itself, in one flat all-reduce, just before that optimiser steps. DDP
still does the rest: process group, initial weight broadcast, and Lightning's
``DistributedSampler`` for the data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn

from ganlab.errors import ConfigError

LR_SCALING = ("none", "linear", "sqrt")


def take_over_gradient_sync(wrapped: nn.Module | None) -> bool:
    """Stop DDP's reducer from syncing this step's gradients (as inside ``no_sync()``).

    Lightning switches the reducer back on after every training step, so this is called at the
    start of each. Returns whether ``wrapped`` is a DDP module, i.e. whether the caller must
    now average gradients with :func:`average_gradients` before each optimiser step.
    """
    if not isinstance(wrapped, nn.parallel.DistributedDataParallel):
        return False
    wrapped.require_backward_grad_sync = False
    return True


def average_gradients(parameters: Iterable[nn.Parameter]) -> None:
    """Replace each gradient by its mean over all processes (one all-reduce for all of them)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads or not dist.is_available() or not dist.is_initialized():
        return
    world_size = dist.get_world_size()
    if world_size < 2:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def scaled_learning_rate(lr: float, world_size: int, rule: str) -> float:
    """The learning rate for ``world_size`` processes, each with the configured batch size.

    The effective batch grows with the number of processes; ``linear`` scales the rate with it
    (Goyal et al., 2017, for SGD), ``sqrt`` with its square root (the usual rule for Adam),
    ``none`` keeps it.
    """
    if rule not in LR_SCALING:
        raise ConfigError(f"model.lr_scaling={rule!r} must be one of {LR_SCALING}")
    if rule == "linear":
        return lr * world_size
    if rule == "sqrt":
        return lr * math.sqrt(world_size)
    return lr
