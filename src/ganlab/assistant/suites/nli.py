"""Natural-language inference: does a premise entail, contradict, or say nothing about a
hypothesis? Contextual understanding in its smallest form.

Items are balanced over the three labels and interleaved, so a run limited to the first few
items still sees all of them. A reply scores 1 when its label (read leniently, see
:func:`ganlab.assistant.scoring.answers.parse_nli_label`) is the gold one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ganlab.assistant.scoring.answers import NLI_LABELS, parse_nli_label
from ganlab.assistant.suites.base import Item, ItemResult, Score, Suite
from ganlab.assistant.suites.item_files import load_items


class NliSuite(Suite):
    name = "nli"
    description = "premise/hypothesis pairs: entailment, contradiction or neutral (1 if right)"

    def items(self) -> list[Item]:
        return load_items("nli.jsonl")

    def score(self, item: Item, reply: str) -> Score:
        label = parse_nli_label(reply)
        return Score(float(label == item.gold), {"label": label})

    def aggregate(self, results: Sequence[ItemResult]) -> dict[str, float]:
        """Accuracy per gold label (a model that always says "entailment" shows up here) and
        the share of replies that named no label at all."""
        metrics = {}
        for label in NLI_LABELS:
            scores = [
                r.score.value
                for r in results
                if r.item.gold == label and r.score.value is not None  # score() always sets it
            ]
            metrics[f"accuracy_{label}"] = sum(scores) / len(scores) if scores else math.nan
        unparsed = sum(r.score.details.get("label") is None for r in results)
        metrics["unparseable_share"] = unparsed / len(results) if results else math.nan
        return metrics
