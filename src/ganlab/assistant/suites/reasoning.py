"""Arithmetic and short word problems with one exact numeric answer each.

Multi-digit sums, differences, products and percentages, then everyday word problems (prices,
speeds, ages). Each item stores the Python expression its gold was computed from, so the golds
can be re-checked. A reply scores 1 when its final number equals the gold (see
:func:`ganlab.assistant.scoring.answers.extract_number`), else 0.
"""

from __future__ import annotations

from ganlab.assistant.scoring.answers import extract_number, numbers_match
from ganlab.assistant.suites.base import Item, Score, Suite
from ganlab.assistant.suites.item_files import load_items


class ReasoningSuite(Suite):
    name = "reasoning"
    description = "arithmetic and word problems; 1 if the final number is right"

    def __init__(self, rel_tol: float = 1e-6) -> None:
        self.rel_tol = rel_tol

    def items(self) -> list[Item]:
        return load_items("reasoning.jsonl")

    def score(self, item: Item, reply: str) -> Score:
        value = extract_number(reply)
        correct = numbers_match(value, float(item.gold), rel_tol=self.rel_tol)
        return Score(float(correct), {"parsed": value})
