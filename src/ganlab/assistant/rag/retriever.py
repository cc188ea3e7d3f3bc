"""Questions in, the most similar chunks out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ganlab.assistant.embeddings import SentenceEmbedder
from ganlab.assistant.rag.chunking import Chunk
from ganlab.assistant.rag.index import ChunkIndex
from ganlab.errors import ConfigError


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk; ``score`` is the cosine similarity, ``rank`` counts from 1."""

    chunk: Chunk
    score: float
    rank: int


class Retriever:
    """Embeds queries with the embedder that built the index, then searches it."""

    def __init__(self, index: ChunkIndex, embedder: SentenceEmbedder) -> None:
        self.index = index
        self.embedder = embedder

    def search(self, query: str, k: int) -> list[Hit]:
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """One embedding batch for many queries (what an evaluation over a question set does)."""
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"rag k={k!r} must be a positive integer")
        if any(not query.strip() for query in queries):
            raise ConfigError("a retrieval query is empty")
        vectors = self.embedder.encode(list(queries))
        return [
            [Hit(chunk, score, rank) for rank, (chunk, score) in enumerate(found, start=1)]
            for found in self.index.search(vectors, k)
        ]
