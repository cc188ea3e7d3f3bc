"""A trained diffusion model outside training: denoiser, objective, sampler and card.

What the checkpoint loader returns for a diffusion checkpoint, and the base of the training
module, so both draw through the same code; it needs neither Lightning nor Hydra.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ganlab.diffusion.guidance import check_guidance, draw
from ganlab.diffusion.objectives import Objective
from ganlab.diffusion.samplers import Sampler, check_steps, sampler_from
from ganlab.models.conditional_generator import (
    ConditionalImageGenerator,
    GeneratorCard,
    check_labels,
)
from ganlab.networks import network_spec


class TrainedDiffusion(ConditionalImageGenerator):
    """Draws with ``sampler`` (``steps`` denoiser evaluations) and classifier-free ``guidance``."""

    denoiser: nn.Module

    def __init__(
        self,
        denoiser: nn.Module,
        card: GeneratorCard,
        objective: Objective,
        sampler: Sampler,
        guidance: float,
    ) -> None:
        sampler.check(objective)
        self.denoiser = denoiser
        self._card = card
        self.objective = objective
        self.sampler = sampler
        self.guidance = check_guidance(guidance)

    @property
    def card(self) -> GeneratorCard:
        return self._card

    @property
    def null_label(self) -> int:
        return self.card.n_classes

    @property
    def sampling_network(self) -> nn.Module:
        return self.denoiser

    @property
    def device(self) -> torch.device:
        return next(self.denoiser.parameters()).device

    def to(self, device: torch.device | str) -> Any:
        self.denoiser.to(device)
        return self

    def description(self) -> dict[str, Any]:
        """What a checkpoint or an export records to rebuild and sample the model."""
        return {
            "kind": "diffusion",
            "denoiser": network_spec(self.denoiser),
            "objective": self.objective.config(),
            "sampler": {
                "name": self.sampler.name,
                "steps": self.sampler.steps,
                "guidance": self.guidance,
            },
            "n_classes": self.card.n_classes,
            "card": self.card.to_dict(),
        }

    @property
    def sampling_options(self) -> tuple[str, ...]:
        return ("sampler", "steps", "guidance")

    def generate(
        self, labels: torch.Tensor, seed: int | None = None, **options: Any
    ) -> torch.Tensor:
        given = self.check_options(options)
        check_labels(labels, self.card.n_classes)
        steps, guidance = given.get("steps"), given.get("guidance")
        name = given.get("sampler", self.sampler.name)
        sampler = (
            self.sampler
            if steps is None and name == self.sampler.name
            else sampler_from(name, self.sampler.steps if steps is None else check_steps(steps))
        )
        guidance = self.guidance if guidance is None else check_guidance(guidance)
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()))
        network = self.sampling_network
        device = next(network.parameters()).device
        labels = labels.to(device)
        null = torch.full_like(labels, self.null_label)
        shape = (self.card.channels, self.card.img_size, self.card.img_size)

        def denoise(x: torch.Tensor, time: float, classes: torch.Tensor) -> torch.Tensor:
            times = torch.full((len(x),), time, device=device)
            return network(x, times, classes).float()

        def as_tensor(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(array).to(device)

        was_training = network.training
        network.eval()
        try:
            with torch.inference_mode():
                return draw(
                    denoise, labels, null, shape, self.objective, sampler, guidance, seed, as_tensor
                )
        finally:
            network.train(was_training)
