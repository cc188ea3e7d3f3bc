"""Rule-based prompting: rules read the user's text, guess the task, and shape the request.

Each rule is a regular expression over the prompt (never ``item.task``: a rule must work on
what a user actually typed) and what to do when it matches: append an instruction, replace the
system prompt, change generation parameters. Rules are tried in order and the first match
fires, so a specific rule (NLI) goes before a loose one (arithmetic). Which rule fired is in
``Prompt.info`` and so in the responder's trace.

The shipped rules (configs/prompting/rules.yaml) have no rule for harmful-looking requests:
keywords cannot tell "how do I kill a hung process" from a threat, and a refusal instruction on
a small model is obeyed on both, so such a rule buys over-refusal on benign look-alikes. Safety
stays with the assistant's system prompt.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ganlab.assistant.assistant import Assistant
from ganlab.assistant.params import GenerationParams
from ganlab.assistant.prompting.base import Prompt, PromptTechnique
from ganlab.assistant.suites.base import Item
from ganlab.errors import ConfigError


@dataclass(frozen=True)
class Rule:
    """When ``pattern`` matches the prompt (case-insensitive): append ``instruction``, use
    ``system_prompt`` if set, and apply ``params`` (whose ``stop`` strings are added to the
    assistant's; every other parameter replaces the assistant's value)."""

    name: str
    pattern: str
    instruction: str = ""
    system_prompt: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "regex", re.compile(self.pattern, re.IGNORECASE))
        except re.error as error:
            raise ConfigError(
                f"rule {self.name!r}: bad pattern {self.pattern!r}: {error}"
            ) from None
        try:
            GenerationParams.from_mapping(self.params)
        except ConfigError as error:
            raise ConfigError(f"rule {self.name!r}: {error}") from None

    def matches(self, text: str) -> bool:
        return self.regex.search(text) is not None

    def apply_params(self, params: GenerationParams) -> GenerationParams:
        changes = dict(self.params)
        if "stop" in changes:
            changes["stop"] = (*params.stop, *changes["stop"])
        return params.replace(**changes)


def build_rule(values: Mapping[str, Any]) -> Rule:
    """A rule from a config mapping, naming any key that is not a rule field."""
    known = {f.name for f in dataclasses.fields(Rule) if f.init}
    unknown = sorted(set(values) - known)
    if unknown or "name" not in values or "pattern" not in values:
        raise ConfigError(
            f"bad prompting rule {dict(values)!r}: needs name and pattern; "
            f"unknown key(s) {unknown}; known: {sorted(known)}"
        )
    return Rule(**values)


class RuleTechnique(PromptTechnique):
    """Apply the first rule whose pattern matches the prompt; no match leaves it as it is."""

    name = "rules"

    def __init__(self, rules: Sequence[Mapping[str, Any] | Rule]) -> None:
        self.rules = [r if isinstance(r, Rule) else build_rule(r) for r in rules]
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise ConfigError(f"prompting rule names must be unique: {names}")

    def detect(self, text: str) -> Rule | None:
        """The first rule whose pattern matches ``text``."""
        return next((rule for rule in self.rules if rule.matches(text)), None)

    def prepare(self, item: Item, assistant: Assistant) -> Prompt:
        rule = self.detect(item.prompt)
        if rule is None:
            return Prompt(item.prompt, info={"rule": None})
        question = f"{item.prompt}\n\n{rule.instruction}" if rule.instruction else item.prompt
        return Prompt(
            question,
            system_prompt=rule.system_prompt,
            params=rule.apply_params(assistant.params),
            info={"rule": rule.name, "params": dict(rule.params)},
        )
