"""Quality and cost of a diffusion checkpoint against its sampling steps and guidance scale.

    python scripts/sampling_sweep.py RUN/checkpoints/last.ckpt --steps 5 10 25 50 \
        --guidance 0 1 2 4 --per-class 1000 --out docs/results/diffusion_sampling.json \
        --plot docs/images/diffusion_guidance.png

Each steps value is run at the model's own guidance, each guidance value at the model's own
steps: ``ganlab-evaluate``'s metrics (``--per-class`` images per class, seed 0, against the test
split) and the seconds per 1,000 images of a separate, timed draw of up to 20 images per class
(one batch, as the evaluation draws). The plot shows the guidance trade-off: accuracy and
precision against recall.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from ganlab.checkpoints import load_generator
from ganlab.errors import ConfigError, one_line_errors
from ganlab.evaluate import evaluate
from ganlab.utils.atomic import atomic_path
from ganlab.utils.trainer import machine_description

METRICS = ("conditional_accuracy", "fid", "kid", "intra_fid", "precision", "recall")


def seconds_per_1000(checkpoint: Path, per_class: int, **options: Any) -> float:
    """Wall-clock of drawing ``per_class`` images of every class, per 1,000 images."""
    model = load_generator(checkpoint)
    labels = torch.arange(model.card.n_classes).repeat_interleave(per_class)
    start = time.perf_counter()
    model.generate(labels, seed=0, **options)
    return (time.perf_counter() - start) / len(labels) * 1000


def measure(checkpoint: Path, data_dir: str, per_class: int, **options: Any) -> dict[str, Any]:
    report = evaluate(checkpoint, data_dir, per_class, 0, **options)
    timing_per_class = min(per_class, 20)
    return {
        **options,
        **{key: report[key] for key in METRICS},
        "seconds_per_1000_images": round(
            seconds_per_1000(checkpoint, timing_per_class, **options), 2
        ),
        "samples": report["samples"],
    }


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.4))
    scales = [row["guidance"] for row in rows]
    for key, label in (
        ("conditional_accuracy", "accuracy"),
        ("precision", "precision"),
        ("recall", "recall"),
    ):
        axis.plot(scales, [row[key] for row in rows], marker="o", label=label)
    axis.set_xlabel("guidance scale")
    axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
    plt.close(figure)


@one_line_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--steps", type=int, nargs="*", default=[])
    parser.add_argument("--guidance", type=float, nargs="*", default=[])
    parser.add_argument("--sampler", help="the sampler for every row (default: the model's)")
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out", default="docs/results/diffusion_sampling.json")
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    if not args.steps and not args.guidance:
        raise ConfigError("nothing to sweep: give --steps and/or --guidance values")
    torch.set_num_threads(2)
    model = load_generator(args.checkpoint)
    if model.card.kind != "diffusion":
        raise ConfigError(f"{args.checkpoint} is a {model.card.kind} model, not a diffusion one")
    by_steps = []
    for steps in args.steps:
        by_steps.append(
            measure(
                args.checkpoint, args.data_dir, args.per_class, sampler=args.sampler, steps=steps
            )
        )
        print(json.dumps(by_steps[-1]), flush=True)
    by_guidance = []
    for guidance in args.guidance:
        by_guidance.append(
            measure(
                args.checkpoint,
                args.data_dir,
                args.per_class,
                sampler=args.sampler,
                guidance=guidance,
            )
        )
        print(json.dumps(by_guidance[-1]), flush=True)
    report = {
        "checkpoint": str(args.checkpoint),
        "machine": machine_description(),
        "per_class": args.per_class,
        "by_steps": by_steps,
        "by_guidance": by_guidance,
    }
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    if args.plot and by_guidance:
        plot(by_guidance, args.plot)


if __name__ == "__main__":
    main()
