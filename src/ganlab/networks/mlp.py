"""The assignment's fully connected conditional GAN pair (as in the classic PyTorch-GAN cGAN).

The class label enters both networks through an embedding concatenated with the input: the
generator sees [label embedding, noise], the discriminator sees [label embedding, flat image].
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


def _hidden_block(in_features: int, out_features: int, batch_norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Linear(in_features, out_features)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(out_features))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return layers


class MLPGenerator(nn.Module):
    """(noise [N, latent_dim], labels [N]) -> images [N, C, img_size, img_size] in [-1, 1]."""

    def __init__(
        self,
        n_classes: int = 10,
        latent_dim: int = 100,
        channels: int = 1,
        img_size: int = 32,
        hidden_dims: tuple[int, ...] = (128, 256, 512, 1024),
    ) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.latent_dim = latent_dim
        self.channels = channels
        self.img_size = img_size
        self.hidden_dims = tuple(int(d) for d in hidden_dims)
        self.label_embedding = nn.Embedding(n_classes, n_classes)
        layers: list[nn.Module] = []
        width = latent_dim + n_classes
        for i, hidden in enumerate(self.hidden_dims):
            # No normalisation on the first block: it sees raw noise, as in the original cGAN.
            layers += _hidden_block(width, hidden, batch_norm=i > 0)
            width = hidden
        layers += [nn.Linear(width, channels * img_size * img_size), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def spec(self) -> dict[str, Any]:
        return {
            "n_classes": self.n_classes,
            "latent_dim": self.latent_dim,
            "channels": self.channels,
            "img_size": self.img_size,
            "hidden_dims": list(self.hidden_dims),
        }

    @staticmethod
    def parameter_count(
        n_classes: int, latent_dim: int, channels: int, img_size: int, hidden_dims: list[int]
    ) -> int:
        """Parameters of ``MLPGenerator(...)``, computed without building it, so that a spec read
        from a file is bounded before anything is allocated (ganlab.networks.spec)."""
        count, width = n_classes * n_classes, latent_dim + n_classes
        for i, hidden in enumerate(hidden_dims):
            count += width * hidden + hidden + (2 * hidden if i > 0 else 0)
            width = hidden
        pixels = channels * img_size * img_size
        return count + width * pixels + pixels

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.label_embedding(labels), noise], dim=1)
        return self.model(x).view(-1, self.channels, self.img_size, self.img_size)


class MLPDiscriminator(nn.Module):
    """Scores (images, labels) pairs: one unbounded real number per image (higher = more real)."""

    def __init__(
        self,
        n_classes: int = 10,
        channels: int = 1,
        img_size: int = 32,
        hidden_dim: int = 512,
        dropout: float = 0.4,
    ) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.channels = channels
        self.img_size = img_size
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.label_embedding = nn.Embedding(n_classes, n_classes)
        in_features = n_classes + channels * math.prod((img_size, img_size))
        self.model = nn.Sequential(
            nn.Linear(in_features, hidden_dim),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hidden_dim, hidden_dim),
            nn.Dropout(dropout),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hidden_dim, hidden_dim),
            nn.Dropout(dropout),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hidden_dim, 1),
        )

    def spec(self) -> dict[str, Any]:
        return {
            "n_classes": self.n_classes,
            "channels": self.channels,
            "img_size": self.img_size,
            "hidden_dim": self.hidden_dim,
            "dropout": self.dropout,
        }

    @staticmethod
    def parameter_count(
        n_classes: int, channels: int, img_size: int, hidden_dim: int, dropout: float
    ) -> int:
        """Parameters of ``MLPDiscriminator(...)``, computed without building it."""
        in_features = n_classes + channels * img_size * img_size
        hidden = hidden_dim
        return (
            n_classes * n_classes
            + (in_features + 1) * hidden
            + 2 * (hidden + 1) * hidden
            + hidden
            + 1
        )

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.label_embedding(labels), images.flatten(1)], dim=1)
        return self.model(x).squeeze(1)


# The assignment's names for the pair; checkpoints written under them keep loading.
Generator = MLPGenerator
Discriminator = MLPDiscriminator
