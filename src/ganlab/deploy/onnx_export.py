"""Export the generator to a single ONNX file and prove it matches PyTorch.

The graph takes ``noise`` (float32 [N, latent_dim]) and ``labels`` (int64 [N]) and returns
``images`` (float32 [N, C, H, W]); N is dynamic. Export uses torch's dynamo-based exporter. The
file is only put in place after ONNX Runtime reproduces PyTorch's output within ``tolerance`` for
every batch size in ``parity_batch_sizes``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import numbers
import os
import warnings
from typing import Any

import numpy as np

from ganlab.deploy.backends import ONNX_METADATA_KEY, OnnxRuntimeBackend, TorchBackend
from ganlab.deploy.weights import describe
from ganlab.errors import ConfigError, GanLabError, OutputError
from ganlab.images import seeded_noise
from ganlab.models.conditional_generator import require_kind
from ganlab.models.trained_gan import TrainedGAN
from ganlab.utils.atomic import atomic_path, check_writable_target

DEFAULT_PARITY_BATCHES = (1, 7, 64, 1024)
DEFAULT_TOLERANCE = 1e-5
# The parity check runs both runtimes on each batch: a million images would take gigabytes and
# minutes for nothing a batch of 16,384 does not already show.
MAX_PARITY_BATCH = 16_384
OPSET = 18


class ParityError(GanLabError):
    """The exported model does not reproduce PyTorch's output."""


def parity_report(
    reference: TorchBackend, candidate: OnnxRuntimeBackend, batch_sizes: tuple[int, ...]
) -> dict[str, float]:
    """Largest absolute difference per batch size, on seeded noise and cycling labels."""
    info = reference.info
    report = {}
    for size in batch_sizes:
        noise = seeded_noise(size, info.latent_dim, seed=size)
        labels = np.arange(size, dtype=np.int64) % info.n_classes
        difference = np.abs(reference.run(noise, labels) - candidate.run(noise, labels)).max()
        report[str(size)] = float(difference)
    return report


def check_parity_options(parity_batch_sizes: tuple[int, ...], tolerance: float) -> None:
    """A NaN tolerance would pass every model (no difference is greater than NaN); a negative
    one none. Batch sizes are positive and bounded."""
    sizes = list(parity_batch_sizes)
    if not sizes or not all(
        isinstance(size, numbers.Integral)
        and not isinstance(size, bool)
        and 1 <= size <= MAX_PARITY_BATCH
        for size in sizes
    ):
        raise ConfigError(
            f"parity batch sizes {sizes} must be positive integers of at most {MAX_PARITY_BATCH}"
        )
    if (
        not isinstance(tolerance, int | float)
        or isinstance(tolerance, bool)
        or not math.isfinite(tolerance)
        or tolerance < 0
    ):
        raise ConfigError(
            f"--tolerance {tolerance!r:.40} must be a finite number >= 0 (the largest absolute "
            "difference allowed between ONNX Runtime and PyTorch)"
        )


def export_onnx(
    source: str | os.PathLike,
    out: str | os.PathLike,
    parity_batch_sizes: tuple[int, ...] = DEFAULT_PARITY_BATCHES,
    tolerance: float = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """Export ``source`` (checkpoint or weights folder) to ``out``; return the parity report."""
    import onnx
    import torch

    check_parity_options(parity_batch_sizes, tolerance)
    out = check_writable_target(out)  # refused now, not after the export
    reference = TorchBackend(source)
    info = reference.info
    require_kind(info.card, "gan", "ganlab-export onnx", str(source))
    assert isinstance(reference.model, TrainedGAN)
    generator = reference.model.network
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    example = (
        torch.zeros(2, info.latent_dim),
        torch.zeros(2, dtype=torch.int64),
    )
    # The exporter narrates its progress on stdout; the command's output is the report alone.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            generator,
            example,
            dynamo=True,
            opset_version=OPSET,
            input_names=["noise", "labels"],
            output_names=["images"],
            dynamic_shapes={"noise": {0: batch}, "labels": {0: batch}},
            verbose=False,
        )
    assert program is not None  # the dynamo exporter always returns its ONNXProgram
    model = program.model_proto
    description = describe(reference.model, str(source))
    entry = model.metadata_props.add()
    entry.key, entry.value = ONNX_METADATA_KEY, json.dumps(description)
    onnx.checker.check_model(model)

    try:
        with atomic_path(out) as tmp:
            onnx.save_model(model, str(tmp))
            candidate = OnnxRuntimeBackend(tmp)
            report = parity_report(reference, candidate, tuple(parity_batch_sizes))
            worst = max(report.values())
            if worst > tolerance:
                raise ParityError(
                    f"ONNX output differs from PyTorch by {worst:.2e} (> {tolerance:.0e}); "
                    f"per batch size: {report}; {out} was not written"
                )
    except OSError as error:  # named after the target, not the temporary file it happened in
        raise OutputError(
            f"cannot write {out.name} in {out.parent}: {error.strerror or error}"
        ) from error
    return {"path": str(out), "opset": OPSET, "max_abs_diff": report, "tolerance": tolerance}
