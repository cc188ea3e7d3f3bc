"""Collect finished training runs into docs/results.md's table (and a JSON next to it).

    python scripts/results_table.py NAME=RUN_DIR [NAME=RUN_DIR ...] \
        --out docs/results/quality.json --images docs/images/results

For each run: the wall-clock of ``trainer.fit`` and the epoch count from ``summary.json``, then
``ganlab-evaluate`` on ``checkpoints/last.ckpt`` (``--per-class`` images per class, 1,000 by
default, seed 0, against the test split of the data set the generator was trained on, at its
image size) and a sample grid of 10 images per class. Every row is measured the same way, so
rows compare one to one; a floor row per data set and size is real images scored alike.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch

from ganlab.errors import ConfigError, one_line_errors
from ganlab.evaluate import evaluate
from ganlab.generate import generate_images
from ganlab.images import encode_png, to_uint8
from ganlab.utils.atomic import atomic_path
from ganlab.utils.trainer import machine_description

COLUMNS = (
    "conditional_accuracy",
    "fid",
    "kid",
    "intra_fid",
    "inception_score",
    "precision",
    "recall",
)


def measure_run(name: str, run_dir: Path, images_dir: Path, data_dir: str, per_class: int) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    report = evaluate(checkpoint, data_dir=data_dir, per_class=per_class, seed=0)
    pixels, _, _ = generate_images(checkpoint, None, 10, 0)
    grid = images_dir / f"{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')}.png"
    with atomic_path(grid) as tmp:
        tmp.write_bytes(encode_png(to_uint8(pixels), 10))
    return {
        "name": name,
        "dataset": report["dataset"],
        "evaluator": report["evaluator"],
        "run_dir": str(run_dir),
        "epochs": summary["epochs"],
        "fit_seconds": summary["fit_seconds"],
        "grid": str(grid),
        **{key: report[key] for key in COLUMNS},
        "img_size": report["reference"]["img_size"],
        "samples": report["samples"],
    }


def markdown(rows: list[dict]) -> str:
    head = (
        "| experiment | data set | epochs | fit | cond. acc. | FID | KID | intra-FID "
        "| IS | precision | recall |"
    )
    lines = [head, "|" + "---|" * 11]
    for row in rows:
        fit = f"{row['fit_seconds']:.0f} s" if row.get("fit_seconds") else "-"
        lines.append(
            f"| {row['name']} | {row['dataset']} | {row.get('epochs', '-')} | {fit} "
            f"| {row['conditional_accuracy'] * 100:.2f} % | {row['fid']:.2f} "
            f"| {row['kid']:.3g} | {row['intra_fid']:.2f} | {row['inception_score']:.2f} "
            f"| {row['precision']:.3f} | {row['recall']:.3f} |"
        )
    return "\n".join(lines)


@one_line_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR")
    parser.add_argument("--out", default="docs/results/quality.json")
    parser.add_argument("--images", default="docs/images/results")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--per-class", type=int, default=1000, help="generated images per class")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    for item in args.runs:
        name, sep, run_dir = item.partition("=")
        if not sep or not Path(run_dir, "summary.json").is_file():
            raise ConfigError(f"{item!r}: expected NAME=RUN_DIR of a finished run")
        row = measure_run(name, Path(run_dir), Path(args.images), args.data_dir, args.per_class)
        rows.append(row)
        print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    for dataset, size in sorted({(row["dataset"], row["img_size"]) for row in rows}):
        floor = evaluate(
            None, args.data_dir, args.per_class, 0, floor=True, img_size=size, dataset=dataset
        )
        name = f"floor: real {dataset} images, {size} px"
        rows.append({"name": name, "dataset": dataset, **floor["floor"]})
    machine = machine_description()
    report = {"machine": machine, "rows": rows}
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
