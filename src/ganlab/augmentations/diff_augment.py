"""Differentiable augmentation, DiffAugment (Zhao et al., 2020).

The same random transforms are applied to every image the discriminator sees, real or
generated, in both players' steps. Because each transform is differentiable, the generator still
gets gradients through it, and because fakes are augmented too, the generator is not taught to
draw augmented digits. It matters most when real data is scarce (a subset of MNIST).

Images are in [-1, 1]; pixels moved in from outside the frame, and cut-out squares, are filled
with the data set's background: -1 (black) for MNIST-like sets, 1 (white) for the emoji set,
which is composited on white.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.errors import ConfigError

BACKGROUND = -1.0


def brightness(x: torch.Tensor) -> torch.Tensor:
    """Shift every image by one value drawn from U(-0.5, 0.5)."""
    return x + (torch.rand(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)


def contrast(x: torch.Tensor) -> torch.Tensor:
    """Scale every image's deviation from its own mean by U(0.5, 1.5)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    scale = torch.rand(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5
    return (x - mean) * scale + mean


def translation(
    x: torch.Tensor, ratio: float = 0.125, background: float = BACKGROUND
) -> torch.Tensor:
    """Shift every image by up to ``ratio`` of its size in each direction, whole pixels."""
    n, _, h, w = x.shape
    pad_h, pad_w = round(h * ratio), round(w * ratio)
    dy = torch.randint(0, 2 * pad_h + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(0, 2 * pad_w + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + dy
    cols = torch.arange(w, device=x.device).view(1, 1, w) + dx
    padded = F.pad(x, (pad_w, pad_w, pad_h, pad_h), value=background).permute(0, 2, 3, 1)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5, background: float = BACKGROUND) -> torch.Tensor:
    """Fill one square of ``ratio`` times the image size, at a random place, with background."""
    n, _, h, w = x.shape
    size_h, size_w = round(h * ratio), round(w * ratio)
    top = torch.randint(0, h - size_h + 1, (n, 1, 1), device=x.device)
    left = torch.randint(0, w - size_w + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)
    return x.masked_fill(inside.unsqueeze(1), background)


# Transforms that bring in pixels from outside the image, and so take the background.
FILLING = ("translation", "cutout")
TRANSFORMS: dict[str, Callable[..., torch.Tensor]] = {
    "brightness": brightness,
    "contrast": contrast,
    "translation": translation,
    "cutout": cutout,
}


class DiffAugment(nn.Module):
    """Apply the named transforms in order, each with fresh randomness per image."""

    def __init__(
        self, policy: Sequence[str] = ("translation", "cutout"), background: float = BACKGROUND
    ) -> None:
        super().__init__()
        if not -1.0 <= background <= 1.0:
            raise ConfigError(f"model.augment.background={background} must lie in [-1, 1]")
        unknown = [name for name in policy if name not in TRANSFORMS]
        if unknown:
            raise ConfigError(
                f"model.augment.policy has unknown transforms {unknown}; "
                f"choose from {sorted(TRANSFORMS)}"
            )
        self.policy = tuple(policy)
        self.background = float(background)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        for name in self.policy:
            if name in FILLING:
                images = TRANSFORMS[name](images, background=self.background)
            else:
                images = TRANSFORMS[name](images)
        return images
