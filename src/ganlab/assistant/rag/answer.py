"""Answers from retrieved sources, with ``[n]`` citations mapped back to chunks.

The sources go into the user message as a numbered list; the system prompt keeps the
assistant's own instructions and adds the rule to answer from the sources and cite them.
:func:`closed_book` asks the same question with no sources, the baseline for the comparison.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ganlab.assistant.assistant import Assistant
from ganlab.assistant.backends.base import Completion
from ganlab.assistant.rag.chunking import WORD
from ganlab.assistant.rag.retriever import Hit, Retriever
from ganlab.errors import ConfigError

# Three wordings (this one; one with an example sentence; one adding a reminder after the
# question) gave Qwen2.5-Coder-0.5B the same correctness on six questions; this one drew the
# most citations (two of six).
RAG_INSTRUCTION = (
    "Answer the question from the numbered sources you are given. After each statement, cite "
    "the source it comes from as [n], using the source's number. If the sources do not contain "
    "the answer, say that they do not."
)

#: Words of source text per prompt. The reference topics average 1.7 tokens a word (2.6 in the
#: densest topic, integer literals) with the SmolLM2, Gemma 3 and Qwen tokenizers, so 1,200
#: words stay under ~3,100 tokens and leave room for the question and a reply in 4,096.
CONTEXT_WORDS = 1200

# "[1]", "[2, 3]", "[source 4]"; adjacent brackets ("[4][5]") are separate matches.
_CITATION = re.compile(r"\[\s*(?:sources?\s*)?(\d+(?:\s*[,;]\s*\d+)*)\s*\]", re.IGNORECASE)


@dataclass(frozen=True)
class RagPrompt:
    """The user message sent and the hits it shows, numbered 1.. in this order."""

    text: str
    sources: list[Hit]


@dataclass
class RagAnswer:
    """A reply and what it rests on; ``citations`` are source numbers (1-based), in order."""

    question: str
    reply: Completion
    prompt: str
    sources: list[Hit] = field(default_factory=list)
    citations: list[int] = field(default_factory=list)

    @property
    def cited(self) -> list[Hit]:
        return [self.sources[number - 1] for number in self.citations]


def build_prompt(
    question: str, hits: Sequence[Hit], context_words: int = CONTEXT_WORDS
) -> RagPrompt:
    """Number the hits as sources (title, then text) under a word budget; a source that does
    not fit whole is cut at a word boundary, and those after it are left out."""
    if context_words < 1:
        raise ConfigError(f"rag context_words={context_words} must be at least 1")
    blocks, shown, left = [], [], context_words
    for hit in hits:
        if left <= 0:
            break
        text, used = _first_words(hit.chunk.text, left)
        left -= used
        shown.append(hit)
        blocks.append(f"[{len(shown)}] {hit.chunk.title}\n{text}")
    sources = "\n\n".join(blocks)
    return RagPrompt(f"Sources:\n\n{sources}\n\nQuestion: {question}", shown)


def parse_citations(reply: str, n_sources: int) -> list[int]:
    """Source numbers cited in ``reply``, first mention first; numbers with no source dropped."""
    cited: list[int] = []
    for match in _CITATION.finditer(reply):
        for number in map(int, re.split(r"\s*[,;]\s*", match.group(1))):
            if 1 <= number <= n_sources and number not in cited:
                cited.append(number)
    return cited


def rag_system_prompt(assistant: Assistant) -> str:
    """The assistant's system prompt extended with the answer-from-sources rule."""
    if not assistant.system_prompt:
        return RAG_INSTRUCTION
    return f"{assistant.system_prompt}\n\n{RAG_INSTRUCTION}"


def answer_with_retrieval(
    assistant: Assistant,
    retriever: Retriever,
    question: str,
    k: int,
    context_words: int = CONTEXT_WORDS,
) -> RagAnswer:
    prompt = build_prompt(question, retriever.search(question, k), context_words)
    reply = assistant.ask(prompt.text, system_prompt=rag_system_prompt(assistant))
    return RagAnswer(
        question,
        reply,
        prompt.text,
        prompt.sources,
        parse_citations(reply.text, len(prompt.sources)),
    )


def closed_book(assistant: Assistant, question: str) -> RagAnswer:
    """The same question with no sources, asked as the assistant is configured."""
    return RagAnswer(question, assistant.ask(question), question)


def _first_words(text: str, limit: int) -> tuple[str, int]:
    """``text`` up to its ``limit``-th word (layout kept) and the number of words kept."""
    ends = [match.end() for match in WORD.finditer(text)]
    if len(ends) <= limit:
        return text, len(ends)
    return text[: ends[limit - 1]] + " …", limit
