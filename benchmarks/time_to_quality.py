"""Time to quality: training seconds until the generator's digits reach a conditional accuracy.

    python benchmarks/time_to_quality.py [HYDRA_OVERRIDE ...] [--experiment train_mnist_gan]
        [--every 100] [--per-class 200] [--thresholds 0.95 0.97] [--max-minutes 15]
        [--quality-at 60 120 175] [--quality-per-class 500] [--out result.json]

Trains the experiment through the project's own path (its config, model, data module and
Trainer settings: precision, epochs, step budget) with validation, logging and checkpoints off.
Every ``--every`` batches the clock stops, the evaluator classifier judges ``--per-class``
seeded images per class from the generator the model samples with (its EMA copy when it keeps
one), and the clock starts again; so the reported seconds are training time only. The run ends
when every threshold is reached, the experiment's own budget is spent, or ``--max-minutes``
of training have passed.

``--quality-at`` adds the full measurement (FID, intra-class FID, IS, precision, recall and
accuracy of ``--quality-per-class`` images per class against the MNIST test split) once the
training clock passes each of the given seconds; with it the run also goes on until the last
of them. Trailing Hydra overrides change the experiment, so variants of a recipe can be
compared at equal training time, e.g. ``model.optimizer_g.lr=0.0004`` (give them before the
options: ``--quality-at`` and ``--thresholds`` would take them for numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import hydra
import lightning as L
import torch
from omegaconf import OmegaConf
from train_throughput import compose_experiment  # sibling script

from ganlab.callbacks.generation_quality import samples
from ganlab.data.mnist_datamodule import load_split
from ganlab.errors import one_line_errors
from ganlab.metrics import QualityMetrics
from ganlab.metrics.conditional_accuracy import conditional_accuracy
from ganlab.metrics.mnist_classifier import load_or_train_classifier
from ganlab.utils.trainer import batches_done, build_trainer


class QualityClock(L.Callback):
    """Training-only clock with a conditional-accuracy check every ``every`` batches."""

    def __init__(
        self,
        classifier,
        every: int,
        per_class: int,
        thresholds: list[float],
        budget_s: float,
        quality: QualityMetrics | None = None,
        quality_at: list[float] = (),
        quality_per_class: int = 500,
    ) -> None:
        self.classifier = classifier
        self.every = every
        self.per_class = per_class
        self.pending = sorted(thresholds)
        self.budget_s = budget_s
        self.quality = quality  # holds the test split's side; generated images are swapped in
        self.quality_marks = sorted(quality_at)
        self.quality_per_class = quality_per_class
        self.reached: dict[str, dict[str, float]] = {}
        self.checks: list[dict[str, float]] = []
        self.measurements: list[dict[str, float]] = []
        self.seconds = 0.0
        self.started = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.seconds += time.perf_counter() - self.started
        done = batches_done(trainer)
        if self.quality_marks and self.seconds >= self.quality_marks[0]:
            self.quality_marks.pop(0)
            self.measure(pl_module, done)
        if done % self.every:
            return
        images, labels = samples(pl_module, self.per_class, seed=1)
        accuracy, _ = conditional_accuracy(self.classifier, images, labels, pl_module.n_classes)
        check = {"batches": done, "train_seconds": round(self.seconds, 1), "accuracy": accuracy}
        self.checks.append(check)
        print(json.dumps(check), flush=True)
        while self.pending and accuracy >= self.pending[0]:
            self.reached[f"{self.pending.pop(0):.2f}"] = check
        if self.finished():
            trainer.should_stop = True

    def finished(self) -> bool:
        return self.seconds > self.budget_s or not (self.pending or self.quality_marks)

    def measure(self, pl_module, batches: int) -> None:
        """All the quality metrics of the generator now, off the training clock."""
        self.quality.reset()
        self.quality.update(*samples(pl_module, self.quality_per_class, seed=0), real=False)
        values = self.quality.compute()
        row = {"batches": batches, "train_seconds": round(self.seconds, 1)}
        row.update({key: round(float(values[key]), 4) for key in QUALITY_KEYS})
        self.measurements.append(row)
        print(json.dumps(row), flush=True)


QUALITY_KEYS = ("cond_acc", "fid", "intra_fid", "inception_score", "precision", "recall")


@one_line_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="train_mnist_gan")
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.95, 0.97])
    parser.add_argument("--max-minutes", type=float, default=15.0)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--quality-at", type=float, nargs="+", default=[], metavar="SECONDS")
    parser.add_argument("--quality-per-class", type=int, default=500)
    parser.add_argument("--out")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the experiment")
    args = parser.parse_args()
    if args.quality_per_class < 2:
        parser.error("--quality-per-class must be at least 2 (a class needs two images for FID)")

    cfg = compose_experiment(args.experiment, f"paths.data_dir={args.data_dir}", *args.overrides)
    L.seed_everything(cfg.seed)
    classifier, _ = load_or_train_classifier(args.data_dir)
    quality = None
    if args.quality_at:
        quality = QualityMetrics(classifier, cfg.model.n_classes)
        quality.update(*load_split(args.data_dir, "test", cfg.datamodule.img_size), real=True)
    datamodule = hydra.utils.instantiate(cfg.datamodule)
    model = hydra.utils.instantiate(cfg.model, _convert_="all")
    clock = QualityClock(
        classifier,
        args.every,
        args.per_class,
        args.thresholds,
        args.max_minutes * 60,
        quality,
        args.quality_at,
        args.quality_per_class,
    )
    options = OmegaConf.to_container(cfg.trainer)
    options.update(
        accelerator="cpu",
        max_time=None,
        min_epochs=None,  # the config's min_epochs=1 would ignore a stop inside the first epoch
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer = build_trainer(options, callbacks=[clock], optimizer_steps=model.optimizer_steps)
    trainer.fit(model, datamodule=datamodule)

    report = {
        "experiment": args.experiment,
        "overrides": args.overrides,
        "thresholds": args.thresholds,
        "per_class": args.per_class,
        "every_batches": args.every,
        "batch_size": cfg.datamodule.batch_size,
        "precision": str(trainer.precision),  # what ran: bf16 falls back on CPUs without it
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "reached": clock.reached,
        "train_seconds_total": round(clock.seconds, 1),
        "checks": clock.checks,
        "quality_per_class": args.quality_per_class,
        "quality": clock.measurements,
    }
    for threshold in args.thresholds:
        hit = clock.reached.get(f"{threshold:.2f}")
        where = f"{hit['train_seconds']:>7.1f} s, batch {hit['batches']}" if hit else "not reached"
        print(f"conditional accuracy >= {threshold:.2f}: {where}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
