"""Training throughput: the project's Lightning path against a bare PyTorch loop.

    python benchmarks/train_throughput.py [--batches 300] [--rounds 3] [--out result.json]

Both train the same networks (built from the composed default experiment config), with the
same loss, optimisers, batch size and in-memory MNIST tensors, one generator and one
discriminator update per batch. The two are interleaved, round after round, in one process,
so both see the same machine state; the report gives images per second and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ganlab.data.mnist_datamodule import MNISTDataModule
from ganlab.sampling import sample_noise
from ganlab.train import CONFIG_DIR


def build(cfg):
    return hydra.utils.instantiate(cfg.model, _convert_="all")


def bare_loop(model, images: torch.Tensor, labels: torch.Tensor, batches: int, batch: int) -> float:
    """Seconds for ``batches`` G+D updates written as plain PyTorch."""
    opt_g, opt_d = model.configure_optimizers()
    g, d, loss = model.generator, model.discriminator, model.loss
    order = torch.randperm(len(images))
    started = time.perf_counter()
    for i in range(batches):
        idx = order[i * batch : (i + 1) * batch]
        real, real_labels = images[idx], labels[idx]
        fake_labels = torch.randint(0, model.n_classes, (batch,))
        fake = g(sample_noise(batch, model.latent_dim), fake_labels)
        d.requires_grad_(False)
        g_loss = loss.generator_loss(d(fake, fake_labels))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        d.requires_grad_(True)
        d_loss = loss.discriminator_loss(d(real, real_labels), d(fake.detach(), fake_labels))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
    return time.perf_counter() - started


class _Clock(L.Callback):
    """Times the training loop itself, from its first batch to its end (no Trainer set-up)."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.started = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        self.seconds = time.perf_counter() - self.started


def lightning_path(cfg, datamodule, batches: int) -> float:
    """Seconds for ``batches`` batches of Trainer.fit with the project's progress bar and
    per-step logging (validation, checkpoints and sample grids are left out on both sides)."""
    model = build(cfg)
    clock = _Clock()
    callbacks = [hydra.utils.instantiate(cfg.callbacks.rich_progress_bar), clock]
    trainer = L.Trainer(
        accelerator="cpu",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="train_mnist_gan")
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out")
    args = parser.parse_args()

    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={args.experiment}", "paths.output_dir=."])
    OmegaConf.resolve(cfg)
    batch = cfg.datamodule.batch_size
    datamodule = MNISTDataModule(data_dir=args.data_dir, img_size=cfg.datamodule.img_size)
    datamodule.batch_size = batch
    datamodule.setup()
    train_set = datamodule.data_train
    images = train_set.dataset.tensors[0][train_set.indices]
    labels = train_set.dataset.tensors[1][train_set.indices]

    torch.manual_seed(0)
    bare_loop(build(cfg), images, labels, 20, batch)  # warm-up
    rates: dict[str, list[float]] = {"bare PyTorch loop": [], "ganlab Lightning path": []}
    for _ in range(args.rounds):
        seconds = bare_loop(build(cfg), images, labels, args.batches, batch)
        rates["bare PyTorch loop"].append(args.batches * batch / seconds)
        seconds = lightning_path(cfg, datamodule, args.batches)
        rates["ganlab Lightning path"].append(args.batches * batch / seconds)

    medians = {name: statistics.median(values) for name, values in rates.items()}
    ratio = medians["ganlab Lightning path"] / medians["bare PyTorch loop"]
    report = {
        "experiment": args.experiment,
        "batch_size": batch,
        "batches_per_round": args.batches,
        "rounds": args.rounds,
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "images_per_s": {name: [round(v, 1) for v in values] for name, values in rates.items()},
        "median_images_per_s": {name: round(v, 1) for name, v in medians.items()},
        "lightning_over_bare": round(ratio, 3),
    }
    for name, value in medians.items():
        print(f"{name:<24} {value:>9.1f} images/s   rounds: {report['images_per_s'][name]}")
    print(f"Lightning path / bare loop: {ratio:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
