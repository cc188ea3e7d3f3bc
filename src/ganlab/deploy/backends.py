"""Inference backends behind one interface: numpy in, numpy out.

* ``torch``: a Lightning checkpoint (``.ckpt``) or an exported weights folder.
* ``onnxruntime``: an ``.onnx`` file from ``ganlab-export onnx``; needs neither torch nor
  Lightning, only numpy and onnxruntime.

Both draw float32 images [N, C, H, W] in [-1, 1] for int64 labels [N] from a seed, so the same
seed gives the same noise and (within float tolerance) the same images on either backend; a
GAN's backends also run the single pass on given noise (``run``). Each reports the generator's
card (data set, class names, channels, size) in its :class:`ModelInfo`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ganlab.errors import CheckpointError, ConfigError, is_integer
from ganlab.images import seeded_noise
from ganlab.models.conditional_generator import GeneratorCard, card_of

BACKENDS = ("torch", "onnxruntime")
ONNX_METADATA_KEY = "ganlab"
# Inclusive bounds of the sizes a model declares, read from files and so bounded before anything
# is allocated: far above the MNIST models (10 classes, latent 100, 1 channel, 28 or 32 px), far
# below a batch that exhausts memory. ganlab.networks.spec bounds network specs with them too.
INFO_BOUNDS: dict[str, tuple[int, int]] = {
    "n_classes": (1, 1000),
    "latent_dim": (1, 65_536),
    "channels": (1, 4),
    "img_size": (1, 1024),
}


@dataclass(frozen=True)
class ModelInfo:
    n_classes: int
    latent_dim: int
    channels: int
    img_size: int
    source: str
    backend: str
    card: GeneratorCard


def model_info(description: object, source: str | os.PathLike, backend: str) -> ModelInfo:
    """A :class:`ModelInfo` from a file's description, each size an integer within
    :data:`INFO_BOUNDS` and agreeing with the card; CheckpointError naming the file and the
    entry otherwise."""
    if not isinstance(description, dict):
        raise CheckpointError(
            f"{source}: its model description is a {type(description).__name__}, expected a "
            f"dict with {', '.join(INFO_BOUNDS)}; re-export it"
        )
    sizes = {}
    for field, (low, high) in INFO_BOUNDS.items():
        value = description.get(field)
        if not is_integer(value) or not low <= value <= high:
            raise CheckpointError(
                f"{source}: '{field}' is {value!r:.40}, expected an integer in {low}..{high}; "
                "re-export it"
            )
        sizes[field] = value
    card = card_of(description, str(source))
    for field in ("n_classes", "channels", "img_size"):
        if getattr(card, field) != sizes[field]:
            raise CheckpointError(
                f"{source}: '{field}' is {sizes[field]} but its card says "
                f"{getattr(card, field)}; re-export it"
            )
    return ModelInfo(**sizes, source=str(source), backend=backend, card=card)


class GeneratorBackend(Protocol):
    info: ModelInfo

    def draw(self, labels: np.ndarray, seed: int, **options: Any) -> np.ndarray:
        """Images [N, C, H, W] (float32, [-1, 1]) of ``labels`` from ``seed``; ``options`` are
        the model's sampling options (a diffusion model's steps and guidance)."""
        ...

    def run(self, noise: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """A GAN's single pass on given noise [N, latent_dim] (the service batches requests
        through it; the export's parity check compares it)."""
        ...


class TorchBackend:
    """Runs the generator with PyTorch on the CPU (or ``device``)."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu") -> None:
        import torch

        from ganlab.checkpoints import load_generator
        from ganlab.deploy.weights import load_weights
        from ganlab.models.trained_diffusion import TrainedDiffusion
        from ganlab.models.trained_gan import TrainedGAN

        path = Path(path)
        model = load_weights(path) if path.is_dir() else load_generator(path)
        assert isinstance(model, TrainedGAN | TrainedDiffusion)  # what the loaders return
        self.model = model
        self._torch = torch
        self.device = torch.device(device)
        self.model.to(self.device)
        # The loaders checked the file's metadata against the weights; the network is the truth.
        card = self.model.card
        network = getattr(self.model, "network", None)
        sizes = {
            field: getattr(network, field, getattr(card, field, None)) for field in INFO_BOUNDS
        }
        if card.kind == "diffusion":  # its "latent" is the starting noise, one value per pixel
            sizes["latent_dim"] = card.channels * card.img_size**2
        self.info = model_info({**sizes, "card": card.to_dict()}, path, "torch")

    def run(self, noise: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """A GAN's single pass on given noise (the export's parity check compares it)."""
        from ganlab.models.conditional_generator import require_kind
        from ganlab.models.trained_gan import TrainedGAN

        require_kind(self.info.card, "gan", "a single network pass", self.info.source)
        assert isinstance(self.model, TrainedGAN)
        torch = self._torch
        with torch.inference_mode():
            images = self.model.run(torch.from_numpy(noise), torch.from_numpy(labels))
        return images.float().cpu().numpy()

    def draw(self, labels: np.ndarray, seed: int, **options: Any) -> np.ndarray:
        torch = self._torch
        images = self.model.generate(torch.from_numpy(labels), seed=seed, **options)
        return images.float().cpu().numpy()


class OnnxRuntimeBackend:
    """Runs an exported ``.onnx`` generator with ONNX Runtime (no torch import)."""

    def __init__(self, path: str | os.PathLike, threads: int = 0) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"ONNX model {path} does not exist")
        options = ort.SessionOptions()
        # Errors reach the user as one CheckpointError line, not as onnxruntime's log lines.
        options.log_severity_level = 4
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
        try:
            description = json.loads(metadata)
        except (ValueError, RecursionError) as error:
            raise CheckpointError(
                f"{path}: its '{ONNX_METADATA_KEY}' metadata is not JSON ({error}); re-export it"
            ) from error
        self.info = model_info(description, path, "onnxruntime")
        self._check_graph(path)

    def _check_graph(self, path: Path) -> None:
        """The graph takes noise and labels as the metadata says and draws the images it
        promises: one image of the last class, so that a wrong latent_dim, a class count above
        the graph's or a wrong image shape is refused here, not on the first request."""
        inputs = sorted(arg.name for arg in self.session.get_inputs())
        outputs = [arg.name for arg in self.session.get_outputs()]
        if inputs != ["labels", "noise"] or "images" not in outputs:
            raise CheckpointError(
                f"{path} is not a ganlab generator graph: inputs {inputs} and outputs {outputs}, "
                "expected noise and labels -> images"
            )
        info = self.info
        noise = np.zeros((1, info.latent_dim), dtype=np.float32)
        try:
            images = self.run(noise, np.array([info.n_classes - 1], dtype=np.int64))
        except Exception as error:  # onnxruntime raises its own exception types
            detail = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
            raise CheckpointError(
                f"{path} does not run with its metadata's latent_dim={info.latent_dim} and "
                f"n_classes={info.n_classes} ({detail}); re-export it"
            ) from error
        expected = (1, info.channels, info.img_size, info.img_size)
        if getattr(images, "shape", None) != expected:
            raise CheckpointError(
                f"{path}: its metadata promises images of shape {expected[1:]} but the graph "
                f"draws {getattr(images, 'shape', (None,))[1:]}; re-export it"
            )

    def draw(self, labels: np.ndarray, seed: int, **options: Any) -> np.ndarray:
        given = {key: value for key, value in options.items() if value is not None}
        if given:
            raise ConfigError(
                f"--{next(iter(given))} does not apply to a {self.info.card.kind} model "
                "(its sampling options: none)"
            )
        return self.run(seeded_noise(len(labels), self.info.latent_dim, seed), labels)

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
