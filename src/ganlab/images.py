"""Generated images as pixels and files, with numpy and Pillow only.

Kept free of torch so that the ONNX Runtime path (``ganlab-generate --backend onnxruntime``,
the HTTP service) can write byte-identical PNG and .npz files without PyTorch installed; the
training callbacks use the same functions, so there is one grid layout in the project.
"""

from __future__ import annotations

import io
import numbers

import numpy as np
from PIL import Image

from ganlab.errors import ConfigError

GRID_PADDING = 2
# numpy's generators take any non-negative integer; the bound is the service's (a signed 64-bit
# integer), so a seed from the command line can be sent to the service and back.
MAX_SEED = 2**63 - 1


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Generator output in [-1, 1] -> uint8 pixels in [0, 255], same shape."""
    scaled = (np.asarray(images, dtype=np.float32) + 1.0) * 127.5
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def grid(pixels: np.ndarray, per_row: int, padding: int = GRID_PADDING) -> np.ndarray:
    """uint8 N x C x H x W -> one H' x W' x C image, ``per_row`` per row, black borders."""
    n, channels, height, width = pixels.shape
    rows = -(-n // per_row)
    canvas = np.zeros(
        (rows * (height + padding) + padding, per_row * (width + padding) + padding, channels),
        dtype=np.uint8,
    )
    for index in range(n):
        row, col = divmod(index, per_row)
        top, left = padding + row * (height + padding), padding + col * (width + padding)
        canvas[top : top + height, left : left + width] = pixels[index].transpose(1, 2, 0)
    return canvas


def encode_png(pixels: np.ndarray, per_row: int) -> bytes:
    """A PNG grid of uint8 N x C x H x W images (grey for one channel)."""
    image = grid(pixels, per_row)
    mode_image = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
    buffer = io.BytesIO()
    mode_image.save(buffer, format="PNG")
    return buffer.getvalue()


def encode_npz(pixels: np.ndarray, labels: np.ndarray) -> bytes:
    """``images`` (uint8, N x H x W for one channel, else N x C x H x W) and ``labels`` (int64)."""
    images = pixels[:, 0] if pixels.shape[1] == 1 else pixels
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=np.asarray(labels, dtype=np.int64))
    return buffer.getvalue()


def check_seed(seed: object, name: str = "seed") -> int:
    """``seed`` (a Python or numpy integer) as an int if it lies in 0..MAX_SEED; ConfigError
    naming ``name`` otherwise (numpy would raise ValueError for a negative one)."""
    if (
        isinstance(seed, bool)
        or not isinstance(seed, numbers.Integral)
        or not 0 <= int(seed) <= MAX_SEED
    ):
        raise ConfigError(f"{name} {seed!r:.40} must be an integer in 0..{MAX_SEED}")
    return int(seed)


def seeded_noise(n: int, latent_dim: int, seed: int) -> np.ndarray:
    """Standard-normal noise [n, latent_dim] (float32) from numpy's PCG64: the same seed gives
    the same noise on every backend and machine, with or without torch."""
    check_seed(seed)
    return np.random.default_rng(seed).standard_normal((n, latent_dim), dtype=np.float32)
