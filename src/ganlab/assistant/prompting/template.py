"""Template-based prompting: each task has a short Jinja template wrapped around the item.

Templates live in ``data/<name>.j2`` (or a folder the config names); a task uses the template
the config maps it to, else the one named after the task, else ``default``. A template sees the
``item`` (``item.prompt``, ``item.task``, ``item.meta``) and never its gold answer: it says how to
answer, not what. Harmful and benign requests share one template on purpose: a template per
label would tell the model which requests to refuse.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from ganlab.assistant.assistant import Assistant
from ganlab.assistant.prompting.base import Prompt, PromptTechnique
from ganlab.assistant.suites.base import Item
from ganlab.errors import ConfigError

TEMPLATE_DIR = Path(__file__).parent / "data"
SUFFIX = ".j2"


class TemplateTechnique(PromptTechnique):
    """Wrap each item in its task's template; ``system_prompt`` (optional) replaces the
    assistant's."""

    name = "template"

    def __init__(
        self,
        templates: Mapping[str, str] | None = None,
        default: str = "default",
        template_dir: str | os.PathLike | None = None,
        system_prompt: str | None = None,
    ) -> None:
        self.template_dir = Path(template_dir) if template_dir else TEMPLATE_DIR
        if not self.template_dir.is_dir():
            raise ConfigError(f"prompt template folder {self.template_dir} does not exist")
        self.available = sorted(p.stem for p in self.template_dir.glob(f"*{SUFFIX}"))
        self.templates = dict(templates or {})
        for name in [default, *self.templates.values()]:
            if name not in self.available:
                raise ConfigError(
                    f"unknown prompt template {name!r}: no {name}{SUFFIX} in "
                    f"{self.template_dir}; available: {self.available}"
                )
        self.default = default
        self.system_prompt = system_prompt
        self.environment = Environment(
            loader=FileSystemLoader(self.template_dir), undefined=StrictUndefined
        )

    def template_for(self, task: str) -> str:
        if task in self.templates:
            return self.templates[task]
        return task if task in self.available else self.default

    def render(self, item: Item) -> str:
        name = self.template_for(item.task)
        try:
            return self.environment.get_template(name + SUFFIX).render(item=item).strip()
        except TemplateError as error:
            raise ConfigError(
                f"prompt template {name!r} failed on item {item.id}: {error}"
            ) from None

    def prepare(self, item: Item, assistant: Assistant) -> Prompt:
        return Prompt(
            self.render(item),
            system_prompt=self.system_prompt,
            info={"template": self.template_for(item.task)},
        )
