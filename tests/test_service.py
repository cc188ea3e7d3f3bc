"""The HTTP service on 127.0.0.1: good requests, bad requests, the body cap, request
coalescing, and `ganlab-serve` refusing bad flags and ports with one line."""

from __future__ import annotations

import asyncio
import io
import socket
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from ganlab.deploy.backends import load_backend
from ganlab.deploy.service import DEFAULT_MAX_BODY_BYTES, create_app
from ganlab.serve import main as serve_main
from tests.helpers import assert_one_line_exit
from tests.service_helpers import free_port, live_server


@pytest.fixture(scope="module", params=["onnxruntime", "torch"])
def server(request, trained_checkpoint: Path, trained_onnx: Path):
    """A live server on loopback for each backend; stops when the module's tests are done."""
    model = trained_onnx if request.param == "onnxruntime" else trained_checkpoint
    app = create_app(load_backend(model), max_images=64, batch_window_ms=20.0)
    with live_server(app) as url:
        yield url, app


def test_health_and_model_info(server) -> None:
    url, _ = server
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    info = httpx.get(f"{url}/v1/model").json()
    assert info["n_classes"] == 10 and info["latent_dim"] == 100
    assert info["max_images_per_request"] == 64
    assert info["max_body_bytes"] == DEFAULT_MAX_BODY_BYTES


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
    assert_error_reply(response, 422, fragment)


@pytest.mark.parametrize(
    ("content", "content_type", "fragment"),
    [
        (b'{"labels": 1', "application/json", "JSON decode error"),
        (b"", "application/json", "Field required"),
        (b"labels=1", "application/x-www-form-urlencoded", "body: Input should be"),
    ],
)
def test_unparseable_bodies_are_422_with_one_line(server, content, content_type, fragment) -> None:
    """FastAPI's own request validation answers in the same shape as the service's checks."""
    url, _ = server
    headers = {"content-type": content_type}
    response = httpx.post(f"{url}/v1/generate", content=content, headers=headers)
    assert_error_reply(response, 422, fragment)


def assert_error_reply(response: httpx.Response, status: int, fragment: str) -> None:
    """The documented error reply: JSON ``{"detail": "<one line>"}`` and nothing else."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    reply = response.json()
    assert list(reply) == ["detail"], reply
    assert isinstance(reply["detail"], str) and "\n" not in reply["detail"]
    assert fragment in reply["detail"]


def test_unknown_routes_and_methods_use_the_error_reply(server) -> None:
    url, _ = server
    assert_error_reply(httpx.get(f"{url}/v1/nothing"), 404, "Not Found")
    wrong_method = httpx.get(f"{url}/v1/generate")
    assert_error_reply(wrong_method, 405, "Method Not Allowed")
    assert wrong_method.headers["allow"] == "POST"


def padded(body: bytes, size: int) -> bytes:
    """``body`` followed by JSON whitespace, ``size`` bytes in all: still a valid request."""
    assert len(body) <= size
    return body + b" " * (size - len(body))


JSON = {"content-type": "application/json"}


def test_body_at_the_cap_is_served_and_one_byte_over_is_413(server) -> None:
    url, _ = server
    body = b'{"labels": 1, "format": "npz", "seed": 3}'
    at_cap = padded(body, DEFAULT_MAX_BODY_BYTES)
    served = httpx.post(f"{url}/v1/generate", content=at_cap, headers=JSON)
    assert served.status_code == 200, served.text
    over_cap = padded(body, DEFAULT_MAX_BODY_BYTES + 1)
    refused = httpx.post(f"{url}/v1/generate", content=over_cap, headers=JSON)
    assert_error_reply(refused, 413, f"over {DEFAULT_MAX_BODY_BYTES} bytes")


def test_chunked_body_is_counted_as_it_arrives(server) -> None:
    """No Content-Length to trust: the cap is enforced on the bytes received, and a chunked
    body under the cap reaches the app whole."""
    url, _ = server
    body = b'{"labels": [2, 4], "format": "json", "seed": 9}'

    def chunks(data: bytes, size: int = 1000):
        yield from (data[i : i + size] for i in range(0, len(data), size))

    small = httpx.post(f"{url}/v1/generate", content=chunks(padded(body, 5000)), headers=JSON)
    assert small.request.headers.get("transfer-encoding") == "chunked"
    assert small.status_code == 200 and small.json()["labels"] == [2, 4]
    big_body = chunks(padded(body, 4 * DEFAULT_MAX_BODY_BYTES))
    big = httpx.post(f"{url}/v1/generate", content=big_body, headers=JSON)
    assert big.request.headers.get("transfer-encoding") == "chunked"
    assert_error_reply(big, 413, "over")


def test_declared_length_over_the_cap_is_refused_unread(server) -> None:
    """A client that declares a huge body gets 413 without sending it."""
    url, _ = server
    port = int(url.rsplit(":", 1)[1])
    head = (
        b"POST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
    assert b'"detail"' in reply


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


def test_load_test_benchmark_runs_and_reports(tmp_path: Path, trained_onnx: Path) -> None:
    import json
    import subprocess
    import sys

    model = trained_onnx
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


@pytest.mark.parametrize("port", ["99999", "0", "-1", "65536"])
def test_serve_refuses_a_port_outside_1_to_65535(tmp_path: Path, capsys, port: str) -> None:
    # The model does not exist: the port must be refused before the model is even looked at.
    assert_one_line_exit(
        capsys,
        serve_main,
        [str(tmp_path / "missing.onnx"), "--port", port],
        f"--port {port} is not a TCP port; give 1..65535",
    )


def test_serve_refuses_a_port_in_use(tmp_path: Path, capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [tmp_path / "missing.onnx", "--port", port]
        assert_one_line_exit(
            capsys, serve_main, argv, f"cannot listen on --host 127.0.0.1 --port {port}", "in use"
        )


def test_serve_refuses_an_address_not_on_this_host(tmp_path: Path, capsys) -> None:
    # 192.0.2.0/24 is reserved for documentation: never a local address, no DNS look-up.
    args = [str(tmp_path / "missing.onnx"), "--host", "192.0.2.1", "--port", str(free_port())]
    assert_one_line_exit(capsys, serve_main, args, "cannot listen on --host 192.0.2.1")


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--max-images", "0"], "--max-images 0: give 1 or more"),
        (["--max-batch", "-5"], "--max-batch -5: give 1 or more"),
        (["--max-body-bytes", "0"], "--max-body-bytes 0: give 1 or more"),
        (["--threads", "-1"], "--threads -1: give 0"),
        (["--batch-window-ms", "-1"], "--batch-window-ms -1.0: give a finite number >= 0"),
        (["--batch-window-ms", "nan"], "--batch-window-ms nan"),
        (["--batch-window-ms", "inf"], "--batch-window-ms inf"),
    ],
)
def test_serve_refuses_bad_limits(tmp_path: Path, capsys, flags, fragment) -> None:
    assert_one_line_exit(
        capsys,
        serve_main,
        [str(tmp_path / "missing.onnx"), "--port", str(free_port()), *flags],
        fragment,
    )


def test_serve_hands_the_checked_socket_and_the_body_cap_to_uvicorn(
    monkeypatch, trained_onnx: Path
) -> None:
    import uvicorn

    started = {}

    def fake_run(self, sockets=None) -> None:
        started["config"], started["sockets"] = self.config, sockets
        started["address"] = [sock.getsockname() for sock in sockets]

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    port = free_port()
    serve_main([str(trained_onnx), "--port", str(port), "--max-body-bytes", "100"])
    assert started["address"] == [("127.0.0.1", port)]
    assert all(sock.fileno() == -1 for sock in started["sockets"]), "closed once uvicorn is done"

    async def post(size: int) -> httpx.Response:
        transport = httpx.ASGITransport(app=started["config"].app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = padded(b'{"labels": 1}', size)
            return await client.post("/v1/generate", content=body, headers=JSON)

    assert_error_reply(asyncio.run(post(101)), 413, "over 100 bytes")
