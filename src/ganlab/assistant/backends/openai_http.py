"""Any OpenAI-compatible server: llama.cpp's server, vLLM, TGI, Ollama, HF Inference endpoints.

The request carries the standard OpenAI fields; llama.cpp-style extras (top_k, min_p,
repeat_penalty) go along too unless ``send_extra_params`` is off for strict servers.
"""

from __future__ import annotations

import os

import httpx

from ganlab.assistant.backends.base import Backend, Message
from ganlab.assistant.models import ModelSpec
from ganlab.assistant.params import GenerationParams
from ganlab.errors import ConfigError, GanLabError


class ServerError(GanLabError):
    """The server could not be reached or answered with an error."""


class OpenAIHTTPBackend(Backend):
    """Chat and completions over HTTP; the API key is read from an environment variable."""

    def __init__(
        self,
        spec: ModelSpec,
        base_url: str,
        served_model: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 120.0,
        send_extra_params: bool = True,
        models_dir: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(spec)
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"backend.base_url={base_url!r} must start with http:// or https://")
        headers = {}
        if os.environ.get(api_key_env):
            headers["Authorization"] = f"Bearer {os.environ[api_key_env]}"
        self.base_url = base_url.rstrip("/")
        self.served_model = served_model or spec.name
        self.send_extra_params = send_extra_params
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    def _body(self, params: GenerationParams) -> dict:
        body = dict(
            model=self.served_model,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            presence_penalty=params.presence_penalty,
            frequency_penalty=params.frequency_penalty,
        )
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if self.send_extra_params:
            body.update(
                top_k=params.top_k, min_p=params.min_p, repeat_penalty=params.repeat_penalty
            )
        return body

    def _post(self, route: str, body: dict) -> dict:
        try:
            response = self.client.post(route, json=body)
        except httpx.HTTPError as error:
            raise ServerError(f"cannot reach {self.base_url}{route}: {error}") from None
        if response.status_code != 200:
            raise ServerError(
                f"{self.base_url}{route} answered {response.status_code}: {response.text[:200]}"
            )
        return response.json()

    @staticmethod
    def _usage(reply: dict) -> tuple[int, int]:
        usage = reply.get("usage") or {}
        return int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))

    def _chat(self, messages: list[Message], params: GenerationParams) -> tuple[str, int, int, str]:
        reply = self._post("/v1/chat/completions", {**self._body(params), "messages": messages})
        choice = reply["choices"][0]
        return (
            choice["message"].get("content") or "",
            *self._usage(reply),
            choice.get("finish_reason") or "stop",
        )

    def _complete(self, prompt: str, params: GenerationParams) -> tuple[str, int, int, str]:
        reply = self._post("/v1/completions", {**self._body(params), "prompt": prompt})
        choice = reply["choices"][0]
        return choice.get("text") or "", *self._usage(reply), choice.get("finish_reason") or "stop"

    def close(self) -> None:
        self.client.close()
