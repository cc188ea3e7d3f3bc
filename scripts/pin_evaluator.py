"""Train the packaged evaluator of a data set: the lab measures every metric of it with this one.

    python scripts/pin_evaluator.py [--dataset mnist] [--data-dir data] [--epochs N] [--seed 0]
                                    [--eval-size PX]

MNIST (the default) trains on the checksummed MNIST training file, checks on the test file,
writes ``src/ganlab/metrics/assets/mnist_classifier.pt`` and prints the sha256 to put in
``PACKAGED_EVALUATOR_SHA256``. Any other data set is built from its
``configs/datamodule/<name>.yaml``, fetched and verified by its data module, trained on its
training split and tested on its test split; the evaluator is written to
``assets/<evaluator>_classifier.pt`` and the script prints the line to put in
``ganlab.metrics.evaluators.PINNED``. Every file is written atomically. Metrics measured before
a change were measured with other weights: re-measure the results in docs/ with the new ones.
"""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path
from typing import Any

import torch

import ganlab
from ganlab.errors import ConfigError, OneLineArgumentParser, one_line_errors
from ganlab.metrics import evaluators
from ganlab.metrics.classifier import (
    MAX_EVAL_SIZE,
    MIN_EVAL_SIZE,
    ImageClassifier,
    default_epochs,
    save_classifier,
    train_classifier,
)
from ganlab.metrics.evaluators import PINNED, default_eval_size
from ganlab.metrics.mnist_classifier import PACKAGED_EVALUATOR, save_evaluator
from ganlab.metrics.mnist_classifier import train_classifier as train_mnist_classifier

DATAMODULE_CONFIGS = Path(ganlab.__file__).parent / "configs" / "datamodule"
BATCH_SIZE = 128


def dataset_names() -> list[str]:
    return sorted(path.stem for path in DATAMODULE_CONFIGS.glob("*.yaml"))


def build_datamodule(name: str, data_dir: str) -> Any:
    """The data module of ``configs/datamodule/<name>.yaml`` reading ``data_dir``."""
    import hydra
    from omegaconf import OmegaConf

    config = OmegaConf.load(DATAMODULE_CONFIGS / f"{name}.yaml")
    config.data_dir = data_dir
    return hydra.utils.instantiate(config)


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, torch {torch.__version__}"


def pin_mnist(data_dir: str, epochs: int, seed: int) -> None:
    from ganlab.data.mnist_files import ensure_mnist

    ensure_mnist(data_dir)
    model, info = train_mnist_classifier(data_dir, epochs=epochs, seed=seed)
    info["trained_on"] = machine()
    info["command"] = f"scripts/pin_evaluator.py --epochs {epochs} --seed {seed}"
    save_evaluator(model, info, PACKAGED_EVALUATOR)
    digest = hashlib.sha256(PACKAGED_EVALUATOR.read_bytes()).hexdigest()
    print(f"test accuracy {info['test_accuracy']:.4f}; PACKAGED_EVALUATOR_SHA256 = {digest!r}")


def pin_dataset(
    name: str, data_dir: str, epochs: int | None, seed: int, eval_size: int | None
) -> None:
    datamodule = build_datamodule(name, data_dir)
    key = datamodule.evaluator
    if not key:
        raise ConfigError(
            f"data set {name!r} names no pinned evaluator (its data module's evaluator is ''); "
            "it is judged by one trained per data folder"
        )
    if not getattr(datamodule, "verify", True):
        raise ConfigError(
            f"configs/datamodule/{name}.yaml switches verification off; an evaluator is pinned "
            "only from the verified data set"
        )
    spec = PINNED.get(key)
    if spec is not None and (spec.channels, spec.n_classes) != (
        datamodule.channels,
        datamodule.n_classes,
    ):
        raise ConfigError(
            f"PINNED[{key!r}] is for {spec.channels}-channel images of {spec.n_classes} "
            f"classes; {name} has {datamodule.channels}-channel images of "
            f"{datamodule.n_classes}"
        )
    if eval_size is None:
        eval_size = (
            spec.eval_size
            if spec is not None
            else default_eval_size(datamodule.channels, datamodule.img_size)
        )
    datamodule.prepare_data()
    train = datamodule.load_split("train")
    test = datamodule.load_split("test")
    if epochs is None:
        epochs = default_epochs(len(train[1]), BATCH_SIZE)
    torch.manual_seed(seed)
    model = ImageClassifier(datamodule.channels, datamodule.n_classes, eval_size)
    info = train_classifier(model, train, test, epochs, BATCH_SIZE, seed)
    info["class_names"] = list(datamodule.class_names)
    info["trained_on"] = machine()
    info["command"] = (
        f"scripts/pin_evaluator.py --dataset {name} --epochs {epochs} --seed {seed} "
        f"--eval-size {eval_size}"
    )
    asset = f"{key}_classifier.pt"
    path = evaluators.ASSETS / asset
    save_classifier(model, info, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    accuracy = round(info["test_accuracy"], 4)
    print(f"test accuracy {accuracy:.4f} on {info['test_images']} test images; sha256 {digest}")
    print("PINNED entry in src/ganlab/metrics/evaluators.py:")
    print(
        f"    {key!r}: PinnedEvaluator({asset!r}, {digest!r}, {datamodule.channels}, "
        f"{datamodule.n_classes}, {eval_size}, {accuracy}),"
    )


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = OneLineArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dataset", default="mnist", help="a configs/datamodule/ name")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument(
        "--epochs", type=int, default=None, help="default: 2 for MNIST, else 900+ steps"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-size", type=int, default=None, help="default: the registry's")
    args = parser.parse_args(argv)
    if args.dataset not in dataset_names():
        raise ConfigError(
            f"unknown data set {args.dataset!r}; expected one of {', '.join(dataset_names())}"
        )
    if args.epochs is not None and args.epochs < 1:
        raise ConfigError(f"--epochs {args.epochs} must be at least 1")
    if args.eval_size is not None and not MIN_EVAL_SIZE <= args.eval_size <= MAX_EVAL_SIZE:
        raise ConfigError(
            f"--eval-size {args.eval_size} must be between {MIN_EVAL_SIZE} and {MAX_EVAL_SIZE}"
        )
    if args.dataset == "mnist":
        if args.eval_size not in (None, 28):
            raise ConfigError("the MNIST evaluator works at 28 px; drop --eval-size")
        pin_mnist(args.data_dir, 2 if args.epochs is None else args.epochs, args.seed)
    else:
        pin_dataset(args.dataset, args.data_dir, args.epochs, args.seed, args.eval_size)


if __name__ == "__main__":
    main()
