"""Generate images of chosen classes from a trained generator.

    ganlab-generate logs/.../checkpoints/last.ckpt --labels 5 --n 16 --seed 0 --out five
    ganlab-generate generator.onnx --backend onnxruntime --labels 5 --n 16 --seed 0 --out five
    ganlab-generate fashion.ckpt --labels Sneaker,Bag --out shoes_and_bags

writes ``five.png`` (one row per requested label) and ``five.npz`` with ``images`` (uint8,
N x H x W for one channel, N x C x H x W otherwise) and ``labels`` (int64, N). This is the
executable answer to "how do you make the generator draw a 5": draw noise, pass label 5. The
ONNX Runtime path imports no torch; the same seed gives the same noise on both backends.
Labels are class numbers, ranges of them, or the class names the generator's card lists.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.deploy.backends import BACKENDS, GeneratorBackend, load_backend
from ganlab.errors import ConfigError, OneLineArgumentParser, one_line_errors
from ganlab.images import check_seed, encode_npz, encode_png, to_uint8
from ganlab.utils.atomic import check_writable_target, write_outputs

MAX_IMAGES = 100_000
# Pixel values of one call (float32): 1 GiB, 100,000 MNIST images are a tenth of it.
MAX_VALUES = 2**28


def parse_labels(values: list[str], n_classes: int, class_names: tuple[str, ...] = ()) -> list[int]:
    """Parse "5", "0,1,2", "0-9" or class names ("Sneaker,Bag", any case) into class numbers,
    each checked against the range. A name is matched before the range syntax, so names with
    a hyphen ("T-shirt/top") work."""
    by_name = {name.casefold(): label for label, name in enumerate(class_names)}
    labels: list[int] = []
    for value in values:
        for token in str(value).split(","):
            token = token.strip()
            if token.casefold() in by_name:
                labels.append(by_name[token.casefold()])
                continue
            low, sep, high = token.partition("-")
            bounds = (low, high) if sep and low else (token,)
            try:
                numbers = [int(b) for b in bounds]
            except ValueError:
                names = f" or a class name ({', '.join(class_names)})" if class_names else ""
                raise ConfigError(
                    f"label {token!r} is not a class number; expected integers "
                    f"0..{n_classes - 1}{names}"
                ) from None
            if len(numbers) == 2 and numbers[0] > numbers[1]:
                raise ConfigError(
                    f"label range {token!r} is empty; write the smaller class first, e.g. 0-9"
                )
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


def sample(
    backend: GeneratorBackend, classes: list[int], n: int, seed: int, **options: Any
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images of each class (float32 in [-1, 1]) and their labels, from seeded noise;
    ``options`` are the model's sampling options (a diffusion model's steps and guidance)."""
    if not 1 <= n <= MAX_IMAGES or n * len(classes) > MAX_IMAGES:
        raise ConfigError(
            f"--n {n} for {len(classes)} label(s) must give between 1 and {MAX_IMAGES} images"
        )
    info = backend.info
    values = n * len(classes) * info.channels * info.img_size**2
    if values > MAX_VALUES:
        raise ConfigError(
            f"--n {n} for {len(classes)} label(s) of {info.channels}x{info.img_size}x"
            f"{info.img_size} images is {values:,} pixel values, more than {MAX_VALUES:,}; "
            "draw fewer at a time"
        )
    labels = np.repeat(np.asarray(classes, dtype=np.int64), n)
    return backend.draw(labels, seed, **options), labels


def generate_images(
    model: str | Path,
    labels: list[str] | None,
    n: int,
    seed: int,
    backend: str | None = None,
    **options: Any,
) -> tuple[np.ndarray, np.ndarray, GeneratorBackend]:
    """Load ``model`` and draw ``n`` images per requested label (every class by default)."""
    check_seed(seed)
    loaded = load_backend(model, backend)
    if labels is None:
        labels = [f"0-{loaded.info.n_classes - 1}"]
    classes = parse_labels(labels, loaded.info.n_classes, loaded.info.card.class_names)
    images, label_array = sample(loaded, classes, n, seed, **options)
    return images, label_array, loaded


def add_sampling_options(parser: argparse.ArgumentParser) -> None:
    """``--sampler``, ``--steps`` and ``--guidance``: a diffusion model's sampling options
    (default: what the model was trained with); a GAN refuses them."""
    parser.add_argument(
        "--sampler", help="diffusion: ddpm or ddim (noise prediction), euler or heun (flow)"
    )
    parser.add_argument("--steps", type=int, help="diffusion: sampler steps (default: the model's)")
    parser.add_argument(
        "--guidance",
        type=float,
        help="diffusion: classifier-free guidance scale, 0 = none (default: the model's)",
    )


def output_paths(out: str) -> tuple[Path, Path]:
    """``X.png`` and ``X.npz`` for ``--out X``."""
    path = Path(out)
    if not path.name or path.name in (".", ".."):
        raise ConfigError(f"--out {out!r} has no file name; give e.g. --out samples/five")
    return path.with_suffix(".png"), path.with_suffix(".npz")


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = OneLineArgumentParser(
        prog="ganlab-generate", description="Generate class-conditional images."
    )
    parser.add_argument("model", help="checkpoint (.ckpt), exported weights folder, or .onnx")
    parser.add_argument(
        "--labels",
        nargs="+",
        default=None,
        help="classes: 5 | 0,3,7 | 0-9 | class names (default: every class)",
    )
    parser.add_argument("--n", type=int, default=8, help="images per label (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--out", default="generated", help="output path without suffix")
    parser.add_argument(
        "--backend", choices=BACKENDS, help="default: onnxruntime for .onnx files, else torch"
    )
    add_sampling_options(parser)
    args = parser.parse_args(argv)
    check_seed(args.seed, "--seed")
    png, npz = output_paths(args.out)
    for target in (png, npz):  # refused now, not after the images are drawn
        check_writable_target(target)

    images, labels, _ = generate_images(
        args.model,
        args.labels,
        args.n,
        args.seed,
        args.backend,
        sampler=args.sampler,
        steps=args.steps,
        guidance=args.guidance,
    )
    pixels = to_uint8(images)
    # Both files or neither: a folder named five.png is found before five.npz is written.
    write_outputs({npz: encode_npz(pixels, labels), png: encode_png(pixels, per_row=args.n)})
    print(f"wrote {len(labels)} images to {png} and {npz}")


if __name__ == "__main__":
    main()
