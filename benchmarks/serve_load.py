"""Bounded load test of `ganlab-serve` on loopback: p50/p99 latency and throughput.

    python benchmarks/serve_load.py MODEL [--requests 400] [--concurrency 16] [--n 4]

Starts the service as a subprocess on 127.0.0.1 (a free port), sends a fixed number of
requests with a fixed concurrency, stops the service, prints a table and writes JSON
(``--out``). Every request targets 127.0.0.1 only, and the run ends by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: str, port: int, window_ms: float) -> subprocess.Popen:
    serve = Path(sys.executable).parent / "ganlab-serve"
    command = [str(serve), model, "--port", str(port), "--log-level", "warning"]
    command += ["--batch-window-ms", str(window_ms)]
    process = subprocess.Popen(command)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the service did not start within 60 s")


async def load(url: str, requests: int, concurrency: int, body: dict) -> tuple[list[float], float]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def one(i: int) -> None:
            async with gate:
                started = time.perf_counter()
                response = await client.post("/v1/generate", json={**body, "seed": i})
                response.raise_for_status()
                latencies.append(time.perf_counter() - started)

        await one(requests)  # warm-up with its own seed, not counted
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(requests)))
        return latencies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--n", type=int, default=4, help="images per request")
    parser.add_argument("--format", default="npz")
    parser.add_argument("--batch-window-ms", type=float, default=2.0)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()

    port = free_port()
    server = start_server(args.model, port, args.batch_window_ms)
    url = f"http://127.0.0.1:{port}"
    results = []
    try:
        info = httpx.get(f"{url}/v1/model").json()
        for concurrency in args.concurrency:
            body = {"labels": 5, "n": args.n, "format": args.format}
            latencies, wall = asyncio.run(load(url, args.requests, concurrency, body))
            ms = np.asarray(latencies) * 1000
            results.append(
                {
                    "concurrency": concurrency,
                    "requests": args.requests,
                    "images_per_request": args.n,
                    "p50_ms": round(float(np.percentile(ms, 50)), 2),
                    "p99_ms": round(float(np.percentile(ms, 99)), 2),
                    "requests_per_s": round(args.requests / wall, 1),
                    "images_per_s": round(args.requests * args.n / wall, 1),
                }
            )
        batching = httpx.get(f"{url}/v1/model").json()["batching"]
    finally:
        server.terminate()
        server.wait(timeout=30)

    report = {
        "backend": info["backend"],
        "model": args.model,
        "format": args.format,
        "batch_window_ms": args.batch_window_ms,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "results": results,
        "batching": batching,
    }
    print(f"backend {report['backend']}, {args.n} images/request, format {args.format}")
    print(f"{'conc.':>5} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'img/s':>8}")
    for row in results:
        print(
            f"{row['concurrency']:>5} {row['p50_ms']:>8} {row['p99_ms']:>8} "
            f"{row['requests_per_s']:>8} {row['images_per_s']:>8}"
        )
    print(f"batching: {batching}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
