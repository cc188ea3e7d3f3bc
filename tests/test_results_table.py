"""scripts/results_table.py: one row per finished run, and the grid it draws is the model's."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from scripts.results_table import markdown, measure_run

from ganlab.generate import generate_images
from ganlab.images import grid, to_uint8
from ganlab.train import train


def test_a_finished_run_becomes_a_row_and_a_true_sample_grid(make_cfg, tiny_data_dir, tmp_path):
    cfg = make_cfg()
    train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    row = measure_run("tiny run", run_dir, tmp_path / "grids", str(tiny_data_dir), per_class=200)
    assert row["epochs"] == 1 and row["fit_seconds"] > 0 and row["samples"] == 2_000
    # Tiny look-alike files are not MNIST: judged by an evaluator of their own, marked weak.
    assert (row["dataset"], row["img_size"]) == ("mnist", 32)
    assert row["evaluator"]["pinned"] is False and row["evaluator"]["weak"] is True
    assert 0.0 <= row["conditional_accuracy"] <= 1.0 and row["fid"] > 0 and "kid" in row
    assert Path(row["grid"]).name == "tiny_run.png"
    drawn = np.asarray(Image.open(io.BytesIO(Path(row["grid"]).read_bytes())))
    pixels, _, _ = generate_images(run_dir / "checkpoints" / "last.ckpt", ["0-9"], 10, 0)
    assert np.array_equal(drawn, grid(to_uint8(pixels), 10)[:, :, 0])
    table = markdown([row]).splitlines()
    assert len(table) == 3 and table[2].startswith("| tiny run | mnist | 1 |")
    assert table[0].count("|") == table[1].count("|") == table[2].count("|")
