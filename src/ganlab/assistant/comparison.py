"""Run suites over assistants (and prompting techniques) and collect comparable rows."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ganlab.assistant.assistant import Assistant, plain_responder
from ganlab.assistant.suites.base import Responder, Suite, SuiteResult

log = logging.getLogger(__name__)


def run_comparison(
    assistants: Mapping[str, Assistant],
    suites: Mapping[str, Suite],
    limit: int | None = None,
    responder_for: Callable[[Assistant], Responder] = plain_responder,
) -> list[SuiteResult]:
    """Every assistant on every suite, same items, same scorer."""
    results = []
    for assistant in assistants.values():
        for suite in suites.values():
            result = suite.run(responder_for(assistant), assistant.name, limit)
            log.info(
                "%s on %s: score %.3f over %d items, %.1f tokens/s",
                assistant.name,
                suite.name,
                result.mean_score,
                result.n_scored,
                result.tokens_per_second,
            )
            results.append(result)
    return results


def summary_rows(results: Sequence[SuiteResult], label: str = "assistant") -> list[dict[str, Any]]:
    """One flat row per (assistant or technique, suite): the table the report prints."""
    rows = []
    for result in results:
        row = {
            label: result.assistant,
            "suite": result.suite,
            "score": result.mean_score,
            "n": result.n_scored,
            "latency_s": result.mean_latency_s,
            "tokens_per_s": result.tokens_per_second,
        }
        row.update({k: v for k, v in result.metrics.items() if k not in ("score", "n")})
        rows.append(row)
    return rows


def pick_examples(result: SuiteResult, count: int) -> list[dict[str, Any]]:
    """A few replies per suite for the report: the first scored right and wrong ones."""
    right = [r for r in result.results if r.score.value is not None and r.score.value >= 0.5]
    wrong = [r for r in result.results if r.score.value is not None and r.score.value < 0.5]
    unscored = [r for r in result.results if r.score.value is None]
    chosen = (right[: (count + 1) // 2] + wrong[: count // 2] + unscored)[:count]
    return [
        {
            "suite": result.suite,
            "assistant": result.assistant,
            "item": r.item.id,
            "prompt": r.prompt_used or r.item.prompt,
            "reply": r.reply.text,
            "score": r.score.value,
            "gold": _short(r.item.gold),
        }
        for r in chosen
    ]


def _short(value: Any, limit: int = 200) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"
