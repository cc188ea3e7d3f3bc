"""Conditional accuracy and the evaluator classifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ganlab.data.mnist_datamodule import load_split
from ganlab.data.mnist_files import raw_dir
from ganlab.errors import CheckpointError, DataFileError
from ganlab.evaluate import evaluate, load_npz_samples
from ganlab.metrics.conditional_accuracy import ConditionalAccuracy, conditional_accuracy
from ganlab.metrics.mnist_classifier import (
    CACHE_NAME,
    PACKAGED_EVALUATOR,
    PACKAGED_EVALUATOR_SHA256,
    MNISTClassifier,
    load_evaluator,
    load_or_train_classifier,
    predict,
    resize_for_evaluator,
    save_evaluator,
)


class BrightnessClassifier(nn.Module):
    """Reads the class from mean brightness: images filled with value (2c/9 - 1) are class c."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.linspace(-1, 1, 10), requires_grad=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        mean = images.flatten(1).mean(1, keepdim=True)
        return -(mean - self.anchor).abs()


def images_of(classes: list[int], size: int = 32) -> torch.Tensor:
    values = torch.tensor(classes, dtype=torch.float32) * 2 / 9 - 1
    return values.view(-1, 1, 1, 1).expand(-1, 1, size, size).clone()


def test_conditional_accuracy_counts_right_and_wrong() -> None:
    clf = BrightnessClassifier()
    labels = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    overall, per_class = conditional_accuracy(clf, images_of(labels.tolist()), labels)
    assert overall == 1.0 and per_class == [1.0] * 10
    wrong = images_of([9, 1, 2, 3, 4, 5, 6, 7, 8, 0])
    overall, per_class = conditional_accuracy(clf, wrong, labels)
    assert overall == pytest.approx(0.8)
    assert per_class[0] == 0.0 and per_class[9] == 0.0 and per_class[5] == 1.0


def test_class_without_samples_is_nan() -> None:
    _, per_class = conditional_accuracy(BrightnessClassifier(), images_of([1]), torch.tensor([1]))
    assert np.isnan(per_class[0]) and per_class[1] == 1.0


def test_conditional_accuracy_metric_adds_up_batches() -> None:
    labels = torch.tensor([0, 1, 1, 2, 2, 2])
    predicted = torch.tensor([0, 1, 0, 2, 2, 1])
    metric = ConditionalAccuracy(n_classes=4)
    metric.update(predicted[:2], labels[:2])
    metric.update(predicted[2:], labels[2:])
    overall, per_class = metric.compute()
    assert float(overall) == pytest.approx(4 / 6)
    assert per_class[:3].tolist() == pytest.approx([1.0, 0.5, 2 / 3])
    assert per_class[3].isnan()


def test_evaluator_accepts_any_size_and_rgb() -> None:
    clf = MNISTClassifier().eval()
    for shape in [(2, 1, 28, 28), (2, 1, 32, 32), (2, 3, 32, 32)]:
        x = torch.zeros(shape)
        assert resize_for_evaluator(x).shape == (2, 1, 28, 28)
        assert clf(x).shape == (2, 10)
        assert clf.features(x).shape == (2, 128)


def test_evaluator_is_trained_once_and_cached(tmp_path: Path) -> None:
    from tests.helpers import make_tiny_mnist

    data_dir = make_tiny_mnist(tmp_path, n_train=256, n_test=64)
    model, info = load_or_train_classifier(data_dir, verify=False, epochs=25)
    cache = data_dir / CACHE_NAME
    assert cache.is_file()
    # The tiny set encodes the class in brightness: easy to learn.
    assert info["test_accuracy"] > 0.5
    stamp = cache.stat().st_mtime_ns
    again, info_again = load_or_train_classifier(data_dir, verify=False)
    assert cache.stat().st_mtime_ns == stamp and info_again == info
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(model.eval()(x), again.eval()(x))
    cache.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="delete it to retrain"):
        load_or_train_classifier(data_dir, verify=False)


def test_npz_samples_are_checked(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    np.savez(good, images=np.full((3, 28, 28), 255, np.uint8), labels=np.array([1, 2, 3]))
    images, labels = load_npz_samples(good, 10)
    assert images.shape == (3, 1, 28, 28) and images.max() == 1.0 and labels.dtype == torch.int64
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((3, 28, 28), np.float32), labels=np.array([1, 2, 3]))
    with pytest.raises(DataFileError, match="expected uint8 images"):
        load_npz_samples(bad, 10)
    with pytest.raises(DataFileError, match="does not exist"):
        load_npz_samples(tmp_path / "missing.npz", 10)


@pytest.mark.mnist
def test_real_mnist_gets_the_packaged_evaluator_at_99_percent(
    real_data_dir: Path, tmp_path: Path
) -> None:
    """The real files get the shipped weights, whatever the folder has cached, and they
    recognise at least 99 % of the test digits (measured here, not read from the file)."""
    folder = raw_dir(tmp_path)
    folder.mkdir(parents=True)
    for source in raw_dir(real_data_dir).iterdir():
        (folder / source.name).symlink_to(source)
    save_evaluator(MNISTClassifier(), {"test_accuracy": 0.1}, tmp_path / CACHE_NAME)
    classifier, info = load_or_train_classifier(tmp_path, verify=False)
    packaged, _ = load_evaluator(PACKAGED_EVALUATOR, PACKAGED_EVALUATOR_SHA256)
    for name, tensor in packaged.state_dict().items():
        assert torch.equal(classifier.state_dict()[name], tensor)
    images, labels = load_split(real_data_dir, "test", 28)
    accuracy = (predict(classifier, images) == labels).float().mean().item()
    assert accuracy >= 0.99
    assert accuracy == pytest.approx(info["test_accuracy"], abs=1e-4)


def test_damaged_packaged_evaluator_is_one_clear_error(tmp_path: Path) -> None:
    copy = tmp_path / "evaluator.pt"
    content = bytearray(PACKAGED_EVALUATOR.read_bytes())
    copy.write_bytes(content)
    assert load_evaluator(copy, PACKAGED_EVALUATOR_SHA256)[1]["test_accuracy"] >= 0.99
    content[len(content) // 2] ^= 0xFF
    copy.write_bytes(content)
    with pytest.raises(CheckpointError, match="does not match its sha256; reinstall"):
        load_evaluator(copy, PACKAGED_EVALUATOR_SHA256)
    with pytest.raises(CheckpointError, match="is unreadable"):
        load_evaluator(tmp_path / "missing.pt")


@pytest.mark.slow
@pytest.mark.mnist
def test_real_test_images_score_as_the_evaluator_ceiling(real_data_dir: Path, tmp_path) -> None:
    """Real digits saved as an .npz score the evaluator's own accuracy: the metric's ceiling."""
    from ganlab.data.mnist_datamodule import read_idx
    from ganlab.data.mnist_files import raw_dir

    images = read_idx(raw_dir(real_data_dir) / "t10k-images-idx3-ubyte")[:2000].numpy()
    labels = read_idx(raw_dir(real_data_dir) / "t10k-labels-idx1-ubyte")[:2000].numpy()
    path = tmp_path / "real.npz"
    np.savez(path, images=images, labels=labels.astype(np.int64))
    report = evaluate(path, data_dir=str(real_data_dir))
    assert report["samples"] == 2000
    assert report["conditional_accuracy"] >= 0.98
    shuffled = tmp_path / "shuffled.npz"
    np.savez(shuffled, images=images, labels=np.roll(labels, 1).astype(np.int64))
    assert evaluate(shuffled, data_dir=str(real_data_dir))["conditional_accuracy"] < 0.2
