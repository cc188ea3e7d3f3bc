"""One-parameter-at-a-time sweeps: how each generation knob changes diversity, length,
repetition and determinism, measured on the same prompts and seeds."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ganlab.assistant.assistant import Assistant
from ganlab.assistant.params import GenerationParams
from ganlab.assistant.scoring.text_stats import distinct_n, repetition_rate, self_bleu, words
from ganlab.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class SweepPoint:
    """Measurements for one value of one parameter, averaged over prompts."""

    parameter: str
    value: Any
    distinct_1: float
    distinct_2: float
    self_bleu: float
    words: float
    repetition: float
    deterministic: float
    tokens_per_s: float
    samples: dict[str, list[str]] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "samples"}


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def measure(
    assistant: Assistant,
    prompts: Sequence[str],
    params: GenerationParams,
    samples: int,
    parameter: str,
    value: Any,
) -> SweepPoint:
    """``samples`` replies per prompt (seeds base, base+1, ...); diversity is measured among the
    replies to the same prompt; determinism = the first seed, asked again, gives the same text."""
    base_seed = params.seed if params.seed is not None else 0
    per_prompt: dict[str, list[str]] = {}
    tokens, seconds, repeats_equal = 0, 0.0, []
    for prompt in prompts:
        texts = []
        for offset in range(samples):
            reply = assistant.ask(prompt, params=params.replace(seed=base_seed + offset))
            texts.append(reply.text)
            tokens, seconds = tokens + reply.completion_tokens, seconds + reply.seconds
        again = assistant.ask(prompt, params=params.replace(seed=base_seed))
        repeats_equal.append(float(again.text == texts[0]))
        per_prompt[prompt] = texts
    groups = list(per_prompt.values())
    every = [text for texts in groups for text in texts]
    return SweepPoint(
        parameter=parameter,
        value=value,
        distinct_1=_mean([distinct_n(texts, 1) for texts in groups]),
        distinct_2=_mean([distinct_n(texts, 2) for texts in groups]),
        self_bleu=_mean([self_bleu(texts) for texts in groups]) if samples > 1 else float("nan"),
        words=_mean([len(words(text)) for text in every]),
        repetition=_mean([repetition_rate(text) for text in every]),
        deterministic=_mean(repeats_equal),
        tokens_per_s=tokens / seconds if seconds else float("nan"),
        samples=per_prompt,
    )


def run_sweeps(
    assistant: Assistant,
    prompts: Sequence[str],
    grid: Mapping[str, Sequence[Any]],
    base: Mapping[str, Any],
    samples: int,
) -> list[SweepPoint]:
    """Vary each parameter of ``grid`` over its values, all others held at ``base``."""
    if not prompts or samples < 1:
        raise ConfigError("a sweep needs at least one prompt and samples >= 1")
    base_params = assistant.params.replace(**dict(base))
    points = []
    for parameter, values in grid.items():
        if parameter not in base_params.as_dict():
            raise ConfigError(f"lab.grid has unknown generation parameter {parameter!r}")
        for value in values:
            params = base_params.replace(**{parameter: value})
            point = measure(assistant, prompts, params, samples, parameter, value)
            log.info(
                "%s=%s: distinct-2 %.3f, self-BLEU %.3f, %.0f words, deterministic %.2f",
                parameter,
                value,
                point.distinct_2,
                point.self_bleu,
                point.words,
                point.deterministic,
            )
            points.append(point)
    return points
