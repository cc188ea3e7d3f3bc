"""The interface every adversarial loss implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from ganlab.losses.penalties import Scorer


class GANLoss(ABC):
    """Losses for both players, computed from the discriminator's raw scores (no sigmoid)."""

    @abstractmethod
    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        """Loss the generator minimises, given scores of its own samples."""

    @abstractmethod
    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        """Loss the discriminator minimises, given scores of real and generated samples."""

    def discriminator_penalty(
        self, discriminator: Scorer, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor | None:
        """A regulariser the loss itself needs (WGAN-GP's gradient penalty); None if none."""
        return None
