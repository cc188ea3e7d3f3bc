"""Generation parameters, validated once so that a typo fails before a model is loaded."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ganlab.errors import ConfigError


@dataclass(frozen=True)
class GenerationParams:
    """The knobs that shape one reply; every backend maps them onto its own API.

    ``top_k=0`` and ``min_p=0`` switch those filters off; ``repeat_penalty=1`` is no penalty;
    ``seed=None`` draws a fresh seed per call (non-deterministic sampling).
    """

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    max_tokens: int = 256
    stop: tuple[str, ...] = field(default_factory=tuple)
    seed: int | None = 1234

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop", tuple(self.stop or ()))
        checks = [
            ("temperature", 0.0 <= self.temperature <= 5.0, "between 0 and 5"),
            ("top_p", 0.0 < self.top_p <= 1.0, "in (0, 1]"),
            ("top_k", self.top_k >= 0, "0 (off) or a positive integer"),
            ("min_p", 0.0 <= self.min_p < 1.0, "in [0, 1)"),
            ("repeat_penalty", 0.0 < self.repeat_penalty <= 5.0, "in (0, 5]"),
            ("presence_penalty", -2.0 <= self.presence_penalty <= 2.0, "between -2 and 2"),
            ("frequency_penalty", -2.0 <= self.frequency_penalty <= 2.0, "between -2 and 2"),
            ("max_tokens", self.max_tokens >= 1, "at least 1"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(f"generation.{name}={getattr(self, name)!r} must be {expected}")
        if self.seed is not None and not isinstance(self.seed, int):
            raise ConfigError(f"generation.seed={self.seed!r} must be an integer or null")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> GenerationParams:
        """Build from a config mapping, naming any key that is not a parameter."""
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown generation parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def replace(self, **changes: Any) -> GenerationParams:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["stop"] = list(self.stop)
        return data
