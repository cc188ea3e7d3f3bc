"""Automatic prompt selection: score each candidate technique on the dev split, keep the best.

Candidates are any prompting techniques (a system prompt, a template set, the rules, ...).
``fit`` runs every candidate on the dev items with the suite's own scorer; the best mean score
wins and ties go to the first candidate listed. The choice is per assistant, since what suits
one model need not suit another. Items used for the choice are refused afterwards, so a
reported score is always on held-out items.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from ganlab.assistant.assistant import Assistant
from ganlab.assistant.prompting.base import Prompt, PromptTechnique
from ganlab.assistant.suites.base import Item, Suite
from ganlab.errors import ConfigError


class SelectionTechnique(PromptTechnique):
    """Use whichever of ``candidates`` (name → technique) scored best on the dev split.

    ``dev_scores[assistant][candidate]`` is the mean dev score (NaN if no dev item was scored),
    ``chosen[assistant]`` the winner.
    """

    name = "selection"

    def __init__(self, candidates: Mapping[str, PromptTechnique]) -> None:
        if not candidates:
            raise ConfigError("prompt selection needs at least one candidate")
        self.candidates = dict(candidates)
        self.dev_scores: dict[str, dict[str, float]] = {}
        self.chosen: dict[str, str] = {}
        self.dev_ids: dict[str, frozenset[str]] = {}

    def fit(self, items: Sequence[Item], assistant: Assistant, suite: Suite) -> None:
        scores = {}
        for name, candidate in self.candidates.items():
            candidate.fit(items, assistant, suite)
            respond = candidate.responder(assistant)
            values = [suite.score(item, respond(item)[0].text).value for item in items]
            scored = [value for value in values if value is not None]
            scores[name] = statistics.fmean(scored) if scored else math.nan
        best = None
        for name, score in scores.items():
            if not math.isnan(score) and (best is None or score > scores[best]):
                best = name
        if best is None:
            raise ConfigError(f"prompt selection: none of {len(items)} dev items was scored")
        self.dev_scores[assistant.name] = scores
        self.chosen[assistant.name] = best
        self.dev_ids[assistant.name] = frozenset(item.id for item in items)

    def describe_fit(self) -> dict[str, Any]:
        return {"dev_scores": self.dev_scores, "chosen": self.chosen}

    def prepare(self, item: Item, assistant: Assistant) -> Prompt:
        if assistant.name not in self.chosen:
            raise ConfigError(
                f"prompt selection has no choice for assistant {assistant.name!r}: "
                "call fit(dev_items, assistant, suite) first"
            )
        if item.id in self.dev_ids[assistant.name]:
            raise ConfigError(
                f"item {item.id!r} was used to select the prompt; score held-out items only"
            )
        name = self.chosen[assistant.name]
        prompt = self.candidates[name].prepare(item, assistant)
        return Prompt(
            prompt.question,
            prompt.history,
            prompt.system_prompt,
            prompt.params,
            {"candidate": name, **prompt.info},
        )
