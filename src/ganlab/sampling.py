"""The one place that draws noise, lays out label grids and turns generator output into pixels."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganlab import images as images_np
from ganlab.images import seeded_noise
from ganlab.utils.atomic import atomic_path


def sample_noise(
    n: int,
    latent_dim: int,
    *,
    seed: int | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Standard-normal noise [n, latent_dim]. With ``seed`` it comes from
    :func:`ganlab.images.seeded_noise`, identical on every device and backend."""
    if seed is None:
        return torch.randn(n, latent_dim, device=device)
    return torch.from_numpy(seeded_noise(n, latent_dim, seed)).to(device)


def class_grid_labels(
    n_classes: int, per_class: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Labels 0,0,...,1,1,... so that a grid with ``per_class`` columns has one row per class."""
    return torch.arange(n_classes, device=device).repeat_interleave(per_class)


def choose_per_class(labels: torch.Tensor, counts: list[int], seed: int) -> torch.Tensor:
    """Indices into ``labels``: ``counts[c]`` of class ``c`` each, drawn without replacement by
    ``seed`` (real images standing in for generated ones, class for class). Raises ValueError
    naming the class when it has fewer images than asked for."""
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for cls, count in enumerate(counts):
        pool = torch.nonzero(labels == cls).squeeze(1)
        if count > len(pool):
            raise ValueError(f"{count} images of class {cls} asked for, {len(pool)} available")
        chosen.append(pool[torch.randperm(len(pool), generator=generator)[:count]])
    return torch.cat(chosen)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Generator output in [-1, 1] -> uint8 pixels in [0, 255], same shape, as numpy."""
    return images_np.to_uint8(images.detach().float().cpu().numpy())


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


def image_grid(images: torch.Tensor, per_row: int) -> np.ndarray:
    """An H x W x C uint8 grid with ``per_row`` images per row."""
    return images_np.grid(to_uint8(images), per_row)


def save_grid(images: torch.Tensor, path: str | os.PathLike, per_row: int) -> Path:
    """Write a PNG grid atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(images_np.encode_png(to_uint8(images), per_row))
    return Path(path)
