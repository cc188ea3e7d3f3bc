"""Wasserstein loss with gradient penalty, WGAN-GP (Gulrajani et al., 2017).

The critic's score difference estimates the Wasserstein-1 distance only if the critic is
1-Lipschitz; the penalty pushes its gradient norm towards 1 on points between real and fake
images. Use a critic without BatchNorm, and usually several critic steps per generator step
(``model.n_critic``).
"""

from __future__ import annotations

import torch

from ganlab.errors import ConfigError
from ganlab.losses.base import GANLoss
from ganlab.losses.penalties import Scorer, gradient_penalty


class WassersteinGPLoss(GANLoss):
    def __init__(self, gp_weight: float = 10.0) -> None:
        if gp_weight < 0:
            raise ConfigError(f"model.loss.gp_weight={gp_weight} must be non-negative")
        self.gp_weight = gp_weight

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -fake_scores.mean()

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        return fake_scores.mean() - real_scores.mean()

    def discriminator_penalty(
        self, discriminator: Scorer, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor | None:
        if self.gp_weight == 0:
            return None
        return self.gp_weight * gradient_penalty(discriminator, real, fake, labels)
