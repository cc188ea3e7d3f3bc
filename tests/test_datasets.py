"""Every data set's reader on small fake files in its real format: class mapping and order,
channels and value range, the held-out test split, pins, and bad input as one line."""

from __future__ import annotations

import hashlib
import http.server
import os
import pickle
import shutil
import stat
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

import ganlab
from ganlab.data import emoji, fashion_mnist, mnist_files
from ganlab.data.by_name import data_module, dataset_names
from ganlab.data.celeba import CelebADataModule
from ganlab.data.cifar10 import CIFAR10DataModule
from ganlab.data.downloads import sha512_integrity
from ganlab.data.emoji import EmojiDataModule
from ganlab.data.fashion_mnist import FashionMNISTDataModule
from ganlab.data.image_datamodule import stratified_holdout, to_channels
from ganlab.data.image_folder import ImageFolderDataModule
from ganlab.data.mnist_datamodule import MNISTDataModule
from ganlab.errors import ConfigError, DataFileError
from tests import dataset_files as files
from tests.helpers import assert_one_line_exit, make_tiny_mnist


def to_byte(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] back to the 0..255 byte that was stored."""
    return ((images + 1) * 127.5).round().long()


def assert_pixels_match_labels(images: torch.Tensor, labels: torch.Tensor) -> None:
    """Each image's centre pixel is its class's grey level (see dataset_files)."""
    centre = images.shape[-1] // 2
    levels = to_byte(images[:, 0, centre, centre])
    assert levels.tolist() == [files.class_level(int(label)) for label in labels]


# ---------------------------------------------------------------- the shared contract


def test_every_data_set_is_found_by_its_name_and_others_are_refused(tmp_path: Path) -> None:
    names = ["celeba", "cifar10", "emoji", "fashion_mnist", "image_folder", "mnist"]
    assert dataset_names() == names
    for folder in ("a", "b"):  # the image folder's classes: data_dir/images/<class>/
        (tmp_path / "images" / folder).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "images" / folder / "one.png")
    for name in names:
        module = data_module(name, tmp_path, n_classes=2 if name == "image_folder" else None)
        assert module.name == name and module.data_dir == str(tmp_path)
    with pytest.raises(ConfigError, match="unknown data set 'svhn'; expected one of celeba"):
        data_module("svhn", tmp_path)
    with pytest.raises(ConfigError, match="image_folder data set needs its class count"):
        data_module("image_folder", tmp_path)


def test_mnist_keeps_its_names_and_checks_the_declared_shape(tmp_path: Path) -> None:
    dm = MNISTDataModule(data_dir=str(make_tiny_mnist(tmp_path)), verify=False, n_classes=10)
    assert (dm.name, dm.evaluator, dm.channels, dm.n_classes) == ("mnist", "mnist", 1, 10)
    assert dm.class_names == [str(d) for d in range(10)]
    with pytest.raises(ConfigError, match="n_classes=9 but mnist has 10 classes"):
        MNISTDataModule(data_dir=str(tmp_path), n_classes=9)
    with pytest.raises(ConfigError, match="channels=3 but mnist images have 1"):
        MNISTDataModule(data_dir=str(tmp_path), channels=3)


def test_null_split_is_the_data_sets_default(tmp_path: Path) -> None:
    make_tiny_mnist(tmp_path, n_train=120, n_test=30)
    dm = MNISTDataModule(data_dir=str(tmp_path), verify=False, train_val_test_split=None)
    dm.setup()
    assert (len(dm.data_train), len(dm.data_val), len(dm.data_test)) == (110, 10, 30)
    with pytest.raises(ConfigError, match="three image counts"):
        MNISTDataModule(data_dir=str(tmp_path), train_val_test_split=[0.8, 0.1, 0.1])


def test_stratified_holdout_is_deterministic_disjoint_and_per_class() -> None:
    labels = torch.tensor([0] * 50 + [1] * 20 + [2] * 3 + [3])
    kept, held = stratified_holdout(labels, 0.1, seed=0)
    again_kept, again_held = stratified_holdout(labels, 0.1, seed=0)
    assert torch.equal(kept, again_kept) and torch.equal(held, again_held)
    assert not set(kept.tolist()) & set(held.tolist())
    assert sorted(kept.tolist() + held.tolist()) == list(range(len(labels)))
    # 10 % of each class, at least one from a class of two or more, none from a single image.
    assert torch.bincount(labels[held], minlength=4).tolist() == [5, 2, 1, 0]
    assert not torch.equal(held, stratified_holdout(labels, 0.1, seed=1)[1])


def test_channel_conversion_repeats_grey_and_weighs_colour() -> None:
    grey = torch.tensor([[[[7]]]], dtype=torch.uint8)
    assert to_channels(grey, 3).flatten().tolist() == [7, 7, 7]
    colour = torch.tensor([255, 0, 0], dtype=torch.uint8).view(1, 3, 1, 1)
    assert to_channels(colour, 1).item() == round(0.299 * 255)


# ---------------------------------------------------------------- Fashion-MNIST


FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt"]


def test_fashion_mnist_reads_idx_with_its_class_names(tmp_path: Path) -> None:
    files.write_fashion_mnist(tmp_path)
    dm = FashionMNISTDataModule(
        data_dir=str(tmp_path), verify=False, train_val_test_split=[30, 10, 20], n_classes=10
    )
    assert dm.class_names[:7] == FASHION_NAMES
    assert dm.class_names[7:] == ["Sneaker", "Bag", "Ankle boot"]
    dm.setup()
    images, labels = dm.load_split("test")
    assert images.shape == (20, 1, 32, 32) and images.dtype == torch.float32
    assert labels.tolist() == [i % 10 for i in range(20)]
    assert_pixels_match_labels(images, labels)
    assert (dm.evaluator, dm.channels) == ("fashion_mnist", 1)


@pytest.fixture
def fashion_pins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Fake IDX files whose sha256 are made the pins; returns their bytes."""
    raw = files.write_fashion_mnist(tmp_path / "made")
    pins = {name: hashlib.sha256(data).hexdigest() for name, data in raw.items()}
    monkeypatch.setattr(fashion_mnist, "RAW_FILES", pins)
    return raw


def test_fashion_mnist_from_the_installed_debian_folder(
    tmp_path: Path, fashion_pins, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "usr_share"
    files.write_gzipped(system, fashion_pins)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", system)
    folder = fashion_mnist.ensure_fashion_mnist(tmp_path / "data")
    for name, data in fashion_pins.items():
        assert (folder / name).read_bytes() == data


def test_fashion_mnist_refuses_a_file_that_differs_from_its_pin(
    tmp_path: Path, fashion_pins, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "usr_share"
    tampered = dict(fashion_pins)
    tampered["t10k-labels-idx1-ubyte"] = tampered["t10k-labels-idx1-ubyte"][:-1] + b"\x03"
    files.write_gzipped(system, tampered)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", system)
    with pytest.raises(DataFileError, match=r"t10k-labels-idx1-ubyte \(sha256 differs"):
        fashion_mnist.ensure_fashion_mnist(tmp_path / "data")
    assert not (fashion_mnist.raw_dir(tmp_path / "data") / "t10k-labels-idx1-ubyte").exists()


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb is not installed")
def test_fashion_mnist_from_apt_get_download(
    tmp_path: Path, fashion_pins, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No installed copy: the .deb that `apt-get download` leaves is unpacked with dpkg-deb."""
    tree = tmp_path / "pkg"
    files.write_gzipped(tree / "usr/share/datasets/fashion-mnist", fashion_pins)
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN/control").write_text(
        "Package: dataset-fashion-mnist\nVersion: 1\nArchitecture: all\n"
        "Maintainer: t <t@t>\nDescription: test\n"
    )
    deb = tmp_path / "dataset-fashion-mnist_1_all.deb"
    subprocess.run(
        ["dpkg-deb", "--build", "-Znone", str(tree), str(deb)], check=True, capture_output=True
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "apt-get"
    fake.write_text(f'#!/bin/sh\n[ "$1 $2" = "download dataset-fashion-mnist" ] && cp {deb} .\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "not_installed")
    folder = fashion_mnist.ensure_fashion_mnist(tmp_path / "data")
    assert (folder / "train-images-idx3-ubyte").read_bytes() == fashion_pins[
        "train-images-idx3-ubyte"
    ]
    assert [p.name for p in (tmp_path / "data" / "downloads").iterdir()] == []


# ---------------------------------------------------------------- emoji

EMOJI = [  # (code, category, sort_order, has skin-tone variants)
    ("1f600", "Smileys & Emotion", 3, False),
    ("1f3fb", "Component", 1, False),
    ("1f44b", "People & Body", 2, True),
    ("1f697", "Travel & Places", 4, False),
    ("1f34e", "Food & Drink", 0, False),
]
KEPT = ["Food & Drink", "People & Body", "Smileys & Emotion", "Travel & Places"]  # sort_order
VENDOR_MARK = {"google": 0, "twitter": 255}


def emoji_png(category: str, vendor: str) -> bytes:
    level = files.class_level(emoji.CATEGORIES.index(category)) if category in KEPT else 0
    pixels = np.full((64, 64, 4), (level, level, level, 255), dtype=np.uint8)
    pixels[0, 0] = (255, 0, 0, 128)  # half-transparent red
    pixels[63, 63] = (VENDOR_MARK[vendor],) * 3 + (255,)
    return files.png_bytes(pixels)


def write_emoji_tarballs(data_dir: Path, monkeypatch: pytest.MonkeyPatch, **replace) -> None:
    """Both vendors' fake tarballs where the real ones go, pinned; ``replace`` swaps PNGs."""
    entries = [files.emoji_entry(code, cat, order, skin) for code, cat, order, skin in EMOJI]
    pins = {}
    for vendor in emoji.VENDORS:
        pngs = {f"{code}.png": emoji_png(cat, vendor) for code, cat, _, _ in EMOJI}
        pngs.update(replace)
        target = emoji.tarball_path(data_dir, vendor)
        path = files.write_emoji_tarball(target, vendor, entries, pngs)
        pins[vendor] = sha512_integrity(path)
    monkeypatch.setattr(emoji, "INTEGRITY", pins)


def test_emoji_categories_order_vendors_and_compositing(tmp_path, monkeypatch) -> None:
    write_emoji_tarballs(tmp_path, monkeypatch)
    dm = EmojiDataModule(data_dir=str(tmp_path), n_classes=9, channels=3)
    assert dm.class_names == sorted(dm.class_names) and len(dm.class_names) == 9
    assert "Component" not in dm.class_names and dm.evaluator == "emoji"
    dm.prepare_data()
    images, labels = dm.read_split("all")
    # Component dropped, skin tones not expanded, emoji.json's sort_order, google then twitter.
    assert [dm.class_names[i] for i in labels.tolist()] == KEPT * 2
    assert images.shape == (8, 3, 64, 64) and images.dtype == torch.uint8
    # (255, 0, 0) at alpha 128 over white: red stays 255, green and blue 255 * 127 / 255.
    assert images[:, :, 0, 0].tolist() == [[255, 127, 127]] * 8
    assert images[:, 0, 63, 63].tolist() == [0] * 4 + [255] * 4
    assert [dm.class_names[i] for i in labels[:4]] == KEPT
    assert_pixels_match_labels(images.float() / 127.5 - 1, labels)
    twitter = EmojiDataModule(data_dir=str(tmp_path), vendors="twitter").read_split("all")[0]
    assert torch.equal(twitter, images[4:])


def test_emoji_test_split_is_held_out_per_category_and_cached(tmp_path, monkeypatch) -> None:
    write_emoji_tarballs(tmp_path, monkeypatch)
    dm = EmojiDataModule(data_dir=str(tmp_path), img_size=32, split_seed=1)
    dm.prepare_data()
    dm.setup()
    test_images, test_labels = dm.load_split("test")
    train_labels = dm.load_split("train")[1]
    assert sorted(test_labels.tolist()) == sorted(train_labels.tolist())  # one of each of two
    assert test_images.shape == (4, 3, 32, 32) and -1 <= test_images.min() < test_images.max() <= 1
    assert (len(dm.data_train), len(dm.data_val), len(dm.data_test)) == (3, 1, 4)
    # The test split does not follow split_seed, so every run evaluates on the same images.
    for path in (tmp_path / "downloads").iterdir():
        path.unlink()
    other = EmojiDataModule(data_dir=str(tmp_path), img_size=32, split_seed=2, verify=False)
    assert torch.equal(other.load_split("test")[0], test_images), "read from the cache"


def test_emoji_corrupt_png_is_named(tmp_path, monkeypatch) -> None:
    write_emoji_tarballs(tmp_path, monkeypatch, **{"1f697.png": b"\x89PNG broken"})
    with pytest.raises(DataFileError, match=r"package/img/google/64/1f697.png is corrupt"):
        EmojiDataModule(data_dir=str(tmp_path)).prepare_data()
    assert not (tmp_path / "emoji" / emoji.cache_path(tmp_path, "google").name).exists()


def test_emoji_fetch_keeps_only_a_tarball_that_matches_its_integrity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = tmp_path / "served"
    write_emoji_tarballs(served, monkeypatch)
    mirror = tmp_path / "mirror"
    for vendor in emoji.VENDORS:
        name = emoji.package_name(vendor)
        (mirror / name / "-").mkdir(parents=True)
        shutil.copy(emoji.tarball_path(served, vendor), mirror / name / "-" / f"{name}-16.0.0.tgz")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(mirror), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GANLAB_NPM_REGISTRY", f"http://127.0.0.1:{server.server_address[1]}/")
    monkeypatch.setattr(emoji, "npm_executable", lambda: None)
    try:
        target = emoji.fetch_tarball(tmp_path / "data", "google")
        assert target.read_bytes() == emoji.tarball_path(served, "google").read_bytes()
        monkeypatch.setitem(emoji.INTEGRITY, "twitter", "sha512-tampered")
        with pytest.raises(DataFileError, match="does not match its pinned sha512"):
            emoji.fetch_tarball(tmp_path / "data", "twitter")
    finally:
        server.shutdown()
    assert sorted(p.name for p in (tmp_path / "data" / "downloads").iterdir()) == [target.name]


def test_composite_on_white_rounds_to_the_nearest_byte() -> None:
    rgba = np.array([[[255, 0, 0, 128], [10, 20, 30, 0], [10, 20, 30, 255], [0, 0, 0, 64]]])
    assert emoji.composite_on_white(rgba.astype(np.uint8)).tolist() == [
        [[255, 127, 127], [255, 255, 255], [10, 20, 30], [191, 191, 191]]
    ]


# ---------------------------------------------------------------- CIFAR-10


def test_cifar10_reads_the_pickled_batches_in_rgb_order(tmp_path: Path) -> None:
    files.write_cifar10(tmp_path, per_batch=10)
    dm = CIFAR10DataModule(data_dir=str(tmp_path), verify=False, n_classes=10, channels=3)
    assert dm.class_names[0] == "airplane" and dm.class_names[9] == "truck" and dm.evaluator == ""
    images, labels = dm.load_split("train")
    assert images.shape == (50, 3, 32, 32) and labels.tolist() == list(range(10)) * 5
    assert_pixels_match_labels(images, labels)  # red plane
    assert images[:, 1].eq(-1).all() and images[:, 2].eq(1).all()  # green empty, blue full
    assert dm.load_split("test")[0].shape == (10, 3, 32, 32)
    dm.setup()
    assert (len(dm.data_train), len(dm.data_val), len(dm.data_test)) == (45, 5, 10)


def test_cifar10_with_other_class_names_is_refused(tmp_path: Path) -> None:
    from ganlab.data.cifar10 import CLASS_NAMES

    swapped = [CLASS_NAMES[1], CLASS_NAMES[0], *CLASS_NAMES[2:]]
    files.write_cifar10(tmp_path, per_batch=2, names=swapped)
    with pytest.raises(DataFileError, match=r"batches\.meta names the classes"):
        CIFAR10DataModule(data_dir=str(tmp_path), verify=False).load_split("test")


def test_cifar10_pickle_cannot_run_code(tmp_path: Path) -> None:
    files.write_cifar10(tmp_path, per_batch=2)

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(DataFileError, match=r"test_batch is not a valid batch .*not allowed"):
        CIFAR10DataModule(data_dir=str(tmp_path), verify=False).load_split("test")


def test_cifar10_verification_names_a_tampered_file(tmp_path: Path) -> None:
    files.write_cifar10(tmp_path, per_batch=2)
    from ganlab.data.cifar10 import verify_cifar10

    with pytest.raises(DataFileError, match=r"data_batch_1 is corrupt \(md5 differs"):
        verify_cifar10(tmp_path)


# ---------------------------------------------------------------- CelebA


def test_celeba_smiling_classes_partitions_and_centre_crop(tmp_path: Path) -> None:
    truth = files.write_celeba(tmp_path, n=12)
    dm = CelebADataModule(data_dir=str(tmp_path), verify=False, img_size=8, n_classes=2)
    assert dm.class_names == ["not smiling", "smiling"]
    images, labels = dm.load_split("test")
    want = [smiling for _, (smiling, part) in sorted(truth.items()) if part == 2]
    assert labels.tolist() == want and images.shape == (len(want), 3, 8, 8)
    pixels = to_byte(images)
    assert (pixels[:, 0] - pixels[:, 1]).abs().max() <= 12, "red rows outside the crop"
    levels = pixels[:, 1].float().mean(dim=(1, 2))
    expected = torch.tensor([files.class_level(s) for s in want], dtype=torch.float32)
    assert (levels - expected).abs().max() <= 6
    train_labels = dm.load_split("train")[1]
    assert len(train_labels) == sum(part in (0, 1) for _, part in truth.values())
    male = CelebADataModule(data_dir=str(tmp_path), verify=False, img_size=8, attribute="Male")
    assert male.class_names == ["not male", "male"]
    assert male.load_split("test")[1].tolist() == [1 - s for s in want]


def test_celeba_unknown_attribute_is_one_error(tmp_path: Path) -> None:
    files.write_celeba(tmp_path, n=3)
    dm = CelebADataModule(data_dir=str(tmp_path), verify=False, attribute="Grinning")
    with pytest.raises(DataFileError, match="attribute 'Grinning' is not in"):
        dm.load_split("train")


# ---------------------------------------------------------------- ImageFolder


def test_image_folder_classes_are_sorted_sub_folders(tmp_path: Path) -> None:
    root = files.write_image_folder(tmp_path / "imgs", {"emu": 5, "cat": 3, "dog": 4}, mode="L")
    dm = ImageFolderDataModule(root=str(root), img_size=8, n_classes=3)
    assert dm.class_names == ["cat", "dog", "emu"] and dm.channels == 3
    dm.prepare_data()
    dm.setup()
    images, labels = dm.load_split("train")
    assert images.shape[1:] == (3, 8, 8)
    assert_pixels_match_labels(images, labels)
    assert torch.equal(images[:, 0], images[:, 2]), "grey repeated into every channel"
    test_labels = dm.load_split("test")[1]
    assert sorted(test_labels.tolist()) == [0, 1, 2]
    assert len(labels) + len(test_labels) == 12
    grey = ImageFolderDataModule(root=str(root), img_size=8, channels=1)
    assert grey.load_split("test")[0].shape[1] == 1
    with pytest.raises(ConfigError, match="n_classes=2 but image_folder has 3 classes"):
        ImageFolderDataModule(root=str(root), n_classes=2)


def test_image_folder_mixed_sizes_are_refused_unless_resized(tmp_path: Path) -> None:
    root = files.write_image_folder(tmp_path / "imgs", {"a": 2, "b": 2}, size=16)
    files.write_image_folder(tmp_path / "other", {"a": 0, "b": 1}, size=20)
    shutil.copy(tmp_path / "other" / "b" / "000.png", root / "b" / "009.png")
    with pytest.raises(DataFileError, match=r"a/000.png is 16x16, .*b/009.png is 20x20"):
        ImageFolderDataModule(root=str(root)).load_split("train")
    images, labels = ImageFolderDataModule(root=str(root), resize=True, img_size=8).load_split(
        "train"
    )
    assert images.shape[1:] == (3, 8, 8)
    assert_pixels_match_labels(images, labels)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "has no images in class sub-folders"),
        ({"only": 3}, r"has one class \(only\)"),
        ({"a": 2, "b": 0}, "class folder .*b has no images"),
    ],
)
def test_image_folder_bad_layouts(tmp_path: Path, layout: dict[str, int], message: str) -> None:
    root = tmp_path / "imgs"
    root.mkdir()
    files.write_image_folder(root, layout)
    with pytest.raises(DataFileError, match=message):
        ImageFolderDataModule(root=str(root))


def test_image_folder_corrupt_image_is_named(tmp_path: Path) -> None:
    root = files.write_image_folder(tmp_path / "imgs", {"a": 2, "b": 2})
    (root / "b" / "001.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataFileError, match=r"b/001.png is corrupt"):
        ImageFolderDataModule(root=str(root)).load_split("train")


# ---------------------------------------------------------------- configs and the CLI


def test_every_datamodule_yaml_states_its_data(tmp_path: Path, monkeypatch) -> None:
    """Each yaml's n_classes and channels agree with its module on data in the real layout."""
    import hydra

    make_tiny_mnist(tmp_path)
    files.write_fashion_mnist(tmp_path)
    write_emoji_tarballs(tmp_path, monkeypatch)
    files.write_cifar10(tmp_path, per_batch=2)
    files.write_celeba(tmp_path, n=6)
    files.write_image_folder(tmp_path / "images", {"a": 2, "b": 2})
    yamls = sorted((Path(ganlab.__file__).parent / "configs" / "datamodule").glob("*.yaml"))
    assert [path.stem for path in yamls] == dataset_names()
    for path in yamls:
        config = OmegaConf.load(path)
        config.data_dir = str(tmp_path)
        config.verify = False
        if path.stem == "image_folder":
            config.root = str(tmp_path / "images")
            config.n_classes = 2
        dm = hydra.utils.instantiate(config)
        assert dm.name == path.stem
        assert (dm.n_classes, dm.channels) == (config.n_classes, config.channels), path.stem
        images = dm.load_split("test")[0]
        assert images.shape[1:] == (dm.channels, dm.img_size, dm.img_size), path.stem


def test_data_command_bad_input_is_one_line(tmp_path: Path, capsys) -> None:
    main = mnist_files.main
    assert_one_line_exit(capsys, main, ["--dataset", "svhn"], "invalid choice: 'svhn'")
    assert_one_line_exit(capsys, main, ["--dataset", "emoji", "--source", "x"], "does not apply")
    argv = ["--dataset", "fashion_mnist", "--source", "kaggle", "--data-dir", tmp_path / "d"]
    assert_one_line_exit(capsys, main, argv, "unknown Fashion-MNIST source 'kaggle'")
    assert not (tmp_path / "d").exists()
