"""Every bad input to the command lines ends in one line ``error: ...`` and exit 2, never a
traceback, and leaves no half-written output; whatever a checkpoint, an ONNX file or an .npz
holds, the loaders raise only GanLabError and allocate nothing a file's metadata asks for before
checking it (property-based, with Hypothesis)."""

from __future__ import annotations

import errno
import io
import json
import math
import os
import resource
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganlab import evaluate, export, generate
from ganlab.checkpoints import check_checkpoint, network_from
from ganlab.deploy.backends import INFO_BOUNDS, ONNX_METADATA_KEY, OnnxRuntimeBackend
from ganlab.errors import GanLabError
from ganlab.evaluate import load_npz_samples
from ganlab.networks import spec
from tests.helpers import assert_one_line_exit

# Bounded property tests: a few seconds each, no example database written into the tree.
PROPERTY = settings(
    max_examples=30,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---------------------------------------------------------------------------------------------
# Checkpoints that load safely but carry bad metadata


@pytest.fixture(scope="module")
def checkpoint_dict(trained_checkpoint: Path) -> dict[str, Any]:
    """The tiny trained checkpoint, reduced to what the loaders read."""
    full = torch.load(trained_checkpoint, map_location="cpu", weights_only=True)
    return {"ganlab": full["ganlab"], "state_dict": full["state_dict"]}


def edited(base: dict[str, Any], **meta: Any) -> dict[str, Any]:
    """A copy of ``base`` with ``meta`` entries of the 'ganlab' section replaced; tensors are
    shared, dicts copied, so an edit never leaks into the next test."""
    return {"ganlab": {**base["ganlab"], **meta}, "state_dict": dict(base["state_dict"])}


def generator_spec(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base["ganlab"]["generator"], **changes}


def without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


CHECKPOINT_EDITS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str]] = {
    "ganlab section without generator": (
        lambda c: {**c, "ganlab": without(c["ganlab"], "generator")},
        "'ganlab.generator' is missing",
    ),
    "ganlab section is a string": (
        lambda c: {**c, "ganlab": "generator"},
        "its 'ganlab' section is a str, expected a dict",
    ),
    "state_dict is a list": (
        lambda c: {**c, "state_dict": list(c["state_dict"].values())},
        "its 'state_dict' is a list, expected a dict of named tensors",
    ),
    "hidden_dims of a million": (
        lambda c: edited(c, generator=generator_spec(c, hidden_dims=[10**6] * 4)),
        "hidden_dims entry=1000000 must be an integer in 1..65536",
    ),
    "hidden_dims within field bounds, beyond the parameter cap": (
        lambda c: edited(c, generator=generator_spec(c, hidden_dims=[65_536, 65_536])),
        "would have 4,",
    ),
    "n_classes=3 on 10-class weights": (
        lambda c: edited(c, n_classes=3),
        "'ganlab.n_classes' is 3 but the generator's weights have n_classes=10",
    ),
    "generator spec of 3 classes on 10-class weights": (
        lambda c: edited(c, generator=generator_spec(c, n_classes=3)),
        "the weights do not fit",
    ),
    "latent_dim negative": (
        lambda c: edited(c, latent_dim=-1),
        "'ganlab.latent_dim' is -1, expected an integer in 1..65536",
    ),
    "a class outside ganlab's networks": (
        lambda c: edited(c, generator={"_target_": "os.system", "command": "true"}),
        "'os.system' is not one of ganlab's networks",
    ),
    "a helper function inside ganlab.networks": (
        lambda c: edited(c, generator={"_target_": "ganlab.networks.spec.build_network"}),
        "is not one of ganlab's networks",
    ),
    "an argument of the wrong type": (
        lambda c: edited(c, generator=generator_spec(c, img_size="32")),
        "img_size='32' must be an integer",
    ),
    "an unknown argument": (
        lambda c: edited(c, generator=generator_spec(c, depth=3)),
        "unexpected keyword argument 'depth'",
    ),
    "NaN weights": (
        lambda c: {
            **c,
            "state_dict": {
                k: torch.full_like(v, math.nan) if v.is_floating_point() else v
                for k, v in c["state_dict"].items()
            },
        },
        "holds NaN or infinite values",
    ),
}


@pytest.mark.parametrize("case", list(CHECKPOINT_EDITS))
def test_bad_checkpoint_metadata_is_one_line(
    case: str, checkpoint_dict, tmp_path: Path, capsys
) -> None:
    edit, fragment = CHECKPOINT_EDITS[case]
    path = tmp_path / "bad.ckpt"
    torch.save(edit(checkpoint_dict), path)
    before = peak_rss_bytes()
    assert_one_line_exit(
        capsys, generate.main, [path, "--out", tmp_path / "five"], str(path), fragment
    )
    # Refused from the metadata alone: no network of the claimed size was ever allocated.
    assert peak_rss_bytes() - before < 256 * 2**20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.ckpt"]


def test_the_real_checkpoint_passes_the_same_checks(checkpoint_dict) -> None:
    """The checks refuse the edits above, not ganlab's own checkpoints."""
    checked = check_checkpoint(edited(checkpoint_dict), "last.ckpt")
    for role in ("generator", "discriminator"):
        network = network_from(checked, role, "last.ckpt")
        assert network.n_classes == checkpoint_dict["ganlab"]["n_classes"] == 10


def _network_variants() -> list[Any]:
    from ganlab.networks.dcgan import DCGANDiscriminator, DCGANGenerator
    from ganlab.networks.mlp import Discriminator, Generator

    return [
        Generator(),
        Generator(n_classes=3, latent_dim=7, channels=3, img_size=12, hidden_dims=(5,)),
        Generator(hidden_dims=()),
        Discriminator(n_classes=4, channels=3, img_size=9, hidden_dim=11),
        DCGANGenerator(n_classes=3, latent_dim=5, channels=3, img_size=32, width=8),
        DCGANDiscriminator(conditioning="concat", depth=3, refine_layers=2),
        DCGANDiscriminator(n_classes=5, channels=3, img_size=32, width=8, spectral_norm=True),
    ]


@pytest.mark.parametrize("network", _network_variants(), ids=lambda n: type(n).__name__)
def test_parameter_counts_match_the_built_networks(network) -> None:
    """The arithmetic that bounds a spec before building it counts what building allocates."""
    expected = sum(p.numel() for p in network.parameters())
    assert spec.parameter_count(type(network), network.spec()) == expected


# Random metadata: JSON-like trees with the values that break naive loaders (huge and negative
# integers, NaN, strings where numbers belong), at keys the loaders read.
KEYS = st.sampled_from(
    [
        "_target_",
        "n_classes",
        "latent_dim",
        "channels",
        "img_size",
        "hidden_dims",
        "hidden_dim",
        "width",
        "embedding_dim",
        "depth",
        "refine_layers",
        "dropout",
        "conditioning",
        "spectral_norm",
        "generator",
        "discriminator",
        "ema_updates",
        "format",
    ]
)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, -1, 3, 10, 28, 32, 100, 65_536, 10**6, 2**31, 2**63])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["ganlab.networks.mlp.Generator", "ganlab.networks.dcgan.DCGANGenerator"])
)
TREES = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(KEYS | st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_checkpoints(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """The real checkpoint with one to three entries replaced by random trees or removed, in
    the metadata, in a network spec, in the state dict, or whole sections."""
    checkpoint = edited(base)
    meta = checkpoint["ganlab"]
    meta["generator"] = dict(meta["generator"])
    meta["discriminator"] = dict(meta["discriminator"])
    state_keys = sorted(checkpoint["state_dict"])
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["meta", "generator", "discriminator", "state", "whole"]))
        if where == "whole":
            checkpoint[draw(st.sampled_from(["ganlab", "state_dict"]))] = draw(TREES)
            continue
        if where == "state":
            if not isinstance(checkpoint["state_dict"], dict):
                continue
            key = draw(st.sampled_from(state_keys))
            value = draw(TREES | st.builds(torch.zeros, st.integers(0, 3)))
            checkpoint["state_dict"][key] = value
            continue
        section = meta if where == "meta" else meta.get(where)  # may be gone or replaced
        if not isinstance(checkpoint["ganlab"], dict) or not isinstance(section, dict):
            continue
        key = draw(KEYS)
        if draw(st.booleans()):
            section.pop(key, None)
        else:
            section[key] = draw(TREES)
    return checkpoint


def test_checkpoint_loaders_raise_only_ganlab_errors(
    checkpoint_dict, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from ganlab.checkpoints import load_checkpoint

    path = tmp_path_factory.mktemp("hypothesis_ckpt") / "random.ckpt"
    cap = 5_000_000  # the real networks have 2.8 million together; no example may build more
    before = peak_rss_bytes()

    @PROPERTY
    @given(mutated_checkpoints(checkpoint_dict))
    def check(checkpoint: dict[str, Any]) -> None:
        torch.save(checkpoint, path)
        try:
            loaded = load_checkpoint(path)
        except GanLabError:
            return
        for role in ("generator", "discriminator"):
            try:
                network = network_from(loaded, role, str(path))
            except GanLabError:
                continue
            assert sum(p.numel() for p in network.parameters()) <= cap
            assert loaded["ganlab"]["n_classes"] == network.n_classes

    with mock.patch.object(spec, "MAX_PARAMETERS", cap):
        check()
    assert peak_rss_bytes() - before < 1024 * 2**20


# ---------------------------------------------------------------------------------------------
# ONNX files with invalid or incomplete metadata


@pytest.fixture(scope="module")
def onnx_proto(trained_onnx: Path):
    onnx = pytest.importorskip("onnx")
    return onnx.load(str(trained_onnx))


def with_metadata(proto, value: str | None, path: Path) -> Path:
    """``proto`` saved to ``path`` with its 'ganlab' metadata set to ``value`` (None: absent)."""
    import onnx

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    kept = [(e.key, e.value) for e in model.metadata_props if e.key != ONNX_METADATA_KEY]
    del model.metadata_props[:]
    for key, text in [*kept, *([(ONNX_METADATA_KEY, value)] if value is not None else [])]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, text
    onnx.save_model(model, str(path))
    return path


def real_description(proto) -> dict[str, Any]:
    (text,) = [e.value for e in proto.metadata_props if e.key == ONNX_METADATA_KEY]
    return json.loads(text)


ONNX_EDITS: dict[str, tuple[Callable[[dict[str, Any]], str | None], str]] = {
    "no metadata": (lambda d: None, "has no 'ganlab' metadata"),
    "not JSON": (lambda d: "{n_classes: 10", "its 'ganlab' metadata is not JSON"),
    "a list": (lambda d: "[10, 100]", "its model description is a list"),
    "n_classes missing": (
        lambda d: json.dumps(without(d, "n_classes")),
        "'n_classes' is None, expected an integer in 1..1000",
    ),
    "latent_dim of a billion": (
        lambda d: json.dumps({**d, "latent_dim": 10**9}),
        "'latent_dim' is 1000000000, expected an integer in 1..65536",
    ),
    "img_size a string": (
        lambda d: json.dumps({**d, "img_size": "32"}),
        "'img_size' is '32', expected an integer",
    ),
    "latent_dim not the graph's": (
        lambda d: json.dumps({**d, "latent_dim": 50}),
        "does not run with its metadata's latent_dim=50",
    ),
    "more classes than the graph": (
        lambda d: json.dumps(resized(d, n_classes=500)),
        "does not run with its metadata's latent_dim=100 and n_classes=500",
    ),
    "img_size not the graph's": (
        lambda d: json.dumps(resized(d, img_size=28)),
        "its metadata promises images of shape (1, 28, 28) but the graph draws (1, 32, 32)",
    ),
    "sizes not the card's": (
        lambda d: json.dumps({**d, "n_classes": 500}),
        "'n_classes' is 500 but its card says 10",
    ),
    "card unreadable": (
        lambda d: json.dumps({**d, "card": {**d["card"], "kind": "vae"}}),
        "card field 'kind' is 'vae'",
    ),
}


def resized(description: dict[str, Any], **sizes: int) -> dict[str, Any]:
    """A description whose sizes and card agree with each other but not with the graph."""
    card = dict(description["card"])
    if "n_classes" in sizes:
        card["class_names"] = [str(i) for i in range(sizes["n_classes"])]
    card.update({k: v for k, v in sizes.items() if k != "n_classes"})
    return {**description, **sizes, "card": card}


@pytest.mark.parametrize("case", list(ONNX_EDITS))
def test_bad_onnx_metadata_is_one_line(case: str, onnx_proto, tmp_path: Path, capsys) -> None:
    edit, fragment = ONNX_EDITS[case]
    path = with_metadata(onnx_proto, edit(real_description(onnx_proto)), tmp_path / "g.onnx")
    assert_one_line_exit(capsys, generate.main, [path, "--out", tmp_path / "five"], fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.onnx"]


def test_onnx_metadata_loader_raises_only_ganlab_errors(
    onnx_proto, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("hypothesis_onnx") / "random.onnx"
    description = real_description(onnx_proto)
    fields = st.sampled_from([*INFO_BOUNDS, "format", "network"])
    edits = st.dictionaries(fields, TREES, max_size=3)
    texts = (
        st.builds(lambda e, drop: json.dumps(without({**description, **e}, drop)), edits, fields)
        | TREES.map(json.dumps)
        | st.text(max_size=40)
    )

    @PROPERTY
    @given(texts)
    def check(text: str) -> None:
        with_metadata(onnx_proto, text, path)
        try:
            backend = OnnxRuntimeBackend(path)
        except GanLabError:
            return
        info = backend.info
        for field, (low, high) in INFO_BOUNDS.items():
            assert low <= getattr(info, field) <= high
        noise = np.zeros((2, info.latent_dim), dtype=np.float32)
        labels = np.array([0, info.n_classes - 1])
        assert backend.run(noise, labels).shape == (2, info.channels, info.img_size, info.img_size)

    check()


# ---------------------------------------------------------------------------------------------
# .npz samples for ganlab-evaluate


def npz_bytes(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def good_samples(n: int = 20, size: int = 32) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
    return {"images": images, "labels": np.arange(n, dtype=np.int64) % 10}


def npy_with_header(shape: tuple[int, ...], descr: str, payload: bytes) -> bytes:
    """An .npy whose header claims ``shape`` of ``descr``, followed by only ``payload``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue() + payload


def crafted_npz(images_npy: bytes, labels_npy: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("images.npy", images_npy)
        archive.writestr("labels.npy", labels_npy)
    return buffer.getvalue()


SAMPLES = good_samples()
NPZ_CASES: dict[str, tuple[Callable[[], bytes], str]] = {
    "truncated": (lambda: npz_bytes(**SAMPLES)[:700], "is not a readable .npz of samples"),
    "not a zip": (lambda: b"\x93NUMPY not a zip", "is not a readable .npz of samples"),
    "2x2 images": (
        lambda: npz_bytes(images=SAMPLES["images"][:, :2, :2], labels=SAMPLES["labels"]),
        "'images' is uint8 of shape (20, 2, 2)",
    ),
    "float labels": (
        lambda: npz_bytes(images=SAMPLES["images"], labels=SAMPLES["labels"] + 0.5),
        "'labels' is float64",
    ),
    "labels out of range": (
        lambda: npz_bytes(images=SAMPLES["images"], labels=SAMPLES["labels"] + 1),
        "20 labels in 1..10",
    ),
    "float images": (
        lambda: npz_bytes(images=SAMPLES["images"] / 255.0, labels=SAMPLES["labels"]),
        "'images' is float64",
    ),
    "two channels": (
        lambda: npz_bytes(
            images=np.stack([SAMPLES["images"]] * 2, axis=1), labels=SAMPLES["labels"]
        ),
        "'images' is uint8 of shape (20, 2, 32, 32)",
    ),
    "non-square images": (
        lambda: npz_bytes(images=SAMPLES["images"][:, :, :28], labels=SAMPLES["labels"]),
        "'images' is uint8 of shape (20, 32, 28)",
    ),
    "one label short": (
        lambda: npz_bytes(images=SAMPLES["images"], labels=SAMPLES["labels"][:-1]),
        "has 20 images and 19 labels",
    ),
    "no labels": (lambda: npz_bytes(images=SAMPLES["images"]), "it has no 'labels' array"),
    "a header claiming a billion images": (
        lambda: crafted_npz(
            npy_with_header((10**9, 32, 32), "|u1", b"\0" * 64),
            npy_with_header((10**9,), "<i8", b""),
        ),
        "'images' is uint8 of shape (1000000000, 32, 32)",
    ),
    "images cut short of their header": (
        lambda: crafted_npz(
            npy_with_header((20, 32, 32), "|u1", b"\0" * 100),
            npy_with_header((20,), "<i8", bytes(160)),
        ),
        "'images' is truncated: 100 of 20480 bytes",
    ),
}


@pytest.mark.parametrize("case", list(NPZ_CASES))
def test_bad_npz_is_refused_in_one_line(case: str, tmp_path: Path, capsys) -> None:
    make, fragment = NPZ_CASES[case]
    path = tmp_path / "samples.npz"
    path.write_bytes(make())
    before = peak_rss_bytes()
    line = assert_one_line_exit(capsys, evaluate.main, [path], str(path), fragment)
    assert peak_rss_bytes() - before < 256 * 2**20
    assert "expected uint8 images N x H x W" in line  # the message says what was expected


def test_good_npz_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "samples.npz"
    path.write_bytes(npz_bytes(**good_samples(n=12, size=28)))
    images, labels = load_npz_samples(path, n_classes=10)
    assert images.shape == (12, 1, 28, 28) and images.min() >= -1 and images.max() <= 1
    assert labels.dtype == torch.int64 and labels.tolist() == [i % 10 for i in range(12)]


@st.composite
def npz_files(draw: st.DrawFn) -> bytes:
    """Random arrays under the expected names (any dtype, small shapes), crafted headers that
    claim anything, and valid files cut short or with a flipped byte."""
    kind = draw(st.sampled_from(["arrays", "header", "damaged"]))
    if kind == "arrays":
        dtypes = st.sampled_from([np.uint8, np.int64, np.int8, np.float32, np.bool_, np.uint16])
        shapes = st.lists(st.integers(0, 36), min_size=0, max_size=4).map(tuple)
        arrays = {}
        for name in draw(st.sets(st.sampled_from(["images", "labels", "other"]))):
            dtype, shape = draw(dtypes), draw(shapes)
            if math.prod(shape) > 50_000:
                shape = shape[:1]
            data = draw(st.binary(min_size=1, max_size=64))
            values = np.resize(np.frombuffer(data, dtype=np.uint8), shape)
            arrays[name] = values.astype(dtype)
        return npz_bytes(**arrays)
    if kind == "header":
        shape = tuple(draw(st.lists(st.integers(0, 2**40), max_size=4)))
        descr = draw(st.sampled_from(["|u1", "<i8", "<f4", "|b1", ">i4", "|O", "<U3"]))
        payload = draw(st.binary(max_size=256))
        labels_shape = tuple(draw(st.lists(st.integers(0, 2**40), max_size=2)))
        return crafted_npz(
            npy_with_header(shape, descr, payload), npy_with_header(labels_shape, "<i8", payload)
        )
    data = bytearray(npz_bytes(**good_samples(n=draw(st.integers(1, 12)), size=8)))
    if draw(st.booleans()):
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    index = draw(st.integers(0, len(data) - 1))
    data[index] ^= draw(st.integers(1, 255))
    return bytes(data)


def test_npz_loader_raises_only_ganlab_errors(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("hypothesis_npz") / "random.npz"
    before = peak_rss_bytes()

    @settings(PROPERTY, max_examples=80)
    @given(npz_files())
    def check(data: bytes) -> None:
        path.write_bytes(data)
        try:
            images, labels = load_npz_samples(path, n_classes=10)
        except GanLabError:
            return
        assert images.ndim == 4 and images.shape[1] in (1, 3) and len(images) == len(labels)
        assert images.shape[-1] == images.shape[-2] >= 8
        assert float(images.min()) >= -1 and float(images.max()) <= 1
        assert labels.numel() == 0 or 0 <= int(labels.min()) <= int(labels.max()) <= 9

    check()
    assert peak_rss_bytes() - before < 256 * 2**20


# ---------------------------------------------------------------------------------------------
# Seeds, counts, tolerances and other command-line values


@pytest.mark.parametrize("seed", ["-1", str(2**63), str(2**64 + 5)])
def test_out_of_range_seeds_are_one_line(seed: str, trained_checkpoint, tmp_path, capsys) -> None:
    out = tmp_path / "five"
    fragment = f"--seed {seed} must be an integer in 0..{2**63 - 1}"
    assert_one_line_exit(
        capsys, generate.main, [trained_checkpoint, "--seed", seed, "--out", out], fragment
    )
    assert_one_line_exit(capsys, evaluate.main, [trained_checkpoint, "--seed", seed], fragment)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--labels", "9-0"], "label range '9-0' is empty"),
        (["--out", ""], "--out '' has no file name"),
        (["--n", "abc"], "argument --n: invalid int value: 'abc'"),
        (["--n", str(10**6)], "--n 1000000 for 10 label(s) must give between 1 and 100000"),
        (["--backend", "tensorrt"], "argument --backend: invalid choice: 'tensorrt'"),
    ],
)
def test_bad_generate_options_are_one_line(
    argv, fragment, trained_checkpoint, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)  # --out "" would otherwise aim at the working folder
    assert_one_line_exit(capsys, generate.main, [trained_checkpoint, *argv], fragment)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--tolerance", "nan"], "--tolerance nan must be a finite number >= 0"),
        (["--tolerance", "inf"], "--tolerance inf must be a finite number >= 0"),
        (["--tolerance=-1e-3"], "--tolerance -0.001 must be a finite number >= 0"),
        (["--parity-batches", "0"], "parity batch sizes [0] must be positive integers"),
        (["--parity-batches", "1", str(10**7)], "of at most 16384"),
    ],
)
def test_bad_onnx_export_options_are_one_line(argv, fragment, trained_checkpoint, tmp_path, capsys):
    out = tmp_path / "g.onnx"
    assert_one_line_exit(
        capsys, export.main, ["onnx", trained_checkpoint, "--out", out, *argv], fragment
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--floor", "--per-class", str(10**9)], "--per-class 1000000000 must be between 1 and"),
        (["--floor", "--img-size", "100000"], "--img-size 100000 must be between 8 and 128"),
        (["--floor", "--per-class", "x"], "argument --per-class: invalid int value: 'x'"),
    ],
)
def test_bad_evaluate_options_are_one_line(argv, fragment, tmp_path, capsys) -> None:
    assert_one_line_exit(capsys, evaluate.main, [*argv, "--data-dir", tmp_path], fragment)


def test_evaluate_refuses_an_unwritable_report_before_evaluating(tmp_path, capsys) -> None:
    (tmp_path / "report.json").mkdir()
    assert_one_line_exit(
        capsys,
        evaluate.main,
        ["--floor", "--data-dir", tmp_path / "no-data", "--out", tmp_path / "report.json"],
        "Is a directory",
        "report.json",
    )


def test_bad_weights_description_is_one_line(trained_checkpoint, tmp_path, capsys) -> None:
    from ganlab.deploy.weights import CONFIG_NAME, export_weights

    folder = export_weights(trained_checkpoint, tmp_path / "exported")
    description = json.loads((folder / CONFIG_NAME).read_text())
    for text, fragment in [
        (json.dumps([description]), "is not a ganlab generator description"),
        (json.dumps({**description, "n_classes": 3}), "'n_classes' is 3 but its card says 10"),
        (json.dumps(resized(description, n_classes=3)), "weights have n_classes=10"),
        (json.dumps({**description, "img_size": 2**40}), "expected an integer in 1..1024"),
        (
            json.dumps({**description, "network": {**description["network"], "width": 4}}),
            "unexpected keyword argument 'width'",
        ),
    ]:
        (folder / CONFIG_NAME).write_text(text)
        assert_one_line_exit(
            capsys, generate.main, [folder, "--out", tmp_path / "five"], str(folder), fragment
        )
    assert not list(tmp_path.glob("five*"))


# ---------------------------------------------------------------------------------------------
# Paired outputs: all or nothing, on a full disk or a failed rename


def test_generate_checks_both_targets_before_writing_either(trained_checkpoint, tmp_path, capsys):
    out = tmp_path / "five"
    out.with_suffix(".png").mkdir()
    assert_one_line_exit(
        capsys, generate.main, [trained_checkpoint, "--out", out], "Is a directory", "five.png"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["five.png"]


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 16 KiB tmpfs: room for a previous pair of small files, not for a new pair."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "full"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def previous_pair(folder: Path, names: tuple[str, str]) -> dict[str, bytes]:
    contents = {name: f"previous {name}".encode() for name in names}
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    return contents


def assert_only(folder: Path, contents: dict[str, bytes]) -> None:
    """The previous files, untouched, and no temporary file beside them."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(contents)
    for name, data in contents.items():
        assert (folder / name).read_bytes() == data


WEIGHTS_PAIR = ("generator.safetensors", "generator.json")
GENERATE_PAIR = ("five.npz", "five.png")


def test_export_weights_on_a_full_disk(trained_checkpoint, small_tmpfs, capsys) -> None:
    previous = previous_pair(small_tmpfs, WEIGHTS_PAIR)
    assert_one_line_exit(
        capsys,
        export.main,
        ["weights", trained_checkpoint, "--out", small_tmpfs],
        f"cannot write generator.safetensors and generator.json in {small_tmpfs}",
        "No space left on device",
    )
    assert_only(small_tmpfs, previous)


def test_generate_on_a_full_disk(trained_checkpoint, small_tmpfs, capsys) -> None:
    previous = previous_pair(small_tmpfs, GENERATE_PAIR)
    assert_one_line_exit(
        capsys,
        generate.main,
        [trained_checkpoint, "--n", "16", "--out", small_tmpfs / "five"],
        f"cannot write five.npz and five.png in {small_tmpfs}",
        "No space left on device",
    )
    assert_only(small_tmpfs, previous)


def failing_rename(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``os.replace`` fails after every file was written and fsynced, before any rename."""
    attempts: list[str] = []

    def replace(src, dst, *args, **kwargs):
        attempts.append(str(dst))
        raise OSError(errno.EIO, "Input/output error", str(src))

    monkeypatch.setattr(os, "replace", replace)
    return attempts


def test_failed_rename_keeps_the_previous_weights(
    trained_checkpoint, tmp_path, monkeypatch, capsys
) -> None:
    previous = previous_pair(tmp_path, WEIGHTS_PAIR)
    attempts = failing_rename(monkeypatch)
    assert_one_line_exit(
        capsys,
        export.main,
        ["weights", trained_checkpoint, "--out", tmp_path],
        "cannot write generator.safetensors and generator.json",
        "Input/output error",
    )
    assert attempts, "the failure was injected at the rename"
    assert_only(tmp_path, previous)


def test_failed_rename_keeps_the_previous_images(
    trained_checkpoint, tmp_path, monkeypatch, capsys
) -> None:
    previous = previous_pair(tmp_path, GENERATE_PAIR)
    attempts = failing_rename(monkeypatch)
    assert_one_line_exit(
        capsys,
        generate.main,
        [trained_checkpoint, "--n", "2", "--out", tmp_path / "five"],
        "cannot write five.npz and five.png",
        "Input/output error",
    )
    assert attempts
    assert_only(tmp_path, previous)
