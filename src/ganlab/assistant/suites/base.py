"""The contract between suites, prompting techniques and the lab runner.

A suite owns items and a scorer. Who turns an item into a reply is the caller's business (a
*responder*): the plain assistant, or a prompting technique wrapped around it. So a technique is
compared with another on exactly the same items and the same scorer.
"""

from __future__ import annotations

import math
import statistics
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ganlab.assistant.backends.base import Completion


@dataclass(frozen=True)
class Item:
    """One question. ``prompt`` is what a plain assistant is asked; ``gold`` what scoring needs;
    ``task`` names the kind of task (prompting rules and templates key on it)."""

    id: str
    prompt: str
    gold: Any = None
    task: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Score:
    """``value`` in [0, 1] (1 = best), or None where the item is reported but not scored."""

    value: float | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ItemResult:
    item: Item
    reply: Completion
    score: Score
    prompt_used: str = ""


@dataclass
class SuiteResult:
    suite: str
    assistant: str
    results: list[ItemResult]
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def mean_score(self) -> float:
        values = [r.score.value for r in self.results if r.score.value is not None]
        return statistics.fmean(values) if values else math.nan

    @property
    def n_scored(self) -> int:
        return sum(r.score.value is not None for r in self.results)

    @property
    def mean_latency_s(self) -> float:
        return statistics.fmean(r.reply.seconds for r in self.results) if self.results else math.nan

    @property
    def tokens_per_second(self) -> float:
        tokens = sum(r.reply.completion_tokens for r in self.results)
        seconds = sum(r.reply.seconds for r in self.results)
        return tokens / seconds if seconds else math.nan


#: Turns an item into a reply; returns the reply and the prompt text actually sent.
Responder = Callable[[Item], tuple[Completion, str]]


class Suite(ABC):
    """A named set of items plus a scorer; ``aggregate`` adds suite-level metrics."""

    name: str = ""
    description: str = ""

    @abstractmethod
    def items(self) -> list[Item]:
        """All items, in a fixed order."""

    @abstractmethod
    def score(self, item: Item, reply: str) -> Score:
        """Score one reply against ``item.gold``."""

    def aggregate(self, results: Sequence[ItemResult]) -> dict[str, float]:
        """Suite-level metrics beyond the mean score (default: none)."""
        return {}

    def run(
        self,
        responder: Responder,
        assistant: str,
        limit: int | None = None,
        items: Sequence[Item] | None = None,
    ) -> SuiteResult:
        """Score ``responder`` on ``items`` (default: all of the suite's), the first ``limit``."""
        chosen = list(self.items() if items is None else items)
        chosen = chosen[:limit] if limit else chosen
        results = []
        for item in chosen:
            reply, prompt_used = responder(item)
            results.append(ItemResult(item, reply, self.score(item, reply.text), prompt_used))
        result = SuiteResult(self.name, assistant, results)
        result.metrics = {
            "score": result.mean_score,
            "n": float(result.n_scored),
            **self.aggregate(results),
        }
        return result
