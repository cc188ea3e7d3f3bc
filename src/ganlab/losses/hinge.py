"""Hinge loss (Lim & Ye, 2017; used by SN-GAN and BigGAN).

The discriminator only learns from real samples scored below +1 and fake samples above -1, so a
confident discriminator stops pushing its scores apart; the generator raises its raw score.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganlab.losses.base import GANLoss


class HingeLoss(GANLoss):
    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -fake_scores.mean()

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()
