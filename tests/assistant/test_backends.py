"""Backends on real models: determinism under a fixed seed, parameters honoured, scoring, and
the OpenAI-compatible client against llama-cpp-python's own server on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
import torch

from ganlab.assistant.backends.base import cut_at_stop
from ganlab.assistant.backends.openai_http import OpenAIHTTPBackend, ServerError
from ganlab.assistant.backends.transformers_gguf import PresenceFrequencyPenalty
from ganlab.assistant.models import ModelSpec
from ganlab.assistant.params import GenerationParams
from ganlab.errors import ConfigError, DataFileError
from tests.assistant.conftest import MODELS_DIR, model_spec_or_skip

QUESTION = [{"role": "user", "content": "Name a fruit that is yellow."}]
SAMPLING = GenerationParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, max_tokens=24, seed=5)


def test_greedy_and_seeded_sampling_are_reproducible(smollm2_backend):
    greedy = GenerationParams(temperature=0.0, max_tokens=24)
    assert (
        smollm2_backend.chat(QUESTION, greedy).text == smollm2_backend.chat(QUESTION, greedy).text
    )
    first = smollm2_backend.chat(QUESTION, SAMPLING)
    # Something else in between must not change the next seeded reply (KV cache is reset).
    smollm2_backend.chat([{"role": "user", "content": "Say hello."}], SAMPLING.replace(seed=9))
    assert smollm2_backend.chat(QUESTION, SAMPLING).text == first.text
    others = {smollm2_backend.chat(QUESTION, SAMPLING.replace(seed=s)).text for s in (6, 7, 8)}
    assert len(others | {first.text}) > 1, "different seeds at temperature 1 should differ"


def test_max_tokens_stop_and_counts(smollm2_backend):
    prompt = [{"role": "user", "content": "Count from 1 to 30, separated by commas."}]
    short = smollm2_backend.chat(prompt, GenerationParams(temperature=0.0, max_tokens=5))
    assert short.completion_tokens == 5 and short.finish_reason == "length"
    assert short.prompt_tokens > 5 and short.seconds > 0 and short.tokens_per_second > 0
    stopped = smollm2_backend.chat(
        prompt, GenerationParams(temperature=0.0, max_tokens=60, stop=("5",))
    )
    assert "5" not in stopped.text and stopped.completion_tokens < 60


def test_token_logprobs_prefer_real_text(smollm2_backend):
    sentence = "The capital of France is Paris, and it is known for the Eiffel Tower."
    scrambled = "Tower France the capital Eiffel of Paris, is and it known for is the."
    real, shuffled = (
        smollm2_backend.token_logprobs(sentence),
        smollm2_backend.token_logprobs(scrambled),
    )
    assert all(value <= 0 for value in real) and len(real) >= 12
    assert np.mean(real) > np.mean(shuffled) + 0.5


def test_base_model_uses_prompt_format_and_stops_at_next_question():
    pytest.importorskip("llama_cpp")
    from ganlab.assistant.backends.llama_cpp import LlamaCppBackend

    backend = LlamaCppBackend(model_spec_or_skip("gemma3_270m"), MODELS_DIR, n_ctx=512)
    try:
        prompt = backend._prompt_template.render(
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is 2+2?"},
            ]
        )
        assert prompt == "Be brief.\n\nQuestion: What is 2+2?\nAnswer:"
        reply = backend.chat(
            [{"role": "user", "content": "What colour is the sky?"}],
            GenerationParams(temperature=0.0, max_tokens=64),
        )
        assert "Question:" not in reply.text and reply.completion_tokens > 0
    finally:
        backend.close()


def test_missing_model_file_and_bad_messages_are_one_line_errors(smollm2_backend, tmp_path):
    from ganlab.assistant.backends.llama_cpp import LlamaCppBackend

    spec = ModelSpec(name="ghost", file="ghost.gguf", sha256="0" * 64)
    with pytest.raises(DataFileError, match=r"ghost\.gguf is missing"):
        LlamaCppBackend(spec, tmp_path)
    with pytest.raises(ConfigError, match="role must be one of"):
        smollm2_backend.chat([{"role": "robot", "content": "hi"}], GenerationParams())
    with pytest.raises(ConfigError, match="at least one message"):
        smollm2_backend.chat([], GenerationParams())


def test_presence_and_frequency_penalties_follow_openai_definition():
    processor = PresenceFrequencyPenalty(prompt_length=2, presence=0.5, frequency=0.25)
    ids = torch.tensor([[7, 7, 3, 3, 3, 1]])  # prompt [7, 7]; generated 3 three times, 1 once
    scores = processor(ids, torch.zeros(1, 10))
    assert scores[0, 3] == pytest.approx(-0.5 - 0.75)
    assert scores[0, 1] == pytest.approx(-0.5 - 0.25)
    assert scores[0, 7] == 0 and scores[0, 0] == 0, "prompt tokens are not penalised"


def test_cut_at_stop_takes_the_earliest_stop():
    assert cut_at_stop("a, b. c; d", [";", "."]) == ("a, b", True)
    assert cut_at_stop("nothing here", ["zzz"]) == ("nothing here", False)


def test_transformers_backend_reads_the_same_gguf():
    from ganlab.assistant.backends.transformers_gguf import TransformersBackend

    backend = TransformersBackend(model_spec_or_skip("smollm2_135m_instruct"), MODELS_DIR)
    first = backend.chat(QUESTION, SAMPLING)
    assert first.text and first.completion_tokens <= SAMPLING.max_tokens
    assert backend.chat(QUESTION, SAMPLING).text == first.text
    greedy = backend.chat(
        [{"role": "user", "content": "What is 2 + 2?"}],
        GenerationParams(temperature=0.0, max_tokens=12),
    )
    assert "4" in greedy.text
    assert np.mean(backend.token_logprobs("The cat sat on the mat.")) > np.mean(
        backend.token_logprobs("mat the on sat cat The.")
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    """llama-cpp-python's OpenAI-compatible server on a free loopback port."""
    pytest.importorskip("llama_cpp.server")
    spec = model_spec_or_skip("smollm2_135m_instruct")
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(spec.local_path(MODELS_DIR)),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_threads",
            "1",
            "--n_ctx",
            "2048",
            "--model_alias",
            "smollm2",
            "--verbose",
            "false",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
        if server.poll() is not None:
            pytest.fail(f"llama_cpp.server exited: {server.stderr.read().decode()[-500:]}")
    else:
        server.kill()
        pytest.fail("llama_cpp.server did not start within 60 s")
    yield url
    server.terminate()
    server.wait(timeout=10)


def test_openai_client_against_local_server_matches_in_process(llama_server, smollm2_backend):
    spec = model_spec_or_skip("smollm2_135m_instruct")
    client = OpenAIHTTPBackend(spec, base_url=llama_server, served_model="smollm2")
    try:
        greedy = GenerationParams(temperature=0.0, max_tokens=20)
        remote = client.chat(QUESTION, greedy)
        assert remote.text == smollm2_backend.chat(QUESTION, greedy).text
        assert remote.completion_tokens > 0 and remote.prompt_tokens > 0
        seeded = client.chat(QUESTION, SAMPLING)
        assert client.chat(QUESTION, SAMPLING).text == seeded.text
        continued = client.complete(
            "The opposite of hot is", GenerationParams(temperature=0.0, max_tokens=4)
        )
        assert continued.text and continued.completion_tokens <= 4
    finally:
        client.close()


def test_openai_client_errors_are_one_line():
    spec = ModelSpec(name="remote", file="-")
    with pytest.raises(ConfigError, match="must start with http"):
        OpenAIHTTPBackend(spec, base_url="localhost:8000")
    client = OpenAIHTTPBackend(spec, base_url=f"http://127.0.0.1:{_free_port()}", timeout_s=2)
    with pytest.raises(ServerError, match="cannot reach"):
        client.chat(QUESTION, GenerationParams(max_tokens=4))
