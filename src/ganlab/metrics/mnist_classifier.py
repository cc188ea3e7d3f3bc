"""A small CNN that recognises MNIST digits, used to judge whether a generated "5" looks like a 5.

No pretrained network can be downloaded here, so the project trained its own. For the real,
checksummed MNIST files every machine uses the same weights, shipped with the package
(``assets/mnist_classifier.pt``, sha256-checked): an evaluator trained on each machine differs a
little with the CPU's arithmetic, and so would every FID measured with it. Other data (a custom
or test folder) gets an evaluator trained once per folder and cached there
(``<data_dir>/evaluators/mnist_classifier.pt``). It always works at 28x28, MNIST's native size;
images of other sizes are resized before they are classified.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.data.mnist_datamodule import N_CLASSES, load_split
from ganlab.data.mnist_files import ensure_mnist, verify_raw_files
from ganlab.errors import CheckpointError, DataFileError
from ganlab.utils.atomic import atomic_path

log = logging.getLogger(__name__)
EVALUATOR_SIZE = 28
CACHE_NAME = "evaluators/mnist_classifier.pt"
PACKAGED_EVALUATOR = Path(__file__).parent / "assets" / "mnist_classifier.pt"
# Changing the packaged weights changes every metric: do it on purpose, with this digest
# (scripts/pin_evaluator.py prints it) and a note in docs/results.md.
PACKAGED_EVALUATOR_SHA256 = "1298a306e90944eb20e2128f8d7bfaf9167bf08a8543f6e6500003f75f569b6c"


class MNISTClassifier(nn.Module):
    """Two conv blocks and two linear layers; ``features`` is the 128-d penultimate layer."""

    def __init__(self, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(128, n_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(resize_for_evaluator(images)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(images)))


def resize_for_evaluator(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] at any size (and 1 or 3 channels) -> [N, 1, 28, 28]."""
    if images.shape[1] == 3:
        images = images.mean(dim=1, keepdim=True)
    if images.shape[-1] != EVALUATOR_SIZE or images.shape[-2] != EVALUATOR_SIZE:
        images = F.interpolate(
            images, size=(EVALUATOR_SIZE, EVALUATOR_SIZE), mode="bilinear", antialias=True
        )
    return images


@torch.no_grad()
def predict(classifier: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Predicted class of each image (images in [-1, 1])."""
    classifier.eval()
    device = next(classifier.parameters()).device
    chunks = [classifier(chunk.to(device)).argmax(1).cpu() for chunk in images.split(batch_size)]
    return torch.cat(chunks)


@torch.no_grad()
def features_and_logits(
    classifier: MNISTClassifier, images: torch.Tensor, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate features and logits from one pass, on the classifier's device.

    In eval mode ``forward`` is ``head(features)`` (dropout sits only before the head), so the
    logits need no second pass through the convolutions. Batches of 256 keep the first
    convolution's output at 25 MB; on 2 CPU cores 2,000 images took 0.4-0.6 s in batches of 256
    and 0.6-1.0 s in batches of 1,000.
    """
    classifier.eval()
    device = next(classifier.parameters()).device
    features, logits = [], []
    for chunk in images.split(batch_size):
        chunk_features = classifier.features(chunk.to(device))
        features.append(chunk_features)
        logits.append(classifier.head(chunk_features))
    return torch.cat(features), torch.cat(logits)


def train_classifier(
    data_dir: str | os.PathLike, epochs: int = 2, batch_size: int = 128, seed: int = 0
) -> tuple[MNISTClassifier, dict[str, Any]]:
    """Train on the MNIST training file, report accuracy on the test file."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    train_x, train_y = load_split(data_dir, "train", EVALUATOR_SIZE)
    test_x, test_y = load_split(data_dir, "test", EVALUATOR_SIZE)
    model = MNISTClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = epochs * (len(train_x) // batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=3e-3, total_steps=max(steps, 1)
    )
    started = time.perf_counter()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(train_x), generator=generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            idx = order[start : start + batch_size]
            # Small random shifts make the evaluator less fooled by off-centre generated digits.
            x = torch.roll(
                train_x[idx],
                shifts=tuple(torch.randint(-2, 3, (2,), generator=generator).tolist()),
                dims=(2, 3),
            )
            loss = F.cross_entropy(model(x), train_y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    accuracy = float((predict(model, test_x) == test_y).float().mean())
    info = {
        "test_accuracy": accuracy,
        "epochs": epochs,
        "train_seconds": round(time.perf_counter() - started, 1),
        "train_images": len(train_x),
        "test_images": len(test_x),
    }
    return model, info


def load_or_train_classifier(
    data_dir: str | os.PathLike, verify: bool = True, epochs: int = 2
) -> tuple[MNISTClassifier, dict[str, Any]]:
    """The evaluator for the data in ``data_dir``.

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
    """A saved evaluator (weights and training info); a damaged file is a one-line error."""
    try:
        content = path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"evaluator {path} is unreadable: {error.strerror}") from error
    if sha256 is not None and hashlib.sha256(content).hexdigest() != sha256:
        raise CheckpointError(
            f"evaluator {path} does not match its sha256; reinstall ganlab to restore it"
        )
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = MNISTClassifier()
        model.load_state_dict(saved["state_dict"])
    except Exception as error:
        raise CheckpointError(
            f"evaluator {path} is unreadable ({type(error).__name__}); delete it to retrain"
        ) from error
    return model.eval(), saved["info"]


def save_evaluator(model: MNISTClassifier, info: dict[str, Any], path: Path) -> None:
    """Write an evaluator atomically: an interrupted save leaves no half-written file."""
    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "info": info}, tmp)


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
