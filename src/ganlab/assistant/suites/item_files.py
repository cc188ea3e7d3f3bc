"""Reading a suite's items from its JSON-lines file under ``suites/data/`` (shipped as package
data), with errors that name the file and line instead of a bare KeyError later on."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from ganlab.assistant.suites.base import Item
from ganlab.errors import DataFileError

ITEM_KEYS = {"id", "prompt", "gold", "task", "meta"}


@cache
def read_records(filename: str) -> tuple[dict[str, Any], ...]:
    """The records of ``suites/data/<filename>``, in file order; every one has a unique "id"."""
    resource = files("ganlab.assistant.suites").joinpath("data", filename)
    try:
        lines = resource.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataFileError(f"suite data file {filename} is missing from the package") from None
    records, seen = [], set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataFileError(f"{filename}:{number}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict) or "id" not in record:
            raise DataFileError(f"{filename}:{number}: each line must be an object with an 'id'")
        if record["id"] in seen:
            raise DataFileError(f"{filename}:{number}: duplicate id {record['id']!r}")
        seen.add(record["id"])
        records.append(record)
    return tuple(records)


def load_items(filename: str) -> list[Item]:
    """Items stored whole, one ``Item`` per line (keys: id, prompt, gold, task, meta)."""
    items = []
    for record in read_records(filename):
        unknown = set(record) - ITEM_KEYS
        if unknown or "prompt" not in record:
            raise DataFileError(
                f"{filename}: item {record['id']!r} needs a 'prompt' and only {sorted(ITEM_KEYS)}"
                f" (unexpected: {sorted(unknown)})"
            )
        items.append(Item(**{**record, "meta": dict(record.get("meta", {}))}))
    return items
