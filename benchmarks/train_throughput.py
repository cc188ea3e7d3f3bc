"""Training throughput: the project's Lightning path against a bare PyTorch loop.

    python benchmarks/train_throughput.py [--batches 300] [--rounds 3] [--out result.json]

Both train the same networks (built from the composed experiment config, default: the
assignment's MLP pair; ``--experiment train_mnist_dcgan`` for the CNN recipe), with the same loss,
R1 penalty, optimisers, batch size, number format, EMA and learning-rate schedule and in-memory
MNIST tensors, one generator and one discriminator update per batch. The two are interleaved, round
after round, in one process, so both see the same machine state (which goes first alternates);
the report gives images per second and the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf
from torch.optim.lr_scheduler import LambdaLR

from ganlab.data.mnist_datamodule import MNISTDataModule
from ganlab.errors import ConfigError, one_line_errors
from ganlab.losses import r1_penalty
from ganlab.models.ema import effective_decay, update_ema
from ganlab.sampling import sample_noise
from ganlab.train import CONFIG_DIR
from ganlab.utils.trainer import runnable_precision


def compose_experiment(name: str, *overrides: str):
    """The resolved training config of experiment ``name`` (plus ``overrides``)."""
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        try:
            cfg = compose(
                "train", overrides=[f"experiment={name}", "paths.output_dir=.", *overrides]
            )
        except HydraException as error:  # an unknown experiment or key: one line, not a trace
            raise ConfigError(str(error)) from error
    OmegaConf.resolve(cfg)
    return cfg


def training_tensors(cfg, data_dir: str) -> tuple[MNISTDataModule, torch.Tensor, torch.Tensor]:
    """The data module set up for ``cfg`` and its training split as two in-memory tensors."""
    datamodule = MNISTDataModule(data_dir=data_dir, img_size=cfg.datamodule.img_size)
    datamodule.batch_size = cfg.datamodule.batch_size
    datamodule.setup()
    train = datamodule.data_train
    return (
        datamodule,
        train.dataset.tensors[0][train.indices],
        train.dataset.tensors[1][train.indices],
    )


def build(cfg):
    return hydra.utils.instantiate(cfg.model, _convert_="all")


def bare_loop(
    cfg,
    images: torch.Tensor,
    labels: torch.Tensor,
    batches: int,
    batch: int,
    device: torch.device | str = "cpu",
    model: L.LightningModule | None = None,
) -> float:
    """Seconds for ``batches`` G+D updates written as plain PyTorch, doing the same work as the
    model's step for the experiment: EMA update, lazy R1, learning-rate decay, bf16 autocast and the
    networks' memory layout (set by the model) when the experiment turns them on. ``images``
    and ``labels`` stay where they are (on the GPU for a resident-data measurement). ``model``
    replaces the one built from ``cfg``, for comparing variants of its networks."""
    device = torch.device(device)
    model = (build(cfg) if model is None else model).to(device)
    g, d, loss = model.generator, model.discriminator, model.loss
    opt_g = model.optimizer_g(params=g.parameters())
    opt_d = model.optimizer_d(params=d.parameters())
    schedulers = []
    if model.lr_decay:
        schedulers = [LambdaLR(o, lambda b: max(0.0, 1.0 - b / batches)) for o in (opt_g, opt_d)]
    bf16 = runnable_precision(cfg.trainer.precision, device.type).startswith("bf16")
    order = torch.randperm(len(images), device=images.device)
    started = time.perf_counter()
    for i in range(batches):
        start = (i * batch) % (len(images) - batch + 1)
        idx = order[start : start + batch]
        real, real_labels = images[idx].to(device), labels[idx].to(device)
        fake_labels = torch.randint(0, model.n_classes, (batch,), device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            fake = g(sample_noise(batch, model.latent_dim, device=device), fake_labels)
            d.requires_grad_(False)
            g_loss = loss.generator_loss(d(fake, fake_labels))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        d.requires_grad_(True)
        if model.ema_generator is not None:
            update_ema(model.ema_generator, g, effective_decay(model.ema_decay, i))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            d_loss = loss.discriminator_loss(d(real, real_labels), d(fake.detach(), fake_labels))
            if model.r1_gamma > 0 and (i + 1) % model.r1_interval == 0:  # as the model counts
                r1 = r1_penalty(d, real, real_labels)
                d_loss = d_loss + 0.5 * model.r1_gamma * model.r1_interval * r1
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        for scheduler in schedulers:
            scheduler.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


class _Clock(L.Callback):
    """Times the training loop itself, from its first batch to its end (no Trainer set-up)."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.started = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        self.seconds = time.perf_counter() - self.started


def lightning_path(cfg, datamodule, batches: int, accelerator: str = "cpu") -> float:
    """Seconds for ``batches`` batches of Trainer.fit with the project's progress bar and
    per-step logging (validation, checkpoints and sample grids are left out on both sides)."""
    model = build(cfg)
    clock = _Clock()
    callbacks = [hydra.utils.instantiate(cfg.callbacks.rich_progress_bar), clock]
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        precision=runnable_precision(cfg.trainer.precision, accelerator),
        max_steps=model.optimizer_steps(batches),
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=callbacks,
        log_every_n_steps=cfg.trainer.log_every_n_steps,
    )
    trainer.fit(model, datamodule=datamodule)
    return clock.seconds


def interleaved_rates(
    paths: dict[str, Callable[[], float]], rounds: int, images: int
) -> dict[str, list[float]]:
    """Images per second of each path (a call returning the seconds it took for ``images``),
    round after round; which path goes first alternates, so a drift in machine speed favours
    none of them."""
    rates: dict[str, list[float]] = {name: [] for name in paths}
    for round_number in range(rounds):
        order = list(paths) if round_number % 2 == 0 else list(reversed(paths))
        for name in order:
            rates[name].append(images / paths[name]())
    return rates


@one_line_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="train_mnist_gan")
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out")
    args = parser.parse_args()

    cfg = compose_experiment(args.experiment)
    batch = cfg.datamodule.batch_size
    datamodule, images, labels = training_tensors(cfg, args.data_dir)

    torch.manual_seed(0)
    bare_loop(cfg, images, labels, 20, batch)  # warm-up
    paths = {
        "bare PyTorch loop": lambda: bare_loop(cfg, images, labels, args.batches, batch),
        "ganlab Lightning path": lambda: lightning_path(cfg, datamodule, args.batches),
    }
    rates = interleaved_rates(paths, args.rounds, args.batches * batch)

    medians = {name: statistics.median(values) for name, values in rates.items()}
    # Each round's two measurements sit side by side in time; their ratio is robust to the
    # machine changing speed between rounds, which the medians of the rates are not.
    per_round = [
        light / bare
        for light, bare in zip(
            rates["ganlab Lightning path"], rates["bare PyTorch loop"], strict=True
        )
    ]
    ratio = statistics.median(per_round)
    report = {
        "experiment": args.experiment,
        "batch_size": batch,
        "batches_per_round": args.batches,
        "rounds": args.rounds,
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "images_per_s": {name: [round(v, 1) for v in values] for name, values in rates.items()},
        "median_images_per_s": {name: round(v, 1) for name, v in medians.items()},
        "lightning_over_bare_per_round": [round(r, 3) for r in per_round],
        "lightning_over_bare": round(ratio, 3),
    }
    for name, value in medians.items():
        print(f"{name:<24} {value:>9.1f} images/s   rounds: {report['images_per_s'][name]}")
    rounds = ", ".join(f"{r:.3f}" for r in per_round)
    print(f"Lightning path / bare loop: {ratio:.3f} (median of the rounds: {rounds})")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
