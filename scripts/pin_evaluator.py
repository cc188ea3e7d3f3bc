"""Retrain the packaged MNIST evaluator: every metric the lab reports is measured with it.

    python scripts/pin_evaluator.py [--data-dir data] [--epochs 2] [--seed 0]

Trains the evaluator classifier on the checksummed MNIST training file, checks it on the test
file, writes it over ``src/ganlab/metrics/assets/mnist_classifier.pt`` (atomically) and prints
the sha256 to put in ``PACKAGED_EVALUATOR_SHA256``. Every FID measured before the change is
then measured with other weights, so the results in docs/ need re-measuring with the new one.
"""

from __future__ import annotations

import argparse
import hashlib
import platform

import torch

from ganlab.data.mnist_files import ensure_mnist
from ganlab.errors import one_line_errors
from ganlab.metrics.mnist_classifier import PACKAGED_EVALUATOR, save_evaluator, train_classifier


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    ensure_mnist(args.data_dir)
    model, info = train_classifier(args.data_dir, epochs=args.epochs, seed=args.seed)
    info["trained_on"] = f"{platform.processor() or platform.machine()}, torch {torch.__version__}"
    info["command"] = f"scripts/pin_evaluator.py --epochs {args.epochs} --seed {args.seed}"
    save_evaluator(model, info, PACKAGED_EVALUATOR)
    digest = hashlib.sha256(PACKAGED_EVALUATOR.read_bytes()).hexdigest()
    print(f"test accuracy {info['test_accuracy']:.4f}; PACKAGED_EVALUATOR_SHA256 = {digest!r}")


if __name__ == "__main__":
    main()
