"""Networks give the shapes and ranges the lab relies on; losses have known values."""

from __future__ import annotations

import math

import pytest
import torch

from ganlab.errors import CheckpointError, ConfigError
from ganlab.losses import (
    HingeLoss,
    LeastSquaresLoss,
    NonSaturatingLoss,
    WassersteinGPLoss,
    gradient_penalty,
    r1_penalty,
)
from ganlab.networks import (
    Discriminator,
    Generator,
    MLPDiscriminator,
    MLPGenerator,
    build_network,
    network_spec,
)
from ganlab.networks.dcgan import DCGANDiscriminator, DCGANGenerator


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
    assert spec["_target_"] == "ganlab.networks.mlp.MLPGenerator"
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
    for impossible in (0.0, -0.5):  # a real target of 0 would teach "real" as "fake"
        with pytest.raises(ConfigError, match="real_label"):
            NonSaturatingLoss(real_label=impossible)
    assert NonSaturatingLoss(real_label=1.0).real_label == 1.0


NETWORK_PAIRS = {
    "mlp": lambda c, s: (
        Generator(latent_dim=16, channels=c, img_size=s),
        Discriminator(channels=c, img_size=s),
    ),
    "dcgan-projection": lambda c, s: (
        DCGANGenerator(latent_dim=16, channels=c, img_size=s, width=8),
        DCGANDiscriminator(channels=c, img_size=s, width=8),
    ),
    "dcgan-projection-depth3": lambda c, s: (
        DCGANGenerator(latent_dim=16, channels=c, img_size=s, width=8),
        DCGANDiscriminator(channels=c, img_size=s, width=8, depth=3),
    ),
    "dcgan-projection-depth3-refine2": lambda c, s: (
        DCGANGenerator(latent_dim=16, channels=c, img_size=s, width=8),
        DCGANDiscriminator(channels=c, img_size=s, width=8, depth=3, refine_layers=2),
    ),
    "dcgan-concat-sn": lambda c, s: (
        DCGANGenerator(latent_dim=16, channels=c, img_size=s, width=8),
        DCGANDiscriminator(
            channels=c, img_size=s, width=8, conditioning="concat", spectral_norm=True
        ),
    ),
}
LOSSES = {
    "least_squares": LeastSquaresLoss,
    "non_saturating": NonSaturatingLoss,
    "hinge": HingeLoss,
    "wgan_gp": WassersteinGPLoss,
}


@pytest.mark.parametrize("pair", sorted(NETWORK_PAIRS))
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize(("channels", "img_size"), [(1, 28), (3, 32)])
def test_every_network_pair_trains_with_every_loss(
    pair: str, loss_name: str, channels: int, img_size: int
) -> None:
    torch.manual_seed(0)
    gen, disc = NETWORK_PAIRS[pair](channels, img_size)
    loss = LOSSES[loss_name]()
    labels = torch.arange(6) % 10
    fake = gen(torch.randn(6, 16), labels)
    assert fake.shape == (6, channels, img_size, img_size) and fake.dtype == torch.float32
    assert fake.min() >= -1 and fake.max() <= 1
    real = torch.rand_like(fake) * 2 - 1
    scores = disc(fake, labels)
    assert scores.shape == (6,) and scores.dtype == torch.float32
    g_loss = loss.generator_loss(scores)
    g_loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in gen.parameters())
    d_loss = loss.discriminator_loss(disc(real, labels), disc(fake.detach(), labels))
    penalty = loss.discriminator_penalty(disc, real, fake, labels)
    assert (penalty is not None) == (loss_name == "wgan_gp")
    total = d_loss if penalty is None else d_loss + penalty
    disc.zero_grad()
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in disc.parameters() if p.grad is not None)
    assert torch.isfinite(total)


def test_dcgan_generator_depends_on_the_label_and_rebuilds_from_its_spec() -> None:
    torch.manual_seed(0)
    gen = DCGANGenerator(latent_dim=8, img_size=28, width=8).eval()
    noise = torch.randn(1, 8).repeat(2, 1)
    with torch.no_grad():
        a, b = gen(noise, torch.tensor([3, 5]))
    assert not torch.allclose(a, b)
    clone = build_network(network_spec(gen)).eval()
    clone.load_state_dict(gen.state_dict())
    assert torch.equal(clone(noise, torch.tensor([3, 5])), gen(noise, torch.tensor([3, 5])))


@pytest.mark.parametrize("conditioning", ["projection", "concat"])
def test_dcgan_discriminator_score_depends_on_the_label(conditioning: str) -> None:
    torch.manual_seed(0)
    disc = DCGANDiscriminator(img_size=28, width=8, conditioning=conditioning)
    image = torch.rand(1, 1, 28, 28).repeat(2, 1, 1, 1)
    a, b = disc(image, torch.tensor([1, 7]))
    assert not torch.isclose(a, b)


def test_dcgan_rejects_bad_sizes_and_conditioning() -> None:
    with pytest.raises(ConfigError, match="divisible by 4"):
        DCGANGenerator(img_size=30)
    with pytest.raises(ConfigError, match="conditioning='film'"):
        DCGANDiscriminator(conditioning="film")
    with pytest.raises(ConfigError, match=r"depth=4 .*at most 3"):
        DCGANDiscriminator(img_size=28, depth=4)
    with pytest.raises(ConfigError, match="depth=0"):
        DCGANDiscriminator(depth=0)
    with pytest.raises(ConfigError, match="depth='3' must be an integer"):
        DCGANDiscriminator(depth="3")
    with pytest.raises(ConfigError, match="refine_layers=-1 must be an integer >= 0"):
        DCGANDiscriminator(refine_layers=-1)
    with pytest.raises(ConfigError, match="refine_layers=True"):
        DCGANDiscriminator(refine_layers=True)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_dcgan_discriminator_depth_halves_the_image_that_many_times(depth: int) -> None:
    disc = DCGANDiscriminator(img_size=32, width=4, depth=depth)
    convs = [layer for layer in disc.features if isinstance(layer, torch.nn.Conv2d)]
    assert [conv.out_channels for conv in convs] == [4 * 2**level for level in range(depth)]
    features = disc.features(torch.zeros(2, 1, 32, 32))
    assert features.shape == (2, 4 * 2 ** (depth - 1) * (32 >> depth) ** 2)
    clone = build_network(network_spec(disc))
    clone.load_state_dict(disc.state_dict())
    image, labels = torch.rand(2, 1, 32, 32), torch.tensor([2, 9])
    assert torch.equal(clone(image, labels), disc(image, labels))


@pytest.mark.parametrize("refine_layers", [0, 2])
def test_dcgan_refine_layers_widen_what_each_feature_sees(refine_layers: int) -> None:
    """At depth 3 the top-left feature of the 4x4 map sees pixels 0-14 of each axis; two 3x3
    layers on that map stretch it to 0-30, at the same feature count, and the spec rebuilds it."""
    torch.manual_seed(0)
    disc = DCGANDiscriminator(img_size=32, width=4, depth=3, refine_layers=refine_layers)
    stride_one = [
        layer
        for layer in disc.features
        if isinstance(layer, torch.nn.Conv2d) and layer.stride == (1, 1)
    ]
    assert [(conv.in_channels, conv.out_channels) for conv in stride_one] == [(16, 16)] * (
        refine_layers
    )
    image = torch.rand(1, 1, 32, 32, requires_grad=True)
    features = disc.features(image)
    assert features.shape == (1, 16 * 4 * 4)
    features.view(1, 16, 4, 4)[:, :, 0, 0].sum().backward()
    assert (image.grad[0, 0, 30, 30] != 0) == (refine_layers > 0)
    assert image.grad[0, 0, 31, 31] == 0
    clone = build_network(network_spec(disc))
    clone.load_state_dict(disc.state_dict())
    labels = torch.tensor([4])
    assert torch.equal(clone(image, labels), disc(image, labels))


def test_hinge_loss_values() -> None:
    loss = HingeLoss()
    assert loss.discriminator_loss(torch.full((3,), 2.0), torch.full((3,), -2.0)) == 0
    assert loss.discriminator_loss(torch.zeros(3), torch.zeros(3)) == pytest.approx(2.0)
    assert loss.generator_loss(torch.tensor([1.0, 3.0])) == pytest.approx(-2.0)


def test_wasserstein_loss_values_and_bad_weight() -> None:
    loss = WassersteinGPLoss()
    assert loss.discriminator_loss(torch.tensor([3.0]), torch.tensor([1.0])) == -2.0
    assert loss.generator_loss(torch.tensor([1.0, 3.0])) == -2.0
    assert WassersteinGPLoss(gp_weight=0).discriminator_penalty(None, None, None, None) is None
    assert WassersteinGPLoss().gp_weight == 10.0  # Gulrajani et al.'s lambda
    with pytest.raises(ConfigError, match="gp_weight=-1"):
        WassersteinGPLoss(gp_weight=-1)


def test_wasserstein_penalty_is_the_weighted_gradient_penalty() -> None:
    real, fake, labels = torch.rand(4, 1, 4, 4), torch.rand(4, 1, 4, 4), torch.zeros(4).long()
    critic = linear_critic(3 / math.sqrt(16))  # gradient norm 3: penalty (3 - 1)^2 = 4
    penalty = WassersteinGPLoss(gp_weight=2.5).discriminator_penalty(critic, real, fake, labels)
    assert penalty == pytest.approx(10.0)
    assert WassersteinGPLoss(gp_weight=0.5).discriminator_penalty(critic, real, fake, labels) == (
        pytest.approx(2.0)
    )


def test_gradient_penalty_is_taken_between_each_real_image_and_its_fake() -> None:
    """Each point scored lies on the segment from its fake to its real image, at a position of
    its own (one random mix per image, not one for the batch)."""
    real = torch.rand(8, 1, 4, 4) + 2.0
    fake = torch.rand(8, 1, 4, 4) - 2.0
    seen: list[torch.Tensor] = []

    def recording_critic(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        seen.append(images.detach().clone())
        return images.flatten(1).sum(1)

    gradient_penalty(recording_critic, real, fake, torch.zeros(8).long())
    (points,) = seen
    direction = (real - fake).flatten(1)
    position = ((points - fake).flatten(1) * direction).sum(1) / direction.pow(2).sum(1)
    assert ((position >= 0) & (position <= 1)).all()
    on_segment = fake + position.view(8, 1, 1, 1) * (real - fake)
    torch.testing.assert_close(points, on_segment)
    assert position.unique().numel() == 8


def linear_critic(slope: float):
    """D(x) = slope * sum(x): its input gradient has norm slope * sqrt(pixels) everywhere."""
    return lambda images, labels: slope * images.flatten(1).sum(1)


def test_gradient_penalty_is_zero_for_a_unit_slope_critic_and_grows_otherwise() -> None:
    real, fake, labels = torch.rand(4, 1, 4, 4), torch.rand(4, 1, 4, 4), torch.zeros(4).long()
    unit = 1 / math.sqrt(16)
    assert gradient_penalty(linear_critic(unit), real, fake, labels) == pytest.approx(0, abs=1e-6)
    assert gradient_penalty(linear_critic(3 * unit), real, fake, labels) == pytest.approx(4.0)
    # Squared, not doubled: slopes 0 and 2 both sit one away from 1 and pay 1.
    assert gradient_penalty(linear_critic(0.0), real, fake, labels) == pytest.approx(1.0)
    assert gradient_penalty(linear_critic(2 * unit), real, fake, labels) == pytest.approx(1.0)


def test_r1_penalty_values_and_gradients_reach_the_discriminator() -> None:
    real, labels = torch.rand(4, 1, 4, 4), torch.zeros(4).long()
    assert r1_penalty(linear_critic(0.5), real, labels) == pytest.approx(0.25 * 16)
    torch.manual_seed(0)
    disc = DCGANDiscriminator(img_size=8, width=4)
    real = torch.rand(4, 1, 8, 8)
    for penalty in (
        r1_penalty(disc, real, labels),
        gradient_penalty(disc, real, torch.rand_like(real), labels),
    ):
        disc.zero_grad()
        penalty.backward()
        grads = [p.grad for p in disc.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)


def test_the_assignments_network_names_still_build_and_load() -> None:
    """``Generator``/``Discriminator`` are the MLP pair's names in the assignment and in older
    checkpoints' specs; they still resolve to the same classes."""
    assert Generator is MLPGenerator and Discriminator is MLPDiscriminator
    old_spec = {
        **network_spec(MLPGenerator(latent_dim=8, img_size=28)),
        "_target_": "ganlab.networks.mlp.Generator",
    }
    assert isinstance(build_network(old_spec), MLPGenerator)
