"""RAG: chunking invariants, corpus loaders, the index cache, retrieval quality on the labelled
questions, citations, the metrics of the study, and one real SmolLM2 answer with sources.

Embedding the whole pydoc corpus (881 chunks) takes 40-100 s on two shared cores, so it happens
once per session, into a temporary cache.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from pydoc_data.topics import topics

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ganlab.assistant.backends.base import Completion
from ganlab.assistant.rag import index as rag_index
from ganlab.assistant.rag.answer import RAG_INSTRUCTION, build_prompt, parse_citations
from ganlab.assistant.rag.chunking import Chunk, Chunker
from ganlab.assistant.rag.corpus import Document, folder_corpus, load_corpus, pydoc_topics
from ganlab.assistant.rag.evaluation import (
    Question,
    RagConfig,
    build_retriever,
    evaluate_rag,
    keyword_correct,
    load_questions,
    retrieval_only,
)
from ganlab.assistant.rag.index import INDEX_FILE, MANIFEST_FILE, cache_key, load_or_build
from ganlab.assistant.rag.retriever import Hit, Retriever
from ganlab.errors import ConfigError, DataFileError
from tests.helpers import REAL_DATA_DIR

CONFIG = Path(__file__).parents[2] / "src" / "ganlab" / "configs" / "rag" / "default.yaml"

# A small corpus on unrelated subjects: the right document must come first for each query.
TINY = {
    "volcanoes.md": "# Volcanoes\nMagma climbs through cracks in the crust and leaves the vent "
    "as lava, ash and gas. Basalt is the dark rock that lava makes when it cools fast.",
    "bread.md": "# Baking bread\nYeast feeds on the sugars in the dough and gives off carbon "
    "dioxide, which lifts the loaf. Kneading builds the gluten that traps the gas.",
    "tides.txt": "The pull of the Moon's gravity heaps the oceans into two bulges on opposite "
    "sides of the Earth, so most shores get two high tides every day.",
    "chess/openings.md": "# Chess openings\nCastling moves the king two squares towards a "
    "rook, which then jumps to the king's other side. The Sicilian meets 1.e4 with the c-pawn.",
}
TINY_QUERIES = {
    "Why does dough rise when it is left to prove?": "bread.md",
    "What makes the sea reach high water twice a day?": "tides.txt",
    "How does basalt form during an eruption?": "volcanoes.md",
    "How does a player castle in chess?": "chess/openings.md",
}


def write_corpus(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def tiny_retriever(embedder, tmp_path_factory) -> Retriever:
    folder = write_corpus(tmp_path_factory.mktemp("tiny_corpus"), TINY)
    return Retriever(
        load_or_build(folder_corpus(folder), Chunker(40, 10), embedder, None), embedder
    )


@pytest.fixture(scope="session")
def pydoc_retriever(embedder, tmp_path_factory) -> Retriever:
    """The default configuration over the real corpus, from the index cache under the data
    folder (keyed by a hash of the corpus, chunker and embedder, so it is rebuilt whenever any
    of them changes; `make assistant-setup` builds it)."""
    return build_retriever(RagConfig(cache_dir=str(REAL_DATA_DIR / "rag_cache")), embedder)


# --- chunking -------------------------------------------------------------------------------


def paragraphs_document(lengths: list[int]) -> Document:
    """Paragraphs of the given word counts, words numbered so that each is unique."""
    counter = iter(range(10_000))
    text = "\n\n".join(" ".join(f"w{next(counter)}" for _ in range(n)) for n in lengths)
    return Document("doc", "Numbered words", text, "test")


def check_chunks(document: Document, chunker: Chunker) -> list[Chunk]:
    words = document.text.split()
    chunks = chunker.split(document)
    assert len({c.id for c in chunks}) == len(chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(words)
    covered = set()
    for chunk in chunks:
        assert chunk.text.strip() and 0 < chunk.end - chunk.start <= chunker.size
        assert chunk.text.split() == words[chunk.start : chunk.end]
        covered.update(range(chunk.start, chunk.end))
    assert covered == set(range(len(words)))
    for before, after in itertools.pairwise(chunks):
        assert before.end - after.start == chunker.overlap
        assert after.start > before.start
    return chunks


@pytest.mark.parametrize(("size", "overlap"), [(10, 3), (10, 0), (1, 0), (7, 6), (500, 50)])
def test_chunks_cover_every_word_with_the_given_overlap(size, overlap):
    check_chunks(paragraphs_document([3, 12, 1, 25, 4, 9, 2]), Chunker(size, overlap))


def test_chunks_of_the_reference_topics_keep_the_invariants():
    chunker = Chunker()
    chunks = [c for document in pydoc_topics() for c in check_chunks(document, chunker)]
    assert len({c.id for c in chunks}) == len(chunks)


def test_a_chunk_ends_at_a_paragraph_break_in_the_second_half_of_its_window():
    chunks = check_chunks(paragraphs_document([7, 7, 7]), Chunker(10, 2))
    # Breaks before words 7 and 14: the first window (0..10) ends at 7, not mid-paragraph.
    assert [(c.start, c.end) for c in chunks] == [(0, 7), (5, 14), (12, 21)]


@pytest.mark.parametrize(
    ("size", "overlap"), [(0, 0), (10, 10), (10, 12), (10, -1), (10.5, 2), (True, 0)]
)
def test_bad_chunk_sizes_are_config_errors(size, overlap):
    with pytest.raises(ConfigError, match="chunk_"):
        Chunker(size, overlap)


# --- corpora --------------------------------------------------------------------------------


def test_folder_corpus_reads_md_and_txt_recursively(tmp_path):
    write_corpus(tmp_path, {**TINY, "empty.md": " \n", "notes.py": "x = 1"})
    documents = {d.id: d for d in load_corpus(tmp_path)}
    assert sorted(documents) == sorted(TINY)
    assert documents["bread.md"].title == "Baking bread"
    assert documents["tides.txt"].title == "tides"
    assert documents["chess/openings.md"].text == TINY["chess/openings.md"]


def test_missing_or_empty_corpus_folders_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError) as missing:
        load_corpus(tmp_path / "nowhere")
    assert "nowhere" in str(missing.value) and "\n" not in str(missing.value)
    with pytest.raises(DataFileError, match="no non-empty"):
        load_corpus(write_corpus(tmp_path / "empty", {"a.md": "\n\n", "b.csv": "1,2"}))
    with pytest.raises(DataFileError, match="not UTF-8"):
        (tmp_path / "latin").mkdir()
        (tmp_path / "latin" / "a.txt").write_bytes("caf\xe9".encode("latin-1"))
        load_corpus(tmp_path / "latin")


def test_pydoc_corpus_is_the_reference_topics():
    documents = load_corpus("pydoc_topics")
    assert {d.id for d in documents} == set(topics)
    assert next(d for d in documents if d.id == "assert").title == 'The "assert" statement'


# --- index cache ----------------------------------------------------------------------------


def ranked(retriever: Retriever) -> list[list[tuple[str, float]]]:
    found = retriever.search_many(list(TINY_QUERIES), 3)
    return [[(hit.chunk.id, hit.score) for hit in hits] for hits in found]


def test_index_cache_round_trip_and_corrupt_files_rebuilt(embedder, tmp_path, monkeypatch, caplog):
    documents = folder_corpus(write_corpus(tmp_path / "corpus", TINY))
    chunker = Chunker(40, 10)
    cache = tmp_path / "cache"
    built = ranked(Retriever(load_or_build(documents, chunker, embedder, cache), embedder))
    folder = cache / cache_key(documents, chunker, embedder)
    assert (folder / INDEX_FILE).is_file() and (folder / MANIFEST_FILE).is_file()

    real_build = rag_index.build_index

    def must_not_build(*args):
        raise AssertionError("the valid cache should have been loaded")

    monkeypatch.setattr(rag_index, "build_index", must_not_build)
    assert ranked(Retriever(load_or_build(documents, chunker, embedder, cache), embedder)) == built

    monkeypatch.setattr(rag_index, "build_index", real_build)
    for damaged, damage in [(INDEX_FILE, b"\x00garbage"), (MANIFEST_FILE, b'{"format": 1, "ch')]:
        (folder / damaged).write_bytes(damage)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=rag_index.__name__):
            rebuilt = load_or_build(documents, chunker, embedder, cache)
        assert "rebuilding" in caplog.text
        assert ranked(Retriever(rebuilt, embedder)) == built
    # The rebuilt cache is whole again, and other chunking does not reuse it.
    monkeypatch.setattr(rag_index, "build_index", must_not_build)
    load_or_build(documents, chunker, embedder, cache)
    assert cache_key(documents, Chunker(40, 5), embedder) != folder.name


# --- retrieval ------------------------------------------------------------------------------


def test_tiny_corpus_ranks_the_right_document_first(tiny_retriever):
    for query, doc_id in TINY_QUERIES.items():
        hits = tiny_retriever.search(query, 2)
        assert hits[0].chunk.doc_id == doc_id, query
        assert [h.rank for h in hits] == [1, 2] and hits[0].score >= hits[1].score


def test_search_rejects_bad_k_and_empty_queries(tiny_retriever):
    for k in (0, -1, 2.5):
        with pytest.raises(ConfigError, match="k="):
            tiny_retriever.search("bread", k)
    with pytest.raises(ConfigError, match="empty"):
        tiny_retriever.search("  ", 1)
    assert len(tiny_retriever.search("bread", 50)) == len(tiny_retriever.index.chunks)


def test_labelled_questions_are_answered_by_their_gold_topics():
    questions = load_questions()
    assert len(questions) >= 25 and len({q.id for q in questions}) == len(questions)
    for question in questions:
        assert set(question.gold) <= set(topics), question.id
        for key in question.gold:
            assert keyword_correct(topics[key], question.answers), (question.id, key)
        # Otherwise a reply that merely repeats the question would count as correct.
        assert not keyword_correct(question.question, question.answers), question.id


@pytest.mark.parametrize(
    "line",
    [
        '{"id": "a", "question": "Q?", "gold": "assert", "answers": ["x"]}',
        '{"id": "a", "question": "Q?", "gold": ["assert"], "answers": []}',
        '{"id": "a", "question": "Q?", "gold": ["assert"]}',
        '{"id": "a", "question": ',
    ],
)
def test_malformed_question_files_name_the_line(tmp_path, line):
    path = tmp_path / "questions.jsonl"
    path.write_text('{"id": "ok", "question": "Q?", "gold": ["pass"], "answers": ["x"]}\n' + line)
    with pytest.raises(DataFileError, match=r"questions\.jsonl:2: "):
        load_questions(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_questions(tmp_path / "missing.jsonl")


def test_retrieval_recall_on_the_labelled_questions(pydoc_retriever):
    metrics = retrieval_only(pydoc_retriever, load_questions(), (1, 3, 5))
    # Measured with the default config: recall@1 0.81, @3 0.97, @5 1.00, MRR@5 0.89 on 36
    # questions. 0.8 leaves room for 7 misses: another torch build's rounding, or another
    # CPython's edited topics, can move near-ties but should not lose a fifth of the set.
    assert metrics["recall@5"] >= 0.8
    assert metrics["recall@1"] <= metrics["recall@3"] <= metrics["recall@5"]
    assert metrics["recall@1"] <= metrics["mrr@5"] <= metrics["recall@5"]
    assert metrics["n_questions"] == len(load_questions())


def test_rag_config_composes_and_builds_a_cached_retriever(embedder, tmp_path):
    cfg = OmegaConf.create({"paths": {"data_dir": str(tmp_path)}, "rag": OmegaConf.load(CONFIG)})
    settings = instantiate(cfg.rag)
    assert settings == RagConfig.from_mapping(cfg.rag)
    assert settings.cache_dir == f"{tmp_path}/rag_cache" and settings.corpus == "pydoc_topics"
    cfg.rag.corpus = str(write_corpus(tmp_path / "corpus", TINY))
    cfg.rag.chunk_size = 40
    retriever = build_retriever(cfg.rag, embedder)
    assert retriever.search("How does a player castle in chess?", 1)[0].chunk.doc_id == (
        "chess/openings.md"
    )
    assert len(list((tmp_path / "rag_cache").glob(f"*/{MANIFEST_FILE}"))) == 1
    with pytest.raises(ConfigError, match="unknown rag setting"):
        RagConfig.from_mapping({"chunk_sise": 10})
    with pytest.raises(ConfigError, match="chunk_overlap"):
        RagConfig(chunk_size=20, chunk_overlap=30)
    with pytest.raises(ConfigError, match=r"rag\.k=0"):
        RagConfig(k=0)
    with pytest.raises(ConfigError, match="recall_ks"):
        RagConfig(recall_ks=[])


# --- prompts and citations ------------------------------------------------------------------


def test_parse_citations():
    assert parse_citations("Yes [1].", 3) == [1]
    assert parse_citations("See [2, 3] and [1]", 3) == [2, 3, 1]
    assert parse_citations("Both [4][5], again [4]", 5) == [4, 5]
    assert parse_citations("Out of range [0] [6] [2, 9]", 5) == [2]
    assert parse_citations("[Source 2] says so", 3) == [2]
    assert parse_citations("No citation, a list [a] or x[1:2]", 3) == []


def test_prompt_numbers_sources_within_the_word_budget():
    def hit(number: int, words: int) -> Hit:
        text = " ".join(f"s{number}w{i}" for i in range(words))
        return Hit(
            Chunk(f"d{number}#0", f"d{number}", f"Title {number}", text, 0, words), 0.5, number
        )

    prompt = build_prompt("What?", [hit(1, 30), hit(2, 30), hit(3, 30)], context_words=45)
    assert [h.chunk.doc_id for h in prompt.sources] == ["d1", "d2"]
    assert prompt.text.startswith("Sources:\n\n[1] Title 1\ns1w0 ")
    assert "[2] Title 2\ns2w0" in prompt.text and "s2w14 …" in prompt.text
    assert "s2w15" not in prompt.text and "Title 3" not in prompt.text
    assert prompt.text.endswith("Question: What?")
    with pytest.raises(ConfigError, match="context_words"):
        build_prompt("What?", [hit(1, 3)], context_words=0)


def test_keyword_correct_matches_whole_words_only():
    assert keyword_correct("It raises an AssertionError.", ["AssertionError"])
    assert keyword_correct("Use  `__enter__()` first", ["__enter__"])
    assert keyword_correct("the value is NONE here", ["None"])
    assert not keyword_correct("It raises a ValueError.", ["AssertionError"])
    assert not keyword_correct("a jar of jam", ["j"])
    assert not keyword_correct("nonetheless", ["None"])


# --- the study ------------------------------------------------------------------------------


@dataclass
class SourceEcho:
    """Stands in for an assistant: with sources it repeats source 1 and cites [1] (and a
    source that does not exist, [7]); closed-book it does not know."""

    system_prompt: str = "Be brief."
    name: str = "echo"
    calls: list[tuple[str, str | None]] = field(default_factory=list)

    def ask(self, question, history=(), params=None, system_prompt=None) -> Completion:
        self.calls.append((question, system_prompt))
        if question.startswith("Sources:"):
            return Completion(question.split("\n\n")[1] + " [1] [7]", 50, 10, 0.5)
        return Completion("I do not know.", 10, 4, 0.1)


def test_evaluate_rag_scores_answers_citations_and_latency(tiny_retriever):
    questions = [
        Question(
            "bread", "Why does dough rise when it is left to prove?", ("bread.md",), ("yeast",)
        ),
        Question(
            "basalt", "How does basalt form during an eruption?", ("volcanoes.md",), ("lava",)
        ),
        # Labelled with the wrong document on purpose: its citation is not precise.
        Question(
            "tides", "What makes the sea reach high water twice a day?", ("bread.md",), ("moon",)
        ),
    ]
    assistant = SourceEcho()
    report = evaluate_rag(assistant, tiny_retriever, questions, k=1)
    assert report.metrics == pytest.approx(
        {
            "correct_rag": 1.0,
            "correct_closed": 0.0,
            "gold_in_sources": 2 / 3,
            "citation_precision": 2 / 3,
            "n_with_citations": 3.0,
            "latency_rag_s": 0.5,
            "latency_closed_s": 0.1,
            "n_questions": 3.0,
        }
    )
    assert len(assistant.calls) == 6
    assert assistant.calls[0][1] == f"Be brief.\n\n{RAG_INSTRUCTION}"
    assert assistant.calls[1] == (questions[0].question, None)
    example = report.examples[2]
    assert example["retrieved_docs"] == ["tides.txt"] and example["citations"] == [1]
    assert example["cited_docs"] == ["tides.txt"] and example["reply_closed"] == "I do not know."
    assert (
        evaluate_rag(SourceEcho(), tiny_retriever, questions, k=1, limit=1).metrics["n_questions"]
        == 1.0
    )


def test_smollm2_answers_with_retrieved_sources(smollm2_assistant, pydoc_retriever, monkeypatch):
    sent = []
    backend = smollm2_assistant.backend
    chat = backend.chat

    def recording_chat(messages, params):
        sent.append(messages)
        return chat(messages, params)

    monkeypatch.setattr(backend, "chat", recording_chat)
    question = next(q for q in load_questions() if q.id == "assert-error")
    report = evaluate_rag(smollm2_assistant, pydoc_retriever, [question], k=2)

    (example,) = report.examples
    with_sources, closed = sent
    assert with_sources[0] == {
        "role": "system",
        "content": f"{smollm2_assistant.system_prompt}\n\n{RAG_INSTRUCTION}",
    }
    prompt = with_sources[-1]["content"]
    assert len(example["retrieved_titles"]) == 2
    for number, title in enumerate(example["retrieved_titles"], start=1):
        assert f"[{number}] {title}\n" in prompt
    assert prompt.endswith(f"Question: {question.question}")
    assert closed[-1] == {"role": "user", "content": question.question}
    assert "Sources:" not in str(closed)
    assert isinstance(example["reply_rag"], str) and isinstance(example["reply_closed"], str)
    assert set(example["citations"]) <= {1, 2}
    assert set(report.metrics) >= {"correct_rag", "correct_closed", "citation_precision"}
    assert report.metrics["latency_rag_s"] > 0 and report.metrics["n_questions"] == 1.0
    # Exactly the prompt built from this question's top-2 chunks, nothing else.
    assert (
        prompt == build_prompt(question.question, pydoc_retriever.search(question.question, 2)).text
    )
