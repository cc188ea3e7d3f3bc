"""Does bf16 autocast, the channels_last layout or torch.compile pay on this CPU? Steps, timed.

    python benchmarks/train_precision_layout.py [--experiment train_mnist_dcgan] \
        [--batches 40] [--rounds 3] [--compile] [--out result.json]

Builds the experiment's networks, loss and optimisers and runs the same plain
generator-then-discriminator step (no Lightning, so only the numeric format and memory layout
differ) in four variants: float32, channels_last, bf16 autocast, and both; ``--compile`` adds
both with the two networks compiled in place (``nn.Module.compile``). The variants are
interleaved round after round so that they see the same machine state; the report gives the
median images per second of each, its speed-up over float32, and the three warm-up steps'
seconds in the first round (for the compiled variant: the cold compile).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from pathlib import Path

import hydra
import torch
from train_throughput import compose_experiment  # sibling script

from ganlab.sampling import sample_noise

VARIANTS = {
    "float32": (False, False, False),
    "channels_last": (False, True, False),
    "bf16 autocast": (True, False, False),
    "bf16 + channels_last": (True, True, False),
}
COMPILED = {"bf16 + channels_last + torch.compile": (True, True, True)}


def images_per_second(
    cfg, bf16: bool, channels_last: bool, compiled: bool, batches: int
) -> tuple[float, float]:
    """Images per second over ``batches`` steps, and the seconds of the three warm-up steps."""
    torch.manual_seed(0)
    # Constant learning rates: a schedule needs a Trainer and does not change the step's cost.
    model = hydra.utils.instantiate(
        cfg.model, _convert_="all", channels_last=channels_last, lr_decay=False
    )
    opt_g, opt_d = model.configure_optimizers()
    g, d, loss = model.generator, model.discriminator, model.loss
    if compiled:
        g.compile()
        d.compile()
    n, size = cfg.datamodule.batch_size, cfg.model.img_size
    real = torch.rand(n, model.channels, size, size) * 2 - 1
    real_labels = torch.randint(0, model.n_classes, (n,))

    def autocast():
        if bf16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    warm_up_started = started = time.perf_counter()
    for step in range(batches + 3):  # three warm-up steps
        if step == 3:
            started = time.perf_counter()
        labels = torch.randint(0, model.n_classes, (n,))
        with autocast():
            fake = g(sample_noise(n, model.latent_dim), labels)
            g_loss = loss.generator_loss(d(fake, labels).float())
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        with autocast():
            d_loss = loss.discriminator_loss(
                d(real, real_labels).float(), d(fake.detach(), labels).float()
            )
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
    return batches * n / (time.perf_counter() - started), started - warm_up_started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="train_mnist_dcgan")
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="add a torch.compile variant")
    parser.add_argument("--out")
    args = parser.parse_args()
    cfg = compose_experiment(args.experiment)
    variants = {**VARIANTS, **(COMPILED if args.compile else {})}
    rates: dict[str, list[float]] = {name: [] for name in variants}
    warm_up: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, options in variants.items():
            rate, seconds = images_per_second(cfg, *options, args.batches)
            rates[name].append(rate)
            warm_up.setdefault(name, round(seconds, 2))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    report = {
        "experiment": args.experiment,
        "batch_size": cfg.datamodule.batch_size,
        "img_size": cfg.model.img_size,
        "batches_per_round": args.batches,
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "images_per_s": {name: [round(v) for v in values] for name, values in rates.items()},
        "median_images_per_s": {name: round(v) for name, v in medians.items()},
        "speedup_over_float32": {
            name: round(v / medians["float32"], 2) for name, v in medians.items()
        },
        "first_round_warm_up_s": warm_up,
    }
    for name, value in medians.items():
        speedup = report["speedup_over_float32"][name]
        print(f"{name:<22} {value:>7.0f} images/s  x{speedup:.2f}  rounds: {rates[name]}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
