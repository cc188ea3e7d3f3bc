"""Training regimens: EMA of the generator, n_critic, R1, DiffAugment, inside real fits."""

from __future__ import annotations

import copy
import math

import hydra
import pytest
import torch
from torch import nn

from ganlab.augmentations import DiffAugment
from ganlab.augmentations.diff_augment import cutout, translation
from ganlab.checkpoints import load_checkpoint, load_generator
from ganlab.errors import ConfigError
from ganlab.losses import r1_penalty
from ganlab.models.ema import effective_decay, ema_copy, recalibrate_batchnorm, update_ema
from ganlab.train import instantiate, train
from tests.helpers import fit_batches


def test_ema_warms_up_then_holds_its_decay() -> None:
    assert effective_decay(0.999, 0) == pytest.approx(0.1)
    assert effective_decay(0.999, 90) == pytest.approx(0.91)
    assert effective_decay(0.999, 100_000) == 0.999


def test_ema_update_moves_parameters_part_way_and_copies_buffers() -> None:
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    average = ema_copy(net)
    assert not any(p.requires_grad for p in average.parameters())
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.fill_(3.0)
    before = [p.clone() for p in average.parameters()]
    update_ema(average, net, decay=0.75)
    for old, new, target in zip(before, average.parameters(), net.parameters(), strict=True):
        assert torch.allclose(new, old + 0.25 * (target - old))
    assert torch.equal(average[1].running_mean, net[1].running_mean)


def first_batchnorm(network: nn.Module) -> str:
    return next(n for n, m in network.named_modules() if isinstance(m, nn.BatchNorm1d))


def test_recalibrated_batchnorm_statistics_are_those_of_the_inputs() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).eval()
    net[1].running_mean.fill_(5.0)
    batches = [(torch.randn(50, 3) * 2 + 1,) for _ in range(4)]
    recalibrate_batchnorm(net, batches)
    with torch.no_grad():
        activations = [net[0](x) for (x,) in batches]
    assert torch.allclose(net[1].running_mean, torch.cat(activations).mean(0), atol=1e-5)
    per_batch_var = torch.stack([a.var(0) for a in activations]).mean(0)
    assert torch.allclose(net[1].running_var, per_batch_var, atol=1e-5)
    assert not net.training and net[1].momentum == 0.1, "mode and momentum are restored"


def test_the_ema_generator_samples_with_its_own_batchnorm_statistics(make_cfg) -> None:
    cfg = make_cfg("model.ema_decay=0.9")
    model = hydra.utils.instantiate(cfg.model, _convert_="all")
    fit_batches(cfg, batches=6, model=model)
    layer = first_batchnorm(model.generator)
    norm = f"{layer}.running_mean"
    raw = dict(model.generator.named_buffers())[norm].clone()
    assert torch.equal(dict(model.ema_generator.named_buffers())[norm], raw), "copied in training"
    rng = torch.get_rng_state()
    generator = model.sampling_generator
    assert torch.equal(torch.get_rng_state(), rng), "measuring draws no global random numbers"
    measured = dict(generator.named_buffers())[norm]
    assert not torch.allclose(measured, raw)
    recorded = []
    hook = generator.get_submodule(layer).register_forward_hook(
        lambda m, i, o: recorded.append(i[0])
    )
    labels = torch.arange(10).repeat(40)
    with torch.no_grad():
        generator.train()(torch.randn(400, generator.latent_dim), labels)
    hook.remove()
    own = recorded[0].mean(0)
    assert (measured - own).abs().mean() < (raw - own).abs().mean()


def test_checkpoints_hold_the_ema_generators_measured_statistics(make_cfg) -> None:
    cfg = make_cfg("model.ema_decay=0.9")
    train(cfg)
    path = f"{cfg.paths.output_dir}/checkpoints/last.ckpt"
    saved = load_generator(path).network  # the checkpoint's EMA copy
    model = hydra.utils.instantiate(cfg.model, _convert_="all")
    model.ema_generator.load_state_dict(saved.state_dict())
    model._ema_statistics_current = False
    model.refresh_ema_statistics()
    stored = dict(saved.named_buffers())
    for name, value in model.ema_generator.named_buffers():
        assert torch.equal(value, stored[name]), f"{name} is the measurement, done at saving"
    norm = f"{first_batchnorm(saved)}.running_mean"
    raw = torch.load(path, weights_only=True, map_location="cpu")["state_dict"]
    assert not torch.allclose(stored[norm], raw[f"generator.{norm}"])


def test_ema_generator_differs_from_and_lags_the_raw_generator(make_cfg) -> None:
    cfg = make_cfg("model.ema_decay=0.9")
    model = hydra.utils.instantiate(cfg.model, _convert_="all")
    start = copy.deepcopy(model.generator)
    fit_batches(cfg, batches=6, model=model)
    raw = dict(model.generator.named_parameters())
    ema = dict(model.ema_generator.named_parameters())
    assert model.sampling_generator is model.ema_generator
    assert model.ema_updates == 6
    moved_raw = moved_ema = 0.0
    for name, p in start.named_parameters():
        assert not torch.equal(ema[name], raw[name]), name
        moved_raw += (raw[name] - p).norm().item()
        moved_ema += (ema[name] - p).norm().item()
    assert 0 < moved_ema < moved_raw, "the average trails the raw weights"


def test_checkpoints_and_exports_use_the_ema_generator(make_cfg, tmp_path) -> None:
    cfg = make_cfg("model.ema_decay=0.9")
    train(cfg)
    path = f"{cfg.paths.output_dir}/checkpoints/last.ckpt"
    generator = load_generator(path).network
    assert load_checkpoint(path)["ganlab"]["ema_updates"] > 0
    checkpoint = torch.load(
        f"{cfg.paths.output_dir}/checkpoints/last.ckpt", weights_only=True, map_location="cpu"
    )
    for name, value in generator.state_dict().items():
        assert torch.equal(value, checkpoint["state_dict"][f"ema_generator.{name}"])


def test_n_critic_steps_the_discriminator_more_often(make_cfg) -> None:
    cfg = make_cfg("model.n_critic=3")
    torch.manual_seed(0)
    trainer, model = fit_batches(cfg, batches=7)
    opt_g, opt_d = (opt.optimizer for opt in model.optimizers())
    g_steps = max(s["step"] for s in opt_g.state.values())
    d_steps = max(s["step"] for s in opt_d.state.values())
    assert (int(g_steps), int(d_steps)) == (2, 7)
    assert trainer.global_step == 9 == model.optimizer_steps(7)


def test_bad_regimen_values_are_config_errors(make_cfg) -> None:
    for override, message in [
        ("model.n_critic=0", "n_critic=0"),
        ("model.ema_decay=1.5", "ema_decay=1.5"),
        ("model.r1_gamma=-1", "r1_gamma=-1"),
        ("model.r1_interval=0", "r1_interval=0"),
        ("model.fake_labels=random", "fake_labels='random'"),
        ("model.augment.policy=[rotate]", "unknown transforms"),
    ]:
        extra = ["model/augment=diff_augment"] if "augment" in override else []
        cfg = make_cfg(*extra, override)
        with pytest.raises(ConfigError, match=message):
            instantiate(cfg.model, "model")


@pytest.mark.parametrize("n_critic", [1, 2])
def test_fake_labels_real_draws_the_real_batchs_classes(make_cfg, n_critic: int) -> None:
    """Under fake_labels=real each training batch's generated half has the real half's labels
    (with or without a generator update on that batch); uniform draws its own."""
    pairs: dict[str, list[bool]] = {}
    for mode in ("real", "uniform"):
        cfg = make_cfg(f"model.fake_labels={mode}", f"model.n_critic={n_critic}")
        model = hydra.utils.instantiate(cfg.model, _convert_="all")
        batch_labels: list[torch.Tensor] = []
        real_step = model.training_step

        def recording_step(batch, batch_idx, real_step=real_step, batch_labels=batch_labels):
            batch_labels.append(batch[1].clone())
            return real_step(batch, batch_idx)

        generated: list[torch.Tensor] = []
        generator_forward = model.generator.forward

        def recording_forward(noise, labels, forward=generator_forward, generated=generated):
            generated.append(labels.clone())
            return forward(noise, labels)

        model.training_step = recording_step
        model.generator.forward = recording_forward
        fit_batches(cfg, batches=4, model=model)
        assert len(generated) == len(batch_labels) == 4
        pairs[mode] = [torch.equal(g, b) for g, b in zip(generated, batch_labels, strict=True)]
    assert all(pairs["real"])
    assert not any(pairs["uniform"])


def test_lazy_r1_penalises_every_nth_discriminator_step(make_cfg, monkeypatch) -> None:
    import ganlab.models.conditional_gan as gan_module

    penalties: list[float] = []

    def recording_penalty(score, real, labels):
        value = r1_penalty(score, real, labels)
        penalties.append(value.item())
        return value

    monkeypatch.setattr(gan_module, "r1_penalty", recording_penalty)
    fit_batches(make_cfg("model.r1_gamma=1.0", "model.r1_interval=3"), batches=7)
    assert len(penalties) == 2  # the 3rd and the 6th batch
    assert all(math.isfinite(p) and p >= 0 for p in penalties)
    penalties.clear()
    fit_batches(make_cfg("model.r1_gamma=1.0"), batches=7)
    assert len(penalties) == 7


def test_wgan_gp_r1_and_diffaugment_train_together(make_cfg) -> None:
    cfg = make_cfg(
        "model/generator=dcgan",
        "model/discriminator=dcgan",
        "model.generator.width=8",
        "model.discriminator.width=8",
        "model/loss=wgan_gp",
        "model/augment=diff_augment",
        "model.r1_gamma=1.0",
        "model.n_critic=2",
        "model.ema_decay=0.99",
    )
    metrics = train(cfg)
    for key in ("train/d_penalty_epoch", "train/r1_epoch", "train/g_loss_epoch", "test/d_loss"):
        assert torch.isfinite(torch.tensor(metrics[key])), key


def test_translation_shifts_whole_images_and_fills_with_background() -> None:
    torch.manual_seed(0)
    images = torch.full((64, 1, 8, 8), -1.0)
    images[:, :, 3:5, 3:5] = 1.0  # a 2x2 blob in the middle
    moved = translation(images, ratio=0.25)
    assert moved.shape == images.shape
    assert (moved == 1).sum(dim=(1, 2, 3)).eq(4).all(), "the blob stays whole"
    assert ((moved == 1) | (moved == -1)).all(), "pixels come in as background"
    positions = {tuple(torch.nonzero(m[0] == 1)[0].tolist()) for m in moved}
    assert len(positions) > 5, "different images move differently"


def test_cutout_blanks_one_square_per_image() -> None:
    torch.manual_seed(0)
    images = torch.ones(16, 1, 8, 8)
    out = cutout(images, ratio=0.5)
    assert (out == -1).sum(dim=(1, 2, 3)).eq(16).all()


def test_diffaugment_lets_gradients_through_to_the_generator() -> None:
    images = torch.rand(4, 1, 8, 8, requires_grad=True)
    DiffAugment(["brightness", "contrast", "translation", "cutout"])(images).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_lr_decay_reaches_zero_at_the_planned_end(make_cfg) -> None:
    cfg = make_cfg("model.lr_decay=true")
    _, model = fit_batches(cfg, batches=4)
    for optimizer in model.optimizers():
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0)
    for scheduler in model.lr_schedulers():
        assert [scheduler.lr_lambdas[0](b) for b in (0, 1, 2, 4)] == [1.0, 0.75, 0.5, 0.0]


def test_channels_last_keeps_the_numbers_and_changes_the_layout(make_cfg) -> None:
    dcgan = ("model/generator=dcgan", "model/discriminator=dcgan", "model.generator.width=8")
    torch.manual_seed(0)
    plain = instantiate(make_cfg(*dcgan).model, "model")
    torch.manual_seed(0)
    nhwc = instantiate(make_cfg(*dcgan, "model.channels_last=true").model, "model")
    conv = nhwc.generator.upsample[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert not plain.generator.upsample[0].weight.is_contiguous(memory_format=torch.channels_last)
    noise, labels = torch.randn(4, plain.latent_dim), torch.arange(4)
    plain.eval(), nhwc.eval()
    assert torch.allclose(plain.generator(noise, labels), nhwc.generator(noise, labels), atol=1e-5)


def test_the_dcgan_recipe_trains_in_bf16_and_its_ema_generator_exports_to_onnx(
    make_cfg, tmp_path
) -> None:
    from ganlab.deploy.onnx_export import export_onnx

    cfg = make_cfg("experiment=train_mnist_dcgan", "trainer.max_steps=2", "trainer.max_epochs=1")
    assert cfg.trainer.precision == "bf16-mixed" and cfg.model.channels_last
    metrics = train(cfg)
    assert all(torch.isfinite(torch.tensor(metrics[k])) for k in ("test/fid", "train/d_loss_epoch"))
    checkpoint = f"{cfg.paths.output_dir}/checkpoints/last.ckpt"
    export_onnx(checkpoint, tmp_path / "g.onnx", parity_batch_sizes=(1, 7))
    assert (tmp_path / "g.onnx").stat().st_size > 10_000
