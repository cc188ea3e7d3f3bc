"""An assistant = a system prompt + a model behind a backend + its generation parameters."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from ganlab.assistant.backends.base import Backend, Completion, Message
from ganlab.assistant.models import ModelSpec
from ganlab.assistant.params import GenerationParams
from ganlab.assistant.suites.base import Item, Responder
from ganlab.errors import ConfigError
from ganlab.utils.config import instantiate_partial


@dataclass
class Assistant:
    """Answers questions; everything that shapes a reply is a field, so runs are comparable."""

    name: str
    system_prompt: str
    backend: Backend
    params: GenerationParams

    @property
    def model(self) -> ModelSpec:
        return self.backend.spec

    def messages(
        self, question: str, history: Sequence[Message] = (), system_prompt: str | None = None
    ) -> list[Message]:
        system = self.system_prompt if system_prompt is None else system_prompt
        head = [{"role": "system", "content": system}] if system else []
        return [*head, *history, {"role": "user", "content": question}]

    def ask(
        self,
        question: str,
        history: Sequence[Message] = (),
        params: GenerationParams | None = None,
        system_prompt: str | None = None,
    ) -> Completion:
        """One reply to ``question`` (after ``history``), with this assistant's settings unless
        ``params`` / ``system_prompt`` override them for this call."""
        return self.backend.chat(
            self.messages(question, history, system_prompt), params or self.params
        )


def build_assistants(
    assistant_cfgs: Mapping[str, Any],
    backend_cfg: DictConfig,
    models_dir: str | os.PathLike | None = None,
) -> dict[str, Assistant]:
    """Instantiate assistants, loading each model once even when several assistants share it."""
    if not assistant_cfgs:
        raise ConfigError("no assistants configured (assistants=...)")
    make_backend = instantiate_partial(backend_cfg, "backend")
    backends: dict[str, Backend] = {}
    assistants = {}
    # Parameters first: a typo must fail before any model is loaded.
    params = {
        key: GenerationParams.from_mapping(cfg.get("generation"))
        for key, cfg in assistant_cfgs.items()
    }
    for key, cfg in assistant_cfgs.items():
        spec = ModelSpec.from_mapping(cfg["model"])
        if spec.name not in backends:
            backends[spec.name] = make_backend(spec=spec, models_dir=models_dir)
        assistants[key] = Assistant(
            name=cfg.get("name", key),
            system_prompt=cfg.get("system_prompt", "") or "",
            backend=backends[spec.name],
            params=params[key],
        )
    return assistants


def close_all(assistants: Mapping[str, Assistant]) -> None:
    """Close each distinct backend once."""
    for backend in {id(a.backend): a.backend for a in assistants.values()}.values():
        backend.close()


def plain_responder(assistant: Assistant) -> Responder:
    """Ask the item's prompt as it is: the baseline every prompting technique is compared with."""

    def respond(item: Item) -> tuple[Completion, str]:
        return assistant.ask(item.prompt), item.prompt

    return respond
