"""Documents to retrieve from: CPython's bundled reference topics, or a folder of text files.

``pydoc_data.topics`` ships with every CPython (it backs ``help("assert")``), so the default
corpus needs no download and its content is pinned by the interpreter version.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ganlab.errors import ConfigError, DataFileError

#: The ``corpus`` value that selects CPython's reference topics instead of a folder.
PYDOC_TOPICS = "pydoc_topics"
FOLDER_SUFFIXES = (".txt", ".md")

_MARKDOWN_HEADING = re.compile(r"^#+\s*")


@dataclass(frozen=True)
class Document:
    """One retrievable text; ``id`` is unique within its corpus and names it in citations."""

    id: str
    title: str
    text: str
    source: str


def load_corpus(source: str | os.PathLike = PYDOC_TOPICS) -> list[Document]:
    """The corpus named by a config value: ``pydoc_topics`` or a folder path."""
    if str(source) == PYDOC_TOPICS:
        return pydoc_topics()
    return folder_corpus(source)


def pydoc_topics() -> list[Document]:
    """The language-reference topics that ``help()`` shows (79 in 3.11), titled by their heading."""
    from pydoc_data.topics import topics

    return [
        Document(id=key, title=_first_line(text) or key, text=text, source="pydoc_data.topics")
        for key, text in sorted(topics.items())
        if text.strip()
    ]


def folder_corpus(folder: str | os.PathLike) -> list[Document]:
    """Every ``.txt`` / ``.md`` file under ``folder`` (recursively); id = path relative to it.

    The title is a leading Markdown heading where there is one, else the file name.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ConfigError(
            f"rag corpus folder {root} does not exist; "
            f"give a folder of .txt/.md files or corpus={PYDOC_TOPICS}"
        )
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in FOLDER_SUFFIXES)
    documents = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DataFileError(f"rag corpus file {path} is not UTF-8 text") from None
        if text.strip():
            first = _first_line(text)
            heading = _MARKDOWN_HEADING.sub("", first) if first.startswith("#") else ""
            documents.append(
                Document(
                    id=path.relative_to(root).as_posix(),
                    title=heading or path.stem,
                    text=text,
                    source=str(path),
                )
            )
    if not documents:
        raise DataFileError(f"rag corpus folder {root} has no non-empty .txt or .md file")
    return documents


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
