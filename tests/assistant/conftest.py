"""Fixtures for the assistant lab: the smallest model loaded once per session, the embedder once.

Model files come from `make assistant-setup`; without them the tests that need a model skip
with the command to run (CI runs that step before the tests).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ganlab.assistant.models import ModelSpec, spec_by_name

REPO_MODELS_DIR = Path(__file__).parents[2] / "data" / "models"
MODELS_DIR = Path(os.environ.get("GANLAB_MODELS_DIR", REPO_MODELS_DIR))


def model_spec_or_skip(name: str) -> ModelSpec:
    spec = spec_by_name(name)
    if not spec.local_path(MODELS_DIR).is_file():
        pytest.skip(f"{spec.file} not in {MODELS_DIR}; run `make assistant-setup`")
    return spec


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return MODELS_DIR


@pytest.fixture(scope="session")
def smollm2_backend():
    """SmolLM2-135M-Instruct on llama.cpp, one thread: the fastest real model we have."""
    pytest.importorskip("llama_cpp")
    from ganlab.assistant.backends.llama_cpp import LlamaCppBackend

    backend = LlamaCppBackend(model_spec_or_skip("smollm2_135m_instruct"), MODELS_DIR, n_ctx=2048)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def smollm2_assistant(smollm2_backend):
    from ganlab.assistant.assistant import Assistant
    from ganlab.assistant.params import GenerationParams

    return Assistant(
        name="smollm2",
        system_prompt="You are a helpful assistant. Answer briefly.",
        backend=smollm2_backend,
        params=GenerationParams(temperature=0.0, max_tokens=48, seed=7),
    )


@pytest.fixture(scope="session")
def embedder():
    from ganlab.assistant.embeddings import SentenceEmbedder

    return SentenceEmbedder()
