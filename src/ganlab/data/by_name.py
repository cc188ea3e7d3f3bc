"""A data set's module from its name, for the commands that meet a data set outside a training
run (evaluation, the floor): the data set's yaml in ``configs/datamodule/`` is its one
description, so the same settings (source, verification, split) apply as in training."""

from __future__ import annotations

import os
from pathlib import Path

from ganlab.data.image_datamodule import ImageDataModule
from ganlab.errors import ConfigError

DATAMODULE_CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "datamodule"
DEFAULT_DATASET = "mnist"


def dataset_names() -> list[str]:
    return sorted(path.stem for path in DATAMODULE_CONFIGS.glob("*.yaml"))


def data_module(
    name: str,
    data_dir: str | os.PathLike,
    img_size: int | None = None,
    channels: int | None = None,
    n_classes: int | None = None,
) -> ImageDataModule:
    """The data module of data set ``name`` reading ``data_dir`` (``paths.data_dir`` of its
    yaml), at ``img_size`` (default: its yaml's), with ``channels`` and ``n_classes`` when given
    (an image folder's class count is the user's to state)."""
    import hydra
    from omegaconf import DictConfig, OmegaConf

    if name not in dataset_names():
        raise ConfigError(
            f"unknown data set {name!r}; expected one of {', '.join(dataset_names())}"
        )
    module_config = OmegaConf.load(DATAMODULE_CONFIGS / f"{name}.yaml")
    if not isinstance(module_config, DictConfig):
        raise ConfigError(f"configs/datamodule/{name}.yaml is not a mapping")
    for key, value in (("img_size", img_size), ("channels", channels), ("n_classes", n_classes)):
        if value is not None:
            module_config[key] = value
    config = OmegaConf.create({"paths": {"data_dir": str(data_dir)}, "datamodule": module_config})
    if OmegaConf.is_missing(config.datamodule, "n_classes"):
        raise ConfigError(f"the {name} data set needs its class count; give --n-classes")
    module = hydra.utils.instantiate(config.datamodule)
    if not isinstance(module, ImageDataModule):
        raise ConfigError(f"configs/datamodule/{name}.yaml does not describe an image data set")
    return module
