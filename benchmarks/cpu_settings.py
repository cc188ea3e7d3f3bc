"""CPU settings: training images/s of an experiment's bare loop per thread count and batch size.

    python benchmarks/cpu_settings.py [--experiment train_mnist_dcgan] [--threads 1 2 3 4]
        [--batch-sizes 64] [--images 3840] [--rounds 3] [--out result.json]

PyTorch starts one intra-op thread per core it sees; more threads than cores (oversubscription)
make them wait on each other. Larger batches use the cores better but take fewer optimiser
steps per image. Every combination trains on the same number of images per measurement,
interleaved round after round like ``train_throughput.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import torch
from train_throughput import bare_loop, compose_experiment, training_tensors  # sibling script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="train_mnist_dcgan")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64])
    parser.add_argument("--images", type=int, default=3840, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out")
    args = parser.parse_args()

    cfg = compose_experiment(args.experiment)
    _, images, labels = training_tensors(cfg, args.data_dir)
    settings = [(t, b) for t in args.threads for b in args.batch_sizes]
    rates: dict[str, list[float]] = {f"{t} threads, batch {b}": [] for t, b in settings}
    for _ in range(args.rounds):
        for threads, batch in settings:
            torch.set_num_threads(threads)
            bare_loop(cfg, images, labels, 3, batch)  # let the thread pool and allocator settle
            batches = max(1, args.images // batch)
            seconds = bare_loop(cfg, images, labels, batches, batch)
            rates[f"{threads} threads, batch {batch}"].append(batches * batch / seconds)
    report = {
        "experiment": args.experiment,
        "cores": os.cpu_count(),
        "images_per_measurement": args.images,
        "images_per_s": {name: [round(r, 1) for r in v] for name, v in rates.items()},
        "median_images_per_s": {name: round(statistics.median(v), 1) for name, v in rates.items()},
    }
    for name, value in report["median_images_per_s"].items():
        print(f"{name:<22} {value:>8.1f} images/s")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
