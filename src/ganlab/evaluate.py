"""Measure how well a generator draws the classes it is asked for.

    ganlab-evaluate logs/.../checkpoints/last.ckpt --per-class 1000 --out metrics.json
    ganlab-evaluate samples.npz          # images + labels written by ganlab-generate

Prints a JSON report: conditional accuracy overall and per class, with the sample count and
the evaluator's own test accuracy (the ceiling a perfect generator could reach).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlab.data.mnist_datamodule import to_model_range
from ganlab.errors import ConfigError, DataFileError, one_line_errors
from ganlab.generate import generate_images
from ganlab.metrics.conditional_accuracy import conditional_accuracy
from ganlab.metrics.mnist_classifier import load_or_train_classifier
from ganlab.utils.atomic import atomic_path


def load_npz_samples(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N,H,W or N,C,H,W) and int64 labels from an .npz -> images in [-1, 1]."""
    if not path.is_file():
        raise DataFileError(f"sample file {path} does not exist")
    try:
        with np.load(path) as data:
            images, labels = data["images"], data["labels"]
    except (KeyError, ValueError, OSError) as error:
        raise DataFileError(
            f"{path} is not an .npz with 'images' and 'labels' ({error})"
        ) from error
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) != len(labels):
        raise DataFileError(
            f"{path}: expected uint8 images N x H x W or N x C x H x W and N labels, got "
            f"{images.dtype} {images.shape} and {labels.shape}"
        )
    pixels = torch.from_numpy(images)
    return to_model_range(pixels, pixels.shape[-1]), torch.from_numpy(labels.astype(np.int64))


def evaluate(
    source: str | Path, data_dir: str = "data", per_class: int = 1000, seed: int = 0
) -> dict[str, Any]:
    source = Path(source)
    if source.suffix == ".npz":
        images, labels = load_npz_samples(source)
        n_classes = 10
    else:
        generated, label_array, backend = generate_images(source, ["0-9"], per_class, seed)
        images, labels = torch.from_numpy(generated), torch.from_numpy(label_array)
        n_classes = backend.info.n_classes
    classifier, info = load_or_train_classifier(data_dir)
    overall, per_label = conditional_accuracy(classifier, images, labels, n_classes)
    return {
        "source": str(source),
        "samples": len(labels),
        "seed": seed,
        "conditional_accuracy": round(overall, 4),
        "per_class_accuracy": {str(c): round(a, 4) for c, a in enumerate(per_label)},
        "evaluator_test_accuracy": round(info["test_accuracy"], 4),
    }


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Conditional accuracy of a checkpoint or .npz.")
    parser.add_argument(
        "source", help="checkpoint (.ckpt), weights folder, .onnx, or samples (.npz)"
    )
    parser.add_argument(
        "--per-class", type=int, default=1000, help="images per class (checkpoints)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="data", help="where MNIST and the evaluator live")
    parser.add_argument("--out", help="also write the JSON report here")
    args = parser.parse_args(argv)
    if args.per_class < 1:
        raise ConfigError(f"--per-class {args.per_class} must be at least 1")
    report = evaluate(args.source, args.data_dir, args.per_class, args.seed)
    text = json.dumps(report, indent=2)
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
