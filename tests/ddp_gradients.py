"""A worker for the DDP averaging test, in a module of its own: spawned processes import only
this (and torch), not the test module with Lightning and Hydra, which would cost seconds each."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ganlab.utils.distributed import average_gradients


def gradient_problem() -> tuple[nn.Module, torch.Tensor]:
    """A fixed linear model and a batch of 8 whose two halves differ a lot."""
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    inputs = torch.randn(8, 5) * torch.arange(1, 9).view(8, 1)
    return model, inputs


def average_on_rank(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    """One gloo process: gradients on this rank's share of the batch, averaged across ranks,
    written to ``rank<N>.pt``."""
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size
    )
    try:
        model, inputs = gradient_problem()
        model(inputs.chunk(world_size)[rank]).pow(2).mean().backward()
        average_gradients(model.parameters())
        torch.save([p.grad for p in model.parameters()], Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()
