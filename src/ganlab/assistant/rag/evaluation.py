"""The RAG study: labelled questions, retrieval metrics, and answers with vs without retrieval.

Answer correctness is a keyword match: a reply counts as correct when it contains one of the
question's accepted answers as a whole word or phrase (case-insensitive). That is cheap and
reproducible, but blunt. It counts a reply that names the answer only to reject it, or that
copies a source containing it, as correct; and a right answer in other words (a paraphrase the
alias list lacks) as wrong. Compare the two conditions with each other, not with 100 %.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib.resources import files
from pathlib import Path
from typing import Any

from ganlab.assistant.assistant import Assistant
from ganlab.assistant.embeddings import SentenceEmbedder
from ganlab.assistant.rag.answer import RagAnswer, answer_with_retrieval, closed_book
from ganlab.assistant.rag.chunking import Chunker
from ganlab.assistant.rag.corpus import PYDOC_TOPICS, load_corpus
from ganlab.assistant.rag.index import load_or_build
from ganlab.assistant.rag.retriever import Hit, Retriever
from ganlab.errors import ConfigError, DataFileError
from ganlab.utils.mappings import plain_dict

DEFAULT_QUESTIONS = Path(str(files("ganlab.assistant.rag").joinpath("data", "questions.jsonl")))


@dataclass(frozen=True)
class RagConfig:
    """``configs/rag/*.yaml``: corpus, chunking, index cache and how the study is run."""

    corpus: str = PYDOC_TOPICS
    chunk_size: int = 120
    chunk_overlap: int = 30
    k: int = 3
    recall_ks: tuple[int, ...] = (1, 3, 5)
    cache_dir: str | None = None
    questions: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "recall_ks", tuple(self.recall_ks))
        if not _positive_int(self.k):
            raise ConfigError(f"rag.k={self.k!r} must be a positive integer")
        if not self.recall_ks or not all(map(_positive_int, self.recall_ks)):
            raise ConfigError(
                f"rag.recall_ks={list(self.recall_ks)} must list one or more positive integers"
            )
        Chunker(self.chunk_size, self.chunk_overlap)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> RagConfig:
        data = plain_dict(values)
        data.pop("_target_", None)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown rag setting(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


@dataclass(frozen=True)
class Question:
    """A labelled question: ``gold`` = the document ids that answer it, ``answers`` = accepted
    keywords or aliases (any one suffices)."""

    id: str
    question: str
    gold: tuple[str, ...]
    answers: tuple[str, ...]


@dataclass
class RagReport:
    """``metrics`` for the summary table; ``examples`` one row per question, for inspection."""

    metrics: dict[str, float]
    examples: list[dict[str, Any]] = field(default_factory=list)


def build_retriever(
    cfg: RagConfig | Mapping[str, Any], embedder: SentenceEmbedder | None = None
) -> Retriever:
    """The retriever a RAG config describes; the index comes from its cache when valid."""
    if not isinstance(cfg, RagConfig):
        cfg = RagConfig.from_mapping(cfg)
    embedder = embedder or SentenceEmbedder()
    chunker = Chunker(cfg.chunk_size, cfg.chunk_overlap)
    index = load_or_build(load_corpus(cfg.corpus), chunker, embedder, cfg.cache_dir)
    return Retriever(index, embedder)


def load_questions(path: str | os.PathLike | None = None) -> list[Question]:
    """Questions from a JSON-lines file (``None``: the packaged set about ``pydoc_topics``)."""
    path = Path(path) if path else DEFAULT_QUESTIONS
    if not path.is_file():
        raise ConfigError(f"rag questions file {path} does not exist")
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            question = Question(
                id=str(row["id"]),
                question=row["question"],
                gold=tuple(row["gold"]),
                answers=tuple(row["answers"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise DataFileError(
                f"{path}:{number}: expected JSON with id, question, gold, answers ({error})"
            ) from None
        if not all(_strings(values) for values in (row["gold"], row["answers"])):
            raise DataFileError(f"{path}:{number}: gold and answers must be non-empty string lists")
        questions.append(question)
    if not questions:
        raise DataFileError(f"rag questions file {path} holds no question")
    return questions


def keyword_correct(reply: str, answers: Sequence[str]) -> bool:
    """Whether ``reply`` contains an accepted answer as a whole word or phrase."""
    text = " ".join(reply.lower().split())
    return any(_phrase(answer).search(text) for answer in answers)


def retrieval_only(
    retriever: Retriever, questions: Sequence[Question], ks: Sequence[int] = (1, 3, 5)
) -> dict[str, float]:
    """``recall@k`` (a gold document among the top-k chunks' documents) for each k, and the
    mean reciprocal rank of the first gold chunk within the largest k (0 when absent)."""
    if not questions or not ks:
        raise ConfigError("retrieval_only needs at least one question and one k")
    deepest = max(ks)
    found = retriever.search_many([question.question for question in questions], deepest)
    ranks = [
        _first_gold_rank(hits, question.gold)
        for question, hits in zip(questions, found, strict=True)
    ]
    metrics = {
        f"recall@{k}": statistics.fmean(rank is not None and rank <= k for rank in ranks)
        for k in sorted(set(ks))
    }
    metrics[f"mrr@{deepest}"] = statistics.fmean(1 / rank if rank else 0.0 for rank in ranks)
    metrics["n_questions"] = float(len(questions))
    return metrics


def evaluate_rag(
    assistant: Assistant,
    retriever: Retriever,
    questions: Sequence[Question],
    k: int,
    limit: int | None = None,
) -> RagReport:
    """Ask each question with the top-``k`` chunks as sources and closed-book, and score both.

    ``gold_in_sources`` is the share of questions whose prompt showed a gold document;
    ``citation_precision`` the share of cited sources that are gold, over the replies that
    cite at least one (``n_with_citations`` of them; NaN when none does).
    """
    chosen = list(questions[:limit] if limit else questions)
    if not chosen:
        raise ConfigError("evaluate_rag needs at least one question")
    examples, precisions = [], []
    for question in chosen:
        rag = answer_with_retrieval(assistant, retriever, question.question, k)
        closed = closed_book(assistant, question.question)
        cited_gold = [hit.chunk.doc_id in question.gold for hit in rag.cited]
        if cited_gold:
            precisions.append(statistics.fmean(cited_gold))
        examples.append(_example(question, rag, closed))
    metrics = {
        "correct_rag": statistics.fmean(e["correct_rag"] for e in examples),
        "correct_closed": statistics.fmean(e["correct_closed"] for e in examples),
        "gold_in_sources": statistics.fmean(e["gold_in_sources"] for e in examples),
        "citation_precision": statistics.fmean(precisions) if precisions else math.nan,
        "n_with_citations": float(len(precisions)),
        "latency_rag_s": statistics.fmean(e["latency_rag_s"] for e in examples),
        "latency_closed_s": statistics.fmean(e["latency_closed_s"] for e in examples),
        "n_questions": float(len(examples)),
    }
    return RagReport(metrics, examples)


def _example(question: Question, rag: RagAnswer, closed: RagAnswer) -> dict[str, Any]:
    return {
        "id": question.id,
        "question": question.question,
        "gold": list(question.gold),
        "retrieved_titles": [hit.chunk.title for hit in rag.sources],
        "retrieved_docs": [hit.chunk.doc_id for hit in rag.sources],
        "gold_in_sources": any(hit.chunk.doc_id in question.gold for hit in rag.sources),
        "reply_rag": rag.reply.text,
        "reply_closed": closed.reply.text,
        "citations": rag.citations,
        "cited_docs": [hit.chunk.doc_id for hit in rag.cited],
        "correct_rag": keyword_correct(rag.reply.text, question.answers),
        "correct_closed": keyword_correct(closed.reply.text, question.answers),
        "latency_rag_s": rag.reply.seconds,
        "latency_closed_s": closed.reply.seconds,
    }


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _strings(values: Any) -> bool:
    return (
        isinstance(values, list)
        and bool(values)
        and all(isinstance(value, str) and value.strip() for value in values)
    )


def _first_gold_rank(hits: Sequence[Hit], gold: Sequence[str]) -> int | None:
    return next((hit.rank for hit in hits if hit.chunk.doc_id in gold), None)


def _phrase(answer: str) -> re.Pattern[str]:
    """``answer`` as a case-folded phrase not glued to letters, digits or underscores."""
    phrase = re.escape(" ".join(answer.lower().split()))
    return re.compile(rf"(?<!\w){phrase}(?!\w)")
