"""Training entry point: compose the config, build every part from it, fit, test.

ganlab-train experiment=train_mnist_gan trainer.max_epochs=5
python run.py experiment=train_mnist_gan.yaml trainer.gpus=0
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger
from omegaconf import DictConfig

from ganlab.callbacks.sample_grid import epoch_metrics_step
from ganlab.checkpoints import load_checkpoint
from ganlab.errors import ConfigError, errors_as_one_line, is_integer, one_line_errors
from ganlab.utils.atomic import atomic_path
from ganlab.utils.config import (
    check_overrides,
    instantiate,
    normalise_argv,
    print_config_tree,
    register_resolvers,
)
from ganlab.utils.mappings import plain_dict
from ganlab.utils.trainer import build_trainer

log = logging.getLogger(__name__)
# The data set is a tensor in memory: worker processes would only add start-up and copies.
warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
CONFIG_DIR = str(Path(__file__).parent / "configs")
register_resolvers()


def instantiate_group(cfg: DictConfig | None, what: str) -> list[Any]:
    """Instantiate each entry with a ``_target_`` in a group such as ``callbacks``."""
    if not cfg:
        return []
    return [
        instantiate(entry, f"{what}.{name!s}")
        for name, entry in cfg.items()
        if isinstance(entry, DictConfig) and "_target_" in entry
    ]


def _best_or_last(callbacks: list[Callback]) -> str | None:
    for callback in callbacks:
        if isinstance(callback, ModelCheckpoint):
            return callback.best_model_path or callback.last_model_path or None
    return None


def set_cpu_threads(threads: int | None) -> None:
    """Pin torch's intra-op thread count (``extras.cpu_threads``); ``None`` keeps the default."""
    if threads is not None:
        if not is_integer(threads) or threads < 1:
            raise ConfigError(f"extras.cpu_threads={threads!r} must be a positive integer or null")
        torch.set_num_threads(threads)
    log.info("torch uses %d CPU thread(s) per process", torch.get_num_threads())


def objective(
    cfg: DictConfig, metrics: dict[str, float], callbacks: list[Callback]
) -> float | None:
    """The value a hyperparameter sweep optimises: ``cfg.optimized_metric`` at its best epoch
    (the score of the checkpoint that monitors it), else its last validated value."""
    name = cfg.get("optimized_metric")
    if not name:
        return None
    for callback in callbacks:
        if (
            isinstance(callback, ModelCheckpoint)
            and callback.monitor == name
            and callback.best_model_score is not None
        ):
            return float(callback.best_model_score)
    if name not in metrics:
        available = ", ".join(sorted(metrics)) or "none"
        raise ConfigError(f"optimized_metric={name} was not logged; logged metrics: {available}")
    return metrics[name]


def add_lr_monitor(
    model: L.LightningModule, callbacks: list[Callback], loggers: list[Logger]
) -> None:
    """Lightning's LearningRateMonitor when the model schedules its learning rates
    (``model.lr_decay``) and a logger will record them (the monitor refuses to run without)."""
    if (
        getattr(model, "lr_decay", False)
        and loggers
        and not any(isinstance(callback, LearningRateMonitor) for callback in callbacks)
    ):
        callbacks.append(LearningRateMonitor(logging_interval="step"))


# Validated metrics that TensorBoard's HPARAMS tab shows besides the selection metric(s).
HPARAM_EXTRA_METRICS = ("val/cond_acc",)


def hparam_metrics(
    cfg: DictConfig, metrics: dict[str, float], callbacks: list[Callback]
) -> dict[str, float]:
    """The numbers runs are compared by, as ``hp/<metric>``: each metric a checkpoint is chosen
    by (``monitor``) at the chosen checkpoint's score, the sweep's objective, and the last
    value of :data:`HPARAM_EXTRA_METRICS`. Their own tags, not the curves' (``val/fid``):
    TensorBoard's ``log_hyperparams`` also writes the values as scalars."""
    values: dict[str, float] = {}
    for callback in callbacks:
        if (
            isinstance(callback, ModelCheckpoint)
            and callback.monitor
            and callback.best_model_score is not None
        ):
            values[f"hp/{callback.monitor}"] = float(callback.best_model_score)
    name = cfg.get("optimized_metric")
    if name and "objective" in metrics:
        values.setdefault(f"hp/{name}", metrics["objective"])
    for key in HPARAM_EXTRA_METRICS:
        if key in metrics:
            values.setdefault(f"hp/{key}", metrics[key])
    return values


HEADLINE = (
    ("cond_acc", "conditional accuracy", "{:.1%}"),
    ("fid", "FID", "{:.2f}"),
    ("kid", "KID", "{:.3g}"),
    ("intra_fid", "intra-class FID", "{:.2f}"),
    ("precision", "precision", "{:.3f}"),
    ("recall", "recall", "{:.3f}"),
)


def run_report(output_dir: Path, summary: dict[str, Any]) -> str:
    """What a person wants at the end of a run: where it is, how good it is against real
    images at the same count (``test/floor_*``), and what to try next."""
    metrics = summary["metrics"]
    lines = [f"Run folder: {output_dir}"]
    if "test/fid" in metrics:
        lines.append("Test metrics (generated images | real training images, same count):")
        for key, name, form in HEADLINE:
            if f"test/{key}" in metrics:
                floor = metrics.get(f"test/floor_{key}")
                shown = form.format(metrics[f"test/{key}"])
                real = form.format(floor) if floor is not None else "n/a"
                lines.append(f"  {name:<22} {shown:>8} | {real}")
    checkpoint = summary.get("best_checkpoint")
    if checkpoint:
        lines += [
            "Next:",
            f"  ganlab-generate {checkpoint} --labels 5 --n 8 --out five   # draw eight of class 5",
            f"  ganlab-evaluate {checkpoint} --per-class 1000   # score it again",
            f"  open {output_dir / 'samples' / 'latest.png'}   # the sample grids, one per epoch",
        ]
    return "\n".join(lines)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and test) the configured model; return the final metrics as plain floats, plus
    ``objective`` when ``cfg.optimized_metric`` names one for a sweep."""
    extras = cfg.get("extras") or {}
    if extras.get("print_config"):
        print_config_tree(cfg)
    set_cpu_threads(extras.get("cpu_threads"))
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path:
        load_checkpoint(ckpt_path)  # fails early, in one line, if missing or corrupt

    datamodule: L.LightningDataModule = instantiate(cfg.datamodule, "datamodule")
    model: L.LightningModule = instantiate(cfg.model, "model")
    callbacks: list[Callback] = instantiate_group(cfg.get("callbacks"), "callbacks")
    loggers: list[Logger] = instantiate_group(cfg.get("logger"), "logger")
    add_lr_monitor(model, callbacks, loggers)
    trainer = build_trainer(
        cfg.trainer,
        callbacks=callbacks,
        loggers=loggers or False,
        optimizer_steps=getattr(model, "optimizer_steps", None),
    )
    params = plain_dict(cfg)
    for logger in loggers:
        logger.log_hyperparams(params)

    started = time.perf_counter()
    if cfg.get("train", True):
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    fit_seconds = time.perf_counter() - started
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    target = objective(cfg, metrics, callbacks) if cfg.get("train", True) else None
    if cfg.get("test", False):
        best = _best_or_last(callbacks)
        if best and not getattr(trainer, "fast_dev_run", False):  # not declared on Trainer
            log.info("Testing checkpoint %s", best)
            trainer.test(model, datamodule=datamodule, ckpt_path=best, weights_only=True)
        else:
            trainer.test(model, datamodule=datamodule)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    summary = {
        "metrics": metrics,
        "best_checkpoint": _best_or_last(callbacks),
        "fit_seconds": round(fit_seconds, 1),
        "epochs": trainer.current_epoch,
    }
    if target is not None:
        metrics["objective"] = summary["objective"] = target
        summary["optimized_metric"] = cfg.optimized_metric
    # TensorBoard's HPARAMS tab lists a run once its hyperparameters are written with metrics,
    # whose values are known now. The trainer finalized the logger already; this reopens its
    # event file, which finalize flushes and closes again.
    selection = hparam_metrics(cfg, metrics, callbacks)
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger) and selection:
            logger.log_hyperparams(params, selection, step=epoch_metrics_step(trainer))
            logger.finalize("success")
        elif isinstance(logger, WandbLogger) and trainer.is_global_zero:
            # Lightning leaves the W&B run open for more logging; a run of this function is one
            # W&B run, complete on disk when it returns (a sweep runs many in one process).
            logger.experiment.finish()
    output_dir = Path(cfg.paths.output_dir)
    if trainer.is_global_zero and output_dir.is_dir():
        with atomic_path(output_dir / "summary.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=2, sort_keys=True))
        print(run_report(output_dir, summary), flush=True)
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    with errors_as_one_line():
        return train(cfg).get("objective")


@one_line_errors
def main() -> None:
    """Console script: accepts the assignment's ``experiment=name.yaml`` spelling too."""
    overrides = normalise_argv()[1:]
    check_overrides(CONFIG_DIR, "train", overrides)
    _hydra_main()


if __name__ == "__main__":
    main()
