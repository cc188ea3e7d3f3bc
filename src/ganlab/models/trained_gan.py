"""A trained GAN outside training: its generator network and card, drawing in one pass.

This is what the checkpoint loader and the exported-weights loader return, and what the torch
backend of ``ganlab-generate``, ``-evaluate`` and ``-serve`` runs; it needs neither Lightning
nor Hydra.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganlab.models.conditional_generator import (
    ConditionalImageGenerator,
    GeneratorCard,
    check_labels,
)
from ganlab.sampling import run_generator, sample_noise


class TrainedGAN(ConditionalImageGenerator):
    """``network(noise [N, latent_dim], labels [N])`` -> images, described by ``card``."""

    def __init__(self, network: nn.Module, card: GeneratorCard, latent_dim: int) -> None:
        self.network = network.eval()
        self._card = card
        self.latent_dim = latent_dim

    @property
    def card(self) -> GeneratorCard:
        return self._card

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def to(self, device: torch.device | str) -> TrainedGAN:
        self.network.to(device)
        return self

    def run(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The single network pass (what ONNX export traces)."""
        return run_generator(self.network, noise.to(self.device), labels.to(self.device))

    def generate(
        self, labels: torch.Tensor, seed: int | None = None, **options: Any
    ) -> torch.Tensor:
        self.check_options(options)
        check_labels(labels, self.card.n_classes)
        noise = sample_noise(len(labels), self.latent_dim, seed=seed, device=self.device)
        return self.run(noise, labels)
