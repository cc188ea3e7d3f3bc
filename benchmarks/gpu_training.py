"""GPU numbers in one run: epoch time with the data resident on the device, and sampling speed.

    python benchmarks/gpu_training.py [--out docs/results/gpu_h200.json] [--device cuda]

For a machine with a GPU (the test suite never needs one). It measures, on one device, with the
whole training split moved to the device once:

* a full MNIST epoch (55,000 images) of the assignment's MLP pair with the bare loop of
  ``train_throughput.py``, at batch 64 (the assignment's) and larger batches;
* the same epoch through the project's Lightning path (``trainer=gpu``: Lightning moves each
  CPU batch to the device), at batch 64;
* a DCGAN recipe epoch (``train_mnist_dcgan``: bf16 autocast, channels_last, EMA) bare;
* generator sampling throughput at batch 1 and 1,024 (eager, float32).

Every figure is the median of ``--repeats`` runs after one warm-up. ``--device cpu`` runs the
same script on the CPU, and ``--fraction 0.05 --repeats 1`` makes that check quick.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from train_throughput import (  # sibling script
    bare_loop,
    build,
    compose_experiment,
    lightning_path,
    training_tensors,
)

from ganlab.sampling import class_grid_labels, sample_noise


def median_seconds(run, repeats: int) -> float:
    run()  # warm-up: kernels, autotuning, allocator
    return statistics.median(run() for _ in range(repeats))


def sampling_ms(cfg, device: torch.device, batch: int, repeats: int) -> float:
    generator = build(cfg).generator.to(device).eval()
    noise = sample_noise(batch, cfg.model.latent_dim, seed=0, device=device)
    labels = class_grid_labels(cfg.model.n_classes, batch, device=device)[:batch]

    @torch.no_grad()
    def run() -> float:
        started = time.perf_counter()
        for _ in range(20):
            generator(noise, labels)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - started) / 20

    return median_seconds(run, repeats) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 512, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fraction", type=float, default=1.0, help="of an epoch (quick checks)")
    parser.add_argument("--out")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: no CUDA GPU visible; use --device cpu for a dry run")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()

    mlp = compose_experiment("train_mnist_gan")
    datamodule, images, labels = training_tensors(mlp, args.data_dir)
    images, labels = images.to(device), labels.to(device)
    n = max(4096, int(len(images) * args.fraction))
    images, labels = images[:n], labels[:n]

    report: dict[str, object] = {"device": name, "torch": torch.__version__, "images": n}
    epochs = {}
    for batch in args.batch_sizes:
        batches = n // batch
        seconds = median_seconds(
            lambda b=batch, k=batches: bare_loop(mlp, images, labels, k, b, device), args.repeats
        )
        epochs[f"mlp bare, batch {batch}"] = round(seconds, 3)
        print(f"MLP epoch, bare loop, data on device, batch {batch}: {seconds:.3f} s", flush=True)

    accelerator = "gpu" if device.type == "cuda" else "cpu"
    datamodule.batch_size = 64
    seconds = median_seconds(
        lambda: lightning_path(mlp, datamodule, n // 64, accelerator=accelerator), args.repeats
    )
    epochs["mlp lightning, batch 64"] = round(seconds, 3)
    print(f"MLP epoch, Lightning path, batch 64: {seconds:.3f} s", flush=True)

    dcgan = compose_experiment("train_mnist_dcgan")
    seconds = median_seconds(
        lambda: bare_loop(dcgan, images, labels, n // 64, 64, device), args.repeats
    )
    epochs["dcgan recipe bare, batch 64"] = round(seconds, 3)
    print(f"DCGAN recipe epoch, bare loop, batch 64: {seconds:.3f} s", flush=True)
    report["epoch_seconds"] = epochs

    sampling = {}
    for batch in (1, 1024):
        ms = sampling_ms(mlp, device, batch, args.repeats)
        sampling[f"mlp batch {batch}"] = {
            "ms": round(ms, 4),
            "images_per_s": round(batch / ms * 1e3),
        }
        print(f"MLP sampling, batch {batch}: {ms:.4f} ms per call", flush=True)
    report["sampling"] = sampling
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
