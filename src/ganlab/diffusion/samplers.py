"""Samplers: from noise to images by repeated calls of a trained denoiser.

Each sampler is written once, as arithmetic on arrays with Python-float coefficients, so the
torch model and the torch-free ONNX runtime run literally the same loop (diffusers' schedulers
are torch-only). ``predict(x, time)`` is the denoiser's output with guidance already applied;
``noise()`` draws fresh standard-normal noise shaped like ``x`` (only DDPM asks for it). Every
sampler ends at time 0 and returns ``x`` clipped to [-1, 1].
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from ganlab.diffusion.objectives import FlowMatching, NoisePrediction, Objective
from ganlab.errors import ConfigError, is_integer

Predict = Callable[[Any, float], Any]
Noise = Callable[[], Any]
MAX_STEPS = 1000


def check_steps(steps: object) -> int:
    if isinstance(steps, bool) or not is_integer(steps) or not 1 <= steps <= MAX_STEPS:
        raise ConfigError(f"steps {steps!r:.40} must be an integer in 1..{MAX_STEPS}")
    return int(steps)


class Sampler(ABC):
    """A sampler for one objective; ``steps`` network evaluations (twice that for Heun)."""

    name: ClassVar[str]
    objective: ClassVar[type[NoisePrediction] | type[FlowMatching]]

    def __init__(self, steps: int = 25) -> None:
        self.steps = check_steps(steps)

    def check(self, objective: Objective) -> None:
        if not isinstance(objective, self.objective):
            raise ConfigError(
                f"sampler {self.name!r} inverts the {self.objective.name!r} objective, "
                f"not {objective.name!r}; choose one of {compatible(objective)}"
            )

    @abstractmethod
    def sample(self, predict: Predict, x: Any, noise: Noise, objective: Objective) -> Any:
        """Run the sampler from pure noise ``x`` (time 1) down to time 0."""


def _discrete_times(steps: int, timesteps: int) -> list[int]:
    """``steps`` discrete steps from the last to 0, evenly spaced."""
    if steps > timesteps:
        raise ConfigError(f"steps {steps} exceed the objective's {timesteps} timesteps")
    if steps == 1:
        return [timesteps - 1]
    return [round(i * (timesteps - 1) / (steps - 1)) for i in reversed(range(steps))]


class _NoiseSampler(Sampler):
    objective = NoisePrediction

    def sample(self, predict: Predict, x: Any, noise: Noise, objective: Objective) -> Any:
        assert isinstance(objective, NoisePrediction)
        times = _discrete_times(self.steps, objective.timesteps)
        for index, step in enumerate(times):
            abar = objective.alpha_bar[step]
            abar_prev = objective.alpha_bar[times[index + 1]] if index + 1 < len(times) else 1.0
            eps = predict(x, objective.network_time(step))
            x0 = ((x - math.sqrt(1 - abar) * eps) / math.sqrt(abar)).clip(-1, 1)
            x = self.update(x, x0, abar, abar_prev, noise)
        return x.clip(-1, 1)

    @abstractmethod
    def update(self, x: Any, x0: Any, abar: float, abar_prev: float, noise: Noise) -> Any:
        """x at the previous time, from x at this time and its predicted clean image."""


class DDPM(_NoiseSampler):
    """Ancestral sampling (Ho et al. 2020), on a strided schedule: the posterior
    q(x_prev | x_t, x0) with the predicted x0, plus fresh noise at every step but the last."""

    name = "ddpm"

    def update(self, x: Any, x0: Any, abar: float, abar_prev: float, noise: Noise) -> Any:
        beta = 1 - abar / abar_prev
        mean = (math.sqrt(abar_prev) * beta / (1 - abar)) * x0 + (
            math.sqrt(1 - beta) * (1 - abar_prev) / (1 - abar)
        ) * x
        variance = (1 - abar_prev) / (1 - abar) * beta
        return mean + math.sqrt(variance) * noise() if variance > 0 else mean


class DDIM(_NoiseSampler):
    """Deterministic DDIM (Song et al. 2021, eta 0): the same noise direction, rescaled."""

    name = "ddim"

    def update(self, x: Any, x0: Any, abar: float, abar_prev: float, noise: Noise) -> Any:
        eps = (x - math.sqrt(abar) * x0) / math.sqrt(1 - abar)
        return math.sqrt(abar_prev) * x0 + math.sqrt(1 - abar_prev) * eps


class _FlowSampler(Sampler):
    objective = FlowMatching

    def times(self) -> list[float]:
        return [1 - i / self.steps for i in range(self.steps + 1)]


class Euler(_FlowSampler):
    """Euler steps along the predicted velocity, from t = 1 to 0."""

    name = "euler"

    def sample(self, predict: Predict, x: Any, noise: Noise, objective: Objective) -> Any:
        times = self.times()
        for t, t_next in itertools.pairwise(times):
            x = x + (t_next - t) * predict(x, FlowMatching.network_time(t))
        return x.clip(-1, 1)


class Heun(_FlowSampler):
    """Heun's second-order method: an Euler step, corrected by the velocity at its end (the
    last step, at t = 0, stays Euler). Two evaluations per step."""

    name = "heun"

    def sample(self, predict: Predict, x: Any, noise: Noise, objective: Objective) -> Any:
        times = self.times()
        for t, t_next in itertools.pairwise(times):
            velocity = predict(x, FlowMatching.network_time(t))
            guess = x + (t_next - t) * velocity
            if t_next > 0:
                corrected = predict(guess, FlowMatching.network_time(t_next))
                guess = x + (t_next - t) * 0.5 * (velocity + corrected)
            x = guess
        return x.clip(-1, 1)


SAMPLERS: dict[str, type[Sampler]] = {cls.name: cls for cls in (DDPM, DDIM, Euler, Heun)}


def compatible(objective: Objective) -> tuple[str, ...]:
    return tuple(name for name, cls in SAMPLERS.items() if isinstance(objective, cls.objective))


def sampler_from(name: object, steps: object) -> Sampler:
    if name not in SAMPLERS:
        raise ConfigError(f"sampler {name!r:.40} must be one of {tuple(SAMPLERS)}")
    return SAMPLERS[str(name)](check_steps(steps))
