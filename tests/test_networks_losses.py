"""Networks give the shapes and ranges the lab relies on; losses have known values."""

from __future__ import annotations

import math

import pytest
import torch

from ganlab.errors import CheckpointError, ConfigError
from ganlab.losses import LeastSquaresLoss, NonSaturatingLoss
from ganlab.networks import Discriminator, Generator, build_network, network_spec


@pytest.mark.parametrize(("channels", "img_size"), [(1, 28), (1, 32), (3, 32)])
def test_generator_and_discriminator_shapes(channels: int, img_size: int) -> None:
    gen = Generator(latent_dim=16, channels=channels, img_size=img_size)
    disc = Discriminator(channels=channels, img_size=img_size)
    labels = torch.arange(10)
    images = gen(torch.randn(10, 16), labels)
    assert images.shape == (10, channels, img_size, img_size)
    assert images.min() >= -1 and images.max() <= 1
    assert disc(images, labels).shape == (10,)


def test_generator_depends_on_the_label() -> None:
    torch.manual_seed(0)
    gen = Generator(latent_dim=8, img_size=28).eval()
    noise = torch.randn(1, 8).repeat(2, 1)
    with torch.no_grad():
        a, b = gen(noise, torch.tensor([3, 5]))
    assert not torch.allclose(a, b)


def test_spec_rebuilds_an_identical_network() -> None:
    gen = Generator(n_classes=7, latent_dim=12, img_size=28, hidden_dims=(32, 64))
    spec = network_spec(gen)
    assert spec["_target_"] == "ganlab.networks.mlp.Generator"
    clone = build_network(spec)
    clone.load_state_dict(gen.state_dict())
    noise, labels = torch.randn(3, 12), torch.tensor([0, 1, 6])
    gen.eval(), clone.eval()
    assert torch.equal(gen(noise, labels), clone(noise, labels))


def test_spec_refuses_classes_outside_the_project() -> None:
    with pytest.raises(CheckpointError, match="not one of ganlab's networks"):
        build_network({"_target_": "os.system", "command": "true"})


def test_least_squares_loss_values() -> None:
    loss = LeastSquaresLoss()
    ones, zeros = torch.ones(4), torch.zeros(4)
    assert loss.discriminator_loss(ones, zeros) == 0  # perfect discriminator
    assert loss.generator_loss(ones) == 0  # generator fully fools it
    assert loss.discriminator_loss(zeros, ones) == pytest.approx(1.0)
    assert loss.generator_loss(zeros) == pytest.approx(1.0)


def test_non_saturating_loss_values() -> None:
    loss = NonSaturatingLoss()
    undecided = torch.zeros(4)
    assert loss.generator_loss(undecided) == pytest.approx(math.log(2))
    assert loss.discriminator_loss(undecided, undecided) == pytest.approx(math.log(2))
    confident = torch.full((4,), 20.0)
    assert loss.discriminator_loss(confident, -confident) < 1e-6
    # Non-saturating: a rejected sample still gets a large gradient.
    fake = torch.full((1,), -10.0, requires_grad=True)
    loss.generator_loss(fake).backward()
    assert fake.grad.abs().item() > 0.9


def test_label_smoothing_changes_the_real_target() -> None:
    smooth = NonSaturatingLoss(real_label=0.9)
    plain = NonSaturatingLoss()
    very_confident = torch.full((4,), 10.0)
    assert smooth.discriminator_loss(very_confident, -very_confident) > plain.discriminator_loss(
        very_confident, -very_confident
    )
    with pytest.raises(ConfigError, match=r"real_label=1\.5"):
        NonSaturatingLoss(real_label=1.5)
