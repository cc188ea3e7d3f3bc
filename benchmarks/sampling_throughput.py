"""Sampling throughput of a trained generator: PyTorch eager, torch.compile, ONNX Runtime.

    python benchmarks/sampling_throughput.py CHECKPOINT [--onnx generator.onnx] [--out r.json]

Each runtime generates batches of 1 and 1,024 images from the same seeded noise; the report
gives the median latency over ``--repeats`` calls (after warm-up) and images per second. The
ONNX file is exported from the checkpoint (with its parity check) when ``--onnx`` is not given.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ganlab.deploy.backends import OnnxRuntimeBackend, TorchBackend
from ganlab.images import seeded_noise

BATCHES = (1, 1024)


def median_seconds(run, repeats: int) -> float:
    for _ in range(3):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--onnx", help="exported model (default: export one to a temp folder)")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out")
    args = parser.parse_args()

    eager = TorchBackend(args.checkpoint)
    info = eager.info
    onnx_path = args.onnx
    if onnx_path is None:
        from ganlab.deploy.onnx_export import export_onnx

        onnx_path = str(Path(tempfile.mkdtemp()) / "generator.onnx")
        export_onnx(args.checkpoint, onnx_path)
    ort_backend = OnnxRuntimeBackend(onnx_path)
    compiled = torch.compile(eager.model.network, dynamic=True)

    def run_compiled(noise: np.ndarray, labels: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return compiled(torch.from_numpy(noise), torch.from_numpy(labels)).numpy()

    runtimes = {
        "torch eager": eager.run,
        "torch.compile": run_compiled,
        "onnxruntime": ort_backend.run,
    }
    rows = []
    for batch in BATCHES:
        noise = seeded_noise(batch, info.latent_dim, seed=batch)
        labels = np.arange(batch, dtype=np.int64) % info.n_classes
        reference = eager.run(noise, labels)
        for name, run in runtimes.items():
            started = time.perf_counter()
            output = run(noise, labels)
            first_call = time.perf_counter() - started
            call = functools.partial(run, noise, labels)
            seconds = median_seconds(call, args.repeats)
            rows.append(
                {
                    "runtime": name,
                    "batch": batch,
                    "first_call_s": round(first_call, 3),
                    "median_ms": round(seconds * 1000, 3),
                    "images_per_s": round(batch / seconds, 1),
                    "max_abs_diff_vs_eager": float(np.abs(output - reference).max()),
                }
            )
    report = {
        "checkpoint": args.checkpoint,
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "rows": rows,
    }
    for row in rows:
        print(
            f"{row['runtime']:<14} batch {row['batch']:>5}  {row['median_ms']:>9} ms  "
            f"{row['images_per_s']:>10} img/s  first call {row['first_call_s']} s  "
            f"max|diff| {row['max_abs_diff_vs_eager']:.1e}"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
