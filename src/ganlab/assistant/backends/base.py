"""What every backend offers: chat, raw completion, and (where possible) token log-likelihoods."""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from jinja2 import Environment, StrictUndefined

from ganlab.assistant.models import ModelSpec
from ganlab.assistant.params import GenerationParams
from ganlab.errors import ConfigError

Message = dict[str, str]
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Completion:
    """One reply with the counts a comparison needs (latency, tokens/s)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    finish_reason: str = "stop"

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else math.nan


def check_messages(messages: Sequence[Message]) -> list[Message]:
    """Reject malformed chat input with one clear line instead of a backend traceback."""
    if not messages:
        raise ConfigError("a chat needs at least one message")
    checked = []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role not in ROLES or not isinstance(content, str):
            raise ConfigError(f"bad chat message {message!r}: role must be one of {ROLES}")
        checked.append({"role": role, "content": content})
    return checked


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Trim ``text`` at the first stop string (servers and HF generate may leave it in)."""
    positions = [text.find(stop) for stop in stops if stop and stop in text]
    if not positions:
        return text, False
    return text[: min(positions)], True


class Backend(ABC):
    """A loaded model. ``chat`` renders a plain prompt itself for models without a chat template."""

    #: Whether :meth:`token_logprobs` works (perplexity needs it).
    can_score = False

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self._prompt_template = None
        if not spec.chat_template:
            if not spec.prompt_format:
                raise ConfigError(f"model {spec.name} has no chat template and no prompt_format")
            environment = Environment(undefined=StrictUndefined, keep_trailing_newline=True)
            self._prompt_template = environment.from_string(spec.prompt_format)

    def chat(self, messages: Sequence[Message], params: GenerationParams) -> Completion:
        messages = check_messages(messages)
        params = params.replace(stop=(*params.stop, *self.spec.extra_stop))
        started = time.perf_counter()
        if self._prompt_template is None:
            text, prompt_tokens, completion_tokens, reason = self._chat(messages, params)
        else:
            prompt = self._prompt_template.render(messages=messages)
            text, prompt_tokens, completion_tokens, reason = self._complete(prompt, params)
        return Completion(
            text.strip(), prompt_tokens, completion_tokens, time.perf_counter() - started, reason
        )

    def complete(self, prompt: str, params: GenerationParams) -> Completion:
        """Continue ``prompt`` verbatim (no template): for base models and scoring prompts."""
        started = time.perf_counter()
        text, prompt_tokens, completion_tokens, reason = self._complete(prompt, params)
        return Completion(
            text, prompt_tokens, completion_tokens, time.perf_counter() - started, reason
        )

    def token_logprobs(self, text: str) -> list[float]:
        """Natural-log probability of each token of ``text`` after the first, under this model."""
        raise ConfigError(f"{type(self).__name__} cannot score text; use a local backend")

    def close(self) -> None:  # noqa: B027 - most backends have nothing to free
        """Free the model (and any server connection)."""

    @abstractmethod
    def _chat(self, messages: list[Message], params: GenerationParams) -> tuple[str, int, int, str]:
        """Reply with the model's own chat template: (text, prompt tokens, reply tokens, reason)."""

    @abstractmethod
    def _complete(self, prompt: str, params: GenerationParams) -> tuple[str, int, int, str]:
        """Continue a raw prompt: (text, prompt tokens, reply tokens, finish reason)."""
