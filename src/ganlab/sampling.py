"""The one place that draws noise, lays out label grids and turns generator output into pixels."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torchvision.utils import make_grid, save_image

from ganlab.utils.atomic import atomic_path


def sample_noise(
    n: int,
    latent_dim: int,
    *,
    seed: int | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Standard-normal noise [n, latent_dim]. With ``seed`` it is drawn on the CPU so the same seed
    gives the same noise on every device and backend."""
    if seed is None:
        return torch.randn(n, latent_dim, device=device)
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, latent_dim, generator=generator).to(device)


def class_grid_labels(
    n_classes: int, per_class: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Labels 0,0,...,1,1,... so that a grid with ``per_class`` columns has one row per class."""
    return torch.arange(n_classes, device=device).repeat_interleave(per_class)


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> [0, 1]."""
    return images.add(1.0).div(2.0).clamp(0.0, 1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> uint8 pixels in [0, 255], same shape, on the CPU."""
    return to_unit_range(images.detach().float().cpu()).mul(255.0).round().to(torch.uint8)


@torch.no_grad()
def run_generator(generator: nn.Module, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Generator output in eval mode (BatchNorm uses running statistics); restores its mode."""
    was_training = generator.training
    generator.eval()
    try:
        return generator(noise, labels)
    finally:
        generator.train(was_training)


def generate(
    generator: nn.Module,
    labels: torch.Tensor,
    latent_dim: int,
    *,
    seed: int | None = None,
) -> torch.Tensor:
    """Images for ``labels`` from fresh noise (reproducible with ``seed``)."""
    device = next(generator.parameters()).device
    noise = sample_noise(len(labels), latent_dim, seed=seed, device=device)
    return run_generator(generator, noise, labels.to(device))


def image_grid(images: torch.Tensor, per_row: int) -> torch.Tensor:
    """A [C, H, W] grid in [0, 1] with ``per_row`` images per row and a 2-pixel border."""
    return make_grid(to_unit_range(images.detach().float().cpu()), nrow=per_row, padding=2)


def save_grid(images: torch.Tensor, path: str | os.PathLike, per_row: int) -> Path:
    """Write a PNG grid atomically."""
    with atomic_path(path) as tmp:
        save_image(image_grid(images, per_row), tmp, format="png")
    return Path(path)
