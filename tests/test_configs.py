"""Every experiment composes, instantiates, and keeps the networks consistent."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from ganlab.errors import ConfigError
from ganlab.train import CONFIG_DIR
from ganlab.utils.config import check_overrides, normalise_argv

EXPERIMENTS = sorted(p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))


def test_the_assignments_experiment_exists() -> None:
    assert "train_mnist_gan" in EXPERIMENTS
    assert (Path(CONFIG_DIR) / "model" / "mnist_gan_model.yaml").is_file()


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_and_instantiates(make_cfg, experiment: str) -> None:
    """Every experiment builds a generator whose card is its data set's shape and which draws
    images of that shape (a diffusion model in one sampler step); a GAN's discriminator scores
    them."""
    cfg = make_cfg(f"experiment={experiment}")
    OmegaConf.resolve(cfg)
    model = hydra.utils.instantiate(cfg.model, _convert_="all")
    datamodule = hydra.utils.instantiate(cfg.datamodule)
    size = datamodule.img_size
    card = model.card
    # The data set's class count, channels and size reach the networks by interpolation.
    assert (card.n_classes, card.channels, card.img_size) == (
        datamodule.n_classes,
        datamodule.channels,
        size,
    )
    labels = torch.tensor([0, 3, 5, datamodule.n_classes - 1])
    options = {"steps": 1} if "steps" in model.sampling_options else {}
    images = model.generate(labels, seed=0, **options)
    assert images.shape == (4, datamodule.channels, size, size)
    if card.kind == "gan":
        for net in (model.generator, model.discriminator):
            assert (net.n_classes, net.channels) == (datamodule.n_classes, datamodule.channels)
        assert model.discriminator(images, labels).shape == (4,)


def test_one_value_changes_both_networks(make_cfg) -> None:
    cfg = make_cfg("model.n_classes=12", "datamodule.img_size=28", "model.latent_dim=16")
    model = hydra.utils.instantiate(cfg.model, _convert_="all")
    for net in (model.generator, model.discriminator):
        assert net.n_classes == 12
        assert net.img_size == 28
        assert net.label_embedding.num_embeddings == 12
    assert model.generator.latent_dim == 16
    assert model.generator.model[0].in_features == 16 + 12


def test_inconsistent_networks_are_rejected(make_cfg) -> None:
    cfg = make_cfg("model.generator.latent_dim=7")
    with pytest.raises(Exception, match="latent_dim=7 differs"):
        hydra.utils.instantiate(cfg.model, _convert_="all")


def test_optimisers_are_partial_and_configurable(make_cfg) -> None:
    cfg = make_cfg("model.optimizer_g.lr=0.001", "model.optimizer_d.betas=[0.0,0.9]")
    model = hydra.utils.instantiate(cfg.model, _convert_="all")
    opt_g, opt_d = model.configure_optimizers()
    assert opt_g.param_groups[0]["lr"] == pytest.approx(0.001)
    assert tuple(opt_d.param_groups[0]["betas"]) == (0.0, 0.9)
    g_params = {id(p) for p in model.generator.parameters()}
    assert {id(p) for p in opt_g.param_groups[0]["params"]} == g_params


def test_loss_group_switches_the_loss(make_cfg) -> None:
    assert make_cfg().model.loss._target_.endswith("LeastSquaresLoss")
    bce = make_cfg("experiment=train_mnist_gan_bce").model.loss._target_
    assert bce.endswith("NonSaturatingLoss")


def test_yaml_suffix_in_group_override_is_accepted() -> None:
    argv = ["run.py", "experiment=train_mnist_gan.yaml", "trainer.max_epochs=2", "+x=a.yaml"]
    assert normalise_argv(argv) == [
        "run.py",
        "experiment=train_mnist_gan",
        "trainer.max_epochs=2",
        "+x=a",
    ]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.nonsense=1", "Key 'nonsense' is not in struct"),
        ("experiment=does_not_exist", "Could not find 'experiment/does_not_exist'"),
        ("model/loss=wasserstein", "Could not find 'model/loss/wasserstein'"),
    ],
)
def test_wrong_overrides_give_one_line(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        check_overrides(CONFIG_DIR, "train", [override])
    assert "\n" not in str(info.value)


def test_the_wheel_ships_every_config(tmp_path: Path) -> None:
    """Installed without the source tree, ganlab-train still finds its configs."""
    import shutil
    import subprocess
    import sys
    import zipfile

    # Build from a copy: setuptools leaves a build/ folder next to the sources.
    repo, source = Path(__file__).resolve().parents[1], tmp_path / "source"
    shutil.copytree(repo / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(repo / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps"]
    command += ["--no-build-isolation", "-q", "-w", str(tmp_path / "dist")]
    subprocess.run(command, check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("ganlab-*.whl")
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".yaml")}
    expected = {
        "ganlab/configs/" + p.relative_to(CONFIG_DIR).as_posix()
        for p in Path(CONFIG_DIR).rglob("*.yaml")
    }
    assert expected and shipped == expected
