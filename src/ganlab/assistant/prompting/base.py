"""What every prompting technique offers, the plain baseline, and the dev/test split.

A technique only *prepares* a prompt; the base class asks the assistant and records what the
technique did per item, so every technique reports the exact prompt it sent the same way.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ganlab.assistant.assistant import Assistant
from ganlab.assistant.backends.base import Completion, Message
from ganlab.assistant.params import GenerationParams
from ganlab.assistant.suites.base import Item, Suite
from ganlab.errors import ConfigError


@dataclass(frozen=True)
class Prompt:
    """What a technique sends for one item; ``None`` keeps the assistant's own setting.

    ``info`` says what the technique did (rule fired, examples chosen, candidate used).
    """

    question: str
    history: tuple[Message, ...] = ()
    system_prompt: str | None = None
    params: GenerationParams | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """The prompt as a report shows it: the question alone when that is all the technique
        set, otherwise every message it set (system prompt if overridden, earlier turns, the
        question), each headed by its role."""
        messages = [*self.history, {"role": "user", "content": self.question}]
        if self.system_prompt is not None:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        if len(messages) == 1:
            return self.question
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


@dataclass
class TracedResponder:
    """A :data:`~ganlab.assistant.suites.base.Responder` that keeps, per item id, what its
    technique did (``trace``), for a report to read after the run."""

    respond: Callable[[Item], tuple[Completion, Prompt]]
    trace: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __call__(self, item: Item) -> tuple[Completion, str]:
        reply, prompt = self.respond(item)
        self.trace[item.id] = prompt.info
        return reply, prompt.text()


class PromptTechnique(ABC):
    """Turns an item into a prompt for an assistant; some learn from a dev split first."""

    name: str = ""

    def fit(self, items: Sequence[Item], assistant: Assistant, suite: Suite) -> None:  # noqa: B027
        """Learn from dev ``items`` (default: nothing to learn)."""

    def describe_fit(self) -> dict[str, Any]:
        """What :meth:`fit` learned, for the report (default: nothing)."""
        return {}

    @abstractmethod
    def prepare(self, item: Item, assistant: Assistant) -> Prompt:
        """The prompt this technique sends for ``item`` to ``assistant``."""

    def responder(self, assistant: Assistant) -> TracedResponder:
        def respond(item: Item) -> tuple[Completion, Prompt]:
            prompt = self.prepare(item, assistant)
            reply = assistant.ask(
                prompt.question, prompt.history, prompt.params, prompt.system_prompt
            )
            return reply, prompt

        return TracedResponder(respond)


class PlainTechnique(PromptTechnique):
    """The item's prompt as it is, the baseline: the same call as ``plain_responder``.
    ``system_prompt`` (optional) replaces the assistant's, so that selection can compare system
    prompts alone."""

    name = "plain"

    def __init__(self, system_prompt: str | None = None) -> None:
        self.system_prompt = system_prompt

    def prepare(self, item: Item, assistant: Assistant) -> Prompt:
        return Prompt(item.prompt, system_prompt=self.system_prompt)


def split_items(
    items: Sequence[Item], dev_fraction: float, seed: int
) -> tuple[list[Item], list[Item]]:
    """Split into disjoint (dev, test) lists, the same for the same seed; both keep the suite's
    order. Stratified by task, so a mixed suite's dev split holds every task that has enough
    items (round(n * dev_fraction) of each)."""
    if not 0.0 < dev_fraction < 1.0:
        raise ConfigError(f"dev_fraction={dev_fraction!r} must be between 0 and 1 (exclusive)")
    repeated = sorted(i for i, n in Counter(item.id for item in items).items() if n > 1)
    if repeated:
        raise ConfigError(f"item ids must be unique to split dev from test; repeated: {repeated}")
    by_task: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        by_task[item.task].append(index)
    rng = random.Random(seed)
    dev: set[int] = set()
    for task in sorted(by_task):
        indices = by_task[task]
        rng.shuffle(indices)
        dev.update(indices[: math.floor(len(indices) * dev_fraction + 0.5)])
    dev_items = [item for index, item in enumerate(items) if index in dev]
    test_items = [item for index, item in enumerate(items) if index not in dev]
    if not dev_items or not test_items:
        raise ConfigError(
            f"dev_fraction={dev_fraction} leaves an empty dev or test split of {len(items)} items"
        )
    return dev_items, test_items
