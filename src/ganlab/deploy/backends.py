"""Inference backends behind one interface: numpy in, numpy out.

* ``torch``: a Lightning checkpoint (``.ckpt``) or an exported weights folder.
* ``onnxruntime``: an ``.onnx`` file from ``ganlab-export onnx``; needs neither torch nor
  Lightning, only numpy and onnxruntime.

Both take float32 noise [N, latent_dim] and int64 labels [N] and return float32 images
[N, C, H, W] in [-1, 1], so the same seed gives the same noise and (within float tolerance)
the same images on either backend.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ganlab.errors import CheckpointError, ConfigError

BACKENDS = ("torch", "onnxruntime")
ONNX_METADATA_KEY = "ganlab"


@dataclass(frozen=True)
class ModelInfo:
    n_classes: int
    latent_dim: int
    channels: int
    img_size: int
    source: str
    backend: str


class GeneratorBackend(Protocol):
    info: ModelInfo

    def run(self, noise: np.ndarray, labels: np.ndarray) -> np.ndarray: ...


class TorchBackend:
    """Runs the generator with PyTorch on the CPU (or ``device``)."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu") -> None:
        import torch

        from ganlab.checkpoints import load_generator
        from ganlab.deploy.weights import load_weights

        path = Path(path)
        if path.is_dir():
            self.generator, description = load_weights(path)
            n_classes, latent_dim = description["n_classes"], description["latent_dim"]
        else:
            self.generator, meta = load_generator(path)
            n_classes, latent_dim = meta["n_classes"], meta["latent_dim"]
        self._torch = torch
        self.device = torch.device(device)
        self.generator.to(self.device)
        self.info = ModelInfo(
            n_classes=int(n_classes),
            latent_dim=int(latent_dim),
            channels=int(self.generator.channels),
            img_size=int(self.generator.img_size),
            source=str(path),
            backend="torch",
        )

    def run(self, noise: np.ndarray, labels: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            images = self.generator(
                torch.from_numpy(noise).to(self.device), torch.from_numpy(labels).to(self.device)
            )
        return images.float().cpu().numpy()


class OnnxRuntimeBackend:
    """Runs an exported ``.onnx`` generator with ONNX Runtime (no torch import)."""

    def __init__(self, path: str | os.PathLike, threads: int = 0) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"ONNX model {path} does not exist")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own exception types
            detail = str(error).splitlines()[0][:160]
            raise CheckpointError(
                f"ONNX model {path} is corrupt or unreadable ({detail})"
            ) from error
        metadata = self.session.get_modelmeta().custom_metadata_map.get(ONNX_METADATA_KEY)
        if metadata is None:
            raise CheckpointError(f"{path} has no '{ONNX_METADATA_KEY}' metadata; re-export it")
        description = json.loads(metadata)
        self.info = ModelInfo(
            n_classes=int(description["n_classes"]),
            latent_dim=int(description["latent_dim"]),
            channels=int(description["channels"]),
            img_size=int(description["img_size"]),
            source=str(path),
            backend="onnxruntime",
        )

    def run(self, noise: np.ndarray, labels: np.ndarray) -> np.ndarray:
        (images,) = self.session.run(
            ["images"], {"noise": noise.astype(np.float32), "labels": labels.astype(np.int64)}
        )
        return images


def default_backend(path: str | os.PathLike) -> str:
    return "onnxruntime" if str(path).endswith(".onnx") else "torch"


def load_backend(
    path: str | os.PathLike, backend: str | None = None, threads: int = 0
) -> GeneratorBackend:
    """The backend for ``path``: ``.onnx`` files run on onnxruntime, everything else on torch.

    ``threads`` caps onnxruntime's intra-op threads (0: its default, one per core)."""
    backend = backend or default_backend(path)
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend != default_backend(path):
        kind = "an .onnx file" if backend == "onnxruntime" else "a .ckpt or weights folder"
        raise ConfigError(f"backend {backend} needs {kind}, got {path}")
    if backend == "onnxruntime":
        return OnnxRuntimeBackend(path, threads=threads)
    return TorchBackend(path)
