"""Fluency of open-ended replies (explain, describe, write a paragraph): measured, not judged.

Per reply, in ``Score.details``:

- ``words``: length in words;
- ``repetition_rate``: share of word 3-grams that repeat an earlier one (loops);
- ``distinct_2``: unique / all word bigrams within the reply;
- ``well_formed``: share of sentences that start with a capital letter (or digit or quote) and
  end with ". ! ? :". A measurable proxy for "reads as prose"; its limits: it knows nothing of
  grammar inside a sentence, a sentence cut off by the token limit counts as malformed (as it
  should), and abbreviations such as "e.g. the", headings and list items without full stops
  count as malformed too;
- ``perplexity`` of the reply text on its own (not conditioned on the prompt) under a
  reference model, when the lab sets one; NaN for an empty reply.

``Score.value`` = (1 - repetition_rate) x well_formed x min(1, words / min_words): 1 for a
paragraph of clean, non-repeating sentences of reasonable length, near 0 for a loop, a
fragment or an empty reply. Perplexity is reported but kept out of the value on purpose: it
depends on which reference model is loaded (and favours replies that sound like that model),
so the value stays comparable across runs with and without one.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence

from ganlab.assistant.backends.base import Backend
from ganlab.assistant.scoring.text_stats import (
    distinct_n,
    perplexity,
    repetition_rate,
    self_bleu,
    words,
)
from ganlab.assistant.suites.base import Item, ItemResult, Score, Suite
from ganlab.assistant.suites.item_files import load_items
from ganlab.errors import ConfigError

_MARKUP = re.compile(r"^\s*(?:[-*+]|\d+[.)]|#+)\s+", re.MULTILINE)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
_STARTS_WELL = re.compile(r"^[\"'(\[]*[A-Z0-9]")
_ENDS_WELL = re.compile(r"[.!?:][\"')\]]*$")
METRICS = ("words", "repetition_rate", "distinct_2", "well_formed", "perplexity")


def sentences(text: str) -> list[str]:
    """Sentences of ``text`` (line breaks end one too), with list and heading markers removed."""
    pieces = _SENTENCE_BREAK.split(_MARKUP.sub("", text))
    return [piece.strip() for piece in pieces if piece.strip()]


def well_formed(text: str) -> float:
    """Share of sentences that start with a capital and end with terminal punctuation."""
    found = sentences(text)
    good = sum(bool(_STARTS_WELL.match(s) and _ENDS_WELL.search(s)) for s in found)
    return good / len(found) if found else 0.0


class FluencySuite(Suite):
    name = "fluency"
    description = "open prompts; repetition, diversity, sentence form and reference perplexity"

    def __init__(self, reference: Backend | None = None, min_words: int = 25) -> None:
        if reference is not None and not reference.can_score:
            raise ConfigError(
                f"fluency reference {type(reference).__name__} cannot score text; "
                "use a local backend (llama_cpp or transformers)"
            )
        if min_words < 1:
            raise ConfigError(f"fluency min_words={min_words} must be at least 1")
        self.reference = reference
        self.min_words = min_words

    def items(self) -> list[Item]:
        return load_items("fluency.jsonl")

    def score(self, item: Item, reply: str) -> Score:
        details = {
            "words": len(words(reply)),
            "repetition_rate": repetition_rate(reply, 3),
            "distinct_2": distinct_n([reply], 2),
            "well_formed": well_formed(reply),
        }
        if self.reference is not None:
            details["perplexity"] = perplexity(self.reference.token_logprobs(reply))
        length = min(1.0, details["words"] / self.min_words)
        value = (1.0 - details["repetition_rate"]) * details["well_formed"] * length
        return Score(value, details)

    def aggregate(self, results: Sequence[ItemResult]) -> dict[str, float]:
        """Means of the per-reply metrics, plus diversity across replies: pooled distinct-2 and
        self-BLEU (high = the replies to different prompts sound alike)."""
        metrics = {}
        for name in METRICS:
            found = [r.score.details.get(name) for r in results]
            values = [v for v in found if v is not None and not math.isnan(v)]
            if values:
                metrics[name] = statistics.fmean(values)
        texts = [r.reply.text for r in results]
        metrics["distinct_2_pooled"] = distinct_n(texts, 2)
        metrics["self_bleu"] = self_bleu(texts)
        return metrics
