"""What a diffusion model learns to predict, and how a clean image is noised for it.

Two objectives share one network interface ``network(x_t, time, labels)``, ``time`` in
[0, TIME_SCALE) for the network's sinusoidal embedding:

- :class:`NoisePrediction` (DDPM, Ho et al. 2020): a discrete variance-preserving schedule of
  ``timesteps`` steps; ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps`` and the network predicts
  ``eps``. Sampled by DDPM (ancestral) or DDIM.
- :class:`FlowMatching` (rectified flow, Liu et al. 2022): ``x_t = (1 - t) x0 + t eps`` on a
  straight line, ``t`` in [0, 1], and the network predicts the velocity ``eps - x0``. Sampled by
  Euler or Heun.

The schedule is plain Python floats, so the samplers (:mod:`ganlab.diffusion.samplers`) run the
same arithmetic on torch tensors and on numpy arrays (the ONNX path has no torch).
"""

from __future__ import annotations

import math
from typing import Any

from ganlab.errors import ConfigError, is_integer

# Both objectives hand the network a time in [0, TIME_SCALE): the scale its embedding expects.
TIME_SCALE = 1000.0
SCHEDULES = ("linear", "cosine")


class NoisePrediction:
    """The DDPM objective: predict the noise that was added (epsilon prediction)."""

    name = "epsilon"

    def __init__(
        self,
        timesteps: int = 1000,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        schedule: str = "linear",
    ) -> None:
        if not is_integer(timesteps) or not 2 <= timesteps <= 10_000:
            raise ConfigError(f"objective.timesteps {timesteps!r} must be an integer in 2..10000")
        if schedule not in SCHEDULES:
            raise ConfigError(f"objective.schedule {schedule!r} must be one of {SCHEDULES}")
        if not 0.0 < beta_start < beta_end < 1.0:
            raise ConfigError(
                f"objective betas {beta_start!r}..{beta_end!r} must satisfy 0 < start < end < 1"
            )
        self.timesteps = int(timesteps)
        self.beta_start = float(beta_start)
        self.beta_end = float(beta_end)
        self.schedule = schedule
        self.alpha_bar = self._alpha_bar()

    def _alpha_bar(self) -> list[float]:
        """Cumulative products of (1 - beta_t), t = 0 .. timesteps - 1."""
        steps = self.timesteps
        if self.schedule == "cosine":  # Nichol & Dhariwal 2021, betas capped at 0.999

            def f(t: float) -> float:
                return math.cos((t / steps + 0.008) / 1.008 * math.pi / 2) ** 2

            betas = [min(1 - f(i + 1) / f(i), 0.999) for i in range(steps)]
        else:
            width = self.beta_end - self.beta_start
            betas = [self.beta_start + width * i / (steps - 1) for i in range(steps)]
        alpha_bar, product = [], 1.0
        for beta in betas:
            product *= 1.0 - beta
            alpha_bar.append(product)
        return alpha_bar

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "timesteps": self.timesteps,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
            "schedule": self.schedule,
        }

    def network_time(self, step: int) -> float:
        """The network's time input for discrete step ``step``."""
        return step * TIME_SCALE / self.timesteps

    def training_example(self, x0: Any, noise: Any, uniform: Any) -> tuple[Any, Any, Any]:
        """(x_t, network time, target) for clean images ``x0``, noise ``eps`` and one uniform
        draw in [0, 1) per image (torch tensors [N, ...] and [N])."""
        import torch

        steps = (uniform * self.timesteps).long().clamp_(0, self.timesteps - 1)
        table = torch.tensor(self.alpha_bar, dtype=x0.dtype, device=x0.device)
        abar = table[steps].view(-1, *([1] * (x0.dim() - 1)))
        x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
        return x_t, steps.to(x0.dtype) * (TIME_SCALE / self.timesteps), noise


class FlowMatching:
    """Rectified flow: predict the velocity ``eps - x0`` of the straight path from data to
    noise."""

    name = "flow"

    def config(self) -> dict[str, Any]:
        return {"name": self.name}

    @staticmethod
    def network_time(t: float) -> float:
        return t * TIME_SCALE

    def training_example(self, x0: Any, noise: Any, uniform: Any) -> tuple[Any, Any, Any]:
        t = uniform.to(x0.dtype).view(-1, *([1] * (x0.dim() - 1)))
        x_t = (1 - t) * x0 + t * noise
        return x_t, uniform.to(x0.dtype) * TIME_SCALE, noise - x0


Objective = NoisePrediction | FlowMatching
OBJECTIVES = {"epsilon": NoisePrediction, "flow": FlowMatching}


def objective_from(config: object) -> Objective:
    """An objective from its ``config()`` (a checkpoint's or an export's plain data)."""
    if not isinstance(config, dict) or config.get("name") not in OBJECTIVES:
        raise ConfigError(
            f"objective {config!r:.80} must be a dict whose 'name' is one of {tuple(OBJECTIVES)}"
        )
    arguments = {key: value for key, value in config.items() if key != "name"}
    try:
        return OBJECTIVES[config["name"]](**arguments)
    except TypeError as error:
        raise ConfigError(f"objective {config!r:.80}: {error}") from error
