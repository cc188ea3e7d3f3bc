"""Training and sampling speed of the diffusion denoiser (diffusers' UNet2DModel) by width.

    python benchmarks/denoiser_speed.py [--out docs/results/denoiser_speed.json]

For each configuration: images/s of one Adam training step at batch 128 (forward, MSE,
backward, step; median of ``--repeats`` after two warm-ups) and images/s of one inference pass
at batch 200 (what each sampler step costs; guidance doubles it), 32 px grey MNIST-shaped
inputs, float32, the machine's own thread count capped at 2.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from ganlab.networks.unet import ConditionalUNet
from ganlab.utils.atomic import atomic_path
from ganlab.utils.trainer import machine_description

CONFIGS = [
    {"widths": [16, 32, 64], "layers_per_block": 1},
    {"widths": [32, 64, 64], "layers_per_block": 1},
    {"widths": [32, 64, 128], "layers_per_block": 1},
    {"widths": [32, 64, 64], "layers_per_block": 2},
]


def measure(config: dict, repeats: int) -> dict:
    torch.manual_seed(0)
    net = ConditionalUNet(n_classes=10, channels=1, img_size=32, **config)
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    x, time_in = torch.randn(128, 1, 32, 32), torch.rand(128) * 1000
    labels = torch.randint(0, 11, (128,))
    steps = []
    for index in range(repeats + 2):
        start = time.perf_counter()
        loss = (net(x, time_in, labels) - x).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if index >= 2:
            steps.append(time.perf_counter() - start)
    net.eval()
    batch = torch.randn(200, 1, 32, 32)
    passes = []
    with torch.inference_mode():
        for index in range(repeats + 1):
            start = time.perf_counter()
            net(batch, torch.full((200,), 500.0), torch.randint(0, 10, (200,)))
            if index:
                passes.append(time.perf_counter() - start)
    return {
        **config,
        "parameters": sum(p.numel() for p in net.parameters()),
        "train_images_per_s": round(128 / statistics.median(steps), 1),
        "inference_images_per_s": round(200 / statistics.median(passes), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/results/denoiser_speed.json")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    rows = []
    for config in CONFIGS:
        rows.append(measure(config, args.repeats))
        print(json.dumps(rows[-1]), flush=True)
    report = {"machine": machine_description(), "rows": rows}
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
