"""Loss curves drawn from the run's own metrics, as ``loss_curves.png`` in the run directory and
in every image-capable logger (W&B, TensorBoard), at the step of the last epoch's metrics.

Which losses are drawn is the generator's word (its ``loss_keys``): ``train/<key>_step`` per
batch, ``train/<key>_epoch`` and ``val/<key>`` per epoch.

The history lives in the callback's state, so it is saved in checkpoints and a resumed run
draws the whole curve, not only the part after the resume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np

from ganlab.callbacks.sample_grid import epoch_metrics_step, generator_of, log_image
from ganlab.utils.atomic import atomic_path
from ganlab.utils.trainer import batches_done

ACCURACY_KEY = "val/cond_acc"


class LossCurves(L.Callback):
    def __init__(self, output_dir: str, every_n_steps: int = 10) -> None:
        self.path = Path(output_dir) / "loss_curves.png"
        self.every_n_steps = max(1, int(every_n_steps))
        self.steps: dict[str, list[tuple[int, float]]] = {}
        self.epochs: dict[str, list[tuple[int, float]]] = {}
        self.accuracy: list[tuple[int, float]] = []

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        keys = generator_of(pl_module, "callbacks.loss_curves").loss_keys
        for key in keys:
            self.steps.setdefault(f"train/{key}_step", [])
        for key in [f"train/{key}_epoch" for key in keys] + [f"val/{key}" for key in keys]:
            self.epochs.setdefault(key, [])

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        batch_number = batches_done(trainer)
        if batch_number % self.every_n_steps:
            return
        for key in self.steps:
            if key in trainer.callback_metrics:
                self.steps[key].append((batch_number, float(trainer.callback_metrics[key])))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        for key in self.epochs:
            if key in trainer.callback_metrics:
                self.epochs[key].append(
                    (trainer.current_epoch + 1, float(trainer.callback_metrics[key]))
                )
        if ACCURACY_KEY in trainer.callback_metrics:
            self.accuracy.append(
                (trainer.current_epoch + 1, float(trainer.callback_metrics[ACCURACY_KEY]))
            )

    def on_fit_end(self, trainer: L.Trainer, pl_module) -> None:
        if not trainer.is_global_zero or not (
            any(self.steps.values()) or any(self.epochs.values())
        ):
            return
        self.draw(self.path)
        if trainer.loggers:
            from PIL import Image

            with Image.open(self.path) as png:
                image = np.asarray(png.convert("RGB"))
            caption = "loss per batch and per epoch"
            step = epoch_metrics_step(trainer)
            log_image(trainer, "loss_curves", image, step, caption, self.path)

    def draw(self, path: Path) -> Path:
        """Losses per batch and per epoch, and conditional accuracy if it was logged."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        panels = 3 if self.accuracy else 2
        fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4))
        ax_steps, ax_epochs = axes[0], axes[1]
        for key, points in self.steps.items():
            if points:
                x, y = zip(*points, strict=True)
                ax_steps.plot(x, y, label=key.removeprefix("train/").removesuffix("_step"), lw=0.8)
        ax_steps.set(title="training loss per batch", xlabel="batch", ylabel="loss")
        for key, points in self.epochs.items():
            if points:
                x, y = zip(*points, strict=True)
                style = "--" if key.startswith("val/") else "-"
                ax_epochs.plot(x, y, style, marker="o", ms=3, label=key.removesuffix("_epoch"))
        ax_epochs.set(title="mean loss per epoch", xlabel="epoch", ylabel="loss")
        if self.accuracy:
            x, y = zip(*self.accuracy, strict=True)
            axes[2].plot(x, y, marker="o", ms=3, color="tab:green")
            axes[2].set(title="conditional accuracy (val)", xlabel="epoch", ylim=(0, 1))
        for ax in axes:
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
        fig.tight_layout()
        try:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, dpi=110, format="png")
        finally:
            plt.close(fig)
        return path

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "epochs": self.epochs, "accuracy": self.accuracy}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for name in ("steps", "epochs"):
            saved = state_dict[name]
            setattr(self, name, {key: [tuple(p) for p in points] for key, points in saved.items()})
        self.accuracy = [tuple(p) for p in state_dict.get("accuracy", [])]
