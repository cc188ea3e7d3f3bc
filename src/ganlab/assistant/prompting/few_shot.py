"""ML-based prompting: few-shot examples chosen by sentence-embedding similarity.

The pool is the dev items that have a ``meta["reference_answer"]``, embedded once. Each question
is embedded and gets the k most similar pool items (cosine similarity) as earlier
user/assistant turns, least similar first so the closest example sits next to the question. An
item never sees itself: pool items with its id or its exact prompt are skipped.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ganlab.assistant.assistant import Assistant
from ganlab.assistant.backends.base import Message
from ganlab.assistant.embeddings import SentenceEmbedder
from ganlab.assistant.prompting.base import Prompt, PromptTechnique
from ganlab.assistant.suites.base import Item, Suite
from ganlab.errors import ConfigError, is_integer


@functools.cache
def shared_embedder() -> SentenceEmbedder:
    """One MiniLM per process: the lab builds a technique per suite, the model loads once."""
    return SentenceEmbedder()


class FewShotTechnique(PromptTechnique):
    """Ask each item after its ``k`` nearest dev examples (``embedder`` defaults to MiniLM)."""

    name = "few_shot"

    def __init__(self, k: int = 3, embedder: SentenceEmbedder | None = None) -> None:
        if not is_integer(k) or k < 1:
            raise ConfigError(f"few-shot k={k!r} must be a positive integer")
        self.k = k
        self.embedder = embedder
        self.pool: list[Item] = []
        self.vectors = np.zeros((0, 0), dtype=np.float32)

    def fit(self, items: Sequence[Item], assistant: Assistant, suite: Suite) -> None:
        self.pool = [item for item in items if item.meta.get("reference_answer")]
        if not self.pool:
            raise ConfigError(
                "few-shot needs dev items with meta['reference_answer']; "
                f"none among {len(items)} dev items"
            )
        self.embedder = self.embedder or shared_embedder()
        self.vectors = self.embedder.encode([item.prompt for item in self.pool])

    def describe_fit(self) -> dict[str, Any]:
        return {"k": self.k, "pool": [item.id for item in self.pool]}

    def nearest(self, item: Item) -> list[tuple[Item, float]]:
        """The ``k`` most similar pool items (never ``item`` itself), most similar first."""
        if not self.pool:
            raise ConfigError("few-shot has no example pool: call fit(dev_items, ...) first")
        assert self.embedder is not None  # fit() set it along with the pool
        similarities = self.vectors @ self.embedder.encode([item.prompt])[0]
        chosen = []
        for index in np.argsort(-similarities, kind="stable"):
            example = self.pool[index]
            if example.id != item.id and example.prompt != item.prompt:
                chosen.append((example, float(similarities[index])))
            if len(chosen) == self.k:
                break
        return chosen

    def prepare(self, item: Item, assistant: Assistant) -> Prompt:
        chosen = self.nearest(item)
        history: list[Message] = []
        for example, _ in reversed(chosen):
            history.append({"role": "user", "content": example.prompt})
            history.append({"role": "assistant", "content": str(example.meta["reference_answer"])})
        examples = [{"id": ex.id, "similarity": round(sim, 4)} for ex, sim in chosen]
        return Prompt(item.prompt, history=tuple(history), info={"examples": examples})
