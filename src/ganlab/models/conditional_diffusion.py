"""Class-conditional diffusion (or flow matching) as a LightningModule.

The denoiser learns one objective (:mod:`ganlab.diffusion.objectives`: noise prediction or
flow matching) with a mean-squared error; a fraction ``label_dropout`` of the training labels
is replaced by the "no class" label so that one network is both the conditional and the
unconditional model classifier-free guidance needs. Sampling uses an EMA of the denoiser's
weights when ``ema_decay`` is set, and the sampler, its number of steps and the guidance scale
saved with the model (each can be overridden per call).

The module keeps the generator contract
(:class:`~ganlab.models.conditional_generator.ConditionalImageGenerator`): callbacks, the
checkpoint loader and the command-line tools treat it as they treat the GAN. Its checkpoints
hold the denoiser's spec, the objective and the sampler as plain data, so
:func:`ganlab.checkpoints.load_generator` rebuilds it without Hydra or Lightning.
"""

from __future__ import annotations

from typing import Any, cast

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer

from ganlab.diffusion.guidance import check_guidance
from ganlab.diffusion.objectives import Objective, objective_from
from ganlab.diffusion.samplers import Sampler, sampler_from
from ganlab.errors import ConfigError
from ganlab.models.conditional_gan import OptimizerFactory, build_component, component_spec
from ganlab.models.conditional_generator import (
    GeneratorCard,
    card_from_datamodule,
    numbered_classes,
)
from ganlab.models.ema import check_decay, effective_decay, ema_copy, update_ema
from ganlab.models.trained_diffusion import TrainedDiffusion
from ganlab.networks import build_network, network_spec
from ganlab.utils.distributed import scaled_learning_rate

CHECKPOINT_FORMAT = "ganlab.diffusion/1"


class ConditionalDiffusionModel(L.LightningModule, TrainedDiffusion):
    """``denoiser(x_t, time, labels)`` trained to invert a noising process."""

    def __init__(
        self,
        denoiser: nn.Module | dict[str, Any],
        optimizer: OptimizerFactory | dict[str, Any],
        objective: Objective | dict[str, Any],
        sampler: Sampler | dict[str, Any],
        guidance: float = 0.0,
        n_classes: int = 10,
        channels: int = 1,
        img_size: int = 32,
        label_dropout: float = 0.1,
        ema_decay: float | None = 0.999,
        channels_last: bool = False,
        lr_scaling: str = "none",
    ) -> None:
        L.LightningModule.__init__(self)
        if isinstance(denoiser, dict):
            denoiser = build_network(denoiser)
        if isinstance(optimizer, dict):
            optimizer = build_component("optimizer_g", optimizer)
        if isinstance(objective, dict):  # saved hyperparameters: plain data
            objective = objective_from(objective)
        if isinstance(sampler, dict):
            sampler = sampler_from(sampler.get("name"), sampler.get("steps"))
        for key, value in (
            ("n_classes", n_classes),
            ("channels", channels),
            ("img_size", img_size),
        ):
            if getattr(denoiser, key, value) != value:
                raise ConfigError(
                    f"model.denoiser.{key}={getattr(denoiser, key)} differs from "
                    f"model.{key}={value}"
                )
        if not 0.0 <= label_dropout < 1.0:
            raise ConfigError(f"model.label_dropout={label_dropout!r} must lie in [0, 1)")
        if ema_decay is not None:
            check_decay(ema_decay)
        scaled_learning_rate(1.0, 1, lr_scaling)
        self.save_hyperparameters(
            ignore=["denoiser", "optimizer", "objective", "sampler"], logger=False
        )
        self.hparams["denoiser"] = network_spec(denoiser)
        self.hparams["objective"] = objective.config()
        self.hparams["sampler"] = {"name": sampler.name, "steps": sampler.steps}
        optimizer_spec = component_spec("optimizer_g", optimizer)
        if optimizer_spec is not None:
            self.hparams["optimizer"] = optimizer_spec
        TrainedDiffusion.__init__(
            self,
            denoiser,
            GeneratorCard(
                kind="diffusion",
                dataset="",
                class_names=numbered_classes(n_classes),
                channels=channels,
                img_size=img_size,
            ),
            objective,
            sampler,
            check_guidance(guidance),
        )
        self.optimizer = cast(OptimizerFactory, optimizer)
        self.label_dropout = label_dropout
        self.ema_decay = ema_decay
        self.ema_denoiser = ema_copy(denoiser) if ema_decay is not None else None
        self.ema_updates = 0
        self.lr_scaling = lr_scaling
        if channels_last:
            self.to(memory_format=torch.channels_last)

    @property
    def sampling_network(self) -> nn.Module:
        return self.ema_denoiser if self.ema_denoiser is not None else self.denoiser

    @property
    def loss_keys(self) -> tuple[str, ...]:
        return ("loss",)

    def setup(self, stage: str) -> None:
        """Take the data set's name, class names and evaluator from the data module."""
        self._card = card_from_datamodule(self.card, getattr(self.trainer, "datamodule", None))

    def configure_optimizers(self) -> Optimizer:
        optimizer = self.optimizer(self.denoiser.parameters())
        world_size = getattr(self._trainer, "world_size", 1)
        for group in optimizer.param_groups:
            group["lr"] = scaled_learning_rate(group["lr"], world_size, self.lr_scaling)
        return optimizer

    def _loss(self, images: torch.Tensor, labels: torch.Tensor, drop: bool) -> torch.Tensor:
        """The objective's mean-squared error at one random time per image; with ``drop`` a
        fraction of the labels is replaced by "no class"."""
        if drop and self.label_dropout > 0:
            dropped = torch.rand(len(labels), device=self.device) < self.label_dropout
            labels = torch.where(dropped, torch.full_like(labels, self.null_label), labels)
        noise = torch.randn_like(images)
        uniform = torch.rand(len(images), device=self.device)
        x_t, time, target = self.objective.training_example(images, noise, uniform)
        return F.mse_loss(self.denoiser(x_t, time, labels), target)

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        images, labels = batch
        loss = self._loss(images, labels, drop=True)
        self.log(
            "train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(images)
        )
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema_denoiser is not None and self.ema_decay is not None:
            update_ema(
                self.ema_denoiser, self.denoiser, effective_decay(self.ema_decay, self.ema_updates)
            )
            self.ema_updates += 1

    def _evaluation_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        images, labels = batch
        self.log(f"{stage}/loss", self._loss(images, labels, drop=False), batch_size=len(images))

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluation_step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluation_step(batch, "test")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["ganlab"] = {
            "format": CHECKPOINT_FORMAT,
            **self.description(),
            "ema_updates": self.ema_updates if self.ema_denoiser is not None else None,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = checkpoint.get("ganlab", {})
        self.ema_updates = meta.get("ema_updates") or 0
        if "card" in meta:
            self._card = GeneratorCard.from_dict(meta["card"], "checkpoint")
