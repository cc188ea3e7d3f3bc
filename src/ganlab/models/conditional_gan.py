"""Conditional GAN training with Lightning's manual optimisation.

Lightning 2 dropped ``optimizer_idx``; with two optimisers the step is written out by hand:
a generator update (every ``n_critic``-th batch), then a discriminator update on every batch,
each with only its own network's parameters requiring gradients (``toggle_optimizer``).
Under DDP the model averages each optimiser's gradients itself (see ``utils/distributed.py``),
so plain ``strategy=ddp`` works without ``find_unused_parameters``.
Options that change the regimen, all off by default: an EMA copy of the generator that
sampling and evaluation use, an R1 penalty, differentiable augmentation of everything the
discriminator sees, and learning rates that decay linearly to zero over the planned run.

The hyperparameters saved in every checkpoint hold the components as plain data (the networks'
specs, the loss's, the augmentation's and the optimisers' classes and arguments), so Lightning's
``ConditionalGANModel.load_from_checkpoint(path, weights_only=True)`` rebuilds the model; only
classes of ganlab's networks, losses and augmentations and of ``torch.optim`` can be named there.
The module keeps the :class:`~ganlab.models.conditional_generator.ConditionalImageGenerator`
contract: its card (data set, class names, size, evaluator) comes from the data module at
``setup`` and is saved in every checkpoint.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
from collections.abc import Callable
from typing import Any, cast

import lightning as L
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from ganlab.errors import CheckpointError, ConfigError, is_integer
from ganlab.losses import GANLoss, r1_penalty
from ganlab.models.conditional_generator import (
    ConditionalImageGenerator,
    GeneratorCard,
    card_from_datamodule,
    check_labels,
    numbered_classes,
)
from ganlab.models.ema import (
    check_decay,
    effective_decay,
    ema_copy,
    recalibrate_batchnorm,
    update_ema,
)
from ganlab.networks import build_network, network_spec
from ganlab.sampling import class_grid_labels, generate, sample_noise
from ganlab.utils.distributed import (
    average_gradients,
    scaled_learning_rate,
    take_over_gradient_sync,
)
from ganlab.utils.trainer import batches_done

OptimizerFactory = Callable[..., Optimizer]
CHECKPOINT_FORMAT = "ganlab.gan/1"
# Generated images that measure the EMA generator's BatchNorm statistics: 8 batches of about
# 512, classes balanced, fixed noise (so a seeded run's random numbers are untouched) from seeds
# that sampling and evaluation (seed 0 upwards) do not use.
EMA_STATISTICS_BATCHES = 8
EMA_STATISTICS_BATCH = 512
EMA_STATISTICS_SEED = 1 << 20
# Classes of the generated half of a training batch: drawn uniformly, or the real half's own
# classes, so that each class is scored as often real as fake within every batch.
FAKE_LABELS = ("uniform", "real")


# Where a component saved in the hyperparameters may come from, and what it must be: a
# checkpoint is a file's word, so its hyperparameters may name no other code.
COMPONENT_SOURCES: dict[str, tuple[str, type]] = {
    "loss": ("ganlab.losses.", GANLoss),
    "augment": ("ganlab.augmentations.", nn.Module),
    "optimizer_g": ("torch.optim.", Optimizer),
    "optimizer_d": ("torch.optim.", Optimizer),
}
NETWORKS = ("generator", "discriminator")
COMPONENTS = (*NETWORKS, *COMPONENT_SOURCES)


def _plain(value: Any) -> Any:
    """``value`` as data a ``weights_only`` load accepts (tuples become lists); raises
    TypeError for anything else."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _plain(item) for key, item in value.items()}
    raise TypeError(f"{type(value).__name__} is not plain data")


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def component_spec(name: str, component: Any) -> dict[str, Any] | None:
    """Component ``name`` as plain data: ``_target_`` and constructor arguments; None when it
    cannot be described so (then ``load_from_checkpoint`` must be given it, as Lightning asks
    for every argument missing from the hyperparameters).

    Networks describe themselves (``spec()``); a ``functools.partial`` of a class (Hydra's
    ``_partial_``: the optimisers) by its keywords; the loss and the augmentation by the
    attributes named after their constructor's parameters, where they keep them all."""
    try:
        if name in NETWORKS:
            has_spec = callable(getattr(component, "spec", None))
            return _plain(network_spec(component)) if has_spec else None
        if isinstance(component, functools.partial):
            if component.args or not isinstance(component.func, type):
                return None
            return {"_target_": _class_path(component.func), **_plain(component.keywords)}
        if component is None or name not in ("loss", "augment"):
            return None  # absent, or a factory other than a partial (a lambda, say)
        cls = type(component)
        names = [
            parameter.name
            for parameter in inspect.signature(cls).parameters.values()
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
        ]
        if not all(hasattr(component, parameter) for parameter in names):
            return None
        arguments = {parameter: getattr(component, parameter) for parameter in names}
        return {"_target_": _class_path(cls), **_plain(arguments)}
    except (TypeError, ValueError):
        return None


def build_component(name: str, spec: dict[str, Any]) -> Any:
    """The component ``name`` (a network, the loss, the augmentation or an optimiser factory)
    from :func:`component_spec` output, built only from the classes allowed for it."""
    if name in NETWORKS:
        try:
            return build_network(spec)
        except CheckpointError as error:
            raise CheckpointError(f"model.{name}: {error}") from error
    prefix, base = COMPONENT_SOURCES[name]
    kwargs = dict(spec)
    target = kwargs.pop("_target_", None)
    if not isinstance(target, str) or not target.startswith(prefix):
        raise CheckpointError(
            f"model.{name}: class {target!r:.80} is not allowed; expected one from {prefix}*"
        )
    module_name, _, class_name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise CheckpointError(f"model.{name}: cannot find {target!r:.80}: {error}") from error
    if not isinstance(cls, type) or not issubclass(cls, base):
        raise CheckpointError(f"model.{name}: {target!r:.80} is not a {base.__name__} class")
    if issubclass(cls, Optimizer):
        return functools.partial(cls, **kwargs)  # its arguments are checked when it is built
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"model.{name}: cannot build {target}: {error}") from error


def _build_optimizer(factory: OptimizerFactory, network: nn.Module, name: str) -> Optimizer:
    """``factory`` applied to ``network``'s parameters; the optimiser's own argument checks (a
    negative or non-numeric learning rate, betas outside [0, 1)) become a :class:`ConfigError`
    naming the config key, instead of a traceback from inside ``trainer.fit``."""
    try:
        return factory(params=network.parameters())
    except (TypeError, ValueError) as error:
        raise ConfigError(f"model.{name}: {error}") from error


class ConditionalGANModel(L.LightningModule, ConditionalImageGenerator):
    """Class-conditional GAN: ``generator(noise, labels)`` vs ``discriminator(images, labels)``."""

    # Declared for the type checker: the constructor also accepts plain-data descriptions and
    # rebuilds them, so its parameters' types are wider than what the model holds.
    generator: nn.Module
    discriminator: nn.Module
    ema_generator: nn.Module | None
    augment: nn.Module | None
    loss: GANLoss
    optimizer_g: OptimizerFactory
    optimizer_d: OptimizerFactory

    def __init__(
        self,
        generator: nn.Module | dict[str, Any],
        discriminator: nn.Module | dict[str, Any],
        loss: GANLoss | dict[str, Any],
        optimizer_g: OptimizerFactory | dict[str, Any],
        optimizer_d: OptimizerFactory | dict[str, Any],
        n_classes: int = 10,
        latent_dim: int = 100,
        channels: int = 1,
        img_size: int = 32,
        n_critic: int = 1,
        ema_decay: float | None = None,
        r1_gamma: float = 0.0,
        r1_interval: int = 1,
        augment: nn.Module | dict[str, Any] | None = None,
        lr_decay: bool = False,
        channels_last: bool = False,
        lr_scaling: str = "none",
        fake_labels: str = "uniform",
        **legacy: Any,
    ) -> None:
        super().__init__()
        # Checkpoints written when the sample grid lived in the model keep its two settings in
        # their hyperparameters; the grid is the SampleGrid callback's now.
        unknown = set(legacy) - {"samples_per_class", "sample_seed"}
        if unknown:
            raise ConfigError(f"model.{sorted(unknown)[0]} is not a setting of the GAN model")
        # A component given as plain data comes from saved hyperparameters (load_from_checkpoint).
        given = {
            "generator": generator,
            "discriminator": discriminator,
            "loss": loss,
            "optimizer_g": optimizer_g,
            "optimizer_d": optimizer_d,
            "augment": augment,
        }
        components: dict[str, Any] = {
            name: build_component(name, value) if isinstance(value, dict) else value
            for name, value in given.items()
        }
        # What the descriptions were rebuilt into (for the type checker; nothing is converted).
        generator = cast(nn.Module, components["generator"])
        discriminator = cast(nn.Module, components["discriminator"])
        loss = cast(GANLoss, components["loss"])
        augment = cast(nn.Module | None, components["augment"])
        optimizer_g = cast(OptimizerFactory, components["optimizer_g"])
        optimizer_d = cast(OptimizerFactory, components["optimizer_d"])
        if n_classes < 2:
            raise ConfigError(f"model.n_classes={n_classes} must be at least 2")
        if latent_dim < 1:
            raise ConfigError(f"model.latent_dim={latent_dim} must be positive")
        shared = {"n_classes": n_classes, "channels": channels, "img_size": img_size}
        for name, net in (("generator", generator), ("discriminator", discriminator)):
            for key, value in shared.items():
                if getattr(net, key, value) != value:
                    raise ConfigError(
                        f"model.{name}.{key}={getattr(net, key)} differs from model.{key}={value}"
                    )
        if getattr(generator, "latent_dim", latent_dim) != latent_dim:
            raise ConfigError(
                f"model.generator.latent_dim={generator.latent_dim} differs from "
                f"model.latent_dim={latent_dim}"
            )
        if not is_integer(n_critic) or n_critic < 1:
            raise ConfigError(f"model.n_critic={n_critic!r} must be a positive integer")
        if r1_gamma < 0:
            raise ConfigError(f"model.r1_gamma={r1_gamma} must be non-negative")
        if not is_integer(r1_interval) or r1_interval < 1:
            raise ConfigError(f"model.r1_interval={r1_interval!r} must be a positive integer")
        if fake_labels not in FAKE_LABELS:
            raise ConfigError(f"model.fake_labels={fake_labels!r} must be one of {FAKE_LABELS}")
        if ema_decay is not None:
            check_decay(ema_decay)
        scaled_learning_rate(1.0, 1, lr_scaling)  # rejects an unknown rule now, not at fit
        # The plain arguments and every component that can be described as plain data: what
        # load_from_checkpoint rebuilds the model from. The training entry point logs the whole
        # config itself, so Lightning does not log these again (logger=False).
        self.save_hyperparameters(ignore=[*COMPONENTS, "legacy"], logger=False)
        for name, component in components.items():
            spec = component_spec(name, component)
            if spec is not None:
                self.hparams[name] = spec
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.optimizer_g = optimizer_g
        self.optimizer_d = optimizer_d
        self.n_classes = n_classes
        self.latent_dim = latent_dim
        self.channels = channels
        self.img_size = img_size
        # What the generator draws; the data module names the data set and classes at setup.
        self._card = GeneratorCard(
            kind="gan",
            dataset="",
            class_names=numbered_classes(n_classes),
            channels=channels,
            img_size=img_size,
        )
        self.n_critic = n_critic
        self.r1_gamma = r1_gamma
        self.r1_interval = r1_interval
        self.augment = augment
        self.ema_decay = ema_decay
        self.ema_generator = ema_copy(generator) if ema_decay is not None else None
        self._ema_statistics_current = True  # false once the average moves (see sampling_generator)
        self.lr_decay = lr_decay
        self.lr_scaling = lr_scaling
        self.fake_labels = fake_labels
        self._average_gradients = False  # true while training under DDP
        self._epoch_sums: dict[str, torch.Tensor] = {}  # loss x batch size, summed this epoch
        self._epoch_counts: dict[str, int] = {}
        if channels_last:
            # NHWC convolutions are ~1.4x faster on this CPU for the DCGAN pair (see docs).
            self.to(memory_format=torch.channels_last)
        # How many times the average was updated: drives the EMA warm-up; kept in checkpoints
        # as a plain int (a tensor would cost a device sync on every read).
        self.ema_updates = 0

    @property
    def card(self) -> GeneratorCard:
        return self._card

    @property
    def loss_keys(self) -> tuple[str, ...]:
        return ("g_loss", "d_loss")

    def generate(
        self, labels: torch.Tensor, seed: int | None = None, **options: Any
    ) -> torch.Tensor:
        self.check_options(options)
        check_labels(labels, self.n_classes)
        return generate(self.sampling_generator, labels.to(self.device), self.latent_dim, seed=seed)

    def setup(self, stage: str) -> None:
        """Take the data set's name, class names and evaluator from the data module; its
        class count, channels and size must be the networks'."""
        self._card = card_from_datamodule(self.card, getattr(self.trainer, "datamodule", None))

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.generator(noise, labels)

    @property
    def sampling_generator(self) -> nn.Module:
        """The network to draw samples from: the EMA copy when there is one, with BatchNorm
        statistics measured on its own activations (see :func:`refresh_ema_statistics`)."""
        if self.ema_generator is None:
            return self.generator
        self.refresh_ema_statistics()
        return self.ema_generator

    def refresh_ema_statistics(self) -> None:
        """Measure the EMA generator's BatchNorm statistics if its weights moved since the last
        measurement. Training copies the raw generator's statistics, which belong to other
        weights; this costs a few forward passes (about a second on a CPU for the DCGAN)."""
        if self.ema_generator is None or self._ema_statistics_current:
            return
        per_class = max(1, EMA_STATISTICS_BATCH // self.n_classes)
        labels = class_grid_labels(self.n_classes, per_class, device=self.device)
        inputs = (
            (
                sample_noise(
                    len(labels),
                    self.latent_dim,
                    seed=EMA_STATISTICS_SEED + batch,
                    device=self.device,
                ),
                labels,
            )
            for batch in range(EMA_STATISTICS_BATCHES)
        )
        recalibrate_batchnorm(self.ema_generator, inputs)
        self._ema_statistics_current = True

    def optimizer_steps(self, batches: int) -> int:
        """Optimiser steps (Lightning's ``global_step``) after ``batches`` training batches."""
        return batches + batches // self.n_critic

    def _generator_steps_now(self) -> bool:
        return batches_done(self.trainer) % self.n_critic == 0

    def _score(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Discriminator scores, after augmentation when it is enabled."""
        if self.augment is not None:
            images = self.augment(images)
        return self.discriminator(images, labels)

    def configure_optimizers(self) -> list[Optimizer] | list[OptimizerLRSchedulerConfig]:
        optimizers = [
            _build_optimizer(self.optimizer_g, self.generator, "optimizer_g"),
            _build_optimizer(self.optimizer_d, self.discriminator, "optimizer_d"),
        ]
        world_size = getattr(self._trainer, "world_size", 1)
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["lr"] = scaled_learning_rate(group["lr"], world_size, self.lr_scaling)
        if not self.lr_decay:
            return optimizers
        total = self._planned_batches()
        # Stepped after every batch by training_step (manual optimisation); "interval" and
        # "name" say so to Lightning's LearningRateMonitor, which logs lr/generator and
        # lr/discriminator.
        return [
            OptimizerLRSchedulerConfig(
                optimizer=optimizer,
                lr_scheduler={
                    "scheduler": LambdaLR(optimizer, lambda batch: max(0.0, 1.0 - batch / total)),
                    "interval": "step",
                    "name": f"lr/{network}",
                },
            )
            for optimizer, network in zip(optimizers, NETWORKS, strict=True)
        ]

    def _planned_batches(self) -> int:
        """Training batches this fit will run: the horizon of the learning-rate decay."""
        trainer = self.trainer
        total = trainer.estimated_stepping_batches  # batches x epochs, loads the data if needed
        if trainer.max_steps > 0:  # counted in optimiser steps: convert back to batches
            total = min(total, math.ceil(trainer.max_steps * self.n_critic / (self.n_critic + 1)))
        return max(int(total), 1)

    def _step(self, optimizer: Optimizer | LightningOptimizer, network: nn.Module) -> None:
        if self._average_gradients:
            average_gradients(network.parameters())
        optimizer.step()

    def _fake_batch(
        self, n: int, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` generated images and their classes: ``labels`` if given, else drawn uniformly."""
        if labels is None:
            labels = torch.randint(0, self.n_classes, (n,), device=self.device)
        noise = sample_noise(n, self.latent_dim, device=self.device)
        return self.generator(noise, labels), labels

    def _losses(
        self, real: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Generator and discriminator losses without updates (validation and test)."""
        fake, fake_labels = self._fake_batch(real.size(0))
        fake_scores = self.discriminator(fake, fake_labels)
        g_loss = self.loss.generator_loss(fake_scores)
        d_loss = self.loss.discriminator_loss(self.discriminator(real, labels), fake_scores)
        return g_loss, d_loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        real, labels = batch
        optimizers = self.optimizers()
        assert isinstance(optimizers, list), "configure_optimizers returns two optimisers"
        opt_g, opt_d = optimizers
        self._average_gradients = take_over_gradient_sync(self.trainer.strategy.model)
        n = real.size(0)
        logs: dict[str, torch.Tensor] = {}
        wanted = labels if self.fake_labels == "real" else None

        if self._generator_steps_now():
            self.toggle_optimizer(opt_g)
            fake, fake_labels = self._fake_batch(n, wanted)
            g_loss = self.loss.generator_loss(self._score(fake, fake_labels))
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(g_loss)
            self._step(opt_g, self.generator)
            self.untoggle_optimizer(opt_g)
            if self.ema_generator is not None and self.ema_decay is not None:
                update_ema(
                    self.ema_generator,
                    self.generator,
                    effective_decay(self.ema_decay, self.ema_updates),
                )
                self.ema_updates += 1
                self._ema_statistics_current = False
            logs["train/g_loss"] = g_loss.detach()
        else:
            with torch.no_grad():
                fake, fake_labels = self._fake_batch(n, wanted)

        self.toggle_optimizer(opt_d)
        fake = fake.detach()
        d_loss = self.loss.discriminator_loss(
            self._score(real, labels), self._score(fake, fake_labels)
        )
        d_total = d_loss
        penalty = self.loss.discriminator_penalty(self._score, real, fake, labels)
        if penalty is not None:
            d_total = d_total + penalty
            logs["train/d_penalty"] = penalty.detach()
        if self.r1_gamma > 0 and batches_done(self.trainer) % self.r1_interval == 0:
            # Lazy regularisation (Karras et al., 2020): every r1_interval-th step, weighted by
            # the interval, costs a fraction of the double backward for about the same effect.
            r1 = r1_penalty(self._score, real, labels)
            d_total = d_total + 0.5 * self.r1_gamma * self.r1_interval * r1
            logs["train/r1"] = r1.detach()
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_total)
        self._step(opt_d, self.discriminator)
        self.untoggle_optimizer(opt_d)
        logs["train/d_loss"] = d_loss.detach()
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            if scheduler is not None:
                scheduler.step()

        self._log_training(logs, n)

    def _log_training(self, logs: dict[str, torch.Tensor], n: int) -> None:
        """``<key>_step`` at the logging interval and ``<key>_epoch`` means once per epoch.

        Lightning's own ``on_epoch`` aggregation costs a ``log`` call per key and batch (6 % of
        an MLP step here, docs/performance.md); a running sum per key costs one tensor add.
        """
        for key, value in logs.items():
            total = self._epoch_sums.get(key)
            self._epoch_sums[key] = value * n if total is None else total + value * n
            self._epoch_counts[key] = self._epoch_counts.get(key, 0) + n
        # Set by the Trainer's logger connector; Lightning does not declare it on the class.
        interval: int = self.trainer.log_every_n_steps  # type: ignore[attr-defined]
        if batches_done(self.trainer) % interval == 0:
            steps = {f"{key}_step": value for key, value in logs.items()}
            self.log_dict(steps, on_step=True, on_epoch=False, prog_bar=True, batch_size=n)
        if self.trainer.is_last_batch:
            self._log_epoch_means()

    def _log_epoch_means(self) -> None:
        """Each key's mean over every sample of the epoch, of all processes: logged with its
        sample count as the batch size and ``sync_dist``, Lightning reduces mean x count and
        the count over the processes and divides one by the other. Every process logs the same
        keys in the same order (they run the same number of batches), as the collective
        reductions require."""
        for key in sorted(self._epoch_sums):
            count = self._epoch_counts[key]
            self.log(
                f"{key}_epoch",
                self._epoch_sums[key] / count,
                on_step=False,
                on_epoch=True,
                sync_dist=True,
                batch_size=count,
            )
        self._epoch_sums.clear()
        self._epoch_counts.clear()

    def on_train_epoch_end(self) -> None:
        self._log_epoch_means()  # an epoch cut short by max_steps or max_time

    def _evaluation_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        real, labels = batch
        g_loss, d_loss = self._losses(real, labels)
        self.log_dict(
            {f"{stage}/g_loss": g_loss, f"{stage}/d_loss": d_loss},
            on_epoch=True,
            prog_bar=stage == "val",
            batch_size=real.size(0),
        )

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluation_step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluation_step(batch, "test")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.ema_generator is not None:  # the state dict was taken before this hook
            self.refresh_ema_statistics()
            state = checkpoint["state_dict"]
            for name, buffer in self.ema_generator.named_buffers():
                state[f"ema_generator.{name}"] = buffer.detach().clone()
        # Plain-data recipe for rebuilding the networks without Hydra (see networks/spec.py).
        checkpoint["ganlab"] = {
            "format": CHECKPOINT_FORMAT,
            "generator": network_spec(self.generator),
            "discriminator": network_spec(self.discriminator),
            "n_classes": self.n_classes,
            "latent_dim": self.latent_dim,
            "ema_updates": self.ema_updates if self.ema_generator is not None else None,
            "card": self.card.to_dict(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = checkpoint.get("ganlab", {})
        self.ema_updates = meta.get("ema_updates") or 0
        if "card" in meta:
            self._card = GeneratorCard.from_dict(meta["card"], "checkpoint")
        # The fixed sample grid of older checkpoints; the SampleGrid callback draws it now.
        for key in ("grid_noise", "grid_labels"):
            checkpoint.get("state_dict", {}).pop(key, None)
