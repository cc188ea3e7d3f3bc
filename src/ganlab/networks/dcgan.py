"""A small conditional DCGAN pair (Radford et al., 2016) for 1 or 3 channels at 28 to 64 px and up.

The generator projects [label embedding, noise] to an ``img_size / 2**upsamples`` feature map
and doubles it ``upsamples`` times with nearest-neighbour upsampling and a 3x3 convolution,
halving the channels each time (strided transposed convolutions drew checkerboard speckles and
a worse FID; docs/results.md), computed at the low resolution by ``NearestUpsampleConv``. Two
stages suit 28-32 px, four suit 64 px (a 4 px start). The discriminator halves the
image ``depth`` times with strided convolutions, doubling its channels each time, can follow them
with ``refine_layers`` stride-1 3x3 convolutions on the smallest map (they relate the parts of the
digit to one another; two of them cost the 3-minute recipe about a fifth of its batches and
still lower its FID, docs/results.md), and is conditioned on the label in one of two ways:

* ``"concat"``: the label, as one constant plane per class, is stacked onto the image channels;
* ``"projection"`` (Miyato & Koyama, 2018): the score is ``w·h + <embed(y), h>`` where ``h`` are
  the image features, so the label acts on what the network sees rather than on raw pixels.

Spectral normalisation (Miyato et al., 2018) of every discriminator layer is an option; it bounds
the discriminator's Lipschitz constant, which matters most for hinge and Wasserstein losses.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as apply_spectral_norm

from ganlab.errors import ConfigError, is_integer
from ganlab.networks.upsampling import NearestUpsampleConv

CONDITIONING = ("concat", "projection")


def _check_size(img_size: int, upsamples: int = 2) -> None:
    if not is_integer(upsamples) or upsamples < 1:
        raise ConfigError(f"model.generator.upsamples={upsamples!r} must be an integer >= 1")
    step = 2**upsamples
    if img_size % step or img_size < 2 * step:
        raise ConfigError(
            f"a DCGAN generator with {upsamples} upsampling stages needs img_size divisible "
            f"by {step} (>= {2 * step}), got {img_size}"
        )


class DCGANGenerator(nn.Module):
    """(noise [N, latent_dim], labels [N]) -> images [N, C, img_size, img_size] in [-1, 1]."""

    def __init__(
        self,
        n_classes: int = 10,
        latent_dim: int = 100,
        channels: int = 1,
        img_size: int = 28,
        width: int = 32,
        embedding_dim: int = 32,
        upsamples: int = 2,
    ) -> None:
        super().__init__()
        _check_size(img_size, upsamples)
        self.n_classes = n_classes
        self.latent_dim = latent_dim
        self.channels = channels
        self.img_size = img_size
        self.width = width
        self.embedding_dim = embedding_dim
        self.upsamples = upsamples
        self.start = img_size >> upsamples
        # Channels of the projected map; each stage halves them, down to ``width``.
        self.top = width * 2 ** (upsamples - 1)
        self.label_embedding = nn.Embedding(n_classes, embedding_dim)
        self.project = nn.Sequential(
            nn.Linear(latent_dim + embedding_dim, self.top * self.start * self.start, bias=False),
            nn.BatchNorm1d(self.top * self.start * self.start),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        for stage in range(upsamples - 1):
            in_channels = self.top >> stage
            layers += [
                NearestUpsampleConv(in_channels, in_channels // 2, bias=False),
                nn.BatchNorm2d(in_channels // 2),
                nn.ReLU(inplace=True),
            ]
        layers += [NearestUpsampleConv(width, channels), nn.Tanh()]
        self.upsample = nn.Sequential(*layers)
        self._register_load_state_dict_pre_hook(_rename_upsample_layers)

    def spec(self) -> dict[str, Any]:
        return {
            "n_classes": self.n_classes,
            "latent_dim": self.latent_dim,
            "channels": self.channels,
            "img_size": self.img_size,
            "width": self.width,
            "embedding_dim": self.embedding_dim,
            "upsamples": self.upsamples,
        }

    @staticmethod
    def parameter_count(
        n_classes: int,
        latent_dim: int,
        channels: int,
        img_size: int,
        width: int,
        embedding_dim: int,
        upsamples: int = 2,
    ) -> int:
        """Parameters of ``DCGANGenerator(...)``, computed without building it, so that a spec
        read from a file is bounded before anything is allocated (ganlab.networks.spec)."""
        top = width * 2 ** (upsamples - 1)
        projected = top * (img_size >> upsamples) ** 2
        count = n_classes * embedding_dim + (latent_dim + embedding_dim) * projected + 2 * projected
        for stage in range(upsamples - 1):
            in_channels = top >> stage
            count += in_channels * (in_channels // 2) * 9 + in_channels  # conv + BatchNorm
        return count + width * channels * 9 + channels

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = self.project(torch.cat([self.label_embedding(labels), noise], dim=1))
        return self.upsample(x.view(-1, self.top, self.start, self.start))


# Checkpoints whose upsampling stack held separate nn.Upsample layers number its layers
# differently; they load under the current names.
_OLD_UPSAMPLE_INDEX = {"1": "0", "2": "1", "5": "3"}


def _rename_upsample_layers(state: dict[str, Any], prefix: str, *args: Any) -> None:
    old = f"{prefix}upsample."
    if f"{old}5.weight" not in state:
        return
    for key in [key for key in state if key.startswith(old)]:
        index, rest = key[len(old) :].split(".", 1)
        state[f"{old}{_OLD_UPSAMPLE_INDEX[index]}.{rest}"] = state.pop(key)


class DCGANDiscriminator(nn.Module):
    """Scores (images, labels) pairs: one unbounded real number per image (higher = more real)."""

    def __init__(
        self,
        n_classes: int = 10,
        channels: int = 1,
        img_size: int = 28,
        width: int = 32,
        conditioning: str = "projection",
        spectral_norm: bool = False,
        depth: int = 2,
        refine_layers: int = 0,
    ) -> None:
        super().__init__()
        _check_size(img_size)
        if not is_integer(depth) or depth < 1 or img_size >> depth < 2:
            raise ConfigError(
                f"model.discriminator.depth={depth!r} must be an integer of at least 1 that "
                f"leaves a feature map of 2 px or more from {img_size} px "
                f"(at most {img_size.bit_length() - 2})"
            )
        if not is_integer(refine_layers) or refine_layers < 0:
            raise ConfigError(
                f"model.discriminator.refine_layers={refine_layers!r} must be an integer >= 0"
            )
        if conditioning not in CONDITIONING:
            raise ConfigError(
                f"model.discriminator.conditioning={conditioning!r} must be one of {CONDITIONING}"
            )
        self.n_classes = n_classes
        self.channels = channels
        self.img_size = img_size
        self.width = width
        self.conditioning = conditioning
        self.spectral_norm = spectral_norm
        self.depth = depth
        self.refine_layers = refine_layers
        wrap = apply_spectral_norm if spectral_norm else (lambda layer: layer)
        layers: list[nn.Module] = []

        def add_layer(conv: nn.Conv2d) -> None:
            layers.extend([wrap(conv), nn.LeakyReLU(0.2, inplace=True)])

        in_channels = channels + (n_classes if conditioning == "concat" else 0)
        size = img_size
        for level in range(depth):
            out_channels = width * 2**level
            add_layer(nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1))
            in_channels, size = out_channels, size // 2
        for _ in range(refine_layers):
            add_layer(nn.Conv2d(in_channels, in_channels, 3, padding=1))
        self.features = nn.Sequential(*layers, nn.Flatten())
        feature_dim = in_channels * size * size
        self.score = wrap(nn.Linear(feature_dim, 1))
        self.label_projection = None
        if conditioning == "projection":
            embedding = nn.Embedding(n_classes, feature_dim)
            # Same scale as the score layer: Embedding's default N(0, 1) would make the label
            # term ~sqrt(feature_dim) times larger than the unconditional score.
            bound = feature_dim**-0.5
            nn.init.uniform_(embedding.weight, -bound, bound)
            self.label_projection = wrap(embedding)

    def spec(self) -> dict[str, Any]:
        return {
            "n_classes": self.n_classes,
            "channels": self.channels,
            "img_size": self.img_size,
            "width": self.width,
            "conditioning": self.conditioning,
            "spectral_norm": self.spectral_norm,
            "depth": self.depth,
            "refine_layers": self.refine_layers,
        }

    @staticmethod
    def parameter_count(
        n_classes: int,
        channels: int,
        img_size: int,
        width: int,
        conditioning: str,
        spectral_norm: bool,
        depth: int,
        refine_layers: int,
    ) -> int:
        """Parameters of ``DCGANDiscriminator(...)``, computed without building it (spectral
        normalisation adds buffers, not parameters)."""
        in_channels = channels + (n_classes if conditioning == "concat" else 0)
        count, size = 0, img_size
        for level in range(depth):
            out_channels = width * 2**level
            count += in_channels * out_channels * 16 + out_channels
            in_channels, size = out_channels, size // 2
        count += refine_layers * (in_channels * in_channels * 9 + in_channels)
        feature_dim = in_channels * size * size
        count += feature_dim + 1
        return count + (n_classes * feature_dim if conditioning == "projection" else 0)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.label_projection is None:
            planes = F.one_hot(labels, self.n_classes).to(images.dtype)
            planes = planes[:, :, None, None].expand(-1, -1, self.img_size, self.img_size)
            images = torch.cat([images, planes], dim=1)
        h = self.features(images)
        scores = self.score(h).squeeze(1)
        if self.label_projection is not None:
            scores = scores + (self.label_projection(labels) * h).sum(dim=1)
        return scores
