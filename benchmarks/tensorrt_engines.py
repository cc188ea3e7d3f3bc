"""Build TensorRT engines (fp16, and int8 via NVIDIA ModelOpt) from the exported ONNX generator
and compare their latency and throughput with ONNX Runtime.

    python benchmarks/tensorrt_engines.py generator.onnx --out trt_results.json

Needs an NVIDIA GPU with the ``tensorrt``, ``nvidia-modelopt`` and ``torch`` (CUDA) packages;
without them it says what is missing and exits with code 3 (tests skip on that). TensorRT 11 has
no implicit int8 calibration, so int8 goes through ModelOpt's ONNX post-training quantisation
(Q/DQ nodes calibrated on real noise and labels) and a strongly typed network.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ganlab.images import seeded_noise

EXIT_UNAVAILABLE = 3
BATCHES = (1, 64, 1024)


def unavailable_reason() -> str | None:
    try:
        import tensorrt  # noqa: F401
        import torch
    except ImportError as error:
        return f"{error.name} is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible"
    return None


def inputs(n: int, latent_dim: int, n_classes: int, seed: int) -> dict[str, np.ndarray]:
    return {
        "noise": seeded_noise(n, latent_dim, seed),
        "labels": (np.arange(n, dtype=np.int64) + seed) % n_classes,
    }


def quantise_int8(onnx_path: Path, out: Path, latent_dim: int, n_classes: int) -> Path:
    """ModelOpt post-training int8 quantisation, calibrated on 1,024 noise/label pairs."""
    from modelopt.onnx.quantization import quantize

    quantize(
        onnx_path=str(onnx_path),
        quantize_mode="int8",
        calibration_data=inputs(1024, latent_dim, n_classes, seed=123),
        output_path=str(out),
    )
    return out


def build_engine(onnx_path: Path, out: Path, precision: str, latent_dim: int, max_batch: int):
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if precision == "int8":
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise SystemExit(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    profile.set_shape("noise", (1, latent_dim), (64, latent_dim), (max_batch, latent_dim))
    profile.set_shape("labels", (1,), (64,), (max_batch,))
    config.add_optimization_profile(profile)
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise SystemExit(f"TensorRT failed to build the {precision} engine")
    out.write_bytes(bytes(serialized))
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    return engine, time.perf_counter() - started


def time_engine(engine, feeds: dict[str, np.ndarray], repeats: int) -> tuple[np.ndarray, float]:
    """Median seconds per call with device-resident inputs, and the output."""
    import torch

    context = engine.create_execution_context()
    stream = torch.cuda.Stream()
    tensors = {name: torch.from_numpy(array).cuda() for name, array in feeds.items()}
    for name, tensor in tensors.items():
        context.set_input_shape(name, tuple(tensor.shape))
        context.set_tensor_address(name, tensor.data_ptr())
    output = torch.empty(tuple(context.get_tensor_shape("images")), device="cuda")
    context.set_tensor_address("images", output.data_ptr())
    times = []
    for _ in range(repeats + 5):
        torch.cuda.synchronize()
        started = time.perf_counter()
        context.execute_async_v3(stream.cuda_stream)
        stream.synchronize()
        times.append(time.perf_counter() - started)
    return output.cpu().numpy(), float(np.median(times[5:]))


def time_onnxruntime(onnx_path: Path, feeds: dict[str, np.ndarray], repeats: int):
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=ort.get_available_providers())
    session.run(None, feeds)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        (output,) = session.run(["images"], feeds)
        times.append(time.perf_counter() - started)
    return output, float(np.median(times)), session.get_providers()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("onnx", type=Path)
    parser.add_argument("--workdir", type=Path, default=Path("trt_engines"))
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"skipped: TensorRT engines need an NVIDIA GPU ({reason})", file=sys.stderr)
        raise SystemExit(EXIT_UNAVAILABLE)

    import onnx
    import torch

    metadata = {p.key: p.value for p in onnx.load(str(args.onnx)).metadata_props}
    description = json.loads(metadata["ganlab"])
    latent_dim, n_classes = description["latent_dim"], description["n_classes"]
    args.workdir.mkdir(parents=True, exist_ok=True)
    int8_onnx = quantise_int8(
        args.onnx, args.workdir / "generator.int8.onnx", latent_dim, n_classes
    )
    report = {"device": torch.cuda.get_device_name(), "onnx": str(args.onnx), "rows": []}
    engines = {}
    for precision, source in (("fp16", args.onnx), ("int8", int8_onnx)):
        path = args.workdir / f"generator.{precision}.engine"
        engines[precision], seconds = build_engine(
            source, path, precision, latent_dim, max(BATCHES)
        )
        report[f"{precision}_build_seconds"] = round(seconds, 1)
    for batch in BATCHES:
        feeds = inputs(batch, latent_dim, n_classes, seed=batch)
        reference, ort_seconds, provider = time_onnxruntime(args.onnx, feeds, args.repeats)
        rows = [("onnxruntime " + provider, ort_seconds, 0.0)]
        for precision, engine in engines.items():
            output, seconds = time_engine(engine, feeds, args.repeats)
            rows.append((f"tensorrt {precision}", seconds, float(np.abs(output - reference).max())))
        for name, seconds, diff in rows:
            report["rows"].append(
                {
                    "runtime": name,
                    "batch": batch,
                    "latency_ms": round(seconds * 1000, 3),
                    "images_per_s": round(batch / seconds, 1),
                    "max_abs_diff_vs_onnxruntime": diff,
                }
            )
    for row in report["rows"]:
        print(
            f"{row['runtime']:<36} batch {row['batch']:>5}  {row['latency_ms']:>9} ms  "
            f"{row['images_per_s']:>12} img/s  max|diff| {row['max_abs_diff_vs_onnxruntime']:.1e}"
        )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
