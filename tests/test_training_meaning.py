"""What one training step optimises, checked on networks small enough to differentiate by hand.

The discriminator scores ``D(x, y) = w[y] * mean(x) + b[y]`` and the generator draws
``G(z, y) = g[y]`` everywhere. With plain SGD at learning rate 1 a parameter moves by exactly
minus its gradient, so each step's change can be written down in advance: which class the
real and the generated images were scored as, which side was pushed up, and in which
direction the generator moved. A step that scores fakes with the real batch's labels, swaps
real and fake, or lets the generator push its scores towards "fake" gives other numbers.
"""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ganlab.losses import HingeLoss, LeastSquaresLoss, NonSaturatingLoss, WassersteinGPLoss
from ganlab.models import MNISTGANModel
from tests.helpers import bare_trainer

N_CLASSES = 3
SIZE = 4
BATCH = 6


class ConstantGenerator(nn.Module):
    """Every pixel of an image of class y is g[y]; the noise is ignored."""

    n_classes, channels, img_size, latent_dim = N_CLASSES, 1, SIZE, 2

    def __init__(self, values: list[float]) -> None:
        super().__init__()
        self.g = nn.Parameter(torch.tensor(values))

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.g[labels].view(-1, 1, 1, 1).expand(-1, 1, SIZE, SIZE)


class LinearDiscriminator(nn.Module):
    """D(x, y) = w[y] * mean(x) + b[y]: one slope and one offset per class."""

    n_classes, channels, img_size = N_CLASSES, 1, SIZE

    def __init__(self, slopes: list[float]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(slopes))
        self.b = nn.Parameter(torch.zeros(N_CLASSES))

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.w[labels] * images.mean(dim=(1, 2, 3)) + self.b[labels]


def one_step(
    *,
    lr_g: float,
    lr_d: float,
    n_critic: int,
    generator_values: list[float],
    slopes: list[float],
) -> MNISTGANModel:
    """One training batch of real images (all pixels +1, class 0) against fakes of class 1."""
    model = MNISTGANModel(
        generator=ConstantGenerator(generator_values),
        discriminator=LinearDiscriminator(slopes),
        loss=HingeLoss(),
        optimizer_g=partial(torch.optim.SGD, lr=lr_g),
        optimizer_d=partial(torch.optim.SGD, lr=lr_d),
        n_classes=N_CLASSES,
        latent_dim=2,
        img_size=SIZE,
        n_critic=n_critic,
    )
    real_fake_batch = model._fake_batch

    def fakes_of_class_one(n: int, labels: torch.Tensor | None = None):
        return real_fake_batch(n, torch.ones(n, dtype=torch.long))

    model._fake_batch = fakes_of_class_one  # type: ignore[method-assign]
    real = torch.ones(BATCH, 1, SIZE, SIZE)
    loader = DataLoader(TensorDataset(real, torch.zeros(BATCH, dtype=torch.long)), batch_size=BATCH)
    bare_trainer(model, batches=1).fit(model, train_dataloaders=loader)
    return model


def test_the_discriminator_step_raises_real_scores_and_lowers_fake_ones_per_class() -> None:
    # n_critic=2: the first batch updates only the discriminator. Fakes are -0.5 everywhere;
    # slopes of 0.5 put both the real score (0.5) and the fake one (-0.25) inside the margins.
    model = one_step(
        lr_g=0.0, lr_d=1.0, n_critic=2, generator_values=[0.0, -0.5, 0.0], slopes=[0.5, 0.5, 0.5]
    )
    d = model.discriminator
    # Loss = mean(relu(1 - D(real, 0))) + mean(relu(1 + D(fake, 1))), both margins active:
    # dL/db0 = -1, dL/dw0 = -mean(real) = -1; dL/db1 = +1, dL/dw1 = mean(fake) = -0.5.
    # (Fakes scored as class 0 would give b = [0, 0, 0], w = [2, 0.5, 0.5].)
    assert d.b.detach().tolist() == pytest.approx([1.0, -1.0, 0.0])
    assert d.w.detach().tolist() == pytest.approx([1.5, 1.0, 0.5])
    # The generator was not touched on a discriminator-only batch.
    assert model.generator.g.detach().tolist() == pytest.approx([0.0, -0.5, 0.0])


def test_the_generator_step_pushes_its_images_towards_real_for_their_own_class() -> None:
    # n_critic=1: the generator steps first, against the discriminator as it was. Class 1's
    # slope is negative: raising D(G(z), 1) means lowering g[1]. Had the fakes been scored as
    # class 0 (slope +2), g[1] would rise; with the loss's sign flipped it would rise too.
    model = one_step(
        lr_g=1.0, lr_d=0.0, n_critic=1, generator_values=[0.0, 0.0, 0.0], slopes=[2.0, -3.0, 5.0]
    )
    # Generator loss = -mean(w[1] * g[1] + b[1]); dL/dg1 = -w[1] = 3 -> g1 = 0 - 3.
    assert model.generator.g.detach().tolist() == pytest.approx([0.0, -3.0, 0.0])
    # lr_d=0: the discriminator is where it started.
    assert model.discriminator.w.detach().tolist() == pytest.approx([2.0, -3.0, 5.0])


@pytest.mark.parametrize(
    "loss", [HingeLoss(), LeastSquaresLoss(), NonSaturatingLoss(), WassersteinGPLoss()]
)
def test_every_loss_rewards_the_discriminator_for_telling_real_from_fake(loss) -> None:
    high, low = torch.tensor([0.8, 0.6]), torch.tensor([0.3, 0.1])
    right = loss.discriminator_loss(real_scores=high, fake_scores=low)
    wrong = loss.discriminator_loss(real_scores=low, fake_scores=high)
    assert right < wrong
    # Raising a real score and lowering a fake one never increases the loss.
    real = high.clone().requires_grad_(True)
    fake = low.clone().requires_grad_(True)
    loss.discriminator_loss(real, fake).backward()
    assert (real.grad <= 0).all() and (real.grad < 0).any()
    assert (fake.grad >= 0).all() and (fake.grad > 0).any()


@pytest.mark.parametrize(
    "loss", [HingeLoss(), LeastSquaresLoss(), NonSaturatingLoss(), WassersteinGPLoss()]
)
def test_every_loss_rewards_the_generator_for_scores_that_look_real(loss) -> None:
    scores = torch.tensor([-0.5, 0.2], requires_grad=True)
    loss.generator_loss(scores).backward()
    assert (scores.grad < 0).all()
    assert loss.generator_loss(torch.tensor([0.9, 0.9])) < loss.generator_loss(
        torch.tensor([-0.9, -0.9])
    )
