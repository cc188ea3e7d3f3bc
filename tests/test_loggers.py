"""What each logger receives, read back from its own files: W&B's offline run file, TensorBoard's
event files and the CSV metrics, with the images at the steps of their epochs' metrics; the
hyperparameters that rebuild a model through Lightning's ``load_from_checkpoint``; epoch means
synced over processes; the learning-rate monitor; the progress bar's refresh rate."""

from __future__ import annotations

import csv
import json
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hydra
import lightning as L
import pytest
import torch

from ganlab.callbacks import progress_bar
from ganlab.checkpoints import load_generator
from ganlab.errors import CheckpointError
from ganlab.models.conditional_gan import ConditionalGANModel as MNISTGANModel
from ganlab.models.conditional_gan import build_component
from ganlab.train import add_lr_monitor, train
from tests.helpers import fit_batches

BATCHES_PER_EPOCH = 96 // 16  # the tiny training split at batch size 16

# W&B 0.31 has no Python reader of its run files (the old ``wandb.sdk.internal.datastore`` went
# with the Go core, and ``wandb sync`` has no ``--view``). The file is a LevelDB-style log of
# ``wandb_internal_pb2.Record`` messages: a 7-byte header, then 32 KiB blocks of records, each
# behind a 7-byte header (CRC, length, kind: full, first, middle, last).
WANDB_HEADER = struct.Struct("<4sHB")
WANDB_RECORD_HEADER = struct.Struct("<IHB")
WANDB_BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def wandb_records(path: Path) -> list[Any]:
    """Every record of a ``.wandb`` run file, parsed with the installed W&B's protobuf."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    ident, magic, version = WANDB_HEADER.unpack_from(data)
    assert (ident, magic, version) == (b":W&B", 0xBEE1, 0), "unknown W&B run file format"
    records, pending, position = [], b"", WANDB_HEADER.size
    while position + WANDB_RECORD_HEADER.size <= len(data):
        left_in_block = WANDB_BLOCK - position % WANDB_BLOCK
        _, length, kind = WANDB_RECORD_HEADER.unpack_from(data, position)
        if left_in_block < WANDB_RECORD_HEADER.size or (length, kind) == (0, 0):
            position += left_in_block  # the rest of the block is padding
            continue
        start = position + WANDB_RECORD_HEADER.size
        chunk, position = data[start : start + length], start + length
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            records.append(wandb_internal_pb2.Record.FromString(pending))
    return records


def wandb_history(records: list[Any]) -> list[dict[str, Any]]:
    """The rows ``run.log`` wrote, keys flattened (``samples/_type``), values decoded."""
    rows = []
    for record in records:
        if record.WhichOneof("record_type") == "history":
            rows.append(
                {
                    "/".join(item.nested_key) or item.key: json.loads(item.value_json)
                    for item in record.history.item
                }
            )
    return rows


def tensorboard_events(folder: Path):
    from tensorboard.backend.event_processing import event_accumulator as ea

    accumulator = ea.EventAccumulator(
        str(folder), size_guidance={ea.SCALARS: 0, ea.IMAGES: 0, ea.TENSORS: 0}
    )
    accumulator.Reload()
    return accumulator


def tensorboard_hparams(accumulator) -> tuple[set[str], dict[str, Any]]:
    """The HPARAMS tab's metric tags and the run's hyperparameters."""
    from google.protobuf.json_format import MessageToDict
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = accumulator.PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    metrics = {info.name.tag for info in experiment.experiment.metric_infos}
    # Each value is a google.protobuf.Value, which MessageToDict turns into its plain value.
    hparams = {
        key: MessageToDict(value) for key, value in session.session_start_info.hparams.items()
    }
    return metrics, hparams


def steps_of(rows: list[dict[str, Any]], key: str, step: str = "step") -> list[int]:
    return [int(row[step]) for row in rows if row.get(key) not in (None, "")]


def test_wandb_tensorboard_and_csv_receive_the_metrics_images_and_hyperparameters(
    make_cfg,
) -> None:
    cfg = make_cfg(
        "logger=many_loggers",
        "trainer.max_epochs=2",
        "trainer.log_every_n_steps=2",
        "model.lr_decay=true",
        "test=false",
    )
    train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    # Lightning logs a batch at the count of batches before it: an epoch's metrics (its means
    # and its validation) at the step of its last batch.
    epoch_steps = [BATCHES_PER_EPOCH * (epoch + 1) - 1 for epoch in range(2)]

    with (run_dir / "csv" / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {
        "train/g_loss_step",
        "train/g_loss_epoch",
        "train/d_loss_epoch",
        "val/g_loss",
        "val/fid",
        "val/cond_acc",
        "lr/generator",
        "lr/discriminator",
    } <= set(rows[0])
    assert steps_of(rows, "train/g_loss_epoch") == epoch_steps
    assert steps_of(rows, "val/fid") == epoch_steps
    assert {int(row["epoch"]) for row in rows if row["train/g_loss_epoch"]} == {0, 1}
    epoch_means = [float(row["train/g_loss_epoch"]) for row in rows if row["train/g_loss_epoch"]]
    rates = [float(row["lr/generator"]) for row in rows if row["lr/generator"]]
    assert len(rates) == 2 * BATCHES_PER_EPOCH // 2
    assert rates == sorted(rates, reverse=True) and rates[0] > rates[-1] > 0
    # A CSV run's images are the PNG files of the run folder.
    for name in ("samples/epoch_000.png", "samples/epoch_001.png", "loss_curves.png"):
        assert (run_dir / name).stat().st_size > 0

    (events_dir,) = {path.parent for path in (run_dir / "tensorboard").rglob("events.out.*")}
    tensorboard = tensorboard_events(events_dir)
    scalars = {tag: tensorboard.Scalars(tag) for tag in tensorboard.Tags()["scalars"]}
    assert [event.step for event in scalars["train/g_loss_epoch"]] == epoch_steps
    assert [event.value for event in scalars["train/g_loss_epoch"]] == pytest.approx(epoch_means)
    assert [event.step for event in scalars["val/fid"]] == epoch_steps
    assert len(scalars["lr/generator"]) == len(rates)
    samples = tensorboard.Images("samples")
    assert [event.step for event in samples] == epoch_steps
    assert (samples[0].width, samples[0].height) == (8 * 34 + 2, 10 * 34 + 2)
    assert [event.step for event in tensorboard.Images("loss_curves")] == epoch_steps[-1:]
    hparam_tags, hparams = tensorboard_hparams(tensorboard)
    assert hparam_tags == {"hp/val/fid", "hp/val/cond_acc"}
    assert hparams["model/latent_dim"] == 100
    assert hparams["model/loss/_target_"] == "ganlab.losses.least_squares.LeastSquaresLoss"
    best_fid = min(event.value for event in scalars["val/fid"])  # model_checkpoint: mode=min
    assert [event.value for event in scalars["hp/val/fid"]] == pytest.approx([best_fid])
    assert scalars["hp/val/cond_acc"][-1].value == pytest.approx(scalars["val/cond_acc"][-1].value)

    (wandb_file,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    records = wandb_records(wandb_file)
    history = wandb_history(records)
    config_keys = {
        item.key
        for record in records
        if record.WhichOneof("record_type") == "config"
        for item in record.config.update
    }
    assert {"model", "trainer", "datamodule", "seed"} <= config_keys
    step = "trainer/global_step"
    assert steps_of(history, "train/g_loss_epoch", step) == epoch_steps
    assert [row["train/g_loss_epoch"] for row in history if "train/g_loss_epoch" in row] == (
        pytest.approx(epoch_means)
    )
    assert steps_of(history, "val/fid", step) == epoch_steps
    assert len(steps_of(history, "lr/generator", step)) == len(rates)
    grids = [row for row in history if "samples/_type" in row]
    assert [row[step] for row in grids] == epoch_steps
    for epoch, row in enumerate(grids):
        assert row["samples/_type"] == "images/separated"
        assert row["samples/captions"][0].startswith(f"epoch {epoch}:")
        assert all((wandb_file.parent / "files" / f).is_file() for f in row["samples/filenames"])
    curves = [row for row in history if "loss_curves/_type" in row]
    assert [row[step] for row in curves] == epoch_steps[-1:]
    assert records[-1].WhichOneof("record_type") == "exit", "the W&B run was finished"


def test_lightning_load_from_checkpoint_rebuilds_the_default_model(trained_checkpoint) -> None:
    model = MNISTGANModel.load_from_checkpoint(trained_checkpoint, weights_only=True)
    checkpoint = torch.load(trained_checkpoint, map_location="cpu", weights_only=True)
    assert set(model.state_dict()) == set(checkpoint["state_dict"])
    for key, value in model.state_dict().items():
        assert torch.equal(value, checkpoint["state_dict"][key]), key
    generator = load_generator(trained_checkpoint).network  # the project's own loader works
    model.eval()
    noise, labels = torch.randn(4, model.latent_dim), torch.arange(4)
    assert torch.equal(model.sampling_generator(noise, labels), generator(noise, labels))
    assert type(model.loss).__name__ == "LeastSquaresLoss"
    assert model.optimizer_g.func is torch.optim.Adam
    assert model.optimizer_g.keywords == {"lr": 0.0002, "betas": [0.5, 0.999]}


def test_load_from_checkpoint_rebuilds_ema_augmentation_loss_and_optimizers(
    make_cfg, tmp_path: Path
) -> None:
    cfg = make_cfg(
        "experiment=train_mnist_dcgan",
        "datamodule.batch_size=16",
        "model/augment=diff_augment",
        "model/loss=non_saturating",
        "model.loss.real_label=0.9",
        "model.optimizer_d._target_=torch.optim.SGD",
        "~model.optimizer_d.betas",
    )
    trainer, model = fit_batches(cfg, 1)
    path = tmp_path / "one_batch.ckpt"
    trainer.save_checkpoint(path, weights_only=False)

    loaded = MNISTGANModel.load_from_checkpoint(path, weights_only=True)
    assert loaded.ema_updates == model.ema_updates == 1
    assert loaded.loss.real_label == 0.9
    assert loaded.augment.policy == ("translation", "cutout")
    assert loaded.optimizer_d.func is torch.optim.SGD
    assert loaded.optimizer_g.keywords == model.optimizer_g.keywords
    assert (loaded.ema_decay, loaded.r1_gamma, loaded.hparams.channels_last) == (0.995, 1.0, True)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    loaded.eval()
    generator = load_generator(path).network  # the EMA weights, with their refreshed statistics
    noise, labels = torch.randn(3, loaded.latent_dim), torch.arange(3)
    assert torch.equal(loaded.sampling_generator(noise, labels), generator(noise, labels))


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [
        ("loss", {"_target_": "os.system", "command": "true"}, "is not allowed"),
        ("optimizer_g", {"_target_": "builtins.eval"}, "is not allowed"),
        ("augment", {"_target_": "ganlab.augmentations.diff_augment.cutout"}, "not a Module"),
        ("optimizer_d", {"_target_": "torch.optim.lr_scheduler.LambdaLR"}, "Optimizer class"),
        ("generator", {"_target_": "torch.nn.Linear"}, "not one of ganlab's networks"),
        (
            "loss",
            {"_target_": "ganlab.losses.non_saturating.NonSaturatingLoss", "real_label": "x"},
            "cannot build",
        ),
    ],
)
def test_components_in_saved_hyperparameters_come_only_from_their_packages(
    name: str, spec: dict, message: str
) -> None:
    with pytest.raises(CheckpointError, match=message):
        build_component(name, spec)


def test_a_checkpoint_naming_other_code_is_refused_by_load_from_checkpoint(
    trained_checkpoint, tmp_path: Path
) -> None:
    checkpoint = torch.load(trained_checkpoint, map_location="cpu", weights_only=True)
    checkpoint["hyper_parameters"]["loss"] = {"_target_": "subprocess.call", "args": ["true"]}
    doctored = tmp_path / "doctored.ckpt"
    torch.save(checkpoint, doctored)
    with pytest.raises(CheckpointError, match=r"model\.loss: class 'subprocess.call'"):
        MNISTGANModel.load_from_checkpoint(doctored, weights_only=True)


def test_the_learning_rate_monitor_comes_with_a_schedule_and_a_logger(make_cfg) -> None:
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger

    logger = CSVLogger(str(make_cfg().paths.output_dir))
    for lr_decay, loggers, expected in ((True, [logger], 1), (False, [logger], 0), (True, [], 0)):
        callbacks: list[L.Callback] = []
        add_lr_monitor(SimpleNamespace(lr_decay=lr_decay), callbacks, loggers)
        assert sum(isinstance(c, LearningRateMonitor) for c in callbacks) == expected
    callbacks = [LearningRateMonitor()]
    add_lr_monitor(SimpleNamespace(lr_decay=True), callbacks, [logger])
    assert len(callbacks) == 1, "a configured monitor is not doubled"


def test_the_bar_updates_at_most_refresh_rate_times_a_second(monkeypatch) -> None:
    """refresh_rate=10 (redraws per second, Lightning's meaning) with batches every 30 ms: the
    bar's state is updated on the first batch, then every 0.1 s, and on the epoch's last."""
    clock = iter([0.03 * batch for batch in range(20)])
    monkeypatch.setattr(progress_bar, "monotonic", lambda: next(clock))
    updated: list[int] = []
    monkeypatch.setattr(
        progress_bar.LightningRichProgressBar,
        "on_train_batch_end",
        lambda self, trainer, module, outputs, batch, batch_idx: updated.append(batch_idx),
    )
    bar = progress_bar.RichProgressBar(refresh_rate=10)
    for batch_idx in range(20):
        trainer = SimpleNamespace(is_last_batch=batch_idx == 19)
        bar.on_train_batch_end(trainer, None, None, None, batch_idx)
    assert updated == [0, 4, 8, 12, 16, 19]


class EpochMeanRecorder(L.Callback):
    """Each process's own sample-weighted mean of ``train/d_loss`` and the epoch mean logged."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir, self.total, self.count = out_dir, 0.0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        n = batch[0].size(0)
        self.total += float(trainer.callback_metrics["train/d_loss_step"]) * n
        self.count += n

    def on_train_end(self, trainer, pl_module) -> None:
        record = {
            "total": self.total,
            "count": self.count,
            "logged": float(trainer.callback_metrics["train/d_loss_epoch"]),
        }
        Path(self.out_dir, f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


def test_epoch_means_are_over_every_process_samples(make_cfg, tmp_path: Path) -> None:
    """Two gloo processes: both log the mean over all 96 training samples, not their own 48."""
    cfg = make_cfg()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_epochs=1,
        limit_val_batches=0,
        log_every_n_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[EpochMeanRecorder(str(tmp_path))],
    )
    trainer.fit(
        hydra.utils.instantiate(cfg.model, _convert_="all"),
        datamodule=hydra.utils.instantiate(cfg.datamodule),
    )
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [rank["count"] for rank in ranks] == [48, 48]
    overall = sum(rank["total"] for rank in ranks) / 96
    own = [rank["total"] / rank["count"] for rank in ranks]
    assert abs(own[0] - own[1]) > 1e-3 * overall, "the processes' means must differ to tell"
    for rank in ranks:
        assert rank["logged"] == pytest.approx(overall, rel=1e-5)
