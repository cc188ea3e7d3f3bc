"""The one generator contract: every callback and loader works through it, so a model that is
not a GAN at all trains with the lab's callbacks, and a GAN's card travels from the data module
through the checkpoint to every runtime."""

from __future__ import annotations

import io
import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from ganlab.callbacks import LossCurves, SampleGrid
from ganlab.checkpoints import load_checkpoint, load_generator
from ganlab.deploy.backends import OnnxRuntimeBackend, TorchBackend
from ganlab.errors import CheckpointError, ConfigError
from ganlab.generate import parse_labels
from ganlab.models import ConditionalImageGenerator, GeneratorCard
from ganlab.models.conditional_generator import card_of
from ganlab.networks.dcgan import DCGANGenerator
from ganlab.networks.spec import build_network, network_spec
from ganlab.train import train

CARD = GeneratorCard(
    kind="gan",
    dataset="toy",
    class_names=("cat", "dog", "T-shirt/top"),
    channels=3,
    img_size=8,
    evaluator="",
)


# --- the card ---------------------------------------------------------------------------------


def test_a_card_survives_plain_data_and_json() -> None:
    data = json.loads(json.dumps(CARD.to_dict()))
    assert GeneratorCard.from_dict(data, "file") == CARD
    assert CARD.n_classes == 3


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("kind", "vae", "'kind'"),
        ("class_names", ["only one"], "'class_names'"),
        ("class_names", "ab", "'class_names'"),
        ("class_names", ["a", ""], "'class_names'"),
        ("channels", 2, "'channels'"),
        ("channels", True, "'channels'"),
        ("img_size", 4, "'img_size'"),
        ("img_size", 10**9, "'img_size'"),
        ("dataset", 7, "'dataset'"),
        ("evaluator", "x" * 500, "'evaluator'"),
    ],
)
def test_a_bad_card_field_is_named(field: str, value: object, fragment: str) -> None:
    data = {**CARD.to_dict(), field: value}
    with pytest.raises(CheckpointError, match=f"model.ckpt: card field {fragment}"):
        GeneratorCard.from_dict(data, "model.ckpt")


def test_files_without_a_card_are_mnist_gans() -> None:
    """Checkpoints and exports written before cards existed hold MNIST GANs."""
    spec = {"_target_": "x", "channels": 1, "img_size": 28}
    card = card_of({"generator": spec, "n_classes": 10}, "old.ckpt")
    assert card.dataset == "mnist" and card.evaluator == "mnist"
    assert card.class_names == tuple("0123456789") and (card.channels, card.img_size) == (1, 28)
    assert card_of({"network": spec, "n_classes": 10}, "generator.json").img_size == 28


# --- a generator that is not a GAN, under the lab's callbacks ----------------------------------


class MeanImageModel(L.LightningModule, ConditionalImageGenerator):
    """One learned image per class, trained towards the class's mean image by squared error: no
    noise, no discriminator, a loss key of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.images = nn.Parameter(torch.zeros(3, 3, 8, 8))

    @property
    def card(self) -> GeneratorCard:
        return CARD

    @property
    def loss_keys(self) -> tuple[str, ...]:
        return ("mse",)

    def generate(self, labels: torch.Tensor, seed: int | None = None) -> torch.Tensor:
        with torch.no_grad():
            return torch.tanh(self.images[labels])

    def training_step(self, batch, batch_idx):
        images, labels = batch
        loss = ((torch.tanh(self.images[labels]) - images) ** 2).mean()
        self.log("train/mse_step", loss)
        self.log("train/mse_epoch", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1.0)


def test_the_callbacks_need_only_the_contract(tmp_path: Path) -> None:
    from PIL import Image

    labels = torch.arange(12) % 3
    images = (labels.float() - 1).view(-1, 1, 1, 1).expand(-1, 3, 8, 8).contiguous()
    loader = DataLoader(list(zip(images, labels, strict=True)), batch_size=4)
    curves = LossCurves(str(tmp_path), every_n_steps=1)
    trainer = L.Trainer(
        max_epochs=2,
        callbacks=[SampleGrid(str(tmp_path), per_class=2), curves],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(MeanImageModel(), loader)
    grid = np.asarray(Image.open(tmp_path / "samples" / "latest.png").convert("RGB"))
    assert grid.shape == (3 * 10 + 2, 2 * 10 + 2, 3)  # 3 classes x 2 images, 8 px + 2 px padding
    rows = [grid[2 + 10 * row : 10 + 10 * row, 2:10].mean() for row in range(3)]
    assert rows[0] < rows[1] < rows[2], "one row per class, in class order (dark to light)"
    assert [key for key, points in curves.steps.items() if points] == ["train/mse_step"]
    assert len(curves.epochs["train/mse_epoch"]) == 2
    assert (tmp_path / "loss_curves.png").is_file()


def test_a_model_without_the_contract_is_one_line(tmp_path: Path) -> None:
    class Plain(L.LightningModule):
        pass

    trainer = L.Trainer(logger=False, enable_checkpointing=False)
    with pytest.raises(ConfigError, match=r"callbacks\.loss_curves draws from a conditional image"):
        LossCurves(str(tmp_path)).setup(trainer, Plain(), "fit")


# --- the GAN's card, from the data module to every runtime --------------------------------------


def test_the_gan_takes_its_card_from_the_data_module_into_every_file(
    trained_checkpoint: Path, trained_onnx: Path, tmp_path: Path
) -> None:
    from ganlab.deploy.weights import export_weights

    saved = load_checkpoint(trained_checkpoint)["ganlab"]["card"]
    assert saved["dataset"] == "mnist" and saved["class_names"] == list("0123456789")
    assert saved["evaluator"] == "mnist" and saved["channels"] == 1
    card = load_generator(trained_checkpoint).card
    export_weights(trained_checkpoint, tmp_path / "exported")
    for backend in (
        TorchBackend(trained_checkpoint),
        TorchBackend(tmp_path / "exported"),
        OnnxRuntimeBackend(trained_onnx),
    ):
        assert backend.info.card == card


def test_the_loaded_gan_draws_what_the_training_module_draws(make_cfg) -> None:
    from ganlab.models.conditional_gan import ConditionalGANModel

    cfg = make_cfg("model.ema_decay=0.9")
    train(cfg)
    path = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    module = ConditionalGANModel.load_from_checkpoint(path, weights_only=True)
    loaded = load_generator(path)
    assert module.card == loaded.card
    labels = torch.tensor([0, 3, 9, 9])
    drawn = loaded.generate(labels, seed=5)
    assert torch.equal(drawn, module.generate(labels, seed=5)), "the EMA copy, both sides"
    assert not torch.equal(drawn, loaded.generate(labels, seed=6))
    assert not torch.equal(drawn, loaded.generate(torch.tensor([1, 3, 9, 9]), seed=5))
    with pytest.raises(ConfigError, match=r"labels must lie in 0..9"):
        loaded.generate(torch.tensor([10]))


def test_a_data_module_that_disagrees_with_the_model_is_one_line(make_cfg) -> None:
    cfg = make_cfg("model.channels=3")
    with pytest.raises(ConfigError, match=r"channels"):
        train(cfg)


def test_labels_may_be_class_names() -> None:
    names = ("T-shirt/top", "Trouser", "Sneaker")
    assert parse_labels(["sneaker,T-shirt/top", "0-1"], 3, names) == [2, 0, 0, 1]
    with pytest.raises(ConfigError, match=r"or a class name \(T-shirt/top, Trouser, Sneaker\)"):
        parse_labels(["Sandal"], 3, names)


# --- networks that scale by config ----------------------------------------------------------------


@pytest.mark.parametrize(("img_size", "upsamples"), [(28, 2), (32, 2), (32, 3), (64, 4)])
def test_the_dcgan_generator_scales_with_its_stages(img_size: int, upsamples: int) -> None:
    generator = DCGANGenerator(n_classes=9, channels=3, img_size=img_size, upsamples=upsamples)
    out = generator(torch.randn(2, 100), torch.tensor([0, 8]))
    assert out.shape == (2, 3, img_size, img_size)
    assert generator.start == img_size >> upsamples
    counted = DCGANGenerator.parameter_count(9, 100, 3, img_size, 32, 32, upsamples)
    assert counted == sum(p.numel() for p in generator.parameters())
    rebuilt = build_network(network_spec(generator))
    assert rebuilt.upsamples == upsamples and rebuilt.spec() == generator.spec()


def test_a_spec_without_stages_is_the_two_stage_generator() -> None:
    """Checkpoints written before ``upsamples`` existed load as the two-stage network."""
    generator = DCGANGenerator(img_size=32)
    spec = network_spec(generator)
    del spec["upsamples"]
    rebuilt = build_network(spec)
    rebuilt.load_state_dict(generator.state_dict())
    assert rebuilt.upsamples == 2


@pytest.mark.parametrize(("img_size", "upsamples"), [(64, 6), (30, 2), (32, 0)])
def test_stages_that_do_not_fit_the_size_are_one_line(img_size: int, upsamples: int) -> None:
    with pytest.raises(ConfigError, match="upsampl"):
        DCGANGenerator(img_size=img_size, upsamples=upsamples)


def test_diff_augment_fills_with_the_data_sets_background() -> None:
    from ganlab.augmentations import DiffAugment

    images = torch.zeros(16, 3, 8, 8)
    for background in (-1.0, 1.0):
        out = DiffAugment(["cutout"], background=background)(images)
        assert set(out.unique().tolist()) == {0.0, background}
    with pytest.raises(ConfigError, match="background=2"):
        DiffAugment(["cutout"], background=2)


# --- colour at 64 px, through export and the service ------------------------------------------


def test_a_colour_64px_gan_exports_draws_and_serves_in_rgb(tmp_path: Path) -> None:
    """A 9-class RGB generator at 64 px (emoji's shape), written as a checkpoint: ONNX export
    passes its parity gate, ONNX Runtime draws what torch draws from the same seed, the PNG is
    RGB and the npz N x 3 x 64 x 64, and the HTTP service replies the same pixels."""
    import httpx
    from PIL import Image

    from ganlab.deploy.onnx_export import export_onnx
    from ganlab.deploy.service import create_app
    from ganlab.generate import main as generate_main
    from ganlab.networks.dcgan import DCGANDiscriminator
    from tests.service_helpers import live_server

    torch.manual_seed(0)
    generator = DCGANGenerator(n_classes=9, channels=3, img_size=64, upsamples=4).eval()
    discriminator = DCGANDiscriminator(n_classes=9, channels=3, img_size=64, depth=4)
    card = GeneratorCard("gan", "emoji", tuple(f"c{i}" for i in range(9)), 3, 64, "emoji")
    state = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    state |= {f"discriminator.{k}": v for k, v in discriminator.state_dict().items()}
    checkpoint = tmp_path / "colour.ckpt"
    meta = {"generator": network_spec(generator), "discriminator": network_spec(discriminator)}
    meta |= {"n_classes": 9, "latent_dim": 100, "card": card.to_dict()}
    torch.save({"ganlab": meta, "state_dict": state}, checkpoint)

    report = export_onnx(checkpoint, tmp_path / "colour.onnx", parity_batch_sizes=(1, 5))
    assert max(report["max_abs_diff"].values()) <= report["tolerance"]
    onnx_backend = OnnxRuntimeBackend(tmp_path / "colour.onnx")
    assert onnx_backend.info.card == card
    labels = np.array([0, 4, 8, 8])
    reference = TorchBackend(checkpoint).draw(labels, seed=3)
    assert reference.shape == (4, 3, 64, 64)
    np.testing.assert_allclose(onnx_backend.draw(labels, seed=3), reference, atol=1e-5)

    out = tmp_path / "drawn"
    generate_main([str(tmp_path / "colour.onnx"), "--labels", "c4", "--n", "2", "--out", str(out)])
    assert Image.open(out.with_suffix(".png")).mode == "RGB"
    with np.load(out.with_suffix(".npz")) as data:
        assert data["images"].shape == (2, 3, 64, 64) and data["labels"].tolist() == [4, 4]
        drawn = data["images"]
    with live_server(create_app(onnx_backend, max_images=8)) as url:
        body = {"labels": [4], "n": 2, "seed": 0, "format": "npz"}
        reply = httpx.post(f"{url}/v1/generate", json=body)
        with np.load(io.BytesIO(reply.content)) as data:
            assert np.array_equal(data["images"], drawn)
        png = httpx.post(f"{url}/v1/generate", json={**body, "format": "png"})
        assert Image.open(io.BytesIO(png.content)).mode == "RGB"
