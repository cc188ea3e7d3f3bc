"""The MNIST evaluator: :class:`~ganlab.metrics.classifier.ImageClassifier` for one channel, ten
classes at 28 px, under the names the lab has always used.

For the real, checksummed MNIST files every machine uses the same weights, shipped with the
package (``assets/mnist_classifier.pt``, sha256-checked): an evaluator trained on each machine
differs a little with the CPU's arithmetic, and so would every FID measured with it. Other data
(a custom or test folder) gets an evaluator trained once per folder and cached there
(``<data_dir>/evaluators/mnist_classifier.pt``). Evaluators for other data sets come from
:func:`ganlab.metrics.evaluators.load_evaluator_for`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from ganlab.data.mnist_datamodule import N_CLASSES, load_split
from ganlab.data.mnist_files import ensure_mnist, verify_raw_files
from ganlab.errors import DataFileError
from ganlab.metrics.classifier import (
    ImageClassifier,
    features_and_logits,
    load_weights,
    predict,
    save_classifier,
    to_evaluator_input,
)
from ganlab.metrics.classifier import train_classifier as train_image_classifier

__all__ = [
    "CACHE_NAME",
    "EVALUATOR_SIZE",
    "PACKAGED_EVALUATOR",
    "PACKAGED_EVALUATOR_SHA256",
    "MNISTClassifier",
    "features_and_logits",
    "holds_real_mnist",
    "load_evaluator",
    "load_or_train_classifier",
    "predict",
    "resize_for_evaluator",
    "save_evaluator",
    "train_classifier",
]

log = logging.getLogger(__name__)
EVALUATOR_SIZE = 28
CACHE_NAME = "evaluators/mnist_classifier.pt"
PACKAGED_EVALUATOR = Path(__file__).parent / "assets" / "mnist_classifier.pt"
# Changing the packaged weights changes every metric: do it on purpose, with this digest
# (scripts/pin_evaluator.py prints it) and a note in docs/results.md.
PACKAGED_EVALUATOR_SHA256 = "1298a306e90944eb20e2128f8d7bfaf9167bf08a8543f6e6500003f75f569b6c"


class MNISTClassifier(ImageClassifier):
    """The evaluator for grey 28 px digits; ``features`` is the 128-d penultimate layer."""

    def __init__(self, n_classes: int = N_CLASSES) -> None:
        super().__init__(channels=1, n_classes=n_classes, eval_size=EVALUATOR_SIZE)


def resize_for_evaluator(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] at any size (and 1 or 3 channels) -> [N, 1, 28, 28]."""
    return to_evaluator_input(images, 1, EVALUATOR_SIZE)


def train_classifier(
    data_dir: str | os.PathLike, epochs: int = 2, batch_size: int = 128, seed: int = 0
) -> tuple[MNISTClassifier, dict[str, Any]]:
    """Train on the MNIST training file, report accuracy on the test file."""
    torch.manual_seed(seed)
    train = load_split(data_dir, "train", EVALUATOR_SIZE)
    test = load_split(data_dir, "test", EVALUATOR_SIZE)
    model = MNISTClassifier()
    info = train_image_classifier(model, train, test, epochs, batch_size, seed)
    return model, info


def load_or_train_classifier(
    data_dir: str | os.PathLike, verify: bool = True, epochs: int = 2
) -> tuple[MNISTClassifier, dict[str, Any]]:
    """The evaluator for the MNIST files in ``data_dir``.

    A folder holding the real MNIST files (checked against their checksums) gets the packaged
    evaluator, the same on every machine. Any other folder (custom or test data) gets one
    trained on its training file on first use and cached there atomically; ``verify=True``
    first fetches missing MNIST files and refuses altered ones, as the data module does. The
    caller's random state is left as it was: building the network draws initial weights, and
    training reseeds; a seeded run that loads the evaluator must draw the same random numbers
    as one without it.
    """
    data_dir = Path(data_dir)
    with torch.random.fork_rng():
        if holds_real_mnist(data_dir):
            return load_evaluator(PACKAGED_EVALUATOR, PACKAGED_EVALUATOR_SHA256)
        if verify and not (data_dir / CACHE_NAME).is_file():
            ensure_mnist(data_dir)
            return load_evaluator(PACKAGED_EVALUATOR, PACKAGED_EVALUATOR_SHA256)
        return _load_or_train(data_dir, epochs)


def holds_real_mnist(data_dir: Path) -> bool:
    """Whether ``data_dir`` has all four MNIST files, unaltered (their sha256, ~0.2 s)."""
    try:
        verify_raw_files(data_dir)
    except DataFileError:
        return False
    return True


def load_evaluator(path: Path, sha256: str | None = None) -> tuple[MNISTClassifier, dict[str, Any]]:
    """A saved MNIST evaluator (weights and training info); a damaged file is a one-line error."""
    model = MNISTClassifier()
    return model, load_weights(model, path, sha256)


def save_evaluator(model: ImageClassifier, info: dict[str, Any], path: Path) -> None:
    """Write an evaluator atomically: an interrupted save leaves no half-written file."""
    save_classifier(model, info, path)


def _load_or_train(data_dir: Path, epochs: int) -> tuple[MNISTClassifier, dict[str, Any]]:
    path = data_dir / CACHE_NAME
    if path.is_file():
        return load_evaluator(path)
    log.info("Training the MNIST evaluator classifier (once per data folder) ...")
    model, info = train_classifier(data_dir, epochs=epochs)
    log.info(
        "Evaluator test accuracy %.4f after %.0f s", info["test_accuracy"], info["train_seconds"]
    )
    save_evaluator(model, info, path)
    return model.eval(), info
