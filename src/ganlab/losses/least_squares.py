"""Least-squares GAN loss (Mao et al., 2017): the assignment's MSE loss.

Squared error pulls real scores to 1 and fake scores to 0; the generator pulls its scores to 1.
The quadratic penalty keeps gradients alive for samples far from the decision boundary.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganlab.losses.base import GANLoss


class LeastSquaresLoss(GANLoss):
    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(fake_scores, torch.ones_like(fake_scores))

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        real = F.mse_loss(real_scores, torch.ones_like(real_scores))
        fake = F.mse_loss(fake_scores, torch.zeros_like(fake_scores))
        # Halved so that a discriminator at chance level scores like the generator's loss.
        return 0.5 * (real + fake)
