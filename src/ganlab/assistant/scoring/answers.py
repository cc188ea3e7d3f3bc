"""Reading answers out of replies: numbers, short text answers, three-way verdicts and NLI labels.

Small models rarely answer with the bare value they were asked for; they wrap it in a sentence,
bold it, or show their working first. The parsers here are lenient about the wrapping and strict
about the value, so a score measures the answer and not the formatting.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata

# A number: optional sign (not when the minus is really a subtraction, as in "5-3"), digits
# with optional thousands separators, optional decimals.
_NUMBER = re.compile(r"(?:(?<![\w.)])[-\u2212])?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
# Phrases after which the model states its final answer; they beat "the last number".
_ANSWER_MARKER = re.compile(
    r"answer\s*(?:is|was|would be|will be|=|:)|final answer|\\boxed\{|result\s*(?:is|:)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"\n|[.!?;](?:\s|$)")
_OPERATION = re.compile(r"\s*(?:[-+*/=\u00d7\u2212]|x\s*\d)")


def _to_float(token: str) -> float:
    return float(token.replace(",", "").replace("\u2212", "-"))


def extract_number(reply: str) -> float | None:
    """The reply's final numeric answer, or None if it has no number.

    After the last "answer is" / "Answer:" marker: the number right after it ("The answer is
    24, because ..."), unless an operation follows it, in which case the last number of that
    sentence ("Answer: 3 + 4 = 7"). Without a marker: the last number in the reply.
    """
    markers = list(_ANSWER_MARKER.finditer(reply))
    if markers:
        rest = reply[markers[-1].end() :].lstrip(" \t\n*:$")
        first = _NUMBER.match(rest)
        if first and not _OPERATION.match(rest, first.end()):
            return _to_float(first.group())
        numbers = _NUMBER.findall(_SENTENCE_END.split(rest, maxsplit=1)[0])
        if numbers:
            return _to_float(numbers[-1])
    numbers = _NUMBER.findall(reply)
    return _to_float(numbers[-1]) if numbers else None


def numbers_match(
    value: float | None, gold: float, rel_tol: float = 1e-6, abs_tol: float = 1e-9
) -> bool:
    """Whether a parsed answer equals the gold number (a float tolerance, not string equality,
    so "12.50" and "12.5" agree)."""
    return value is not None and math.isclose(value, gold, rel_tol=rel_tol, abs_tol=abs_tol)


_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
# ASCII punctuation plus curly quotes, dashes and the ellipsis that chat models like to emit.
_PUNCTUATION = re.compile(
    f"[{re.escape(string.punctuation)}\u201c\u201d\u2018\u2019\u2013\u2014\u2026]"
)


def normalize_text(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces: "The K7-221." -> "k7 221".
    Thousands separators go first, so "3,412" and "3412" normalise alike."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = _PUNCTUATION.sub(" ", text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(reply: str, gold: str) -> bool:
    """Normalised equality of a short answer."""
    return normalize_text(reply) == normalize_text(gold)


def contains_answer(reply: str, gold: str) -> bool:
    """Whether the normalised gold appears in the normalised reply as whole words (so a reply
    that says "The code is K7-221." counts, and "K7-2210" does not)."""
    target = normalize_text(gold)
    return bool(target) and f" {target} " in f" {normalize_text(reply)} "


# Three-way verdicts. Longer phrases come first so that "cannot be determined" is read as
# "unknown", never as "no"; a phrase that maps to None ("does not follow") is skipped over.
_VERDICT_PHRASES: tuple[tuple[str, str | None], ...] = (
    (r"can ?not be determined|can't be determined|impossible to (?:tell|know|say)", "unknown"),
    (r"can ?not (?:tell|know|say)|can't (?:tell|know|say)|no way to (?:tell|know)", "unknown"),
    (r"(?:no|not enough|insufficient) (?:information|evidence)", "unknown"),
    (r"(?:does not|doesn't|do not|don't|not) necessarily(?: follow)?", "unknown"),
    (r"undetermined|indeterminate|unknown|unclear|uncertain|not sure|maybe|possibly", "unknown"),
    (r"(?:does not|doesn't|do not|don't|not) follow", None),
    (r"not true", "no"),
    (r"yes|true", "yes"),
    (r"no|false", "no"),
)
NLI_LABELS = ("entailment", "contradiction", "neutral")
# Words that name an NLI label outright; they win over verdict words anywhere in the reply.
_NLI_PHRASES: tuple[tuple[str, str | None], ...] = (
    # "Not necessarily entailed / true / the case" is the model hedging: neither follows.
    (r"not necessarily\s+(?:an?\s+)?(?:entail\w*|follows?|true|the case)", "neutral"),
    (
        r"(?:not|no|never|does not|doesn't|do not|don't|is not|isn't)\s+(?:an?\s+)?"
        r"(?:entail\w*|contradict\w*)",
        None,
    ),
    (r"entailment|entails|entailed|entail|implied|implies|follows", "entailment"),
    (r"contradiction|contradicts|contradicted|contradictory|contradict", "contradiction"),
    (r"neutral|neither", "neutral"),
)
_VERDICT_TO_NLI = {"yes": "entailment", "no": "contradiction", "unknown": "neutral"}


def _phrase_pattern(table: tuple[tuple[str, str | None], ...]) -> re.Pattern[str]:
    groups = (f"(?P<p{i}>\\b(?:{pattern})\\b)" for i, (pattern, _) in enumerate(table))
    return re.compile("|".join(groups), re.IGNORECASE)


_VERDICT = _phrase_pattern(_VERDICT_PHRASES)
_NLI = _phrase_pattern(_NLI_PHRASES)


def _first_label(
    pattern: re.Pattern[str], table: tuple[tuple[str, str | None], ...], reply: str
) -> str | None:
    for match in pattern.finditer(reply.replace("\u2019", "'")):
        assert match.lastgroup is not None  # every alternative is a named group, p<index>
        label = table[int(match.lastgroup[1:])][1]
        if label is not None:
            return label
    return None


def parse_verdict(reply: str) -> str | None:
    """The first verdict phrase of the reply as "yes", "no" or "unknown"; None if it has none."""
    return _first_label(_VERDICT, _VERDICT_PHRASES, reply)


def parse_nli_label(reply: str) -> str | None:
    """The reply's NLI label ("entailment", "contradiction" or "neutral"): its first label word,
    else the everyday verdict a model uses instead (yes / true / follows, no / false, maybe /
    cannot tell); None when the reply names neither."""
    label = _first_label(_NLI, _NLI_PHRASES, reply)
    if label is None:
        label = _VERDICT_TO_NLI.get(parse_verdict(reply) or "")
    return label
