"""Reference-free text statistics: diversity across replies, repetition within one, perplexity.

Parameter sweeps (temperature, top-p, penalties) trade diversity against degeneration; these
numbers make both sides visible. They count lower-cased word tokens, not model tokens, so
replies from models with different tokenizers are comparable.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"\w+(?:['\u2019]\w+)*")


def words(text: str) -> list[str]:
    """Lower-cased word tokens; punctuation is dropped, contractions stay whole ("it's")."""
    return [word.replace("\u2019", "'") for word in _WORD.findall(text.lower())]


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique n-grams / all n-grams, pooled over ``texts`` (0.0 when there are none): 1.0 means
    no n-gram is ever repeated, low values mean the replies recycle phrases."""
    grams = [gram for text in texts for gram in ngrams(words(text), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(text: str, n: int = 3) -> float:
    """Share of the n-grams of ``text`` that repeat an earlier one (0.0 for a text too short to
    have any): the signature of a model stuck in a loop."""
    seen: set[tuple[str, ...]] = set()
    repeats = 0
    grams = ngrams(words(text), n)
    for gram in grams:
        repeats += gram in seen
        seen.add(gram)
    return repeats / len(grams) if grams else 0.0


def bleu(hypothesis: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """Sentence BLEU of a token list against reference token lists.

    Clipped n-gram precisions, geometric mean, brevity penalty against the closest reference
    length. Orders above 1 are smoothed by adding one to both counts (Lin and Och, 2004), so a
    short text that shares words but no 4-gram is not scored 0.
    """
    if not hypothesis or not references:
        return 0.0
    log_total = 0.0
    for n in range(1, max_n + 1):
        counts = Counter(ngrams(hypothesis, n))
        most_in_a_reference: Counter[tuple[str, ...]] = Counter()
        for reference in references:
            most_in_a_reference |= Counter(ngrams(reference, n))
        matches = sum(min(count, most_in_a_reference[gram]) for gram, count in counts.items())
        total = sum(counts.values())
        if n > 1:
            matches, total = matches + 1, total + 1
        if matches == 0:
            return 0.0
        log_total += math.log(matches / total) / max_n
    length = len(hypothesis)
    closest = min((len(r) for r in references), key=lambda r: (abs(r - length), r))
    brevity = 1.0 if length >= closest else math.exp(1 - closest / length)
    return brevity * math.exp(log_total)


def self_bleu(texts: Sequence[str], max_n: int = 4) -> float:
    """Mean BLEU of each text against all the others: 1.0 for identical texts, near 0 for
    unrelated ones; NaN for fewer than two texts, where it has no meaning."""
    tokenized = [words(text) for text in texts]
    if len(tokenized) < 2:
        return math.nan
    scores = [
        bleu(tokens, tokenized[:i] + tokenized[i + 1 :], max_n)
        for i, tokens in enumerate(tokenized)
    ]
    return sum(scores) / len(scores)


def perplexity(logprobs: Sequence[float]) -> float:
    """exp of the mean negative log-likelihood per token (natural logs); NaN without tokens."""
    if not logprobs:
        return math.nan
    return math.exp(-sum(logprobs) / len(logprobs))
