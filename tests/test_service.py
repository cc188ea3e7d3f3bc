"""The HTTP service on 127.0.0.1: good requests, bad requests, request coalescing."""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
from PIL import Image

from ganlab.deploy.backends import load_backend
from ganlab.deploy.onnx_export import export_onnx
from ganlab.deploy.service import create_app
from ganlab.train import train
from tests.conftest import compose_train_config, tiny_overrides


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module", params=["onnxruntime", "torch"])
def server(request, tmp_path_factory, tiny_data_dir: Path):
    """A live server on loopback for each backend; stops when the module's tests are done."""
    out = tmp_path_factory.mktemp(f"service_{request.param}")
    train(compose_train_config(out, [*tiny_overrides(tiny_data_dir), "test=false"]))
    model = out / "checkpoints" / "last.ckpt"
    if request.param == "onnxruntime":
        model = out / "generator.onnx"
        export_onnx(out / "checkpoints" / "last.ckpt", model, parity_batch_sizes=(1, 8))
    app = create_app(load_backend(model), max_images=64, batch_window_ms=20.0)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uvicorn_server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


def test_health_and_model_info(server) -> None:
    url, _ = server
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    info = httpx.get(f"{url}/v1/model").json()
    assert info["n_classes"] == 10 and info["latent_dim"] == 100
    assert info["max_images_per_request"] == 64


def test_png_response_has_one_row_per_label(server) -> None:
    url, _ = server
    response = httpx.post(f"{url}/v1/generate", json={"labels": [1, 2, 3], "n": 4, "seed": 5})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["x-seed"] == "5"
    assert Image.open(io.BytesIO(response.content)).size == (4 * 34 + 2, 3 * 34 + 2)


def test_npz_and_json_agree_and_seed_reproduces(server) -> None:
    url, _ = server
    body = {"labels": 7, "n": 3, "seed": 11}
    npz = httpx.post(f"{url}/v1/generate", json={**body, "format": "npz"})
    with np.load(io.BytesIO(npz.content)) as data:
        images, labels = data["images"], data["labels"]
    assert images.dtype == np.uint8 and images.shape == (3, 32, 32)
    assert labels.dtype == np.int64 and labels.tolist() == [7, 7, 7]
    as_json = httpx.post(f"{url}/v1/generate", json={**body, "format": "json"}).json()
    assert np.array_equal(np.asarray(as_json["images"], dtype=np.uint8), images)
    unseeded = httpx.post(f"{url}/v1/generate", json={"labels": 7, "format": "json"})
    assert int(unseeded.headers["x-seed"]) == unseeded.json()["seed"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"labels": 10}, "labels: 10 is outside 0..9"),
        ({"labels": [-1]}, "labels: -1 is outside 0..9"),
        ({"labels": "five"}, "labels"),
        ({"labels": 5.5}, "labels"),
        ({"labels": []}, "give at least one class"),
        ({"labels": 1, "n": 0}, "n: Input should be greater than or equal to 1"),
        ({"labels": [1, 2], "n": 40}, "80 images; this server allows at most 64"),
        ({"labels": 1, "format": "gif"}, "format"),
        ({"labels": 1, "size": 3}, "size: Extra inputs are not permitted"),
        ({}, "labels: Field required"),
    ],
)
def test_bad_requests_are_422_with_one_line(server, body, fragment) -> None:
    url, _ = server
    response = httpx.post(f"{url}/v1/generate", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and fragment in detail


def test_concurrent_requests_are_coalesced(server) -> None:
    url, app = server
    stats = app.state.batcher.stats
    before_requests, before_batches = stats.requests, stats.batches

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            body = {"labels": 3, "n": 2, "format": "npz", "seed": 1}
            return await asyncio.gather(
                *(client.post("/v1/generate", json=body) for _ in range(16))
            )

    responses = asyncio.run(burst())
    assert all(r.status_code == 200 for r in responses)
    assert len({r.content for r in responses}) == 1, "same seed, same images, whatever the batch"
    served = stats.requests - before_requests
    batches = stats.batches - before_batches
    assert served == 16 and batches < 16


def test_load_test_benchmark_runs_and_reports(tmp_path: Path, tiny_data_dir: Path) -> None:
    import json
    import subprocess
    import sys

    out = tmp_path / "run"
    train(compose_train_config(out, [*tiny_overrides(tiny_data_dir), "test=false"]))
    model = out / "generator.onnx"
    export_onnx(out / "checkpoints" / "last.ckpt", model, parity_batch_sizes=(1,))
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "serve_load.py"
    report_path = tmp_path / "load.json"
    command = [sys.executable, str(script), str(model), "--requests", "20"]
    command += ["--concurrency", "1", "4", "--out", str(report_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(report_path.read_text())
    assert [row["concurrency"] for row in report["results"]] == [1, 4]
    for row in report["results"]:
        assert 0 < row["p50_ms"] <= row["p99_ms"] and row["requests_per_s"] > 0
    assert report["batching"]["requests"] == 2 * 21
