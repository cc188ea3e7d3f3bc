"""The evaluator classifier of each data set: a pinned, packaged one for the real offline data
sets, else one trained once per data folder and cached there.

A pinned evaluator is the same file on every machine (sha256-checked), so metrics measured on
different machines compare. It is used only when the data is the real data set it was trained
on: for MNIST the four checksummed files (as the lab always did); for the others the data
module's own verification (its ``prepare_data`` fetches and checks the files against their
pinned digests) when ``verify`` is on and the data module itself verifies. Anything else (a
custom folder, hand-made test data, a data set not pinned yet) gets an evaluator trained on the
data module's training split, tested on its test split and cached atomically at
``<data_dir>/evaluators/<name>_<channels>c_<n_classes>k_<eval_size>px.pt``; a cache whose
class names or test-split size differ from the data's is refused, not reused.

Evaluator size: 28 px for grey data (MNIST and Fashion-MNIST are 28 px natively; larger sizes
only interpolate), 32 px for colour, never above the data's own size. For 64 px colour, 32 px
was measured against 64 px on a synthetic 64 px set of nine coloured-shape classes (3,000
training images, one CPU thread): the 64 px network (a third conv block) costs 7x per image
(features 5.2 against 0.75 ms, a training step of 128 images 1.6 against 0.19 s), both reached
100 % test accuracy, and at 32 px a copy of the test images blurred through 32 px still lies
48x the floor's FID from them (252 against 5.3), so fine detail is not invisible to it. At 64 px
every validation of a 64 px GAN (5,000 real and 900 generated images) would take ~30 s of CPU
instead of ~4 s. ``scripts/pin_evaluator.py --eval-size 64`` pins the larger one if real data
shows the difference matters.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from ganlab.errors import CheckpointError, ConfigError, DataFileError
from ganlab.metrics.classifier import (
    ImageClassifier,
    default_epochs,
    describe_architecture,
    load_classifier,
    save_classifier,
    train_classifier,
)
from ganlab.metrics.mnist_classifier import CACHE_NAME as MNIST_CACHE_NAME
from ganlab.metrics.mnist_classifier import PACKAGED_EVALUATOR_SHA256, holds_real_mnist

log = logging.getLogger(__name__)
ASSETS = Path(__file__).parent / "assets"
GREY_EVAL_SIZE = 28
COLOUR_EVAL_SIZE = 32
# Below these an evaluator's FID, KID and accuracy say little; reports flag it as weak.
WEAK_ACCURACY = 0.9
WEAK_TRAIN_IMAGES = 1000


@dataclass(frozen=True)
class PinnedEvaluator:
    """A packaged evaluator: ``assets/<asset>`` with this sha256, for ``channels``-channel
    images of ``n_classes`` classes judged at ``eval_size`` px. ``sha256`` None means not
    pinned yet: the data set gets an evaluator trained per data folder at the same size."""

    asset: str
    sha256: str | None
    channels: int
    n_classes: int
    eval_size: int
    test_accuracy: float | None = None

    @property
    def path(self) -> Path:
        return ASSETS / self.asset


# One entry per data set; scripts/pin_evaluator.py --dataset NAME prints the filled-in line.
PINNED: dict[str, PinnedEvaluator] = {
    "mnist": PinnedEvaluator("mnist_classifier.pt", PACKAGED_EVALUATOR_SHA256, 1, 10, 28, 0.9916),
    "fashion_mnist": PinnedEvaluator(
        "fashion_mnist_classifier.pt",
        "4ece7ec9d2f02b6519e34dfd0ad39b08bdc9e4747838d960e29c6b685c60db13",
        1,
        10,
        28,
        0.9044,
    ),
    "emoji": PinnedEvaluator(
        "emoji_classifier.pt",
        "55857b1861c0f5224cadf8d42d05b2a1a6d93b6c38721491c5701e6a3ca61553",
        3,
        9,
        COLOUR_EVAL_SIZE,
        0.7827,
    ),
}


class EvaluatedData(Protocol):
    """What :func:`load_evaluator_for` reads of a data module (an ImageDataModule)."""

    name: str
    evaluator: str
    channels: int
    img_size: int
    class_names: list[str]
    data_dir: str

    @property
    def n_classes(self) -> int: ...

    def prepare_data(self) -> None: ...

    def load_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]: ...


def default_eval_size(channels: int, img_size: int) -> int:
    """The size a data set without a pinned evaluator is judged at (see the module)."""
    return min(img_size, GREY_EVAL_SIZE if channels == 1 else COLOUR_EVAL_SIZE)


def cache_path(data_dir: str | os.PathLike, name: str, architecture: dict[str, int]) -> Path:
    """Where the evaluator trained on this data folder is cached: one file per data set name,
    channel count, class count and size, so that none is reused for another."""
    stem = (
        f"{name or 'folder'}_{architecture['channels']}c_{architecture['n_classes']}k_"
        f"{architecture['eval_size']}px"
    )
    return Path(data_dir) / "evaluators" / f"{stem}.pt"


def load_evaluator_for(
    datamodule: EvaluatedData, verify: bool = True, epochs: int | None = None
) -> tuple[ImageClassifier, dict[str, Any]]:
    """The evaluator of ``datamodule``'s data and what is known of it.

    The info has ``test_accuracy``, ``test_images``, ``train_images``, ``name`` (the pinned
    evaluator's, else the cache file's stem), ``pinned`` and ``weak`` (test accuracy below 0.9
    or fewer than 1,000 training images: its FID and accuracy deserve little trust). The
    caller's random state is left as it was (building and training the network draw random
    numbers). ``epochs`` (default: at least 900 optimiser steps, 2 epochs for fewer than 1,000
    images) applies to training only.
    """
    spec = _pinned_spec(datamodule)
    channels, n_classes = datamodule.channels, datamodule.n_classes
    eval_size = spec.eval_size if spec else default_eval_size(channels, datamodule.img_size)
    architecture = {"channels": channels, "n_classes": n_classes, "eval_size": eval_size}
    cache = cache_path(datamodule.data_dir, datamodule.name, architecture)
    with torch.random.fork_rng():
        if spec is not None and spec.sha256 and _holds_real_data(datamodule, verify, cache):
            model, info = load_classifier(
                spec.path, spec.channels, spec.n_classes, spec.eval_size, spec.sha256
            )
            return model, _described(info, datamodule.evaluator, pinned=True)
        model, info = _load_or_train(datamodule, architecture, cache, epochs)
        return model, _described(info, cache.stem, pinned=False)


def _pinned_spec(datamodule: EvaluatedData) -> PinnedEvaluator | None:
    """The registry entry the data module names (None for ""); a name the registry lacks, or
    an entry for other channels or classes, is a one-line error."""
    name = datamodule.evaluator
    if not name:
        return None
    spec = PINNED.get(name)
    if spec is None:
        raise ConfigError(
            f"data set {datamodule.name!r} names the evaluator {name!r}, which is not among the "
            f"pinned ones ({', '.join(PINNED)}); name one of those or '' to train one per folder"
        )
    if (spec.channels, spec.n_classes) != (datamodule.channels, datamodule.n_classes):
        raise CheckpointError(
            f"the pinned evaluator {name!r} judges {spec.channels}-channel images of "
            f"{spec.n_classes} classes; data set {datamodule.name!r} has "
            f"{datamodule.channels}-channel images of {datamodule.n_classes} classes"
        )
    return spec


def _holds_real_data(datamodule: EvaluatedData, verify: bool, cache: Path) -> bool:
    """Whether the data is the real data set its pinned evaluator was trained on.

    MNIST: its four files match their checksums (0.2 s, whatever ``verify`` says). Otherwise
    ``verify`` must be on, the data module must verify (its own ``verify`` not off) and its
    ``prepare_data`` must pass: it fetches missing files and raises DataFileError on altered
    ones. An MNIST folder that has its own evaluator cached is custom data and is not fetched
    into, as the lab always did.
    """
    data_dir = Path(datamodule.data_dir)
    mnist = datamodule.evaluator == "mnist"
    if mnist and holds_real_mnist(data_dir):
        return True
    if not (verify and getattr(datamodule, "verify", True)):
        return False
    if mnist and (cache.is_file() or (data_dir / MNIST_CACHE_NAME).is_file()):
        return False
    datamodule.prepare_data()
    return True


def _load_or_train(
    datamodule: EvaluatedData,
    architecture: dict[str, int],
    cache: Path,
    epochs: int | None,
) -> tuple[ImageClassifier, dict[str, Any]]:
    # The test split identifies the data a cache was made for (with the class names): two
    # folders or variants of one data set under one data_dir differ in it. Reading it costs
    # well under the training it saves.
    test = _split(datamodule, "test", architecture)
    if cache.is_file():
        model, info = load_classifier(
            cache, architecture["channels"], architecture["n_classes"], architecture["eval_size"]
        )
        made_for = (info.get("class_names"), info.get("test_images"))
        here = (list(datamodule.class_names), len(test[1]))
        if made_for != here:
            raise CheckpointError(
                f"evaluator {cache} was made for other data ({made_for[1]} test images of the "
                f"classes {made_for[0]}; this data has {here[1]} of {here[0]}); delete it to "
                "retrain, or give this data its own data_dir"
            )
        return model, info
    train = _split(datamodule, "train", architecture)
    batch_size = min(128, len(train[1]))
    if epochs is None:
        # Fewer than 1,000 images make a weak evaluator however long it trains: two epochs
        # keep the lab's tiny test folders as cheap as they always were.
        few = len(train[1]) < WEAK_TRAIN_IMAGES
        epochs = 2 if few else default_epochs(len(train[1]), batch_size)
    log.info(
        "Training the evaluator for %s (%s; once per data folder) ...",
        datamodule.name or "this folder",
        describe_architecture(architecture),
    )
    torch.manual_seed(0)
    model = ImageClassifier(**architecture)
    info = train_classifier(model, train, test, epochs, batch_size)
    info["class_names"] = list(datamodule.class_names)
    log.info(
        "Evaluator test accuracy %.4f after %.0f s", info["test_accuracy"], info["train_seconds"]
    )
    save_classifier(model, info, cache)
    return model.eval(), info


def _split(
    datamodule: EvaluatedData, split: str, architecture: dict[str, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``load_split(split)``, checked against the evaluator it trains or tests."""
    images, labels = datamodule.load_split(split)
    where = f"{datamodule.name or 'data'} {split} split in {datamodule.data_dir}"
    if images.ndim != 4 or images.shape[1] != architecture["channels"]:
        raise DataFileError(
            f"{where}: images {tuple(images.shape)} are not [N, {architecture['channels']}, H, W]"
        )
    if len(labels) < 2 or len(labels) != len(images):
        raise DataFileError(f"{where}: {len(images)} images and {len(labels)} labels")
    if labels.min() < 0 or labels.max() >= architecture["n_classes"]:
        raise DataFileError(f"{where}: labels fall outside 0..{architecture['n_classes'] - 1}")
    return images, labels.long()


def _described(info: dict[str, Any], name: str, pinned: bool) -> dict[str, Any]:
    weak = info["test_accuracy"] < WEAK_ACCURACY or info["train_images"] < WEAK_TRAIN_IMAGES
    return {**info, "name": name, "pinned": pinned, "weak": bool(weak)}
