"""The low-resolution form of upsample + 3x3 convolution computes what the two layers compute."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganlab.networks.dcgan import DCGANGenerator
from ganlab.networks.upsampling import NearestUpsampleConv


def reference(layer: NearestUpsampleConv) -> nn.Module:
    """The two layers it replaces, holding its weights."""
    conv = nn.Conv2d(
        layer.in_channels, layer.out_channels, 3, padding=1, bias=layer.bias is not None
    )
    conv.load_state_dict(layer.state_dict())
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(("in_channels", "out_channels", "bias"), [(6, 4, False), (5, 1, True)])
def test_matches_upsampling_then_convolution(
    in_channels: int, out_channels: int, bias: bool, channels_last: bool
) -> None:
    torch.manual_seed(0)
    layer = NearestUpsampleConv(in_channels, out_channels, bias=bias)
    x = torch.randn(3, in_channels, 5, 7)  # not square, odd sizes: the borders are checked too
    if channels_last:
        layer = layer.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    ours, theirs = layer(x), reference(layer)(x)
    assert ours.shape == (3, out_channels, 10, 14)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    assert (
        ours.is_contiguous(memory_format=torch.channels_last) == channels_last or out_channels == 1
    )

    # The same gradients reach the input and the 3x3 weights.
    upstream = torch.randn_like(ours)
    ref = reference(layer)
    ours_grads = torch.autograd.grad((ours * upstream).sum(), [x, layer.weight])
    theirs_grads = torch.autograd.grad((ref(x) * upstream).sum(), [x, ref[1].weight])
    for a, b in zip(ours_grads, theirs_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_generator_loads_a_state_dict_of_the_earlier_layer_layout() -> None:
    torch.manual_seed(0)
    gen = DCGANGenerator(latent_dim=8, img_size=32, width=8).eval()
    renamed = {
        "upsample.0.": "upsample.1.",
        "upsample.1.": "upsample.2.",
        "upsample.3.": "upsample.5.",
    }
    earlier = {}
    for key, value in gen.state_dict().items():
        for new, old in renamed.items():
            if key.startswith(new):
                key = old + key[len(new) :]
                break
        earlier[key] = value.clone()
    assert "upsample.5.weight" in earlier and "upsample.0.weight" not in earlier

    loaded = DCGANGenerator(latent_dim=8, img_size=32, width=8).eval()
    loaded.load_state_dict(earlier)  # strict: every key must find its layer
    noise, labels = torch.randn(4, 8), torch.tensor([0, 3, 5, 9])
    assert torch.equal(loaded(noise, labels), gen(noise, labels))
