"""Generate digits of chosen classes from a trained checkpoint.

    ganlab-generate logs/.../checkpoints/last.ckpt --labels 5 --n 16 --seed 0 --out five

writes ``five.png`` (one row per requested label) and ``five.npz`` with ``images`` (uint8,
N x H x W for one channel, N x C x H x W otherwise) and ``labels`` (int64, N). This is the
executable answer to "how do you make the generator draw a 5": draw noise, pass label 5.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import torch

from ganlab.checkpoints import load_generator
from ganlab.errors import ConfigError, one_line_errors
from ganlab.sampling import generate, save_grid, to_uint8
from ganlab.utils.atomic import atomic_path

MAX_IMAGES = 100_000


def parse_labels(values: list[str], n_classes: int) -> list[int]:
    """Parse "5", "0,1,2" or "0-9" into class numbers, each checked against the range."""
    labels: list[int] = []
    for value in values:
        for token in value.split(","):
            token = token.strip()
            low, sep, high = token.partition("-")
            bounds = (low, high) if sep and low else (token,)
            try:
                numbers = [int(b) for b in bounds]
            except ValueError:
                raise ConfigError(
                    f"label {token!r} is not a class number; expected integers 0..{n_classes - 1}"
                ) from None
            expanded = range(numbers[0], numbers[-1] + 1) if len(numbers) == 2 else numbers
            for label in expanded:
                if not 0 <= label < n_classes:
                    raise ConfigError(
                        f"label {label} is out of range; the model knows classes 0..{n_classes - 1}"
                    )
                labels.append(label)
    if not labels:
        raise ConfigError("no labels given; pass e.g. --labels 5 or --labels 0-9")
    return labels


def write_npz(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=labels)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def generate_images(
    checkpoint: str | Path, labels: list[str], n: int, seed: int, device: str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Generator output in [-1, 1] for ``n`` images of each label, and the labels used."""
    if not 1 <= n <= MAX_IMAGES:
        raise ConfigError(f"--n {n} must be between 1 and {MAX_IMAGES}")
    generator, meta = load_generator(checkpoint)
    classes = parse_labels(labels, meta["n_classes"])
    if n * len(classes) > MAX_IMAGES:
        raise ConfigError(f"{n} x {len(classes)} labels exceeds the limit of {MAX_IMAGES} images")
    label_tensor = torch.tensor(classes, dtype=torch.int64).repeat_interleave(n)
    generator.to(device)
    images = generate(generator, label_tensor, meta["latent_dim"], seed=seed)
    return images.cpu(), label_tensor, meta


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Generate class-conditional images from a checkpoint."
    )
    parser.add_argument("checkpoint", help="Lightning checkpoint written by ganlab-train")
    parser.add_argument(
        "--labels", nargs="+", default=["0-9"], help="classes: 5 | 0,3,7 | 0-9 (default 0-9)"
    )
    parser.add_argument("--n", type=int, default=8, help="images per label (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--out", default="generated", help="output path without suffix")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = parser.parse_args(argv)

    if args.device != "cpu" and not torch.cuda.is_available():
        raise ConfigError(f"--device {args.device} is not available here; use --device cpu")
    images, labels, _ = generate_images(
        args.checkpoint, args.labels, args.n, args.seed, args.device
    )
    out = Path(args.out)
    png, npz = out.with_suffix(".png"), out.with_suffix(".npz")
    pixels = to_uint8(images).numpy()
    if pixels.shape[1] == 1:
        pixels = pixels[:, 0]
    write_npz(npz, pixels, labels.numpy())
    save_grid(images, png, per_row=args.n)
    print(f"wrote {len(labels)} images to {png} and {npz}")


if __name__ == "__main__":
    main()
