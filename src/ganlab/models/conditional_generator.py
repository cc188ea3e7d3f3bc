"""The one contract of a class-conditional image generator, whatever kind it is.

Callbacks, ``ganlab-generate``, ``-evaluate``, ``-export``, ``-serve``, the checkpoint loader
and the results table read a generator only through this: its :class:`GeneratorCard` (what it
draws: data set, class names, channels, size, the evaluator that judges it), the keys of its
training losses, and ``generate(labels, seed)``. A GAN draws in one network pass; a diffusion
model runs many passes of a sampler; neither difference leaks past ``generate``. This module
imports no torch: the ONNX runtime path reads cards too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ganlab.errors import CheckpointError, ConfigError, is_integer

# The kinds of generator a checkpoint may hold.
KINDS = ("gan", "diffusion")
# Inclusive bounds of a card read from a file (a checkpoint, ONNX metadata).
MAX_CLASSES = 1000
CHANNELS = (1, 3)
IMG_SIZE_BOUNDS = (8, 1024)
MAX_NAME_LENGTH = 100

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class GeneratorCard:
    """What a generator draws, recorded in every checkpoint and export so that it can be
    judged (against the right data set, by the right evaluator) and served without the config
    that trained it."""

    kind: str
    dataset: str
    class_names: tuple[str, ...]
    channels: int
    img_size: int
    # Name of the pinned evaluator of the data set; "" when it is trained per data folder.
    evaluator: str = ""

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, not tuples): loads with ``torch.load(weights_only=True)`` and
        serialises to JSON."""
        data = asdict(self)
        data["class_names"] = list(self.class_names)
        return data

    @classmethod
    def from_dict(cls, data: object, where: str) -> GeneratorCard:
        """A card from a file's plain data, every field checked; CheckpointError naming
        ``where`` and the field otherwise."""
        if not isinstance(data, Mapping):
            raise CheckpointError(f"{where}: its generator card is a {type(data).__name__}")

        def bad(field: str, expected: str) -> CheckpointError:
            return CheckpointError(
                f"{where}: card field '{field}' is {data.get(field)!r:.60}, expected {expected}"
            )

        kind = data.get("kind")
        if kind not in KINDS:
            raise bad("kind", f"one of {KINDS}")
        for field in ("dataset", "evaluator"):
            value = data.get(field)
            if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH:
                raise bad(field, f"a name of at most {MAX_NAME_LENGTH} characters")
        names = data.get("class_names")
        if (
            not isinstance(names, Sequence)
            or isinstance(names, str)
            or not 2 <= len(names) <= MAX_CLASSES
            or not all(isinstance(n, str) and 0 < len(n) <= MAX_NAME_LENGTH for n in names)
        ):
            raise bad("class_names", f"2..{MAX_CLASSES} non-empty names")
        channels = data.get("channels")
        if channels not in CHANNELS or not is_integer(channels):
            raise bad("channels", f"one of {CHANNELS}")
        size = data.get("img_size")
        low, high = IMG_SIZE_BOUNDS
        if not is_integer(size) or not low <= size <= high:
            raise bad("img_size", f"an integer in {low}..{high}")
        return cls(
            kind=str(kind),
            dataset=str(data["dataset"]),
            class_names=tuple(names),
            channels=int(channels),
            img_size=int(size),
            evaluator=str(data["evaluator"]),
        )


def card_of(description: Mapping[str, Any], where: str) -> GeneratorCard:
    """The card a checkpoint's ``ganlab`` section, an export's JSON or ONNX metadata records.
    Files written before cards existed hold MNIST GANs: their card is rebuilt from the
    generator's spec (its channels and size) and class count."""
    if "card" in description:
        return GeneratorCard.from_dict(description["card"], where)
    network = description.get("generator", description.get("network", description))
    sizes = network if isinstance(network, Mapping) else {}
    n_classes = description.get("n_classes")
    legacy = {
        "kind": "gan",
        "dataset": "mnist",
        "evaluator": "mnist",
        "class_names": list(numbered_classes(n_classes)) if is_integer(n_classes) else None,
        "channels": sizes.get("channels"),
        "img_size": sizes.get("img_size"),
    }
    return GeneratorCard.from_dict(legacy, where)


def numbered_classes(n_classes: int) -> tuple[str, ...]:
    """Class names of a generator trained without any ("0", "1", ...): MNIST's digits."""
    return tuple(str(label) for label in range(n_classes))


def card_from_datamodule(card: GeneratorCard, datamodule: object) -> GeneratorCard:
    """``card`` with the data set's name, class names and evaluator taken from the data module
    a model trains on (unchanged without one); ConfigError when the data module's class count,
    channels or size differ from the model's."""
    names = getattr(datamodule, "class_names", None)
    if datamodule is None or names is None:
        return card
    for key in ("n_classes", "channels", "img_size"):
        value = getattr(datamodule, key, getattr(card, key))
        if value != getattr(card, key):
            raise ConfigError(
                f"datamodule.{key}={value} differs from model.{key}={getattr(card, key)}"
            )
    return GeneratorCard(
        kind=card.kind,
        dataset=str(getattr(datamodule, "name", "")),
        class_names=tuple(str(name) for name in names),
        channels=card.channels,
        img_size=card.img_size,
        evaluator=str(getattr(datamodule, "evaluator", "")),
    )


def require_kind(card: GeneratorCard, kind: str, tool: str, where: str) -> None:
    """ConfigError unless ``where`` holds a generator of ``kind``: tools that run a GAN's
    single network pass (ONNX export, exported weights, the HTTP service) say so in one line
    instead of failing inside the network."""
    if card.kind != kind:
        raise ConfigError(
            f"{where} holds a {card.kind} model; {tool} takes {kind} generators only "
            "(ganlab-generate and ganlab-evaluate take both)"
        )


def check_labels(labels: torch.Tensor | Any, n_classes: int) -> None:
    """ConfigError unless every label is a class number of the generator."""
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise ConfigError(
            f"labels must lie in 0..{n_classes - 1}, the generator's classes; got "
            f"{int(labels.min())}..{int(labels.max())}"
        )


class ConditionalImageGenerator(ABC):
    """A model that draws images of chosen classes: a training module or a loaded checkpoint."""

    @property
    @abstractmethod
    def card(self) -> GeneratorCard:
        """What the generator draws (see :class:`GeneratorCard`)."""

    @property
    def loss_keys(self) -> tuple[str, ...]:
        """Names of the training losses it logs (``train/<key>_step`` and ``_epoch``), in the
        order the loss curves draw them."""
        return ()

    @property
    def sampling_options(self) -> tuple[str, ...]:
        """Keyword options ``generate`` takes besides labels and seed (a diffusion model's
        ``steps`` and ``guidance``; none for a GAN's single pass)."""
        return ()

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The options that were given (not None); ConfigError for one this kind has not."""
        given = {key: value for key, value in options.items() if value is not None}
        for key in given:
            if key not in self.sampling_options:
                accepted = ", ".join(self.sampling_options) or "none"
                raise ConfigError(
                    f"--{key} does not apply to a {self.card.kind} model (its sampling "
                    f"options: {accepted})"
                )
        return given

    @abstractmethod
    def generate(
        self, labels: torch.Tensor, seed: int | None = None, **options: Any
    ) -> torch.Tensor:
        """Images [N, C, S, S] in [-1, 1] of classes ``labels`` [N], without gradients and in
        inference mode (BatchNorm's running statistics, no dropout); the same seed draws the
        same images on every device. The model's own training state is left as it was.
        ``options`` are those of :attr:`sampling_options`."""
