"""FID, intra-class FID, Inception-style score, precision/recall: on hand-made features, on real
digits with the real evaluator, in a training run (callback) and from the command line."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.data.mnist_datamodule import MNISTDataModule, load_split
from ganlab.errors import ConfigError
from ganlab.evaluate import main as evaluate_main
from ganlab.evaluate import training_images_like
from ganlab.metrics import KEYS, QualityMetrics
from ganlab.metrics.classifier import ImageClassifier
from ganlab.metrics.frechet_distance import FrechetDistance, IntraClassFrechetDistance
from ganlab.metrics.inception_score import InceptionScore
from ganlab.metrics.kernel_inception_distance import (
    KernelInceptionDistance,
    kernel_inception_distance,
)
from ganlab.metrics.mnist_classifier import (
    MNISTClassifier,
    features_and_logits,
    load_or_train_classifier,
    predict,
)
from ganlab.metrics.precision_recall import PrecisionRecall, knn_radii
from ganlab.sampling import choose_per_class, class_grid_labels
from ganlab.train import train
from tests.conftest import compose_train_config, tiny_overrides
from tests.helpers import REAL_DATA_DIR, assert_one_line_exit, make_tiny_mnist, real_mnist_available


def cloud(n: int, dim: int = 8, centre: float = 0.0, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=generator) + centre


# --- Fréchet distance -------------------------------------------------------------------------


def test_frechet_distance_of_a_set_to_itself_is_zero_and_a_shift_costs_its_square() -> None:
    features = cloud(500, dim=16).relu()  # ReLU features: many exact zeros, as the evaluator's
    metric = FrechetDistance(16)
    metric.update(features, real=True)
    metric.update(features, real=False)
    assert abs(float(metric.compute())) < 1e-6
    # Same covariance, mean moved by 0.5 in every dimension: FID = ||shift||^2 = 16 * 0.25.
    metric.reset()
    metric.update(features + 0.5, real=False)
    assert float(metric.compute()) == pytest.approx(4.0, rel=1e-6)


def reference_frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """The textbook formula with scipy's matrix square root, in float64."""
    from scipy import linalg

    mu_r, mu_f = real.mean(axis=0), fake.mean(axis=0)
    cov_r, cov_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = linalg.sqrtm(cov_r @ cov_f).real
    return float(((mu_r - mu_f) ** 2).sum() + np.trace(cov_r + cov_f - 2 * root))


def test_frechet_distance_matches_scipy_on_unequal_covariances() -> None:
    """Different means and differently shaped covariances, so that the mean term, the trace
    terms and the cross term all matter; a distance that drops any of them is far off."""
    generator = torch.Generator().manual_seed(3)
    real = torch.randn(400, 6, generator=generator) @ torch.randn(6, 6, generator=generator)
    fake = torch.randn(300, 6, generator=generator) * torch.linspace(0.2, 3.0, 6) + 0.7
    metric = FrechetDistance(6)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    expected = reference_frechet_distance(real.double().numpy(), fake.double().numpy())
    mean_term = float(((real.double().mean(0) - fake.double().mean(0)) ** 2).sum())
    assert expected > 2 * mean_term  # the covariance terms carry most of the distance
    assert float(metric.compute()) == pytest.approx(expected, rel=1e-5)


def test_intra_class_distance_is_per_class_and_skips_classes_without_samples() -> None:
    real, fake = cloud(200, seed=1), cloud(200, seed=1).clone()
    labels = torch.arange(200) % 3
    fake[labels == 1] += 1.0  # class 1 shifted by 1 in 8 dims: distance 8; class 0 untouched
    fake_labels = labels.clone()
    fake_labels[labels == 2] = 0  # class 2 not generated at all
    metric = IntraClassFrechetDistance(n_classes=3, num_features=8)
    metric.update(real, labels, real=True)
    metric.update(fake, fake_labels, real=False)
    mean, per_class = metric.compute()
    assert per_class[1] == pytest.approx(8.0, rel=1e-6)
    assert per_class[0] > 0.1, "class 0 now mixes in class 2's points"
    assert math.isnan(per_class[2])
    assert float(mean) == pytest.approx((per_class[0] + per_class[1]) / 2)


def test_reset_forgets_only_the_generated_side() -> None:
    real, fake = cloud(300, seed=2), cloud(300, centre=1.0, seed=3)
    labels = torch.arange(300) % 2
    fid, intra, manifold = FrechetDistance(8), IntraClassFrechetDistance(2, 8), PrecisionRecall()

    def feed(features: torch.Tensor, real: bool) -> None:
        fid.update(features, real=real)
        intra.update(features, labels, real=real)
        manifold.update(features, real=real)

    feed(real, real=True)
    feed(fake, real=False)
    before = (fid.compute(), intra.compute()[1], torch.stack(manifold.compute()))
    for metric in (fid, intra, manifold):
        metric.reset()
    assert int(fid.fake_features_num_samples) == 0 and not manifold.fake_features
    feed(fake, real=False)
    after = (fid.compute(), intra.compute()[1], torch.stack(manifold.compute()))
    for first, again in zip(before, after, strict=True):
        assert torch.equal(first, again)


# --- precision and recall ---------------------------------------------------------------------


def test_knn_radii_on_a_line() -> None:
    points = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    assert knn_radii(points, k=1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(points, k=2, chunk_size=3).tolist() == [3.0, 2.0, 3.0, 6.0]


def precision_recall(real: torch.Tensor, fake: torch.Tensor, **kwargs) -> tuple[float, float]:
    metric = PrecisionRecall(**kwargs)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    precision, recall = metric.compute()
    return float(precision), float(recall)


def test_identical_clouds_have_full_precision_and_recall() -> None:
    points = cloud(400)
    assert precision_recall(points, points.clone()) == (1.0, 1.0)


def test_far_apart_clouds_have_none() -> None:
    assert precision_recall(cloud(400), cloud(400, centre=100.0, seed=1)) == (0.0, 0.0)


def test_covering_half_the_modes_halves_recall_not_precision() -> None:
    real = torch.cat([cloud(300, dim=2, seed=0), cloud(300, dim=2, centre=50.0, seed=1)])
    fake = cloud(300, dim=2, seed=2)  # only the first mode, drawn afresh
    precision, recall = precision_recall(real, fake, chunk_size=64)
    assert precision > 0.9
    assert 0.4 < recall <= 0.5


def test_chunking_does_not_change_the_result() -> None:
    real, fake = cloud(300, seed=4), cloud(250, centre=0.5, seed=5)
    assert precision_recall(real, fake, chunk_size=64) == precision_recall(real, fake)


def test_too_few_samples_for_k_is_an_error() -> None:
    with pytest.raises(ValueError, match="need more than 3 generated images, got 3"):
        precision_recall(cloud(10), cloud(3, seed=1))


# --- Inception-style score --------------------------------------------------------------------


def test_inception_score_bounds() -> None:
    balanced = torch.nn.functional.one_hot(torch.arange(1000) % 10, 10).double() * 50
    single = torch.nn.functional.one_hot(torch.full((1000,), 3), 10).double() * 50
    scores = []
    for logits in (balanced, single, torch.zeros(1000, 10)):
        metric = InceptionScore(10)
        metric.update(logits)
        scores.append(float(metric.compute()))
    assert scores[0] == pytest.approx(10.0, rel=1e-6)
    assert scores[1] == pytest.approx(1.0, rel=1e-6)
    assert scores[2] == pytest.approx(1.0, rel=1e-6), "unsure of everything"


@pytest.mark.filterwarnings("ignore:std\\(\\)")  # its spread over one split is undefined
def test_inception_score_equals_torchmetrics_on_one_split_without_touching_the_rng() -> None:
    from torchmetrics.image.inception import InceptionScore as TorchmetricsInceptionScore

    logits = cloud(2000, dim=10, seed=6) * 3
    ours = InceptionScore(10)
    for chunk in logits.split(300):  # in batches: the running sums must add up
        ours.update(chunk)
    state = torch.get_rng_state()
    value = float(ours.compute())
    assert torch.equal(state, torch.get_rng_state())
    with pytest.warns(UserWarning, match="save all extracted features"):
        reference = TorchmetricsInceptionScore(feature=torch.nn.Identity(), splits=1)
    reference.update(logits)
    assert value == pytest.approx(float(reference.compute()[0]), rel=1e-5)


# --- kernel inception distance ---------------------------------------------------------------


def reference_kid(real: np.ndarray, fake: np.ndarray) -> float:
    """The unbiased MMD² with k(x, y) = (x·y / d + 1)^3, written out with loops over pairs."""
    d = real.shape[1]

    def k(x: np.ndarray, y: np.ndarray) -> float:
        return float((x @ y / d + 1) ** 3)

    m, n = len(real), len(fake)
    within_real = sum(k(real[i], real[j]) for i in range(m) for j in range(m) if i != j)
    within_fake = sum(k(fake[i], fake[j]) for i in range(n) for j in range(n) if i != j)
    cross = sum(k(x, y) for x in real for y in fake)
    return within_real / (m * (m - 1)) + within_fake / (n * (n - 1)) - 2 * cross / (m * n)


def test_kid_of_three_and_three_points_by_hand() -> None:
    """d = 1, k(x, y) = (xy + 1)^3. Real {0, 1, 2}: distinct pairs 1, 1, 27, twice over 6 ->
    58/6; generated {1, 2, 3}: 27, 64, 343 -> 868/6; cross sum 597 over 9, twice. KID =
    58/6 + 868/6 - 1194/9 = 65/3. Without the cross term it would be 463/3; with the
    diagonals kept (the biased estimate) 111."""
    real, fake = torch.tensor([[0.0], [1.0], [2.0]]), torch.tensor([[1.0], [2.0], [3.0]])
    mean, spread = kernel_inception_distance(real, fake)
    assert float(mean) == pytest.approx(65 / 3, rel=1e-12) and float(spread) == 0.0
    assert float(kernel_inception_distance(fake, real)[0]) == pytest.approx(65 / 3, rel=1e-12)


def test_kid_matches_the_estimator_written_out_and_is_symmetric() -> None:
    real, fake = cloud(40, dim=6, seed=7).relu(), cloud(30, dim=6, centre=0.3, seed=8).relu()
    expected = reference_kid(real.double().numpy(), fake.double().numpy())
    assert expected > 0.01
    assert float(kernel_inception_distance(real, fake)[0]) == pytest.approx(expected, rel=1e-5)
    assert float(kernel_inception_distance(fake, real)[0]) == pytest.approx(expected, rel=1e-5)


def kid_metric(real: torch.Tensor, fake: torch.Tensor, **kwargs) -> tuple[float, float]:
    metric = KernelInceptionDistance(**kwargs)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    mean, spread = metric.compute()
    return float(mean), float(spread)


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift() -> None:
    """Subsets of 100 of 600 and 500 points: the unbiased estimate of two draws of one
    distribution lies within its spread of 0, far below a shifted cloud's."""
    real = cloud(600, dim=16, seed=1)
    same = cloud(500, dim=16, seed=2)
    mean_same, spread_same = kid_metric(real, same, subsets=50, max_subset_size=100)
    mean_shift, spread_shift = kid_metric(real, same + 1.0, subsets=50, max_subset_size=100)
    assert spread_same > 0 and abs(mean_same) < 2 * spread_same
    assert mean_shift > 5 * spread_shift and mean_shift > 100 * abs(mean_same)
    # The subsets average to about the value of the whole sets.
    whole = float(kernel_inception_distance(real, same + 1.0, max_subset_size=1000)[0])
    assert mean_shift == pytest.approx(whole, rel=0.05)


def test_kid_is_seeded_leaves_the_rng_and_ignores_batch_order() -> None:
    real, fake = cloud(300, seed=3).relu(), cloud(200, centre=0.2, seed=4).relu()
    state = torch.get_rng_state()
    first = kid_metric(real, fake, subsets=20, max_subset_size=50)
    assert torch.equal(state, torch.get_rng_state())
    assert kid_metric(real, fake, subsets=20, max_subset_size=50) == first
    assert kid_metric(real, fake, subsets=20, max_subset_size=50, seed=1) != first
    # The same sets in another order and other batches (as under DDP): the same subsets.
    metric = KernelInceptionDistance(subsets=20, max_subset_size=50)
    shuffled = torch.randperm(300, generator=torch.Generator().manual_seed(9))
    for chunk in real[shuffled].split(70):
        metric.update(chunk, real=True)
    metric.update(fake.flip(0), real=False)
    assert tuple(float(v) for v in metric.compute()) == pytest.approx(first, rel=1e-12)
    # reset() forgets the generated side only.
    metric.reset()
    metric.update(fake, real=False)
    assert tuple(float(v) for v in metric.compute()) == pytest.approx(first, rel=1e-12)


def test_kid_of_small_sets_uses_them_whole() -> None:
    """Fewer points than a subset: no error, every point used once, no spread."""
    real, fake = cloud(5, seed=5), cloud(4, centre=1.0, seed=6)
    mean, spread = kid_metric(real, fake)
    assert spread == 0.0
    assert mean == pytest.approx(reference_kid(real.double().numpy(), fake.double().numpy()))
    with pytest.raises(ValueError, match="at least 2 generated images, got 1"):
        kid_metric(real, fake[:1])


# --- the aggregator ---------------------------------------------------------------------------


def test_features_and_logits_match_the_classifier() -> None:
    torch.manual_seed(0)
    classifier = MNISTClassifier().eval()
    images = torch.rand(7, 1, 32, 32) * 2 - 1
    features, logits = features_and_logits(classifier, images, batch_size=3)
    assert features.shape == (7, 128)
    torch.testing.assert_close(logits, classifier(images))


def test_labels_outside_the_classes_are_rejected() -> None:
    quality = QualityMetrics(MNISTClassifier())
    with pytest.raises(ConfigError, match=r"labels must lie in 0..9.*got 0..12"):
        quality.update(torch.zeros(2, 1, 28, 28), torch.tensor([0, 12]), real=False)


def test_quality_of_colour_images_includes_kid_from_the_same_features() -> None:
    """A 3-channel, 9-class evaluator at 32 px judging 48 px images: KID and its spread are
    those of the evaluator's features of the two sides; the class count is the evaluator's."""
    torch.manual_seed(0)
    classifier = ImageClassifier(3, 9, 32).eval()
    generator = torch.Generator().manual_seed(2)
    real = torch.rand(40, 3, 48, 48, generator=generator) * 2 - 1
    fake = (torch.rand(30, 3, 48, 48, generator=generator) * 2 - 1).clamp(-0.5, 1.0)
    labels = torch.arange(40) % 9
    quality = QualityMetrics(classifier)
    quality.update(real, labels, real=True)
    quality.update(fake, labels[:30], real=False)
    values = quality.compute()
    assert set(KEYS) <= values.keys() and "kid" in KEYS
    expected = kernel_inception_distance(
        features_and_logits(classifier, real)[0], features_and_logits(classifier, fake)[0]
    )
    assert values["kid"] == pytest.approx(float(expected[0]), rel=1e-6)
    assert values["kid_std"] == float(expected[1]) == 0.0  # 40 and 30 images: used whole
    assert values["kid"] > 0
    with pytest.raises(ConfigError, match="knows 9 classes but the images come in 10"):
        QualityMetrics(classifier, n_classes=10)


def quality_in_process(rank: int, world: int, folder: str) -> None:
    """One process of :func:`test_two_processes_give_the_numbers_of_one`: its share of the
    images, then the synced result."""
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world
    )
    try:
        json_path = Path(folder) / f"rank{rank}.json"
        json_path.write_text(json.dumps(synthetic_quality(rank, world)))
    finally:
        torch.distributed.destroy_process_group()


def synthetic_quality(rank: int = 0, world: int = 1) -> dict:
    """QualityMetrics of seeded random images with a seeded untrained evaluator; process
    ``rank`` of ``world`` takes every world-th image, as the callback does."""
    torch.manual_seed(0)
    quality = QualityMetrics(MNISTClassifier())
    generator = torch.Generator().manual_seed(1)
    for real, n in ((True, 90), (False, 60)):
        images = torch.rand(n, 1, 28, 28, generator=generator) * 2 - 1
        labels = torch.arange(n) % 10
        quality.update(images[rank::world], labels[rank::world], real=real)
    return {**quality.compute(), "per_class": quality.per_class()}


def test_two_processes_give_the_numbers_of_one(tmp_path: Path) -> None:
    """Under DDP each process holds part of the images; torchmetrics' sync must make every
    metric, per-class values included, equal to the single-process result."""
    torch.multiprocessing.spawn(quality_in_process, args=(2, str(tmp_path)), nprocs=2)
    alone = synthetic_quality()
    for rank in (0, 1):
        shared = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert shared.keys() == alone.keys()
        assert shared["n_real"] == 90 and shared["n_fake"] == 60
        for key in KEYS:
            assert shared[key] == pytest.approx(alone[key], rel=1e-4, abs=1e-9), key
        assert shared["per_class"]["accuracy"] == alone["per_class"]["accuracy"]
        np.testing.assert_allclose(shared["per_class"]["fid"], alone["per_class"]["fid"], 1e-4)


@pytest.fixture(scope="module")
def real_quality() -> QualityMetrics:
    """The real evaluator holding 2,000 test digits (seeded choice) as the real side."""
    if not real_mnist_available():
        pytest.skip(f"real MNIST not in {REAL_DATA_DIR}; run `make data`")
    classifier, _ = load_or_train_classifier(REAL_DATA_DIR)
    images, labels = load_split(REAL_DATA_DIR, "test", 28)
    # A random subset: MNIST's test file is ordered by writer group (FID 29 between its two
    # halves at 32 px, against 2.4 between training and test digits), so its first 2,000
    # would not represent it.
    chosen = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))[:2000]
    quality = QualityMetrics(classifier)
    quality.update(images[chosen], labels[chosen], real=True)
    return quality


def mnist_training_images_like(
    labels: torch.Tensor, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Real MNIST training digits at 28 px, as many per class as ``labels`` asks for."""
    datamodule = MNISTDataModule(data_dir=str(REAL_DATA_DIR), img_size=28, verify=False)
    return training_images_like(datamodule, labels, seed=seed)


def measure(quality: QualityMetrics, images: torch.Tensor, labels: torch.Tensor) -> dict:
    quality.reset()
    quality.update(images, labels, real=False)
    return quality.compute()


@pytest.mark.mnist
def test_real_digits_score_near_the_floor_and_noise_far_from_it(real_quality) -> None:
    labels = class_grid_labels(10, 100)
    floor = measure(real_quality, *mnist_training_images_like(labels, seed=0))
    other = measure(real_quality, *mnist_training_images_like(labels, seed=1))
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    far = measure(real_quality, noise, labels)
    assert floor["n_real"] == 2000 and floor["n_fake"] == 1000
    # Two draws of real digits agree to within a third, and noise is 100x further away.
    assert abs(other["fid"] - floor["fid"]) < floor["fid"] / 3
    assert abs(other["intra_fid"] - floor["intra_fid"]) < floor["intra_fid"] / 3
    assert far["fid"] > 100 * floor["fid"] and far["intra_fid"] > 100 * floor["intra_fid"]
    assert floor["precision"] > 0.8 and floor["recall"] > 0.8
    assert far["precision"] < 0.01 and far["recall"] < 0.01
    assert floor["cond_acc"] > 0.97 and floor["inception_score"] > 9.0
    assert far["inception_score"] < 2.0


@pytest.mark.mnist
def test_a_collapsed_generator_is_accurate_but_not_diverse(real_quality) -> None:
    """One perfect digit per class, repeated: 100 % conditional accuracy, yet recall near zero
    and intra-class FID far above the floor."""
    labels = class_grid_labels(10, 100)
    images, train_labels = mnist_training_images_like(labels, seed=0)
    read = predict(real_quality.classifier, images)
    exemplars = torch.stack([images[(train_labels == c) & (read == c)][0] for c in range(10)])
    collapsed = measure(real_quality, exemplars.repeat_interleave(100, dim=0), labels)
    per_class = real_quality.per_class()
    floor = measure(real_quality, images, train_labels)
    assert collapsed["cond_acc"] == 1.0 and per_class["accuracy"] == [1.0] * 10
    assert collapsed["recall"] < 0.05 and floor["recall"] > 0.8
    assert collapsed["intra_fid"] > 10 * floor["intra_fid"]
    assert min(per_class["fid"]) > 3 * floor["intra_fid"]


# --- the callback in a training run -----------------------------------------------------------


@pytest.fixture(scope="module")
def two_epoch_run(tmp_path_factory, tiny_data_dir: Path):
    """Four tiny epochs, the full set every second epoch, CSV logs; the passes over real
    images are counted."""
    from ganlab.callbacks import GenerationQualityCallback as Callback
    from tests.conftest import compose_train_config, tiny_overrides

    counted: list[int] = []
    original = Callback.reference

    def counting(self, trainer, pl_module, dataset):
        counted.append(len(dataset))
        return original(self, trainer, pl_module, dataset)

    out = tmp_path_factory.mktemp("quality_run")
    overrides = [
        *tiny_overrides(tiny_data_dir),
        "trainer.max_epochs=4",
        "trainer.limit_train_batches=2",
        "callbacks.generation_quality.every_n_epochs=2",
        "logger=csv",
    ]
    cfg = compose_train_config(out, overrides)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Callback, "reference", counting)
        metrics = train(cfg)
    return out, metrics, counted


def test_callback_logs_every_metric_for_validation_and_test(two_epoch_run) -> None:
    out, metrics, _ = two_epoch_run
    for stage in ("val", "test"):
        for key in KEYS:
            assert f"{stage}/{key}" in metrics, f"{stage}/{key}"
        assert 0.0 <= metrics[f"{stage}/cond_acc"] <= 1.0
        assert 0.0 <= metrics[f"{stage}/precision"] <= 1.0
        assert 0.0 <= metrics[f"{stage}/recall"] <= 1.0
        assert 1.0 <= metrics[f"{stage}/inception_score"] <= 10.0
        assert metrics[f"{stage}/fid"] > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["test/fid"] == pytest.approx(metrics["test/fid"])


def test_testing_also_scores_real_training_images_as_the_floor(two_epoch_run) -> None:
    """Real digits in place of the generated ones: what a perfect generator would score at the
    same count. On these tiny runs the generator is far from it."""
    _, metrics, _ = two_epoch_run
    for key in KEYS:
        assert f"test/floor_{key}" in metrics, key
    assert metrics["test/floor_fid"] < metrics["test/fid"]


def test_real_images_are_chosen_class_for_class() -> None:
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 0])
    index = choose_per_class(labels, [3, 1, 0], seed=5)
    assert sorted(labels[index].tolist()) == [0, 0, 0, 1]
    assert len(set(index.tolist())) == 4
    assert torch.equal(index, choose_per_class(labels, [3, 1, 0], seed=5))
    draws = {tuple(sorted(choose_per_class(labels, [2, 0, 0], seed=s).tolist())) for s in range(8)}
    assert len(draws) > 1  # the seed chooses which two of the four zeros
    with pytest.raises(ValueError, match="class 2"):
        choose_per_class(labels, [0, 0, 3], seed=0)


def test_callback_measures_accuracy_every_epoch_and_the_rest_every_n(two_epoch_run) -> None:
    out, _, counted = two_epoch_run
    with (out / "csv" / "metrics.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["val/cond_acc"]]
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert [bool(r["val/fid"]) for r in rows] == [False, True, False, True]
    # The 32 validation images once per fit (not once per epoch), the 32 test images once.
    assert counted == [32, 32]


# --- ganlab-evaluate --------------------------------------------------------------------------


def run_evaluate(capsys, *args: str) -> dict:
    evaluate_main(list(args))
    return json.loads(capsys.readouterr().out)


def test_evaluate_reports_every_metric_and_the_floor(
    capsys, two_epoch_run, tiny_data_dir: Path
) -> None:
    checkpoint = two_epoch_run[0] / "checkpoints" / "last.ckpt"
    data = ["--data-dir", str(tiny_data_dir), "--per-class", "5"]
    report = run_evaluate(capsys, str(checkpoint), *data, "--floor")
    for key in (
        "conditional_accuracy",
        "fid",
        "intra_fid",
        "inception_score",
        "precision",
        "recall",
    ):
        assert isinstance(report[key], float), key
        assert isinstance(report["floor"][key], float), key
    assert report["samples"] == report["floor"]["samples"] == 50
    assert report["reference"] == {"split": "test", "images": 32, "img_size": 32}
    assert sorted(report["per_class_fid"], key=int) == [str(c) for c in range(10)]
    assert report["floor"]["source"] == "mnist training split"
    alone = run_evaluate(capsys, "--floor", *data)
    assert alone["source"] is None and "fid" not in alone
    assert alone["floor"] == report["floor"], "the floor depends on the count and seed only"
    smaller = run_evaluate(capsys, "--floor", "--img-size", "28", *data)
    assert smaller["reference"]["img_size"] == 28 and smaller["floor"] != alone["floor"]
    assert "floor" not in run_evaluate(capsys, str(checkpoint), *data)


def test_evaluate_bad_input_is_one_line(capsys, tmp_path: Path, tiny_data_dir: Path) -> None:
    load_or_train_classifier(tiny_data_dir, verify=False)  # tiny files fail the real checksums
    data = ["--data-dir", str(tiny_data_dir)]
    assert_one_line_exit(capsys, evaluate_main, data, "nothing to evaluate")
    assert_one_line_exit(
        capsys,
        evaluate_main,
        [str(tmp_path / "g.ckpt"), "--img-size", "28", *data],
        "applies to the floor alone",
    )
    assert_one_line_exit(
        capsys,
        evaluate_main,
        ["--floor", "--per-class", "50", *data],
        "the floor needs more real images than the training split has",
    )
    few = tmp_path / "few.npz"
    np.savez(few, images=np.zeros((3, 28, 28), np.uint8), labels=np.array([1, 2, 3]))
    assert_one_line_exit(
        capsys, evaluate_main, [str(few), *data], "need at least 4 real and 4 generated"
    )
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, images=np.zeros((6, 28, 28), np.uint8), labels=np.array([1, 2, 3, 4, 5, 12]))
    assert_one_line_exit(
        capsys, evaluate_main, [str(wrong), *data], "labels in 1..12", "writes (0..9)"
    )


def test_measuring_quality_does_not_change_the_training_run(tmp_path: Path) -> None:
    """The metrics draw no numbers from the global RNG, so a seeded run trains the same
    weights with or without them (validation runs between the two epochs)."""
    data_dir = make_tiny_mnist(tmp_path / "data")  # no cached evaluator yet
    weights = []
    # Both cases: the evaluator trained during the first run, and loaded from its cache.
    for name, extra in (
        ("with, evaluator trained", []),
        ("with", []),
        (
            "without",
            ["~callbacks.generation_quality", "callbacks.model_checkpoint.monitor=val/g_loss"],
        ),
    ):
        out = tmp_path / name.replace(" ", "_").replace(",", "")
        out.mkdir()
        overrides = [*tiny_overrides(data_dir), "trainer.max_epochs=2", "test=false", *extra]
        cfg = compose_train_config(out, overrides)
        train(cfg)
        checkpoint = torch.load(
            Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True
        )
        weights.append(checkpoint["state_dict"])
    for other in weights[1:]:
        assert other.keys() == weights[0].keys()
        assert all(torch.equal(weights[0][k], other[k]) for k in weights[0])


def test_intra_class_distance_needs_two_images_on_each_side_and_no_more() -> None:
    """A Fréchet distance needs a covariance, so two images per side; the boundary is exact:
    two real and two generated give a number, one generated or one real gives NaN."""
    features = cloud(8, dim=4, seed=5)
    metric = IntraClassFrechetDistance(n_classes=3, num_features=4)
    metric.update(features[:6], torch.tensor([0, 0, 1, 1, 2, 2]), real=True)
    metric.update(features[:5] + 0.1, torch.tensor([0, 0, 1, 2, 2]), real=False)
    _, per_class = metric.compute()
    assert not math.isnan(per_class[0]) and not math.isnan(per_class[2])
    assert math.isnan(per_class[1])  # one generated image of class 1
    metric = IntraClassFrechetDistance(n_classes=2, num_features=4)
    metric.update(features[:3], torch.tensor([0, 0, 1]), real=True)
    metric.update(features[:4], torch.tensor([0, 0, 1, 1]), real=False)
    _, per_class = metric.compute()
    assert not math.isnan(per_class[0]) and math.isnan(per_class[1])  # one real image of class 1
