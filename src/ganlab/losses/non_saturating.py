"""Non-saturating GAN loss (Goodfellow et al., 2014), with binary cross-entropy on logits.

The generator maximises log D(G(z)) instead of minimising log(1 - D(G(z))), which would give
vanishing gradients early in training when the discriminator rejects every sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganlab.errors import ConfigError
from ganlab.losses.base import GANLoss


class NonSaturatingLoss(GANLoss):
    def __init__(self, real_label: float = 1.0) -> None:
        """``real_label`` < 1 enables one-sided label smoothing (Salimans et al., 2016)."""
        if not 0.0 < real_label <= 1.0:
            raise ConfigError(f"model.loss.real_label={real_label} must be in (0, 1]")
        self.real_label = real_label

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        real_targets = torch.full_like(real_scores, self.real_label)
        real = F.binary_cross_entropy_with_logits(real_scores, real_targets)
        fake = F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores))
        return 0.5 * (real + fake)
