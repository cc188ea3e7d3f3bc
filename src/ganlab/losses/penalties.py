"""Gradient penalties on the discriminator. Both differentiate the discriminator's scores with
respect to its input (``create_graph=True``), so the penalty itself can be back-propagated."""

from __future__ import annotations

from collections.abc import Callable

import torch

Scorer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _input_gradients(
    discriminator: Scorer, images: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    images = images.detach().requires_grad_(True)
    scores = discriminator(images, labels)
    (gradients,) = torch.autograd.grad(scores.sum(), images, create_graph=True)
    return gradients.flatten(1)


def gradient_penalty(
    discriminator: Scorer, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP: mean of (||grad D(x)|| - 1)^2 at random points x between real and fake images.

    The points are scored with the real images' labels: the penalty constrains the critic's
    slope along the line, whichever class the fake end was drawn for.
    """
    mix = torch.rand(real.size(0), *([1] * (real.dim() - 1)), device=real.device)
    between = mix * real.detach() + (1 - mix) * fake.detach()
    norms = _input_gradients(discriminator, between, labels).norm(2, dim=1)
    return ((norms - 1) ** 2).mean()


def r1_penalty(discriminator: Scorer, real: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al., 2018): mean squared gradient norm of D at real images.

    It flattens the discriminator around the data, which stops the oscillation that plain GAN
    training shows near equilibrium. Multiply by gamma / 2.
    """
    return _input_gradients(discriminator, real, labels).pow(2).sum(dim=1).mean()
