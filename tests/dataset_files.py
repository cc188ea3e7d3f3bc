"""Small fake data sets in each data set's real on-disk format.

Every image encodes its label (a grey level or a colour per class), so a test can tell a
correct label mapping from a swapped one by looking at the pixels.
"""

from __future__ import annotations

import gzip
import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from ganlab.data import fashion_mnist
from tests.helpers import write_idx


def class_level(label: int) -> int:
    """The grey level that class ``label`` images are filled with."""
    return 20 + 20 * label


def write_fashion_mnist(data_dir: Path, n_train: int = 40, n_test: int = 20) -> dict[str, bytes]:
    """The four IDX files in torchvision's layout; returns their bytes by name."""
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = np.repeat(labels.astype(np.uint8)[:, None, None], 28, axis=1).repeat(28, axis=2)
        images = np.vectorize(class_level)(images)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte"
            write_idx(fashion_mnist.raw_dir(data_dir) / name, array)
            files[name] = (fashion_mnist.raw_dir(data_dir) / name).read_bytes()
    return files


def write_gzipped(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(data))


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def emoji_entry(code: str, category: str, order: int, skin: bool = False) -> dict:
    entry = {
        "unified": code.upper(),
        "image": f"{code}.png",
        "category": category,
        "sort_order": order,
        "has_img_google": True,
        "has_img_twitter": True,
    }
    if skin:
        entry["skin_variations"] = {"1F3FB": {"unified": f"{code}-1F3FB", "image": "x.png"}}
    return entry


def write_emoji_tarball(path: Path, vendor: str, entries: list[dict], pngs: dict[str, bytes]):
    """An npm tarball like emoji-datasource-<vendor>: package/emoji.json and 64 px PNGs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    members = {"package/emoji.json": json.dumps(entries).encode()}
    members.update({f"package/img/{vendor}/64/{name}": data for name, data in pngs.items()})
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def write_cifar10(data_dir: Path, per_batch: int = 10, names: list[str] | None = None) -> Path:
    """cifar-10-batches-py with five training batches, a test batch and batches.meta, pickled
    as the python version of CIFAR-10 is (bytes keys, [N, 3072] uint8 rows, R then G then B)."""
    from ganlab.data.cifar10 import CLASS_NAMES, FOLDER

    folder = data_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = [i % 10 for i in range(per_batch)]
        images = np.zeros((per_batch, 3, 32, 32), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, 0] = class_level(label)  # red plane carries the class
            images[i, 2] = 255  # blue plane is full, green stays empty
        batch = {b"data": images.reshape(per_batch, -1), b"labels": labels}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": names or CLASS_NAMES}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


CELEBA_ATTRIBUTES = ["5_o_Clock_Shadow", "Male", "Smiling", "Young"]


def write_celeba(data_dir: Path, n: int = 12) -> dict[str, tuple[int, int]]:
    """celeba/: 20x30 portrait JPEGs, list_attr_celeba.txt, list_eval_partition.txt.

    Image i smiles when i is even; Male is the opposite, so reading the wrong column swaps
    the classes. Partitions cycle 0, 1, 2. The top and bottom five rows are red and fall
    outside the centre crop; the centre is grey at the image's class level.
    Returns name -> (smiling, partition)."""
    folder = data_dir / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    rows, parts, truth = [], [], {}
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        smiling, partition = int(i % 2 == 0), i % 3
        pixels = np.full((30, 20, 3), class_level(smiling), dtype=np.uint8)
        pixels[:5] = pixels[-5:] = (255, 0, 0)
        Image.fromarray(pixels).save(folder / "img_align_celeba" / name, quality=100, subsampling=0)
        values = {"Smiling": smiling, "Male": 1 - smiling, "5_o_Clock_Shadow": 0, "Young": 1}
        rows.append(" ".join([name, *("1" if values[a] else "-1" for a in CELEBA_ATTRIBUTES)]))
        parts.append(f"{name} {partition}")
        truth[name] = (smiling, partition)
    header = [str(n), " ".join(CELEBA_ATTRIBUTES)]
    (folder / "list_attr_celeba.txt").write_text("\n".join(header + rows) + "\n")
    (folder / "list_eval_partition.txt").write_text("\n".join(parts) + "\n")
    return truth


def write_image_folder(
    root: Path, classes: dict[str, int], size: int = 16, mode: str = "RGB"
) -> Path:
    """root/<class>/<i>.png, ``classes`` = name -> image count; class k of the sorted names is
    filled with grey level class_level(k)."""
    for label, name in enumerate(sorted(classes)):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(classes[name]):
            grey = np.full((size, size), class_level(label), dtype=np.uint8)
            Image.fromarray(grey).convert(mode).save(root / name / f"{i:03d}.png")
    return root
