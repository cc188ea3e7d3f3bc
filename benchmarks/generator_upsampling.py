"""Generator upsampling: ``NearestUpsampleConv`` against the two layers it computes.

    python benchmarks/generator_upsampling.py [--experiment train_mnist_dcgan] [--batches 60]
        [--rounds 5] [--out result.json]

The experiment's training step, as the bare loop of ``train_throughput.py`` runs it (generator
and discriminator updates, EMA, lazy R1, the experiment's number format and memory layout), with
two generators that compute the same function: the project's, whose upsampling layers work at
the low resolution, and a copy of it in which each of those layers is ``nn.Upsample`` (nearest)
followed by a ``Conv2d`` holding the same 3x3 weights. Rounds alternate which goes first; the
report gives images per second and the median of the per-round speed-ups, plus the largest
difference between the two generators' outputs on one batch.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
from pathlib import Path

import torch
from torch import nn
from train_throughput import (
    bare_loop,
    build,
    compose_experiment,
    interleaved_rates,
    training_tensors,
)

from ganlab.errors import ConfigError, one_line_errors
from ganlab.networks.upsampling import NearestUpsampleConv
from ganlab.sampling import sample_noise


def with_separate_layers(network: nn.Module) -> nn.Module:
    """``network`` with every ``NearestUpsampleConv`` replaced by upsample + the same conv."""
    for name, child in list(network.named_children()):
        if isinstance(child, NearestUpsampleConv):
            conv = nn.Conv2d(
                child.in_channels, child.out_channels, 3, padding=1, bias=child.bias is not None
            )
            conv.load_state_dict(child.state_dict())
            setattr(network, name, nn.Sequential(nn.Upsample(scale_factor=2), conv))
        else:
            with_separate_layers(child)
    return network


def reference_model(cfg):
    model = build(cfg)
    with_separate_layers(model.generator)
    if model.ema_generator is not None:
        with_separate_layers(model.ema_generator)
    if cfg.model.get("channels_last"):
        model.to(memory_format=torch.channels_last)
    return model


@one_line_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="train_mnist_dcgan")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out")
    args = parser.parse_args()

    cfg = compose_experiment(args.experiment)
    batch = cfg.datamodule.batch_size
    _, images, labels = training_tensors(cfg, args.data_dir)
    probe = build(cfg)
    if not any(isinstance(m, NearestUpsampleConv) for m in probe.generator.modules()):
        raise ConfigError(f"experiment {args.experiment}'s generator has no NearestUpsampleConv")
    reference = with_separate_layers(copy.deepcopy(probe.generator))
    noise_labels = torch.arange(batch) % probe.n_classes
    with torch.no_grad():
        noise = sample_noise(batch, probe.latent_dim, seed=0)
        difference = (probe.generator(noise, noise_labels) - reference(noise, noise_labels)).abs()

    paths = {
        "low-resolution upsampling (project)": lambda: build(cfg),
        "nn.Upsample + Conv2d": lambda: reference_model(cfg),
    }
    for make in paths.values():  # warm-up
        bare_loop(cfg, images, labels, 5, batch, model=make())
    runs = {
        name: lambda make=make: bare_loop(cfg, images, labels, args.batches, batch, model=make())
        for name, make in paths.items()
    }
    torch.manual_seed(0)
    rates = interleaved_rates(runs, args.rounds, args.batches * batch)
    project, separate = rates.values()
    per_round = [a / b for a, b in zip(project, separate, strict=True)]
    report = {
        "experiment": args.experiment,
        "batch_size": batch,
        "batches_per_round": args.batches,
        "rounds": args.rounds,
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "max_abs_output_difference": float(difference.max()),
        "images_per_s": {name: [round(v, 1) for v in values] for name, values in rates.items()},
        "median_images_per_s": {
            name: round(statistics.median(values), 1) for name, values in rates.items()
        },
        "speedup_per_round": [round(r, 3) for r in per_round],
        "speedup": round(statistics.median(per_round), 3),
    }
    for name, values in report["images_per_s"].items():
        print(f"{name:<38} {report['median_images_per_s'][name]:>8.1f} images/s   rounds: {values}")
    print(f"speed-up of the training step: {report['speedup']:.3f} (median of {per_round})")
    print(f"largest output difference: {report['max_abs_output_difference']:.2e}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
