"""Measure a generator: does it draw the requested digits, realistic ones, and all kinds of them?

    ganlab-evaluate logs/.../checkpoints/last.ckpt --per-class 1000 --out metrics.json
    ganlab-evaluate samples.npz          # images + labels written by ganlab-generate
    ganlab-evaluate generator.onnx --floor
    ganlab-evaluate --floor --img-size 28   # the floor alone, no generator

Prints a JSON report of the generated images against the MNIST test split (all 10,000 images,
at the generator's image size): conditional accuracy, Fréchet distance (overall and per class),
the Inception-style score, precision and recall, all in the evaluator classifier's feature
space (see :mod:`ganlab.metrics`), with the evaluator's own test accuracy. ``--floor`` adds what
real digits score: images from the MNIST training file, as many per class as the generated
set has, in place of the generated ones. FID and recall depend on the sample count, so a
generator is judged against the floor at its own count, not against zero.
"""

from __future__ import annotations

import json
import lzma
import math
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlab.data.mnist_datamodule import N_CLASSES, load_split, to_model_range
from ganlab.deploy.backends import load_backend
from ganlab.errors import ConfigError, DataFileError, OneLineArgumentParser, one_line_errors
from ganlab.generate import MAX_IMAGES, parse_labels, sample
from ganlab.images import check_seed
from ganlab.metrics import QualityMetrics
from ganlab.metrics.mnist_classifier import load_or_train_classifier
from ganlab.sampling import class_grid_labels
from ganlab.utils.atomic import check_writable_target, write_outputs

# Image size of the floor without a generator: the datamodule's default (datamodule.img_size).
# It matters: the floor at 10,000 images is FID 2.40 at 32 px and 3.89 at 28 px.
FLOOR_IMG_SIZE = 32
# Sizes the evaluator judges: MNIST is 28 px, the generators draw 28 or 32; below 8 px a digit
# is a blur, above 128 px the test split alone (resized to match) takes gigabytes.
MIN_IMG_SIZE, MAX_IMG_SIZE = 8, 128
SAMPLE_CHANNELS = (1, 3)
# What reading a damaged .npz can raise: the zip layer, its decompressors, numpy's header parser.
NPZ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
    TypeError,
    SyntaxError,
    NotImplementedError,
    RuntimeError,
)
EXPECTED_SAMPLES = (
    f"expected uint8 images N x H x W or N x C x H x W (C in {SAMPLE_CHANNELS}), square, "
    f"{MIN_IMG_SIZE}..{MAX_IMG_SIZE} px, 1..{MAX_IMAGES} of them, and N integer labels "
    f"0..{N_CLASSES - 1}, as ganlab-generate writes"
)


class _UnexpectedArrayError(Exception):
    """An array of the .npz is missing or not what ganlab-generate writes."""


def _check_images_header(shape: tuple[int, ...], dtype: np.dtype) -> None:
    size_ok = len(shape) in (3, 4) and shape[-1] == shape[-2]
    size_ok = size_ok and MIN_IMG_SIZE <= shape[-1] <= MAX_IMG_SIZE and 1 <= shape[0] <= MAX_IMAGES
    if dtype != np.uint8 or not size_ok or (len(shape) == 4 and shape[1] not in SAMPLE_CHANNELS):
        raise _UnexpectedArrayError(f"'images' is {dtype} of shape {shape}")


def _check_labels_header(shape: tuple[int, ...], dtype: np.dtype) -> None:
    if dtype.kind not in "iu" or len(shape) != 1 or shape[0] > MAX_IMAGES:
        raise _UnexpectedArrayError(f"'labels' is {dtype} of shape {shape}")


def _read_npy(
    archive: zipfile.ZipFile,
    name: str,
    check: Callable[[tuple[int, ...], np.dtype], None],
) -> np.ndarray:
    """One array of an .npz, its header checked by ``check`` before its data is read, so that a
    header claiming a billion images costs nothing."""
    try:
        member = archive.getinfo(f"{name}.npy")
    except KeyError:
        raise _UnexpectedArrayError(f"it has no '{name}' array") from None
    with archive.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"'{name}' is in .npy format {version}, expected 1.0 or 2.0")
        if dtype.hasobject or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise _UnexpectedArrayError(f"'{name}' is {dtype} of shape {shape}")
        check(shape, dtype)
        size = math.prod(shape) * dtype.itemsize
        data = handle.read(size)
    if len(data) != size:
        raise ValueError(f"'{name}' is truncated: {len(data)} of {size} bytes")
    array = np.frombuffer(bytearray(data), dtype=dtype)
    return array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)


def load_npz_samples(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N,H,W or N,C,H,W) and int64 labels from an .npz -> images in [-1, 1].

    Shapes and types are checked from the arrays' headers before their data is read."""
    if not path.is_file():
        raise DataFileError(f"sample file {path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            images = _read_npy(archive, "images", _check_images_header)
            labels = _read_npy(archive, "labels", _check_labels_header)
    except _UnexpectedArrayError as error:
        raise DataFileError(f"{path}: {error}; {EXPECTED_SAMPLES}") from None
    except NPZ_ERRORS as error:
        detail = " ".join(str(error).split())[:200] or type(error).__name__
        raise DataFileError(
            f"{path} is not a readable .npz of samples ({detail}); {EXPECTED_SAMPLES}"
        ) from error
    if len(labels) != len(images) or (
        len(labels) and (labels.min() < 0 or labels.max() >= N_CLASSES)
    ):
        found = f"{len(labels)} labels" + (
            f" in {labels.min()}..{labels.max()}" if len(labels) else ""
        )
        raise DataFileError(f"{path} has {len(images)} images and {found}; {EXPECTED_SAMPLES}")
    pixels = torch.from_numpy(images)
    return to_model_range(pixels, pixels.shape[-1]), torch.from_numpy(labels.astype(np.int64))


def load_samples(source: Path, per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Images in [-1, 1], labels and the number of classes, from an .npz or a generator."""
    if source.suffix == ".npz":
        images, labels = load_npz_samples(source)
        return images, labels, N_CLASSES
    backend = load_backend(source)
    info = backend.info
    if not MIN_IMG_SIZE <= info.img_size <= MAX_IMG_SIZE or info.channels not in SAMPLE_CHANNELS:
        raise ConfigError(
            f"{source} draws {info.channels}x{info.img_size}x{info.img_size} images; the "
            f"evaluator judges {SAMPLE_CHANNELS} channel(s) of {MIN_IMG_SIZE}..{MAX_IMG_SIZE} px"
        )
    classes = parse_labels(["0-9"], info.n_classes)
    generated, label_array = sample(backend, classes, per_class, seed)
    return torch.from_numpy(generated), torch.from_numpy(label_array), info.n_classes


def training_images_like(
    data_dir: str, labels: torch.Tensor, img_size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images of the MNIST training file with the same count per class as ``labels``, chosen
    with ``seed``: real digits standing in for generated ones."""
    train_images, train_labels = load_split(data_dir, "train", img_size)
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for cls, count in enumerate(torch.bincount(labels, minlength=N_CLASSES).tolist()):
        pool = torch.nonzero(train_labels == cls).squeeze(1)
        if count > len(pool):
            raise ConfigError(
                f"the floor needs {count} real images of class {cls} but the training file "
                f"has {len(pool)}; use a smaller --per-class"
            )
        chosen.append(pool[torch.randperm(len(pool), generator=generator)[:count]])
    index = torch.cat(chosen)
    return train_images[index], train_labels[index]


def _number(value: float, digits: int = 4) -> float | None:
    """Rounded for the report; NaN (a class without enough images) becomes JSON null."""
    return None if math.isnan(value) else round(value, digits)


def summarise(quality: QualityMetrics) -> dict[str, Any]:
    """The report's entries for the generated side currently held by ``quality``."""
    values = quality.compute()
    per_class = quality.per_class()
    return {
        "samples": values["n_fake"],
        "conditional_accuracy": _number(values["cond_acc"]),
        "fid": _number(values["fid"]),
        "intra_fid": _number(values["intra_fid"]),
        "inception_score": _number(values["inception_score"]),
        "precision": _number(values["precision"]),
        "recall": _number(values["recall"]),
        "per_class_accuracy": {str(c): _number(a) for c, a in enumerate(per_class["accuracy"])},
        "per_class_fid": {str(c): _number(f) for c, f in enumerate(per_class["fid"])},
    }


def evaluate(
    source: str | Path | None,
    data_dir: str = "data",
    per_class: int = 1000,
    seed: int = 0,
    floor: bool = False,
    img_size: int | None = None,
) -> dict[str, Any]:
    """The JSON report of ``source`` (if given) and of the floor (if asked) against the test
    split. Without a source the floor has ``per_class`` images per class at ``img_size``
    (default 32); with one, the images' own size is used."""
    check_seed(seed, "--seed")
    if not 1 <= per_class <= MAX_IMAGES // N_CLASSES:
        raise ConfigError(
            f"--per-class {per_class} must be between 1 and {MAX_IMAGES // N_CLASSES}"
        )
    if source is None and not floor:
        raise ConfigError(
            "nothing to evaluate: give a checkpoint, weights folder, .onnx or .npz, "
            "or --floor for the metrics' floor alone"
        )
    if source is not None:
        if img_size is not None:
            raise ConfigError(
                f"--img-size {img_size} applies to the floor alone; with a source the "
                "images' own size is used"
            )
        images, labels, n_classes = load_samples(Path(source), per_class, seed)
        img_size = images.shape[-1]
    else:
        labels = class_grid_labels(N_CLASSES, per_class)
        n_classes = N_CLASSES
        img_size = FLOOR_IMG_SIZE if img_size is None else img_size
        if not MIN_IMG_SIZE <= img_size <= MAX_IMG_SIZE:
            raise ConfigError(
                f"--img-size {img_size} must be between {MIN_IMG_SIZE} and {MAX_IMG_SIZE}"
            )
    classifier, info = load_or_train_classifier(data_dir)
    real_images, real_labels = load_split(data_dir, "test", img_size)
    quality = QualityMetrics(classifier, n_classes)
    quality.update(real_images, real_labels, real=True)
    report: dict[str, Any] = {"source": None if source is None else str(source), "seed": seed}
    if source is not None:
        quality.update(images, labels, real=False)
        report.update(summarise(quality))
    report["reference"] = {"split": "test", "images": len(real_labels), "img_size": img_size}
    report["evaluator_test_accuracy"] = round(info["test_accuracy"], 4)
    if floor:
        quality.reset()  # keeps the test split's side
        quality.update(*training_images_like(data_dir, labels, img_size, seed), real=False)
        report["floor"] = {"source": "MNIST training file", **summarise(quality)}
    return report


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = OneLineArgumentParser(
        prog="ganlab-evaluate",
        description="Quality of a checkpoint, weights folder, .onnx or .npz against the MNIST "
        "test split: conditional accuracy, FID, intra-class FID, Inception-style score, "
        "precision and recall, in the evaluator classifier's feature space.",
    )
    parser.add_argument(
        "source",
        nargs="?",
        help="checkpoint (.ckpt), weights folder, .onnx, or samples (.npz); "
        "may be left out with --floor",
    )
    parser.add_argument(
        "--per-class",
        type=int,
        default=1000,
        help="images per class (generators, and the floor without a source)",
    )
    parser.add_argument("--seed", type=int, default=0, help="noise seed, and the floor's choice")
    parser.add_argument("--data-dir", default="data", help="where MNIST and the evaluator live")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also report real training images in place of generated ones, at the same count "
        "per class (the floor alone without a source)",
    )
    parser.add_argument(
        "--img-size",
        type=int,
        help=f"image size of the floor alone (default {FLOOR_IMG_SIZE}, the datamodule's); "
        "FID depends on it",
    )
    parser.add_argument("--out", help="also write the JSON report here")
    args = parser.parse_args(argv)
    if args.out:  # refused now, not after the evaluation
        check_writable_target(args.out)
    report = evaluate(
        args.source, args.data_dir, args.per_class, args.seed, args.floor, args.img_size
    )
    text = json.dumps(report, indent=2)
    if args.out:
        write_outputs({args.out: (text + "\n").encode()})
    print(text)


if __name__ == "__main__":
    main()
