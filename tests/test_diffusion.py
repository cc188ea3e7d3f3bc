"""The diffusion model's meaning: the noising it trains on and the samplers invert each other,
guidance moves samples towards their class, seeds reproduce, one sampling loop serves torch
and numpy, and the model trains, checkpoints and draws through the lab's tools."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.checkpoints import load_generator
from ganlab.diffusion.guidance import draw
from ganlab.diffusion.objectives import FlowMatching, NoisePrediction, objective_from
from ganlab.diffusion.samplers import DDIM, DDPM, Euler, Heun, Sampler, sampler_from
from ganlab.errors import ConfigError
from ganlab.export import main as export_main
from ganlab.generate import main as generate_main
from ganlab.models.conditional_generator import GeneratorCard
from ganlab.models.trained_diffusion import TrainedDiffusion
from ganlab.networks.unet import ConditionalUNet
from ganlab.train import train
from tests.helpers import TINY_DIFFUSION, assert_one_line_exit

SAMPLERS = [(NoisePrediction(), cls) for cls in (DDPM, DDIM)] + [
    (FlowMatching(), cls) for cls in (Euler, Heun)
]


# --- the objectives ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "reference"), [("linear", "linear"), ("cosine", "squaredcos_cap_v2")]
)
def test_the_noise_schedule_is_diffusers_own(schedule: str, reference: str) -> None:
    """An independent implementation of the same schedules: diffusers' DDPM scheduler."""
    from diffusers import DDPMScheduler

    ours = NoisePrediction(schedule=schedule).alpha_bar
    theirs = DDPMScheduler(num_train_timesteps=1000, beta_schedule=reference).alphas_cumprod
    np.testing.assert_allclose(ours, theirs.double().numpy(), rtol=2e-5, atol=1e-7)


def test_noising_puts_signal_and_noise_where_the_objective_says() -> None:
    epsilon = NoisePrediction()
    ones, zeros = torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)
    uniform = torch.tensor([0.0, 0.5])  # steps 0 and 500
    signal, time, target = epsilon.training_example(ones, zeros, uniform)
    abar = torch.tensor([epsilon.alpha_bar[0], epsilon.alpha_bar[500]])
    torch.testing.assert_close(signal[:, 0, 0, 0], abar.sqrt().float())
    noise_only, _, target = epsilon.training_example(zeros, ones, uniform)
    torch.testing.assert_close(noise_only[:, 0, 0, 0], (1 - abar).sqrt().float())
    torch.testing.assert_close(target, ones)  # epsilon: the target is the noise itself
    torch.testing.assert_close(time, torch.tensor([0.0, 500.0]))

    flow = FlowMatching()
    x0, noise = torch.full((2, 1, 2, 2), 0.5), torch.full((2, 1, 2, 2), -1.0)
    x_t, time, target = flow.training_example(x0, noise, torch.tensor([0.25, 1.0]))
    torch.testing.assert_close(x_t[:, 0, 0, 0], torch.tensor([0.75 * 0.5 - 0.25, -1.0]))
    torch.testing.assert_close(target, noise - x0)  # velocity from data towards noise
    torch.testing.assert_close(time, torch.tensor([250.0, 1000.0]))


# --- samplers invert the noising ----------------------------------------------------------------


def oracle(objective: NoisePrediction | FlowMatching, clean: np.ndarray, labels: np.ndarray):
    """A denoiser that knows the clean image of each label: it reads the noise off x_t and
    returns the training target that the objective's own ``training_example`` builds for it."""

    def denoise(x, time: float, classes):
        as_numpy = isinstance(x, np.ndarray)
        x_np = x if as_numpy else x.numpy()
        x0 = clean[np.asarray(classes)]
        if isinstance(objective, NoisePrediction):
            step = round(time * objective.timesteps / 1000)
            abar = objective.alpha_bar[step]
            noise = (x_np - math.sqrt(abar) * x0) / math.sqrt(1 - abar)
            uniform = torch.full((len(x0),), (step + 0.5) / objective.timesteps)
        else:
            t = time / 1000
            noise = (x_np - (1 - t) * x0) / t
            uniform = torch.full((len(x0),), t)
        _, _, target = objective.training_example(
            torch.from_numpy(x0).double(), torch.from_numpy(noise).double(), uniform.double()
        )
        out = target.numpy().astype(np.float32)
        return out if as_numpy else torch.from_numpy(out)

    return denoise


@pytest.mark.parametrize(
    ("objective", "sampler_cls"), SAMPLERS, ids=lambda v: getattr(v, "name", "")
)
@pytest.mark.parametrize("steps", [1, 7, 50])
def test_a_sampler_given_the_true_target_returns_the_clean_image(
    objective: NoisePrediction | FlowMatching, sampler_cls: type[Sampler], steps: int
) -> None:
    rng = np.random.default_rng(0)
    clean = rng.uniform(-0.9, 0.9, (3, 1, 4, 4)).astype(np.float32)
    labels = np.array([2, 0, 1, 2])
    images = draw(
        oracle(objective, clean, labels),
        labels,
        np.full(4, 3),
        (1, 4, 4),
        objective,
        sampler_cls(steps),
        0.0,
        seed=5,
        as_array=lambda a: a,
    )
    np.testing.assert_allclose(images, clean[labels], atol=2e-3)


# Gaussian classes: each class is N(mean, SPREAD^2) on one pixel, so the exact denoiser is known
# in closed form and a correct sampler must give back both the means and the spread.
MEANS = np.array([-0.5, 0.5], dtype=np.float32)
SPREAD = 0.15


def gaussian_denoiser(objective: NoisePrediction | FlowMatching):
    """The exact noise (epsilon) or velocity (flow) prediction for the Gaussian classes."""

    def denoise(x: np.ndarray, time: float, classes: np.ndarray) -> np.ndarray:
        mean = MEANS[classes][:, None, None, None]
        if isinstance(objective, NoisePrediction):
            abar = objective.alpha_bar[round(time * objective.timesteps / 1000)]
            a, b = math.sqrt(abar), math.sqrt(1 - abar)
            return (b * (x - a * mean) / (a * a * SPREAD**2 + b * b)).astype(np.float32)
        t = time / 1000
        variance = (1 - t) ** 2 * SPREAD**2 + t * t
        noise = t * (x - (1 - t) * mean) / variance
        clean = mean + (1 - t) * SPREAD**2 * (x - (1 - t) * mean) / variance
        return (noise - clean).astype(np.float32)

    return denoise


@pytest.mark.parametrize(
    ("objective", "sampler", "tolerance"),
    [
        (NoisePrediction(), DDPM(1000), 0.006),
        (NoisePrediction(), DDIM(1000), 0.003),
        (FlowMatching(), Euler(200), 0.003),
        # Second order: 25 Heun steps (50 evaluations) beat 25 Euler steps (off by 0.017).
        (FlowMatching(), Heun(25), 0.006),
    ],
    ids=["ddpm", "ddim", "euler", "heun"],
)
def test_a_sampler_with_the_exact_denoiser_draws_the_data_distribution(
    objective: NoisePrediction | FlowMatching, sampler: Sampler, tolerance: float
) -> None:
    """Not only the mean: a sampler that drops DDPM's fresh noise, mis-scales DDIM's noise
    direction or loses Heun's correction collapses or distorts the spread."""
    labels = np.repeat(np.array([0, 1]), 2000)
    images = draw(
        gaussian_denoiser(objective),
        labels,
        np.full(len(labels), 2),
        (1, 1, 1),
        objective,
        sampler,
        0.0,
        seed=0,
        as_array=lambda a: a,
    )[:, 0, 0, 0]
    for cls in (0, 1):
        assert images[labels == cls].mean() == pytest.approx(MEANS[cls], abs=0.01)
    assert (images - MEANS[labels]).std() == pytest.approx(SPREAD, abs=tolerance)


@pytest.mark.parametrize(
    ("objective", "sampler_cls"), SAMPLERS, ids=lambda v: getattr(v, "name", "")
)
def test_torch_and_numpy_run_the_same_loop(
    objective: NoisePrediction | FlowMatching, sampler_cls: type[Sampler]
) -> None:
    """What the ONNX runtime samples with (numpy) and what torch samples with agree: same
    seed, same per-step noise, same arithmetic."""
    weights = torch.linspace(-1, 1, 16).view(1, 1, 4, 4)

    def denoise(x, time: float, classes):
        offset = 0.1 * np.asarray(classes, dtype=np.float32)[:, None, None, None]
        if isinstance(x, np.ndarray):
            return 0.3 * x + weights.numpy() * (time / 1000) + offset
        return 0.3 * x + weights * (time / 1000) + torch.from_numpy(offset)

    labels = np.array([0, 1, 1])
    runs = [
        draw(denoise, labels, np.full(3, 2), (1, 4, 4), objective, sampler_cls(6), 1.5, 11, convert)
        for convert in (lambda a: a, torch.from_numpy)
    ]
    np.testing.assert_allclose(runs[0], runs[1].numpy(), atol=1e-5)


def test_guidance_moves_samples_towards_their_class() -> None:
    """A toy data set of two point masses with an imperfect conditional model (it puts 40 %
    of its mass on the wrong class) and the exact unconditional one: guidance must raise the
    share of samples that land on the asked-for class, and scale 0 must leave it near 60 %."""
    objective, sampler = FlowMatching(), Euler(40)
    points = np.array([[-0.8], [0.8]], dtype=np.float32).reshape(2, 1, 1, 1)

    def mixture_velocity(x: np.ndarray, t: float, weights: np.ndarray) -> np.ndarray:
        """The exact velocity of a flow to a mixture of the two points with ``weights``."""
        # x_t | x0 ~ N((1 - t) x0, t^2): posterior over the two points, then E[eps - x0 | x_t].
        logits = (
            -((x[None] - (1 - t) * points[:, None]) ** 2) / (2 * t * t)
            + np.log(weights)[:, :, None, None, None]
        )
        posterior = np.exp(logits - logits.max(axis=0))
        posterior /= posterior.sum(axis=0)
        x0 = (posterior * points[:, None]).sum(axis=0)
        return (x - x0) / t

    def denoise(x: np.ndarray, time: float, classes: np.ndarray) -> np.ndarray:
        t = time / 1000
        weights = np.where(
            classes[None] == 2, 0.5, np.where(np.arange(2)[:, None] == classes[None], 0.6, 0.4)
        )
        return mixture_velocity(x, t, weights.astype(np.float32))

    labels = np.ones(2000, dtype=np.int64)
    hits = {}
    for guidance in (0.0, 3.0):
        images = draw(
            denoise,
            labels,
            np.full(2000, 2),
            (1, 1, 1),
            objective,
            sampler,
            guidance,
            0,
            lambda a: a,
        )
        hits[guidance] = float((images[:, 0, 0, 0] > 0).mean())
    assert 0.55 < hits[0.0] < 0.65
    assert hits[3.0] > hits[0.0] + 0.2


# --- bad values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [0, -1, 1001, 2.5, True, "ten"])
def test_bad_steps_are_refused(steps: object) -> None:
    with pytest.raises(ConfigError, match="steps"):
        sampler_from("ddim", steps)


def test_a_sampler_for_another_objective_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"euler.*flow"):
        Euler(5).check(NoisePrediction())
    with pytest.raises(ConfigError, match="one of"):
        objective_from({"name": "score"})


# --- the model --------------------------------------------------------------------------------


def tiny_model(sampler: Sampler | None = None) -> TrainedDiffusion:
    torch.manual_seed(0)
    card = GeneratorCard("diffusion", "toy", ("a", "b", "c"), 1, 8, "")
    unet = ConditionalUNet(n_classes=3, channels=1, img_size=8, widths=[8, 16], norm_groups=4)
    return TrainedDiffusion(unet.eval(), card, NoisePrediction(), sampler or DDPM(4), 1.0)


def test_the_same_seed_draws_the_same_images_and_another_seed_others() -> None:
    model = tiny_model()
    labels = torch.tensor([0, 1, 2])
    first = model.generate(labels, seed=3)
    assert first.shape == (3, 1, 8, 8)
    torch.testing.assert_close(model.generate(labels, seed=3), first, rtol=0, atol=0)
    assert not torch.allclose(model.generate(labels, seed=4), first)
    # The options change the draw: fewer steps, no guidance.
    assert not torch.allclose(model.generate(labels, seed=3, steps=2), first)
    assert not torch.allclose(model.generate(labels, seed=3, guidance=0.0), first)
    assert not torch.allclose(model.generate(labels, seed=3, sampler="ddim"), first)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"steps": 0}, "steps"),
        ({"guidance": -1.0}, "guidance"),
        ({"guidance": math.nan}, "guidance"),
        ({"eta": 1}, "eta"),
        ({"sampler": "euler"}, "inverts the 'flow' objective"),
        ({"sampler": "plms"}, "must be one of"),
    ],
)
def test_bad_sampling_options_are_one_line_errors(options: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        tiny_model().generate(torch.tensor([0]), seed=0, **options)


def test_a_diffusion_model_trains_and_draws_through_the_lab(
    make_cfg, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """run.py's experiment trains, validates, tests and checkpoints; the checkpoint rebuilds
    without Hydra and ganlab-generate draws from it with steps and guidance."""
    cfg = make_cfg(*TINY_DIFFUSION, "model.sampler.steps=3", name="diffusion")
    train(cfg)
    checkpoint = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    model = load_generator(checkpoint)
    assert isinstance(model, TrainedDiffusion)
    assert model.card.kind == "diffusion" and model.card.dataset == "mnist"
    assert (model.sampler.name, model.sampler.steps) == ("ddpm", 3)
    out = tmp_path / "five"
    generate_main(
        [
            str(checkpoint),
            "--labels",
            "5",
            "--n",
            "2",
            "--steps",
            "2",
            "--guidance",
            "0",
            "--out",
            str(out),
        ]
    )
    assert out.with_suffix(".png").is_file() and out.with_suffix(".npz").is_file()
    assert_one_line_exit(
        capsys, generate_main, [checkpoint, "--steps", 0, "--out", out], "steps 0 must be"
    )
    # Tools that run a GAN's single pass say so instead of failing inside the network.
    for main, argv in (
        (export_main, ["onnx", checkpoint, "--out", tmp_path / "d.onnx"]),
        (export_main, ["weights", checkpoint, "--out", tmp_path / "weights"]),
    ):
        assert_one_line_exit(capsys, main, argv, "holds a diffusion model", "gan generators only")
    assert not (tmp_path / "d.onnx").exists() and not (tmp_path / "weights").exists()


def test_a_gan_refuses_the_diffusion_options(
    trained_checkpoint: Path, trained_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for model, option in ((trained_checkpoint, "--steps"), (trained_onnx, "--guidance")):
        argv = [model, option, 5, "--out", tmp_path / "x"]
        assert_one_line_exit(capsys, generate_main, argv, f"{option} does not apply to a gan")
    assert not list(tmp_path.iterdir())
