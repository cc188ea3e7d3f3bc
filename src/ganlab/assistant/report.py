"""The lab's report: markdown tables and PNG plots written into the run folder."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from ganlab.utils.atomic import atomic_path


def fmt(value: Any) -> str:
    """Numbers to 3 decimals, NaN as n/a, text with pipes and newlines escaped."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "_no rows_\n"
    columns = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(row.get(c, math.nan)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def quote(text: str, limit: int = 600) -> str:
    """A reply as a markdown block quote, cut to ``limit`` characters."""
    text = text if len(text) <= limit else text[:limit] + " …"
    return "\n".join("> " + line for line in (text.strip() or "(empty reply)").splitlines())


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)
    return path


def grouped_bars(
    rows: Sequence[Mapping[str, Any]],
    group: str,
    series: str,
    value: str,
    path: Path,
    title: str,
    ylabel: str,
) -> Path:
    """One bar per (group, series): e.g. suites on the x axis, one colour per assistant."""
    groups = list(dict.fromkeys(row[group] for row in rows))
    names = list(dict.fromkeys(row[series] for row in rows))
    width = 0.8 / max(len(names), 1)
    figure, axis = plt.subplots(figsize=(max(6, 1.3 * len(groups) * max(len(names), 1) / 2), 4))
    for index, name in enumerate(names):
        heights = [
            next((r[value] for r in rows if r[group] == g and r[series] == name), math.nan)
            for g in groups
        ]
        positions = [g + (index - (len(names) - 1) / 2) * width for g in range(len(groups))]
        axis.bar(positions, heights, width, label=name)
    axis.set_xticks(range(len(groups)), groups, rotation=20)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.legend(fontsize=8)
    axis.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def sweep_figure(
    rows: Sequence[Mapping[str, Any]], parameter: str, metrics: Sequence[str], path: Path
) -> Path:
    """One panel per metric against the values of one swept parameter."""
    chosen = [row for row in rows if row["parameter"] == parameter]
    labels = [str(row["value"]) for row in chosen]
    figure, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3))
    for axis, metric in zip(axes, metrics, strict=True):
        axis.plot(range(len(chosen)), [row[metric] for row in chosen], marker="o")
        axis.set_xticks(range(len(chosen)), labels)
        axis.set_xlabel(parameter)
        axis.set_title(metric)
        axis.grid(alpha=0.3)
    return _save(figure, path)


def write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
