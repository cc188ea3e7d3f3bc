"""Classifier-free guidance and seeded drawing, shared by the torch model and the ONNX runtime.

Guidance follows Ho & Salimans (2022): ``pred = cond + w * (cond - uncond)``, where ``uncond``
is the denoiser's output for the "no class" label. ``w = 0`` is plain conditional sampling (one
network pass per step); larger ``w`` trades variety (recall) for class fidelity (accuracy,
precision), at two passes per step.

Every random number comes from one numpy PCG64 generator seeded by ``seed``: the starting noise
first (identical to :func:`ganlab.images.seeded_noise`), then DDPM's per-step noise. The same seed
therefore draws the same images with torch on any device and with ONNX Runtime.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ganlab.diffusion.objectives import Objective
from ganlab.diffusion.samplers import Sampler
from ganlab.errors import ConfigError
from ganlab.images import check_seed

# Beyond this the guided prediction is dominated by the difference term and images saturate.
MAX_GUIDANCE = 20.0

Denoise = Callable[[Any, float, Any], Any]


def check_guidance(guidance: object) -> float:
    if (
        isinstance(guidance, bool)
        or not isinstance(guidance, int | float)
        or not math.isfinite(guidance)
        or not 0.0 <= guidance <= MAX_GUIDANCE
    ):
        raise ConfigError(f"guidance {guidance!r:.40} must be a number in 0..{MAX_GUIDANCE:g}")
    return float(guidance)


def guided(denoise: Denoise, labels: Any, null_labels: Any, guidance: float) -> Callable:
    """``predict(x, time)`` for a sampler: the denoiser's output, guided when ``guidance`` > 0."""

    def predict(x: Any, time: float) -> Any:
        cond = denoise(x, time, labels)
        if guidance == 0.0:
            return cond
        return cond + guidance * (cond - denoise(x, time, null_labels))

    return predict


def draw(
    denoise: Denoise,
    labels: Any,
    null_labels: Any,
    shape: tuple[int, int, int],
    objective: Objective,
    sampler: Sampler,
    guidance: float,
    seed: int,
    as_array: Callable[[np.ndarray], Any],
) -> Any:
    """Images [N, *shape] in [-1, 1] for ``labels`` [N]; ``as_array`` turns numpy noise into
    the backend's arrays (a torch tensor on the model's device, or numpy itself)."""
    sampler.check(objective)
    guidance = check_guidance(guidance)
    rng = np.random.default_rng(check_seed(seed))
    n, size = len(labels), int(np.prod(shape))

    def noise() -> Any:
        return as_array(rng.standard_normal((n, size), dtype=np.float32).reshape(n, *shape))

    predict = guided(denoise, labels, null_labels, guidance)
    return sampler.sample(predict, noise(), noise, objective)
