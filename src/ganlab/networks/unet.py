"""The class-conditional denoiser of the diffusion model: diffusers' ``UNet2DModel``.

``(x_t [N, C, S, S], time [N] in [0, 1000), labels [N]) -> prediction [N, C, S, S]``: the
noise (epsilon objective) or the velocity (flow matching). Labels index a learned class
embedding added to the time embedding; one extra embedding, index ``n_classes``, stands for "no
class", which classifier-free guidance trains (label dropout) and samples with. Each width in
``widths`` is one resolution level (the image is halved between levels); ``attention_levels``
names the levels that add self-attention (none by default: on 2 CPU cores a 32 px MNIST
denoiser spends its time better on more steps).
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from ganlab.errors import ConfigError, is_integer


def _check(img_size: int, widths: list[int], attention_levels: list[int]) -> None:
    if not widths:
        raise ConfigError("model.denoiser.widths must name at least one level")
    step = 2 ** (len(widths) - 1)
    if img_size % step:
        raise ConfigError(
            f"a denoiser with {len(widths)} levels needs img_size divisible by {step}, "
            f"got {img_size}"
        )
    if any(not is_integer(level) or not 0 <= level < len(widths) for level in attention_levels):
        raise ConfigError(
            f"model.denoiser.attention_levels {attention_levels} must index its {len(widths)} "
            "levels"
        )


class ConditionalUNet(nn.Module):
    """A conditional UNet denoiser with a "no class" label for classifier-free guidance."""

    def __init__(
        self,
        n_classes: int = 10,
        channels: int = 1,
        img_size: int = 32,
        widths: list[int] = [32, 64, 64],  # noqa: B006 - read, never mutated
        layers_per_block: int = 1,
        attention_levels: list[int] = [],  # noqa: B006
        norm_groups: int = 8,
    ) -> None:
        super().__init__()
        from diffusers import UNet2DModel  # imported here: the GAN path never pays for it

        widths, attention_levels = list(widths), list(attention_levels)
        _check(img_size, widths, attention_levels)
        self.n_classes, self.channels, self.img_size = n_classes, channels, img_size
        self.widths, self.layers_per_block = widths, layers_per_block
        self.attention_levels, self.norm_groups = attention_levels, norm_groups
        if any(width % norm_groups for width in widths):
            raise ConfigError(
                f"model.denoiser.widths {widths} must be multiples of norm_groups={norm_groups}"
            )
        attends = [level in attention_levels for level in range(len(widths))]
        # diffusers' classes are not typed as torch modules; the cast says what it is.
        self.unet = cast(
            nn.Module,
            UNet2DModel(
                sample_size=img_size,
                in_channels=channels,
                out_channels=channels,
                block_out_channels=tuple(widths),
                layers_per_block=layers_per_block,
                down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attends),
                up_block_types=tuple(
                    "AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attends)
                ),
                norm_num_groups=norm_groups,
                num_class_embeds=n_classes + 1,
                attention_head_dim=8,
            ),
        )

    @property
    def null_label(self) -> int:
        """The label that means "no class" (classifier-free guidance's unconditional pass)."""
        return self.n_classes

    def spec(self) -> dict[str, Any]:
        return {
            "n_classes": self.n_classes,
            "channels": self.channels,
            "img_size": self.img_size,
            "widths": list(self.widths),
            "layers_per_block": self.layers_per_block,
            "attention_levels": list(self.attention_levels),
            "norm_groups": self.norm_groups,
        }

    def forward(self, x: torch.Tensor, time: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.unet(x, time, class_labels=labels).sample
