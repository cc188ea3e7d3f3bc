"""CPU threads: training images/s of an experiment's bare loop at several intra-op thread counts.

    python benchmarks/cpu_threads.py [--experiment train_mnist_dcgan] [--threads 1 2 3 4]

PyTorch starts one intra-op thread per core it sees. Asking for more threads than cores
(oversubscription) makes them wait on each other; this measures what each setting costs on the
machine at hand, interleaved round after round like ``train_throughput.py``.
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
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out")
    args = parser.parse_args()

    cfg = compose_experiment(args.experiment)
    batch = cfg.datamodule.batch_size
    _, images, labels = training_tensors(cfg, args.data_dir)

    rates: dict[int, list[float]] = {t: [] for t in args.threads}
    for _ in range(args.rounds):
        for threads in args.threads:
            torch.set_num_threads(threads)
            bare_loop(cfg, images, labels, 5, batch)  # let the new thread pool settle
            rates[threads].append(
                args.batches * batch / bare_loop(cfg, images, labels, args.batches, batch)
            )
    report = {
        "experiment": args.experiment,
        "cores": os.cpu_count(),
        "images_per_s": {str(t): [round(r, 1) for r in v] for t, v in rates.items()},
        "median_images_per_s": {str(t): round(statistics.median(v), 1) for t, v in rates.items()},
    }
    for threads, value in report["median_images_per_s"].items():
        print(f"{threads:>3} threads: {value:>8.1f} images/s")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
