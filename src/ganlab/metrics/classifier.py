"""The evaluator classifier for any data set: C channels, any number of classes, any image size.

No pretrained network can be downloaded here, so each data set is judged by a small CNN the
project trains itself. Generated images arrive in [-1, 1] at the generator's size and channel
count; :func:`to_evaluator_input` turns them into what the evaluator was trained on (its channel
count, ``eval_size`` pixels square) inside ``features``, so callers never resize.

The layout is the MNIST evaluator's, grown with the input: conv blocks (conv, batch norm, ReLU,
2x2 max pool) of 32, 64, then 128 channels until the map is at most 8 px, a 128-d ReLU layer
(the features FID, KID and precision/recall use) and a linear head. At ``eval_size`` 28 and one
channel it is exactly the packaged MNIST evaluator, parameter for parameter.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.errors import CheckpointError, ConfigError
from ganlab.utils.atomic import atomic_path

FEATURE_DIM = 128
MIN_EVAL_SIZE = 8
MAX_EVAL_SIZE = 256
# A feature map this small (or smaller) after the conv blocks stops adding blocks.
FINAL_MAP_SIZE = 8
BLOCK_WIDTHS = (32, 64, 128)


def block_widths(eval_size: int) -> list[int]:
    """Output channels of each conv block: two blocks at least, more until the map is <= 8 px."""
    widths: list[int] = []
    size = eval_size
    while len(widths) < 2 or size > FINAL_MAP_SIZE:
        widths.append(BLOCK_WIDTHS[min(len(widths), len(BLOCK_WIDTHS) - 1)])
        size //= 2
    return widths


def to_evaluator_input(images: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """Images in [-1, 1], [N, C, H, W] at any size -> [N, channels, size, size].

    Colour fed to a grey evaluator is averaged over R, G and B (as the MNIST evaluator always
    did); grey fed to a colour evaluator is repeated into three equal channels. Any other
    mismatch is a ConfigError rather than a guess.
    """
    if images.ndim != 4:
        raise ConfigError(
            f"the evaluator takes images as [N, C, H, W]; got shape {tuple(images.shape)}"
        )
    given = images.shape[1]
    if given != channels:
        if channels == 1 and given == 3:
            images = images.mean(dim=1, keepdim=True)
        elif channels == 3 and given == 1:
            images = images.expand(-1, 3, -1, -1)
        else:
            raise ConfigError(
                f"the evaluator reads {channels}-channel images; got {given} channels"
            )
    if images.shape[-1] != size or images.shape[-2] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)
    return images


class ImageClassifier(nn.Module):
    """``features(images)``: the 128-d penultimate layer; ``head``: the linear classifier on it;
    ``forward``: logits. Images in [-1, 1] at any size, converted inside (see the module)."""

    def __init__(self, channels: int, n_classes: int, eval_size: int) -> None:
        super().__init__()
        if channels < 1:
            raise ConfigError(f"an evaluator needs at least one channel; got {channels}")
        if n_classes < 2:
            raise ConfigError(f"an evaluator needs at least two classes; got {n_classes}")
        if not MIN_EVAL_SIZE <= eval_size <= MAX_EVAL_SIZE:
            raise ConfigError(
                f"evaluator size {eval_size} px must be between {MIN_EVAL_SIZE} and {MAX_EVAL_SIZE}"
            )
        self.channels = channels
        self.n_classes = n_classes
        self.eval_size = eval_size
        layers: list[nn.Module] = []
        width, size = channels, eval_size
        for out in block_widths(eval_size):
            layers += [
                nn.Conv2d(width, out, 3, padding=1),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            width, size = out, size // 2
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(width * size * size, FEATURE_DIM), nn.ReLU(inplace=True)
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, n_classes)

    @property
    def architecture(self) -> dict[str, int]:
        """What a saved evaluator must match to be loaded into this one."""
        return {"channels": self.channels, "n_classes": self.n_classes, "eval_size": self.eval_size}

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        return to_evaluator_input(images, self.channels, self.eval_size)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(self.prepare(images)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(images)))


def describe_architecture(architecture: dict[str, int]) -> str:
    return (
        f"{architecture['channels']}-channel images of {architecture['n_classes']} classes "
        f"at {architecture['eval_size']} px"
    )


@torch.no_grad()
def predict(classifier: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Predicted class of each image (images in [-1, 1])."""
    classifier.eval()
    device = next(classifier.parameters()).device
    chunks = [classifier(chunk.to(device)).argmax(1).cpu() for chunk in images.split(batch_size)]
    return torch.cat(chunks)


@torch.no_grad()
def features_and_logits(
    classifier: ImageClassifier, images: torch.Tensor, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate features and logits from one pass, on the classifier's device.

    In eval mode ``forward`` is ``head(features)`` (dropout sits only before the head), so the
    logits need no second pass through the convolutions. Batches of 256 keep the first
    convolution's output at 25 MB for 28 px grey; on 2 CPU cores 2,000 MNIST images took
    0.4-0.6 s in batches of 256 and 0.6-1.0 s in batches of 1,000.
    """
    classifier.eval()
    device = next(classifier.parameters()).device
    features, logits = [], []
    for chunk in images.split(batch_size):
        chunk_features = classifier.features(chunk.to(device))
        features.append(chunk_features)
        logits.append(classifier.head(chunk_features))
    return torch.cat(features), torch.cat(logits)


def default_epochs(n_train: int, batch_size: int, steps: int = 900) -> int:
    """Epochs for at least ``steps`` optimiser steps (MNIST's two epochs are 936), between 2
    and 30: a 6,000-image set gets 20 epochs instead of two barely trained ones."""
    per_epoch = max(n_train // batch_size, 1)
    return min(max(-(-steps // per_epoch), 2), 30)


def train_classifier(
    model: ImageClassifier,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    epochs: int,
    batch_size: int = 128,
    seed: int = 0,
) -> dict[str, Any]:
    """Train ``model`` on ``train`` (images in [-1, 1], int64 labels), return its accuracy on
    ``test`` and what it was trained on.

    The caller builds ``model`` right after ``torch.manual_seed(seed)``: its initial weights are
    part of the recipe. Images are converted to the evaluator's input once, up front; each
    batch is shifted by up to 2 px so that off-centre generated images are not misread.
    """
    generator = torch.Generator().manual_seed(seed)
    train_x, train_y = model.prepare(train[0]).contiguous(), train[1]
    test_x, test_y = test
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
    return {
        "test_accuracy": accuracy,
        "epochs": epochs,
        "train_seconds": round(time.perf_counter() - started, 1),
        "train_images": len(train_x),
        "test_images": len(test_x),
    }


def save_classifier(model: ImageClassifier, info: dict[str, Any], path: str | os.PathLike) -> None:
    """Write an evaluator (weights, training info, architecture) atomically."""
    with atomic_path(path) as tmp:
        torch.save(
            {"state_dict": model.state_dict(), "info": info, "architecture": model.architecture},
            tmp,
        )


def load_classifier(
    path: str | os.PathLike,
    channels: int,
    n_classes: int,
    eval_size: int,
    sha256: str | None = None,
) -> tuple[ImageClassifier, dict[str, Any]]:
    """A saved evaluator for ``channels``-channel images of ``n_classes`` classes at
    ``eval_size`` px, in eval mode, and its training info (see :func:`load_weights`)."""
    model = ImageClassifier(channels, n_classes, eval_size)
    return model, load_weights(model, path, sha256)


def load_weights(
    model: ImageClassifier, path: str | os.PathLike, sha256: str | None = None
) -> dict[str, Any]:
    """Load a saved evaluator into ``model`` (left in eval mode); return its training info.

    A file made for another architecture, a damaged file or one that does not match ``sha256``
    is a one-line CheckpointError. Files without a recorded
    architecture (the packaged MNIST evaluator) are checked by the shapes of their weights.
    """
    path = Path(path)
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
        state_dict, info = saved["state_dict"], saved["info"]
        recorded = saved.get("architecture", model.architecture)
    except Exception as error:
        raise CheckpointError(
            f"evaluator {path} is unreadable ({type(error).__name__}); delete it to retrain"
        ) from error
    if recorded != model.architecture:
        raise CheckpointError(
            f"evaluator {path} was made for {describe_architecture(recorded)}, not "
            f"{describe_architecture(model.architecture)}; delete it to retrain"
        )
    try:
        model.load_state_dict(state_dict)
    except Exception as error:
        raise CheckpointError(
            f"evaluator {path} does not fit {describe_architecture(model.architecture)} "
            f"({type(error).__name__}); delete it to retrain"
        ) from error
    model.eval()
    return info
