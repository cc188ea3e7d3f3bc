"""Measure a generator: does it draw the requested classes, realistic images, and all kinds of them?

    ganlab-evaluate logs/.../checkpoints/last.ckpt --per-class 1000 --out metrics.json
    ganlab-evaluate samples.npz --dataset mnist   # images + labels written by ganlab-generate
    ganlab-evaluate generator.onnx --floor
    ganlab-evaluate --floor --dataset fashion_mnist --img-size 32   # the floor alone

Prints a JSON report of the generated images against the test split of the data set the
generator was trained on (its card says which; at the generator's image size): conditional
accuracy, Fréchet distance (overall and per class), KID, the Inception-style score, precision
and recall, all in the feature space of that data set's evaluator classifier (see
:mod:`ganlab.metrics`), with the evaluator's own test accuracy. ``--floor`` adds what real
images score: images of the training split, as many per class as the generated set has, in
place of the generated ones. FID, KID and recall depend on the sample count, so a generator is
judged against the floor at its own count, not against zero.
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

from ganlab.data.by_name import DEFAULT_DATASET, data_module
from ganlab.data.image_datamodule import ImageDataModule, to_model_range
from ganlab.deploy.backends import load_backend
from ganlab.errors import ConfigError, DataFileError, OneLineArgumentParser, one_line_errors
from ganlab.generate import MAX_IMAGES, add_sampling_options, sample
from ganlab.images import check_seed
from ganlab.metrics import QualityMetrics
from ganlab.metrics.evaluators import load_evaluator_for
from ganlab.models.conditional_generator import GeneratorCard
from ganlab.sampling import choose_per_class, class_grid_labels
from ganlab.utils.atomic import check_writable_target, write_outputs

# Image size of the floor without a generator: the data module's own default size. It matters:
# the MNIST floor at 10,000 images is FID 2.40 at 32 px and 3.89 at 28 px.
# Sizes the evaluator judges: below 8 px an image is a blur, above 128 px the test split alone
# (resized to match) takes gigabytes.
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
    "of the data set's classes, as ganlab-generate writes"
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


def load_npz_samples(path: Path, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N,H,W or N,C,H,W) and int64 labels 0..n_classes-1 from an .npz -> images
    in [-1, 1]. Shapes and types are checked from the arrays' headers before their data is
    read."""
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
        len(labels) and (labels.min() < 0 or labels.max() >= n_classes)
    ):
        found = f"{len(labels)} labels" + (
            f" in {labels.min()}..{labels.max()}" if len(labels) else ""
        )
        raise DataFileError(
            f"{path} has {len(images)} images and {found}; {EXPECTED_SAMPLES} (0..{n_classes - 1})"
        )
    pixels = torch.from_numpy(images)
    return to_model_range(pixels, pixels.shape[-1]), torch.from_numpy(labels.astype(np.int64))


def npz_channels_and_size(path: Path) -> tuple[int, int]:
    """Channels and size of the images in an .npz of samples, from the array's header."""
    found: dict[str, int] = {}

    def record(shape: tuple[int, ...], dtype: np.dtype) -> None:
        _check_images_header(shape, dtype)
        found.update(channels=shape[1] if len(shape) == 4 else 1, size=shape[-1])
        raise _UnexpectedArrayError("header read")  # stop before the data is read

    if not path.is_file():
        raise DataFileError(f"sample file {path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            _read_npy(archive, "images", record)
    except _UnexpectedArrayError as error:
        if not found:
            raise DataFileError(f"{path}: {error}; {EXPECTED_SAMPLES}") from None
    except NPZ_ERRORS as error:
        detail = " ".join(str(error).split())[:200] or type(error).__name__
        raise DataFileError(
            f"{path} is not a readable .npz of samples ({detail}); {EXPECTED_SAMPLES}"
        ) from error
    return found["channels"], found["size"]


def check_dataset(card: GeneratorCard, source: Path, dataset: str | None) -> str:
    """The data set to compare ``source`` with: the one its card names. A different one asked
    for is refused: the scores would measure the gap between two data sets."""
    if not card.dataset and not dataset:
        raise ConfigError(
            f"{source} does not record its data set (trained on a data module without a name); "
            "give --dataset"
        )
    if dataset and card.dataset and dataset != card.dataset:
        raise ConfigError(
            f"{source} was trained on {card.dataset}, not {dataset}; evaluate it against "
            f"{card.dataset} (leave out --dataset)"
        )
    return dataset or card.dataset


def training_images_like(
    datamodule: ImageDataModule, labels: torch.Tensor, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images of the training split with the same count per class as ``labels``, chosen with
    ``seed``: real images standing in for generated ones."""
    train_images, train_labels = datamodule.load_split("train")
    counts = torch.bincount(labels, minlength=datamodule.n_classes).tolist()
    try:
        index = choose_per_class(train_labels, counts, seed)
    except ValueError as error:
        raise ConfigError(
            f"the floor needs more real images than the training split has ({error}); "
            "use a smaller --per-class"
        ) from None
    return train_images[index], train_labels[index]


def _number(value: float, digits: int = 4) -> float | None:
    """Rounded for the report; NaN (a class without enough images) becomes JSON null."""
    return None if math.isnan(value) else round(value, digits)


def summarise(quality: QualityMetrics, class_names: list[str]) -> dict[str, Any]:
    """The report's entries for the generated side currently held by ``quality``."""
    values = quality.compute()
    per_class = quality.per_class()
    return {
        "samples": values["n_fake"],
        "conditional_accuracy": _number(values["cond_acc"]),
        "fid": _number(values["fid"]),
        "kid": _number(values["kid"], 6),
        "kid_std": _number(values["kid_std"], 6),
        "intra_fid": _number(values["intra_fid"]),
        "inception_score": _number(values["inception_score"]),
        "precision": _number(values["precision"]),
        "recall": _number(values["recall"]),
        "per_class_accuracy": dict(
            zip(class_names, map(_number, per_class["accuracy"]), strict=True)
        ),
        "per_class_fid": dict(zip(class_names, map(_number, per_class["fid"]), strict=True)),
    }


def generated_set(
    source: Path,
    dataset: str | None,
    data_dir: str,
    per_class: int,
    seed: int,
    **options: Any,
) -> tuple[str, torch.Tensor, torch.Tensor, int]:
    """The data set to compare with, the generated images in [-1, 1], their labels and
    channels: drawn from a generator (``per_class`` of each of its classes), or read from an
    .npz (whose data set is ``--dataset``, MNIST by default)."""
    if source.suffix == ".npz":
        if any(value is not None for value in options.values()):
            raise ConfigError(
                f"--sampler, --steps and --guidance apply to a model, not to samples ({source})"
            )
        name = dataset or DEFAULT_DATASET
        channels, size = npz_channels_and_size(source)
        n_classes = data_module(name, data_dir, size, channels).n_classes
        images, labels = load_npz_samples(source, n_classes)
        return name, images, labels, channels
    backend = load_backend(source)
    card = backend.info.card
    name = check_dataset(card, source, dataset)
    if not MIN_IMG_SIZE <= card.img_size <= MAX_IMG_SIZE or card.channels not in SAMPLE_CHANNELS:
        raise ConfigError(
            f"{source} draws {card.channels}x{card.img_size}x{card.img_size} images; the "
            f"evaluator judges {SAMPLE_CHANNELS} channel(s) of {MIN_IMG_SIZE}..{MAX_IMG_SIZE} px"
        )
    generated, label_array = sample(
        backend, list(range(card.n_classes)), per_class, seed, **options
    )
    return name, torch.from_numpy(generated), torch.from_numpy(label_array), card.channels


def evaluate(
    source: str | Path | None,
    data_dir: str = "data",
    per_class: int = 1000,
    seed: int = 0,
    floor: bool = False,
    img_size: int | None = None,
    dataset: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The JSON report of ``source`` (if given) and of the floor (if asked) against the test
    split of its data set. Without a source the floor has ``per_class`` images per class of
    ``dataset`` at ``img_size`` (default: the data set's own default size); with one, the
    images' own size is used. ``options`` are the model's sampling options (a diffusion
    model's steps and guidance)."""
    check_seed(seed, "--seed")
    if not 1 <= per_class <= MAX_IMAGES // 2:
        raise ConfigError(f"--per-class {per_class} must be between 1 and {MAX_IMAGES // 2}")
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
        dataset, images, labels, channels = generated_set(
            Path(source), dataset, data_dir, per_class, seed, **options
        )
        datamodule = data_module(dataset, data_dir, images.shape[-1], channels)
        if images.shape[0] > MAX_IMAGES:
            raise ConfigError(f"--per-class {per_class} gives more than {MAX_IMAGES} images")
    else:
        if img_size is not None and not MIN_IMG_SIZE <= img_size <= MAX_IMG_SIZE:
            raise ConfigError(
                f"--img-size {img_size} must be between {MIN_IMG_SIZE} and {MAX_IMG_SIZE}"
            )
        datamodule = data_module(dataset or DEFAULT_DATASET, data_dir, img_size)
        labels = class_grid_labels(datamodule.n_classes, per_class)
    classifier, info = load_evaluator_for(datamodule)
    real_images, real_labels = datamodule.load_split("test")
    quality = QualityMetrics(classifier, datamodule.n_classes)
    quality.update(real_images, real_labels, real=True)
    report: dict[str, Any] = {
        "source": None if source is None else str(source),
        "dataset": datamodule.name,
        "seed": seed,
    }
    if source is not None:
        quality.update(images, labels, real=False)
        report.update(summarise(quality, datamodule.class_names))
    report["reference"] = {
        "split": "test",
        "images": len(real_labels),
        "img_size": datamodule.img_size,
    }
    report["evaluator"] = {
        key: info[key] for key in ("name", "pinned", "test_accuracy", "weak") if key in info
    }
    report["evaluator_test_accuracy"] = round(info["test_accuracy"], 4)
    if floor:
        quality.reset()  # keeps the test split's side
        quality.update(*training_images_like(datamodule, labels, seed), real=False)
        report["floor"] = {
            "source": f"{datamodule.name} training split",
            **summarise(quality, datamodule.class_names),
        }
    return report


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = OneLineArgumentParser(
        prog="ganlab-evaluate",
        description="Quality of a checkpoint, weights folder, .onnx or .npz against the test "
        "split of its data set: conditional accuracy, FID, KID, intra-class FID, "
        "Inception-style score, precision and recall, in the feature space of the data set's "
        "evaluator classifier.",
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
    parser.add_argument(
        "--data-dir", default="data", help="where the data set (and a trained evaluator) live"
    )
    parser.add_argument(
        "--dataset",
        help="data set of an .npz or of the floor alone (default mnist); for a generator, the "
        "one its card names (another is refused)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also report real training images in place of generated ones, at the same count "
        "per class (the floor alone without a source)",
    )
    parser.add_argument(
        "--img-size",
        type=int,
        help="image size of the floor alone (default: the data set's own); FID depends on it",
    )
    parser.add_argument("--out", help="also write the JSON report here")
    add_sampling_options(parser)
    args = parser.parse_args(argv)
    if args.out:  # refused now, not after the evaluation
        check_writable_target(args.out)
    report = evaluate(
        args.source,
        args.data_dir,
        args.per_class,
        args.seed,
        args.floor,
        args.img_size,
        args.dataset,
        sampler=args.sampler,
        steps=args.steps,
        guidance=args.guidance,
    )
    text = json.dumps(report, indent=2)
    if args.out:
        write_outputs({args.out: (text + "\n").encode()})
    print(text)


if __name__ == "__main__":
    main()
