"""Ways to run a model: in-process llama.cpp, in-process transformers, or any OpenAI-compatible
HTTP server. Each is one module; ``configs/backend/*.yaml`` instantiates them by ``_target_``."""

from ganlab.assistant.backends.base import Backend, Completion, Message

__all__ = ["Backend", "Completion", "Message"]
