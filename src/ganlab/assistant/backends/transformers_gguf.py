"""transformers loading the same GGUF file (dequantised to float32): slower than llama.cpp but
needs no compiler, so it is the fallback on a machine where llama-cpp-python cannot be built."""

from __future__ import annotations

import os

import torch

from ganlab.assistant.backends.base import Backend, Message, cut_at_stop
from ganlab.assistant.models import ModelSpec, verified_path
from ganlab.assistant.params import GenerationParams
from ganlab.errors import ConfigError


class PresenceFrequencyPenalty:
    """OpenAI-style penalties, which ``generate`` lacks: logit -= presence + frequency * count,
    over the tokens generated so far (not the prompt)."""

    def __init__(self, prompt_length: int, presence: float, frequency: float) -> None:
        self.prompt_length, self.presence, self.frequency = prompt_length, presence, frequency

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.Tensor:
        generated = input_ids[:, self.prompt_length :]
        if generated.shape[1] == 0:
            return scores
        counts = torch.zeros_like(scores).scatter_add_(
            1, generated, torch.ones_like(generated, dtype=scores.dtype)
        )
        return scores - self.presence * (counts > 0).to(scores.dtype) - self.frequency * counts


class TransformersBackend(Backend):
    """``AutoModelForCausalLM`` from a GGUF file; sampling seeded inside a forked RNG."""

    can_score = True

    def __init__(
        self,
        spec: ModelSpec,
        models_dir: str | os.PathLike | None = None,
        dtype: str = "float32",
    ) -> None:
        super().__init__(spec)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise ConfigError("transformers is not installed: run `make assistant-setup`") from None
        if dtype not in ("float32", "bfloat16"):
            raise ConfigError(f"backend.dtype={dtype!r} must be float32 or bfloat16")
        path = verified_path(spec, models_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        self.model = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, dtype=getattr(torch, dtype)
        ).eval()

    def _generate(
        self, input_ids: torch.Tensor, params: GenerationParams
    ) -> tuple[str, int, int, str]:
        from transformers import LogitsProcessorList

        prompt_length = input_ids.shape[1]
        options = dict(
            max_new_tokens=params.max_tokens,
            repetition_penalty=params.repeat_penalty,
            pad_token_id=self.tokenizer.eos_token_id,
        )
        if params.greedy:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            options.update(
                do_sample=True,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=params.top_k or None,
                min_p=params.min_p or None,
            )
        if params.stop:
            options.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        if params.presence_penalty or params.frequency_penalty:
            options["logits_processor"] = LogitsProcessorList(
                [
                    PresenceFrequencyPenalty(
                        prompt_length, params.presence_penalty, params.frequency_penalty
                    )
                ]
            )
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            if params.seed is not None:
                torch.manual_seed(params.seed)
            output = self.model.generate(
                input_ids, attention_mask=torch.ones_like(input_ids), **options
            )
        new_tokens = output[0, prompt_length:]
        text = self.tokenizer.decode(new_tokens, skip_special_tokens=True)
        assert isinstance(text, str)  # one sequence of ids decodes to one string
        text, stopped = cut_at_stop(text, params.stop)
        finished = stopped or (len(new_tokens) and new_tokens[-1] == self.tokenizer.eos_token_id)
        reason = "stop" if finished or len(new_tokens) < params.max_tokens else "length"
        return text, prompt_length, len(new_tokens), reason

    def _chat(self, messages: list[Message], params: GenerationParams) -> tuple[str, int, int, str]:
        from transformers import BatchEncoding

        encoded = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        assert isinstance(encoded, BatchEncoding)  # what return_dict=True returns
        return self._generate(encoded["input_ids"], params)

    def _complete(self, prompt: str, params: GenerationParams) -> tuple[str, int, int, str]:
        return self._generate(self.tokenizer(prompt, return_tensors="pt").input_ids, params)

    def token_logprobs(self, text: str) -> list[float]:
        ids = self.tokenizer(text, return_tensors="pt").input_ids
        if self.tokenizer.bos_token_id is not None and ids[0, 0] != self.tokenizer.bos_token_id:
            ids = torch.cat([torch.tensor([[self.tokenizer.bos_token_id]]), ids], dim=1)
        if ids.shape[1] < 2:
            return []
        with torch.inference_mode():
            logits = self.model(ids).logits[0, :-1].double()
        picked = torch.log_softmax(logits, dim=-1).gather(1, ids[0, 1:, None])[:, 0]
        return picked.tolist()
