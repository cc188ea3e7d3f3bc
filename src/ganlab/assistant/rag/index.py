"""Chunk vectors in a FAISS inner-product index, cached on disk so a rerun does not re-embed.

The embedder returns unit vectors, so inner product is cosine similarity, and an exact
``IndexFlatIP`` is enough: a query over the 881 chunks of the default corpus takes ~0.25 ms,
against ~13 ms to embed the query on one core.

A cache folder is named by a hash of everything the vectors depend on (corpus content,
chunking, embedder, :data:`FORMAT`). It holds ``index.faiss`` and ``chunks.json``; the JSON,
written last, records the index file's sha256, so a torn or edited cache is detected on load
and rebuilt rather than trusted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from ganlab.assistant.embeddings import SentenceEmbedder
from ganlab.assistant.rag.chunking import Chunk, Chunker
from ganlab.assistant.rag.corpus import Document
from ganlab.utils.atomic import atomic_path

log = logging.getLogger(__name__)

#: Bump when the chunking algorithm or :func:`embedding_text` changes: old caches stop matching.
FORMAT = 1
INDEX_FILE = "index.faiss"
MANIFEST_FILE = "chunks.json"


class StaleCacheError(Exception):
    """A cache folder that cannot be trusted (corrupt, partial or built from other inputs)."""


@dataclass
class ChunkIndex:
    """Chunks and their vectors; row ``i`` of the FAISS index is ``chunks[i]``."""

    chunks: list[Chunk]
    vectors: faiss.Index

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[Chunk, float]]]:
        """The ``k`` most similar chunks (best first) for each row of ``queries``."""
        k = min(k, len(self.chunks))
        scores, rows = self.vectors.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return [
            [
                (self.chunks[row], float(score))
                for row, score in zip(ids, values, strict=True)
                if row >= 0
            ]
            for ids, values in zip(rows, scores, strict=True)
        ]


def embedding_text(chunk: Chunk) -> str:
    """What is embedded: the title leads, since many chunks never name their topic."""
    return f"{chunk.title}\n{chunk.text}"


def embedder_id(embedder: SentenceEmbedder) -> str:
    """Names the vectors' origin for the cache key (model folder and truncation length)."""
    return f"{embedder.tokenizer.name_or_path}|max_length={embedder.max_length}"


def build_index(chunks: Sequence[Chunk], embedder: SentenceEmbedder) -> ChunkIndex:
    vectors = embedder.encode([embedding_text(chunk) for chunk in chunks])
    index = faiss.IndexFlatIP(embedder.dim)
    index.add(vectors)
    return ChunkIndex(list(chunks), index)


def cache_key(documents: Sequence[Document], chunker: Chunker, embedder: SentenceEmbedder) -> str:
    digest = hashlib.sha256()
    for document in documents:
        digest.update(json.dumps(dataclasses.asdict(document), sort_keys=True).encode())
    inputs = {
        "format": FORMAT,
        "corpus": digest.hexdigest(),
        "chunking": dataclasses.asdict(chunker),
        "embedder": embedder_id(embedder),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def load_or_build(
    documents: Sequence[Document],
    chunker: Chunker,
    embedder: SentenceEmbedder,
    cache_dir: str | os.PathLike | None,
) -> ChunkIndex:
    """The index of ``documents``: from ``cache_dir`` when a valid cache is there, else built
    (and then cached). ``cache_dir=None`` always builds and writes nothing."""
    chunks = chunker.split_all(documents)
    if cache_dir is None:
        return build_index(chunks, embedder)
    folder = Path(cache_dir) / cache_key(documents, chunker, embedder)
    try:
        return load_index(folder, chunks)
    except FileNotFoundError:
        log.info("no RAG index cached in %s; embedding %d chunks", folder, len(chunks))
    except StaleCacheError as error:
        log.warning("RAG index cache %s is not usable (%s); rebuilding it", folder, error)
    index = build_index(chunks, embedder)
    try:
        save_index(index, folder)
    except OSError as error:
        log.warning(
            "could not write the RAG index cache %s (%s); continuing without it", folder, error
        )
    return index


def save_index(index: ChunkIndex, folder: str | os.PathLike) -> None:
    """Write the index, then the manifest that vouches for it (both atomically)."""
    folder = Path(folder)
    payload = faiss.serialize_index(index.vectors).tobytes()
    with atomic_path(folder / INDEX_FILE) as tmp:
        tmp.write_bytes(payload)
    manifest = {
        "format": FORMAT,
        "index_sha256": hashlib.sha256(payload).hexdigest(),
        "chunks": [dataclasses.asdict(chunk) for chunk in index.chunks],
    }
    with atomic_path(folder / MANIFEST_FILE) as tmp:
        tmp.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def load_index(folder: str | os.PathLike, expected: Sequence[Chunk]) -> ChunkIndex:
    """Load a cached index, checking it against the chunks it should hold.

    Raises ``FileNotFoundError`` when no manifest is there (nothing cached yet), and
    :class:`StaleCacheError` when what is cached cannot be trusted.
    """
    folder = Path(folder)
    manifest_text = (folder / MANIFEST_FILE).read_text(encoding="utf-8")
    try:
        payload = (folder / INDEX_FILE).read_bytes()
    except OSError as error:
        raise StaleCacheError(f"cannot read {INDEX_FILE}: {error}") from None
    try:
        manifest = json.loads(manifest_text)
        chunks = [Chunk(**fields) for fields in manifest["chunks"]]
        recorded_sha = manifest["index_sha256"]
    except (ValueError, KeyError, TypeError) as error:
        raise StaleCacheError(f"unreadable {MANIFEST_FILE}: {error}") from None
    if hashlib.sha256(payload).hexdigest() != recorded_sha:
        raise StaleCacheError(f"{INDEX_FILE} does not match the checksum in {MANIFEST_FILE}")
    if chunks != list(expected):
        raise StaleCacheError("cached chunks differ from the corpus")
    try:
        vectors = faiss.deserialize_index(np.frombuffer(payload, dtype=np.uint8))
    except RuntimeError as error:
        raise StaleCacheError(f"FAISS cannot read {INDEX_FILE}: {error}") from None
    if vectors.ntotal != len(chunks):
        raise StaleCacheError(f"{vectors.ntotal} vectors for {len(chunks)} chunks")
    return ChunkIndex(chunks, vectors)
