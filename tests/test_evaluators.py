"""The evaluator of each data set: the general classifier, the packaged MNIST weights through it,
the registry of pinned evaluators and the per-folder cache."""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganlab.errors import CheckpointError, ConfigError, DataFileError
from ganlab.metrics import evaluators
from ganlab.metrics.classifier import (
    ImageClassifier,
    default_epochs,
    features_and_logits,
    load_classifier,
    save_classifier,
)
from ganlab.metrics.evaluators import PinnedEvaluator, cache_path, load_evaluator_for
from ganlab.metrics.mnist_classifier import (
    PACKAGED_EVALUATOR,
    PACKAGED_EVALUATOR_SHA256,
    MNISTClassifier,
    load_evaluator,
)
from ganlab.utils.atomic import sha256_of
from tests.helpers import assert_one_line_exit

# --- the classifier ---------------------------------------------------------------------------


class OriginalMNISTClassifier(nn.Module):
    """The MNIST evaluator as the lab first wrote it (grey 28 px only), kept here as the
    reference the general classifier must reproduce with the packaged weights."""

    def __init__(self) -> None:
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
        self.head = nn.Linear(128, 10)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] == 3:
            images = images.mean(dim=1, keepdim=True)
        if images.shape[-1] != 28 or images.shape[-2] != 28:
            images = F.interpolate(images, size=(28, 28), mode="bilinear", antialias=True)
        return self.fc(self.conv(images))


def test_packaged_mnist_weights_give_the_original_numbers() -> None:
    """Same file (its sha256), same features and logits as the original class, bit for bit,
    through both the general loader and the MNIST names; at 28 px, 32 px and in colour."""
    saved = torch.load(PACKAGED_EVALUATOR, map_location="cpu", weights_only=True)
    original = OriginalMNISTClassifier()
    original.load_state_dict(saved["state_dict"])
    original.eval()
    general, info = load_classifier(PACKAGED_EVALUATOR, 1, 10, 28, PACKAGED_EVALUATOR_SHA256)
    mnist, _ = load_evaluator(PACKAGED_EVALUATOR, PACKAGED_EVALUATOR_SHA256)
    assert isinstance(mnist, MNISTClassifier) and info["test_accuracy"] >= 0.99
    torch.manual_seed(0)
    for shape in [(6, 1, 28, 28), (6, 1, 32, 32), (6, 3, 32, 32)]:
        images = torch.rand(shape) * 2 - 1
        with torch.no_grad():
            expected_features = original.features(images)
            expected_logits = original.head(expected_features)
        for model in (general, mnist):
            features, logits = features_and_logits(model, images, batch_size=4)
            assert torch.equal(features, expected_features), shape
            assert torch.equal(logits, expected_logits), shape


def test_the_network_grows_with_the_evaluator_size() -> None:
    """Two conv blocks at 28 and 32 px, a third at 64 px (an 8 px map, not 16); 128 features
    whatever the input size."""
    sizes = {}
    for eval_size in (28, 32, 64):
        model = ImageClassifier(3, 9, eval_size).eval()
        convs = [m for m in model.conv if isinstance(m, nn.Conv2d)]
        sizes[eval_size] = (len(convs), model.fc[1].in_features)
        assert model(torch.zeros(2, 3, 48, 48)).shape == (2, 9)
        assert model.features(torch.zeros(2, 3, 20, 20)).shape == (2, 128)
    assert sizes == {28: (2, 64 * 7 * 7), 32: (2, 64 * 8 * 8), 64: (3, 128 * 8 * 8)}


def test_channels_are_converted_explicitly() -> None:
    """A grey evaluator reads colour as the mean of R, G and B (not one channel of them); a
    colour evaluator reads grey as three equal channels; other channel counts are refused."""
    torch.manual_seed(0)
    grey_model = ImageClassifier(1, 4, 16).eval()
    colour = torch.rand(3, 3, 16, 16) * 2 - 1
    colour[:, 0] = -1.0  # red dark, green and blue not: the mean differs from every channel
    with torch.no_grad():
        expected = grey_model(colour.mean(dim=1, keepdim=True))
        assert torch.equal(grey_model(colour), expected)
        assert not torch.allclose(grey_model(colour[:, 1:2]), expected)
    colour_model = ImageClassifier(3, 4, 16).eval()
    grey = torch.rand(3, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(colour_model(grey), colour_model(grey.repeat(1, 3, 1, 1)))
    with pytest.raises(ConfigError, match="reads 3-channel images; got 4 channels"):
        colour_model(torch.zeros(1, 4, 16, 16))
    with pytest.raises(ConfigError, match="at least two classes"):
        ImageClassifier(3, 1, 32)
    with pytest.raises(ConfigError, match="between 8 and 256"):
        ImageClassifier(3, 9, 4)


def test_a_colour_classifier_refuses_grey_weights(tmp_path: Path) -> None:
    grey = tmp_path / "grey.pt"
    save_classifier(ImageClassifier(1, 10, 28), {"test_accuracy": 0.5}, grey)
    with pytest.raises(CheckpointError, match="made for 1-channel images of 10 classes at 28 px"):
        load_classifier(grey, 3, 10, 28)
    with pytest.raises(CheckpointError, match=r"at 28 px, not .* at 32 px"):
        load_classifier(grey, 1, 10, 32)
    # The packaged file records no architecture: its weights' shapes are checked instead.
    with pytest.raises(CheckpointError, match="does not fit 3-channel images"):
        load_classifier(PACKAGED_EVALUATOR, 3, 10, 28)
    assert load_classifier(grey, 1, 10, 28)[1] == {"test_accuracy": 0.5}


# --- load_evaluator_for -----------------------------------------------------------------------


@dataclass
class FakeData:
    """The attributes of an image data module that the evaluator reads. The class is drawn as
    a bright square in channel (class mod channels) at a class-dependent place: learnable in
    a few epochs."""

    data_dir: str
    name: str = "fake"
    evaluator: str = ""
    channels: int = 3
    img_size: int = 16
    class_names: list[str] = field(default_factory=lambda: ["a", "b", "c"])
    verify: bool = False
    n_train: int = 120
    n_test: int = 30
    loads: list[str] = field(default_factory=list)
    prepared: int = 0

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def prepare_data(self) -> None:
        self.prepared += 1

    def load_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        self.loads.append(split)
        n = self.n_train if split == "train" else self.n_test
        generator = torch.Generator().manual_seed(0 if split == "train" else 1)
        labels = torch.arange(n) % self.n_classes
        images = torch.rand(n, self.channels, self.img_size, self.img_size, generator=generator)
        images = images * 0.4 - 1
        for i, label in enumerate(labels.tolist()):
            at = 2 + 3 * label
            images[i, label % self.channels, at : at + 4, at : at + 4] = 1.0
        return images, labels


def test_a_folder_evaluator_is_trained_once_cached_by_shape_and_leaves_the_rng(
    tmp_path: Path,
) -> None:
    data = FakeData(str(tmp_path))
    state = torch.get_rng_state()
    model, info = load_evaluator_for(data, verify=False, epochs=8)
    assert torch.equal(state, torch.get_rng_state())
    cache = tmp_path / "evaluators" / "fake_3c_3k_16px.pt"
    assert cache.is_file() and info["name"] == "fake_3c_3k_16px"
    assert data.loads == ["test", "train"] and data.prepared == 0
    assert (info["train_images"], info["test_images"]) == (120, 30)
    assert info["pinned"] is False and info["weak"] is True  # 120 training images
    assert info["test_accuracy"] > 0.6
    again, info_again = load_evaluator_for(data, verify=False)
    assert data.loads == ["test", "train", "test"], "the cache is loaded, not retrained"
    assert info_again == info
    images = torch.rand(4, 3, 16, 16)
    assert torch.equal(model(images), again(images))
    # Another class count is another evaluator: trained anew, the first cache untouched.
    stamp = cache.stat().st_mtime_ns
    four = FakeData(str(tmp_path), class_names=["a", "b", "c", "d"])
    four_model, four_info = load_evaluator_for(four, verify=False, epochs=1)
    assert four.loads == ["test", "train"] and four_model.head.out_features == 4
    assert four_info["name"] == "fake_3c_4k_16px" and cache.stat().st_mtime_ns == stamp


def test_training_length_follows_the_data_set_size(tmp_path: Path) -> None:
    """At least 900 optimiser steps: MNIST's 60,000 images two epochs, emoji's ~6,000 twenty,
    never more than 30; a folder under 1,000 images (weak whatever) only two."""
    assert default_epochs(60_000, 128) == 2
    assert default_epochs(6_000, 128) == 20
    assert default_epochs(1_000, 128) == 30
    _, info = load_evaluator_for(FakeData(str(tmp_path)), verify=False)
    assert info["epochs"] == 2


def test_a_cache_is_checked_on_load_not_trusted_by_its_name(tmp_path: Path) -> None:
    data = FakeData(str(tmp_path))
    load_evaluator_for(data, verify=False, epochs=1)
    cache = cache_path(tmp_path, "fake", {"channels": 3, "n_classes": 3, "eval_size": 16})
    # Another folder or variant under this data_dir: other classes of the same count, or the
    # same classes with another test split (one emoji vendor instead of both).
    renamed = FakeData(str(tmp_path), class_names=["x", "y", "z"])
    with pytest.raises(CheckpointError, match=r"30 test images of the classes \['a', 'b', 'c'\]"):
        load_evaluator_for(renamed, verify=False)
    with pytest.raises(CheckpointError, match=r"made for other data .* this data has 60 of"):
        load_evaluator_for(FakeData(str(tmp_path), n_test=60), verify=False)
    # A file of another shape under this key's name.
    save_classifier(ImageClassifier(3, 3, 32), {"class_names": ["a", "b", "c"]}, cache)
    with pytest.raises(CheckpointError, match=r"at 32 px, not .* at 16 px; delete it"):
        load_evaluator_for(data, verify=False)
    assert "train" not in renamed.loads and data.loads.count("train") == 1


def test_evaluator_size_per_data_set(tmp_path: Path) -> None:
    """Grey data is judged at 28 px (MNIST's own size) even when trained at 32; colour at 32;
    never above the data's own size."""
    grey = FakeData(str(tmp_path), channels=1, img_size=32)
    model, info = load_evaluator_for(grey, verify=False, epochs=1)
    assert model.eval_size == 28 and info["name"] == "fake_1c_3k_28px"
    colour = FakeData(str(tmp_path), img_size=64)
    assert load_evaluator_for(colour, verify=False, epochs=1)[0].eval_size == 32
    small = FakeData(str(tmp_path), channels=1, img_size=16)
    assert load_evaluator_for(small, verify=False, epochs=1)[0].eval_size == 16


DIGITS = [str(digit) for digit in range(10)]


def test_mnist_gets_the_packaged_evaluator_only_for_verified_data(tmp_path: Path) -> None:
    fake = FakeData(str(tmp_path / "a"), "mnist", "mnist", 1, class_names=DIGITS)
    model, info = load_evaluator_for(fake, verify=False, epochs=1)
    assert info["pinned"] is False and fake.prepared == 0  # not the real files, not fetched
    # verify on, the data module verifying, no evaluator of its own: fetched and checked
    # (prepare_data raises on altered files), then the packaged weights.
    checked = FakeData(str(tmp_path / "b"), "mnist", "mnist", 1, class_names=DIGITS, verify=True)
    model, info = load_evaluator_for(checked, verify=True)
    assert checked.prepared == 1 and checked.loads == []
    assert info["pinned"] is True and info["name"] == "mnist" and info["weak"] is False
    packaged, _ = load_evaluator(PACKAGED_EVALUATOR, PACKAGED_EVALUATOR_SHA256)
    assert all(torch.equal(v, packaged.state_dict()[k]) for k, v in model.state_dict().items())
    # A folder holding its own cached evaluator is custom data: neither fetched nor packaged.
    fake.verify = True
    assert load_evaluator_for(fake, verify=True)[1]["pinned"] is False and fake.prepared == 0


@pytest.mark.mnist
def test_real_mnist_files_get_the_packaged_evaluator_without_verify(real_data_dir: Path) -> None:
    data = FakeData(str(real_data_dir), "mnist", "mnist", 1, class_names=DIGITS)
    _, info = load_evaluator_for(data, verify=False)
    assert info["pinned"] is True and data.prepared == 0 and data.loads == []


@pytest.fixture
def pinned_emoji(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> torch.Tensor:
    """A pinned 'emoji' evaluator in a temporary assets folder; returns its head's weights."""
    assets = tmp_path / "assets"
    model = ImageClassifier(3, 3, 16)
    save_classifier(model, {"test_accuracy": 0.95, "train_images": 5000}, assets / "e.pt")
    digest = sha256_of(assets / "e.pt")
    monkeypatch.setattr(evaluators, "ASSETS", assets)
    monkeypatch.setitem(evaluators.PINNED, "emoji", PinnedEvaluator("e.pt", digest, 3, 3, 16))
    return model.head.weight.detach().clone()


def test_other_data_sets_use_their_pinned_evaluator_after_their_own_verification(
    tmp_path: Path, pinned_emoji: torch.Tensor
) -> None:
    data = FakeData(str(tmp_path / "data"), name="emoji", evaluator="emoji", verify=True)
    model, info = load_evaluator_for(data, verify=True)
    assert data.prepared == 1 and data.loads == []
    assert info["pinned"] is True and info["weak"] is False
    assert torch.equal(model.head.weight, pinned_emoji)
    # Without verification (asked off, or the data module's own off) there is no telling
    # the real data from a look-alike: an evaluator of its own, nothing fetched.
    for verify, own in ((False, True), (True, False)):
        other = FakeData(str(tmp_path / f"{verify}{own}"), "emoji", "emoji", verify=own)
        assert load_evaluator_for(other, verify=verify, epochs=1)[1]["pinned"] is False
        assert other.prepared == 0
    altered = FakeData(str(tmp_path / "altered"), name="emoji", evaluator="emoji", verify=True)

    def refuse() -> None:
        raise DataFileError("emoji tarball does not match its sha512")

    altered.prepare_data = refuse  # type: ignore[method-assign]
    with pytest.raises(DataFileError, match="sha512"):
        load_evaluator_for(altered, verify=True)


def test_a_data_set_not_pinned_yet_trains_its_own_at_the_registry_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A data set's entry is written (size, classes) before its weights are pinned.
    unpinned = dataclasses.replace(evaluators.PINNED["fashion_mnist"], sha256=None)
    monkeypatch.setitem(evaluators.PINNED, "fashion_mnist", unpinned)
    data = FakeData(str(tmp_path), "fashion_mnist", "fashion_mnist", 1, 32, DIGITS, verify=True)
    model, info = load_evaluator_for(data, verify=True, epochs=1)
    assert data.prepared == 0 and info["pinned"] is False
    assert model.eval_size == evaluators.PINNED["fashion_mnist"].eval_size == 28


def test_evaluators_that_do_not_fit_the_data_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="names the evaluator 'cifar', which is not among"):
        load_evaluator_for(FakeData(str(tmp_path), evaluator="cifar"), verify=False)
    colour_mnist = FakeData(str(tmp_path), "mnist", "mnist", 3, class_names=DIGITS)
    with pytest.raises(CheckpointError, match="judges 1-channel images of 10 classes"):
        load_evaluator_for(colour_mnist, verify=False)
    assert not (tmp_path / "evaluators").exists()


# --- scripts/pin_evaluator.py -----------------------------------------------------------------


@pytest.fixture
def pin_script(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The script as a module, writing into a temporary assets folder."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "pin_evaluator.py"
    spec = importlib.util.spec_from_file_location("pin_evaluator", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(evaluators, "ASSETS", tmp_path / "assets")
    return module


def test_pinning_prints_the_registry_entry_that_loads_it(
    pin_script, capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The printed entry, put into PINNED, makes the verified data set load exactly the
    weights that were written."""
    built: list[FakeData] = []

    def build(name: str, data_dir: str) -> FakeData:
        built.append(FakeData(data_dir, name=name, evaluator="toy", verify=True))
        return built[-1]

    monkeypatch.setattr(pin_script, "build_datamodule", build)
    pin_script.main(["--dataset", "cifar10", "--data-dir", str(tmp_path), "--epochs", "3"])
    assert built[0].prepared == 1 and built[0].loads == ["train", "test"]
    out = capsys.readouterr().out
    asset = tmp_path / "assets" / "toy_classifier.pt"
    assert f"sha256 {sha256_of(asset)}" in out
    entry = out.strip().splitlines()[-1]
    key, _, value = entry.strip().rstrip(",").partition(": ")
    pinned = eval(value, {"PinnedEvaluator": PinnedEvaluator})
    assert (key, pinned.asset, pinned.eval_size) == ("'toy'", "toy_classifier.pt", 16)
    monkeypatch.setitem(evaluators.PINNED, "toy", pinned)
    data = FakeData(str(tmp_path / "elsewhere"), evaluator="toy", verify=True)
    model, info = load_evaluator_for(data, verify=True)
    assert info["pinned"] is True and data.loads == []
    assert info["test_accuracy"] == pytest.approx(pinned.test_accuracy, abs=1e-4)
    saved = torch.load(asset, weights_only=True)["state_dict"]
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())


def test_pinning_refuses_bad_input_in_one_line(
    pin_script, capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert_one_line_exit(capsys, pin_script.main, ["--dataset", "svhn"], "unknown data set 'svhn'")
    assert_one_line_exit(
        capsys, pin_script.main, ["--dataset", "emoji", "--eval-size", "4"], "--eval-size 4"
    )
    monkeypatch.setattr(pin_script, "build_datamodule", lambda name, data_dir: FakeData(data_dir))
    assert_one_line_exit(
        capsys, pin_script.main, ["--dataset", "image_folder"], "names no pinned evaluator"
    )
    unverified = FakeData(str(tmp_path), evaluator="toy", verify=False)
    monkeypatch.setattr(pin_script, "build_datamodule", lambda name, data_dir: unverified)
    assert_one_line_exit(capsys, pin_script.main, ["--dataset", "cifar10"], "verification off")
    assert unverified.loads == [] and not (tmp_path / "assets").exists()
