"""What a trained discriminator does: score real digits, mislabelled real digits and generated ones.

    python examples/discriminator_scores.py logs/.../checkpoints/last.ckpt [--data-dir data]

Uses the first 1,000 test images (at the checkpoint's image size) and, for the generated set,
the same labels with seeded noise.
"""

from __future__ import annotations

import argparse

import torch

from ganlab.checkpoints import load_network
from ganlab.data.mnist_datamodule import load_split
from ganlab.errors import one_line_errors
from ganlab.sampling import generate


@one_line_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--n", type=int, default=1000, help="test images to score")
    args = parser.parse_args()

    discriminator, meta = load_network(args.checkpoint, "discriminator")
    generator, _ = load_network(args.checkpoint, "generator")
    images, labels = load_split(args.data_dir, "test", discriminator.img_size)
    images, labels = images[: args.n], labels[: args.n]
    with torch.no_grad():
        real = discriminator(images, labels)
        mislabelled = discriminator(images, (labels + 1) % meta["n_classes"])
        fake = discriminator(generate(generator, labels, meta["latent_dim"], seed=0), labels)
    print(
        f"mean score: real {real.mean():.3f}, real with a wrong label {mislabelled.mean():.3f}, "
        f"generated {fake.mean():.3f}"
    )
    above_fake = (real[:, None] > fake[None, :]).float().mean()
    print(f"real scored above generated: {above_fake:.1%} of pairs")
    label_wins = (real > mislabelled).float().mean()
    print(f"true label scored above a wrong one: {label_wins:.1%} of digits")


if __name__ == "__main__":
    main()
