"""llama.cpp in-process (llama-cpp-python): the fast local backend for GGUF files.

Thread count matters on small machines: with 2 cores, 2 threads collapse as soon as anything
else runs, 1 thread does not, hence ``n_threads: 1`` by default (configs/backend/llama_cpp.yaml).
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

from ganlab.assistant.backends.base import Backend, Message
from ganlab.assistant.models import ModelSpec, verified_path
from ganlab.assistant.params import GenerationParams
from ganlab.errors import ConfigError

if TYPE_CHECKING:
    from llama_cpp import Llama


def _import_llama():
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ConfigError(
            "llama-cpp-python is not installed: run `make assistant-setup` "
            "(or pick backend=transformers)"
        ) from None
    return Llama


class LlamaCppBackend(Backend):
    """Generation with the sampler chain of llama.cpp; the KV cache is reset per call, so a fixed
    seed gives the same reply whatever ran before."""

    can_score = True

    def __init__(
        self,
        spec: ModelSpec,
        models_dir: str | os.PathLike | None = None,
        n_ctx: int = 4096,
        n_threads: int = 1,
        n_batch: int = 512,
    ) -> None:
        super().__init__(spec)
        if n_threads < 1 or n_ctx < 64 or n_batch < 1:
            raise ConfigError("backend.n_threads/n_batch must be >= 1 and backend.n_ctx >= 64")
        self.model_path = verified_path(spec, models_dir)
        self._options = dict(
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            n_batch=n_batch,
            verbose=False,
        )
        self.llm = _import_llama()(model_path=str(self.model_path), **self._options)
        self._scorer: Llama | None = None

    def _sampling(self, params: GenerationParams) -> dict:
        seed = params.seed if params.seed is not None else random.randrange(2**31)
        return dict(
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k,
            min_p=params.min_p,
            repeat_penalty=params.repeat_penalty,
            presence_penalty=params.presence_penalty,
            frequency_penalty=params.frequency_penalty,
            max_tokens=params.max_tokens,
            stop=list(params.stop) or None,
            seed=seed,
        )

    def _chat(self, messages: list[Message], params: GenerationParams) -> tuple[str, int, int, str]:
        self.llm.reset()
        reply = self.llm.create_chat_completion(messages=messages, **self._sampling(params))
        choice, usage = reply["choices"][0], reply["usage"]
        return (
            choice["message"]["content"] or "",
            usage["prompt_tokens"],
            usage["completion_tokens"],
            choice.get("finish_reason") or "stop",
        )

    def _complete(self, prompt: str, params: GenerationParams) -> tuple[str, int, int, str]:
        self.llm.reset()
        reply = self.llm.create_completion(prompt=prompt, **self._sampling(params))
        choice, usage = reply["choices"][0], reply["usage"]
        return (
            choice["text"],
            usage["prompt_tokens"],
            usage["completion_tokens"],
            choice.get("finish_reason") or "stop",
        )

    def token_logprobs(self, text: str) -> list[float]:
        import numpy as np

        if self._scorer is None:
            # Keeping logits for every position slows generation, so scoring gets its own context.
            self._scorer = _import_llama()(
                model_path=str(self.model_path), logits_all=True, **self._options
            )
        scorer = self._scorer
        tokens = scorer.tokenize(text.encode("utf-8"), add_bos=True)[: scorer.n_ctx()]
        if len(tokens) < 2:
            return []
        scorer.reset()
        scorer.eval(tokens)
        logits = np.asarray(scorer.scores[: len(tokens) - 1], dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(logits).sum(axis=1))
        picked = logits[np.arange(len(tokens) - 1), tokens[1:]]
        return (picked - log_norm).tolist()

    def close(self) -> None:
        for model in (self.llm, self._scorer):
            if model is not None:
                model.close()
        self._scorer = None
