"""Checkpoint -> plain weights -> ONNX -> inference without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.checkpoints import load_generator
from ganlab.deploy.backends import OnnxRuntimeBackend, TorchBackend, load_backend
from ganlab.deploy.onnx_export import ParityError, export_onnx
from ganlab.deploy.weights import export_weights, load_weights
from ganlab.errors import CheckpointError, ConfigError
from ganlab.generate import generate_images
from ganlab.images import seeded_noise


@pytest.fixture
def checkpoint(trained_checkpoint: Path) -> Path:
    return trained_checkpoint


@pytest.fixture
def onnx_model(trained_onnx: Path) -> Path:
    return trained_onnx


def test_weights_round_trip_without_lightning_or_hydra(tmp_path: Path, checkpoint: Path) -> None:
    export_weights(checkpoint, tmp_path / "exported")
    description = json.loads((tmp_path / "exported" / "generator.json").read_text())
    assert description["latent_dim"] == 100 and description["img_size"] == 32
    code = (
        "import sys; from ganlab.deploy.weights import load_weights; "
        f"g = load_weights({str(tmp_path / 'exported')!r}); "
        "bad = [m for m in ('lightning', 'hydra', 'pytorch_lightning') if m in sys.modules]; "
        "print(type(g.network).__name__, g.card.n_classes, bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "MLPGenerator 10 []"
    original = load_generator(checkpoint).network
    loaded = load_weights(tmp_path / "exported").network
    noise, labels = torch.randn(6, 100), torch.arange(6)
    with torch.no_grad():
        assert torch.equal(original(noise, labels), loaded(noise, labels))


def test_ema_weights_are_preferred_when_present(tmp_path: Path, checkpoint: Path) -> None:
    state = torch.load(checkpoint, weights_only=True)
    ema = {
        "ema_generator." + k.removeprefix("generator."): torch.zeros_like(v)
        for k, v in state["state_dict"].items()
        if k.startswith("generator.")
    }
    state["state_dict"].update(ema)
    with_ema = tmp_path / "ema.ckpt"
    torch.save(state, with_ema)
    generator = load_generator(with_ema).network
    assert all(float(p.abs().sum()) == 0 for p in generator.parameters())


def test_onnx_has_dynamic_batch_and_matches_torch(onnx_model: Path, checkpoint: Path) -> None:
    ort_backend, torch_backend = OnnxRuntimeBackend(onnx_model), TorchBackend(checkpoint)
    assert ort_backend.info.latent_dim == torch_backend.info.latent_dim == 100
    for size in (1, 3, 200):
        noise = seeded_noise(size, 100, seed=size)
        labels = np.arange(size, dtype=np.int64) % 10
        out = ort_backend.run(noise, labels)
        assert out.shape == (size, 1, 32, 32) and out.dtype == np.float32
        assert np.abs(out - torch_backend.run(noise, labels)).max() <= 1e-5


def test_parity_failure_leaves_no_file(tmp_path: Path, checkpoint: Path, monkeypatch) -> None:
    from ganlab.deploy import onnx_export

    # A runtime that differs from PyTorch: the exported file must never appear.
    monkeypatch.setattr(onnx_export, "parity_report", lambda *args: {"4": 0.5})
    out = tmp_path / "strict.onnx"
    with pytest.raises(ParityError, match=r"differs from PyTorch by 5\.00e-01.*was not written"):
        export_onnx(checkpoint, out, parity_batch_sizes=(4,), tolerance=1e-5)
    assert list(tmp_path.iterdir()) == []


def test_parity_batch_sizes_must_be_positive(tmp_path: Path, checkpoint: Path) -> None:
    with pytest.raises(ConfigError, match=r"parity batch sizes \[0\] must be positive"):
        export_onnx(checkpoint, tmp_path / "g.onnx", parity_batch_sizes=(0,))
    assert list(tmp_path.iterdir()) == []


def test_both_backends_write_the_same_files(tmp_path: Path, onnx_model, checkpoint) -> None:
    from ganlab.generate import main

    options = ["--labels", "3", "7", "--n", "5", "--seed", "9", "--out"]
    for model, out in ((checkpoint, "t"), (onnx_model, "o")):
        main([str(model), *options, str(tmp_path / out)])
    with np.load(tmp_path / "t.npz") as a, np.load(tmp_path / "o.npz") as b:
        assert np.array_equal(a["labels"], b["labels"])
        assert np.abs(a["images"].astype(int) - b["images"].astype(int)).max() <= 1
    images, _, _ = generate_images(onnx_model, ["3"], 2, seed=9)
    assert images.shape == (2, 1, 32, 32)


def test_onnxruntime_generation_imports_no_torch(tmp_path: Path, onnx_model: Path) -> None:
    code = f"""
import sys
class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith(("torch.", "lightning", "hydra")):
            raise ImportError(f"{{name}} is blocked in this test")
sys.meta_path.insert(0, BlockTorch())
from ganlab.generate import main
main([{str(onnx_model)!r}, "--labels", "5", "--n", "4", "--out", {str(tmp_path / "five")!r}])
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    with np.load(tmp_path / "five.npz") as data:
        assert data["images"].shape == (4, 32, 32) and data["labels"].tolist() == [5] * 4


def test_bad_models_are_clear_errors(tmp_path: Path, checkpoint: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage")
    with pytest.raises(CheckpointError, match=r"broken\.onnx is corrupt or unreadable"):
        load_backend(broken)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_backend(tmp_path / "missing.onnx")
    with pytest.raises(ConfigError, match=r"backend onnxruntime needs an \.onnx file"):
        load_backend(checkpoint, "onnxruntime")
    with pytest.raises(CheckpointError, match=r"generator\.json does not exist"):
        load_weights(tmp_path)


def test_tensorrt_script_says_why_it_cannot_run(tmp_path: Path, onnx_model: Path) -> None:
    from benchmarks.tensorrt_engines import EXIT_UNAVAILABLE, unavailable_reason

    reason = unavailable_reason()
    if reason is None:
        pytest.skip("a GPU with TensorRT is present: the script runs for real (see docs)")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "tensorrt_engines.py"
    result = subprocess.run(
        [sys.executable, str(script), str(onnx_model), "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == EXIT_UNAVAILABLE
    assert f"skipped: TensorRT engines need an NVIDIA GPU ({reason})" in result.stderr


def test_export_and_serve_commands_fail_in_one_line(tmp_path: Path, capsys) -> None:
    from ganlab import export, serve
    from tests.helpers import assert_one_line_exit

    for main, argv in (
        (export.main, ["onnx", tmp_path / "missing.ckpt", "--out", tmp_path / "g.onnx"]),
        (export.main, ["weights", tmp_path / "missing.ckpt", "--out", tmp_path / "exported"]),
        (serve.main, [tmp_path / "missing.onnx"]),
    ):
        assert_one_line_exit(capsys, main, argv, "missing", "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_onnxruntime_thread_cap_is_applied(onnx_model: Path) -> None:
    backend = load_backend(onnx_model, threads=1)
    assert backend.session.get_session_options().intra_op_num_threads == 1
    assert backend.run(seeded_noise(2, 100, 0), np.array([1, 2])).shape == (2, 1, 32, 32)


@pytest.mark.slow
def test_sampling_benchmark_reports_every_runtime(tmp_path: Path, checkpoint, onnx_model) -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "sampling_throughput.py"
    out = tmp_path / "sampling.json"
    command = [sys.executable, str(script), str(checkpoint), "--onnx", str(onnx_model)]
    result = subprocess.run(
        [*command, "--repeats", "2", "--out", str(out)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert {(r["runtime"], r["batch"]) for r in rows} == {
        (name, batch)
        for name in ("torch eager", "torch.compile", "onnxruntime")
        for batch in (1, 1024)
    }
    assert all(r["images_per_s"] > 0 and r["max_abs_diff_vs_eager"] <= 1e-5 for r in rows)
