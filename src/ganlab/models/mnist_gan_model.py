"""Conditional GAN training with Lightning's manual optimisation.

Lightning 2 dropped ``optimizer_idx``; with two optimisers the step is written out by hand:
one generator update, then one discriminator update, each with only its own network's
parameters requiring gradients (``toggle_optimizer``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.optim import Optimizer

from ganlab.errors import ConfigError
from ganlab.losses import GANLoss
from ganlab.networks import network_spec
from ganlab.sampling import class_grid_labels, sample_noise

OptimizerFactory = Callable[..., Optimizer]
CHECKPOINT_FORMAT = "ganlab.gan/1"


class MNISTGANModel(L.LightningModule):
    """Class-conditional GAN: ``generator(noise, labels)`` vs ``discriminator(images, labels)``."""

    # One generator step and one discriminator step per batch; Trainer's global_step counts both.
    optimizer_steps_per_batch = 2

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: GANLoss,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        n_classes: int = 10,
        latent_dim: int = 100,
        channels: int = 1,
        img_size: int = 32,
        samples_per_class: int = 8,
        sample_seed: int = 0,
    ) -> None:
        super().__init__()
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
        self.samples_per_class = samples_per_class
        # Fixed noise and labels: the per-epoch sample grid shows the same latent points every
        # epoch, one row per class, so progress is visible and comparable across runs.
        self.register_buffer(
            "grid_noise",
            sample_noise(n_classes * samples_per_class, latent_dim, seed=sample_seed),
            persistent=True,
        )
        self.register_buffer(
            "grid_labels", class_grid_labels(n_classes, samples_per_class), persistent=True
        )

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.generator(noise, labels)

    def configure_optimizers(self) -> list[Optimizer]:
        return [
            self.optimizer_g(params=self.generator.parameters()),
            self.optimizer_d(params=self.discriminator.parameters()),
        ]

    def _fake_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` generated images of uniformly drawn classes, and those classes."""
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
        opt_g, opt_d = self.optimizers()
        n = real.size(0)

        self.toggle_optimizer(opt_g)
        fake, fake_labels = self._fake_batch(n)
        g_loss = self.loss.generator_loss(self.discriminator(fake, fake_labels))
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        self.toggle_optimizer(opt_d)
        d_loss = self.loss.discriminator_loss(
            self.discriminator(real, labels), self.discriminator(fake.detach(), fake_labels)
        )
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        self.log_dict(
            {"train/g_loss": g_loss.detach(), "train/d_loss": d_loss.detach()},
            on_step=True,
            on_epoch=True,
            prog_bar=True,
            batch_size=n,
        )

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
        # Plain-data recipe for rebuilding the networks without Hydra (see networks/spec.py).
        checkpoint["ganlab"] = {
            "format": CHECKPOINT_FORMAT,
            "generator": network_spec(self.generator),
            "discriminator": network_spec(self.discriminator),
            "n_classes": self.n_classes,
            "latent_dim": self.latent_dim,
        }
