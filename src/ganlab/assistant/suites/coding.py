"""Small Python functions, checked by running the model's code against asserts in the sandbox.

Each task names the function and its signature and asks for the code only. The reply's code is
pulled out of it (:func:`~ganlab.assistant.scoring.sandbox.extract_code`), trimmed to its
imports and definitions (:func:`~ganlab.assistant.scoring.sandbox.keep_definitions`: a model's
own self-check with a wrong expectation must not fail a correct function) and scored 1 when
all asserts pass, 0 otherwise. Each task stores a reference solution, which the tests run too.
"""

from __future__ import annotations

from collections.abc import Sequence

from ganlab.assistant.scoring.sandbox import Limits, extract_code, keep_definitions, run_python
from ganlab.assistant.suites.base import Item, ItemResult, Score, Suite
from ganlab.assistant.suites.item_files import read_records
from ganlab.errors import DataFileError

TASK_KEYS = ("function", "signature", "description", "reference", "tests")


class CodingSuite(Suite):
    name = "coding"
    description = "small Python functions run against asserts in a sandbox (1 if all pass)"

    def __init__(self, wall_s: float = 10.0, cpu_s: int = 5, memory_mb: int = 512) -> None:
        self.limits = Limits(wall_s=wall_s, cpu_s=cpu_s, memory_mb=memory_mb)

    def items(self) -> list[Item]:
        items = []
        for record in read_records("coding.jsonl"):
            missing = [key for key in TASK_KEYS if key not in record]
            if missing:
                raise DataFileError(f"coding.jsonl: task {record['id']!r} lacks {missing}")
            items.append(
                Item(
                    id=record["id"],
                    prompt=(
                        f"Write a Python function `{record['signature']}` that "
                        f"{record['description']} Return only the code."
                    ),
                    gold="\n".join(record["tests"]) + "\n",
                    task="coding",
                    meta={
                        "function": record["function"],
                        "signature": record["signature"],
                        "reference_answer": f"```python\n{record['reference']}```",
                    },
                )
            )
        return items

    def score(self, item: Item, reply: str) -> Score:
        result = run_python(keep_definitions(extract_code(reply)), item.gold, self.limits)
        details = {"status": result.status, "error_kind": result.error_kind}
        if result.message:
            details["message"] = result.message
        return Score(float(result.passed), details)

    def aggregate(self, results: Sequence[ItemResult]) -> dict[str, float]:
        """How failures split: code that does not even run (syntax or other errors, timeouts)
        versus code that runs but gives wrong answers."""
        if not results:
            return {}
        statuses = [r.score.details.get("status") for r in results]
        return {
            "wrong_answer_share": statuses.count("failed") / len(results),
            "broken_code_share": sum(s not in ("passed", "failed") for s in statuses)
            / len(results),
        }
