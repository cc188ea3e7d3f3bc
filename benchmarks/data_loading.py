"""Data loading: milliseconds per training batch, per-sample collation vs one index per batch.

    python benchmarks/data_loading.py [--batches 800] [--batch-size 64] [--out result.json]

Both loaders shuffle the same in-memory training split. "per-sample" is a plain
``TensorDataset`` (64 lookups and a ``torch.stack`` per batch, PyTorch's default);
"index per batch" is the data module's own loader (``InMemoryDataset.__getitems__``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset, TensorDataset

from ganlab.data.mnist_datamodule import MNISTDataModule


def ms_per_batch(loader: DataLoader, batches: int) -> float:
    started = time.perf_counter()
    seen = 0
    while seen < batches:
        for _ in loader:
            seen += 1
            if seen == batches:
                break
    return (time.perf_counter() - started) * 1000 / batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out")
    args = parser.parse_args()

    datamodule = MNISTDataModule(data_dir=args.data_dir, batch_size=args.batch_size)
    datamodule.setup()
    train = datamodule.data_train
    plain = Subset(TensorDataset(*train.dataset.tensors), train.indices)
    loaders = {
        "per-sample collation": DataLoader(plain, batch_size=args.batch_size, shuffle=True),
        "index per batch": datamodule.train_dataloader(),
    }
    times: dict[str, list[float]] = {name: [] for name in loaders}
    torch.manual_seed(0)
    for _ in range(args.rounds):
        for name, loader in loaders.items():
            times[name].append(ms_per_batch(loader, args.batches))
    report = {
        "batch_size": args.batch_size,
        "batches_per_round": args.batches,
        "ms_per_batch": {name: [round(t, 3) for t in values] for name, values in times.items()},
        "median_ms_per_batch": {name: round(statistics.median(v), 3) for name, v in times.items()},
    }
    for name, value in report["median_ms_per_batch"].items():
        print(f"{name:<22} {value:>7.3f} ms per batch")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
