"""Entry point of the assistant lab: one command runs the configured studies and writes
``report.md``, ``results.json`` and PNG plots into the run folder (and W&B, offline by default).

ganlab-assistant lab=compare_models
ganlab-assistant lab=full_study assistants=three_models backend=llama_cpp
"""

from __future__ import annotations

import json
import logging
import math
import platform
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from ganlab.assistant.assistant import build_assistants, close_all
from ganlab.assistant.report import write_text
from ganlab.assistant.studies import STUDIES, LabContext, check_studies
from ganlab.assistant.tracking import Tracker
from ganlab.errors import errors_as_one_line, one_line_errors
from ganlab.utils.config import check_overrides, register_resolvers
from ganlab.utils.mappings import plain_dict

log = logging.getLogger(__name__)
CONFIG_DIR = str(Path(__file__).parents[1] / "configs")
register_resolvers()


def _overrides() -> list[str]:
    """The command-line overrides of this run (none when called outside Hydra's runner)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _header(cfg: DictConfig, seconds: dict[str, float]) -> str:
    machine = (
        f"{platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}"
    )
    timing = ", ".join(f"{study} {s:.0f} s" for study, s in seconds.items())
    return (
        f"# Assistant lab report: {cfg.task_name}\n\n"
        f"Studies: {', '.join(seconds)} ({timing}). Backend: `{cfg.backend._target_}` "
        f"({OmegaConf.to_container(cfg.backend)}). Machine: {machine}. "
        f"Reproduce: `ganlab-assistant {' '.join(_overrides())}` "
        "(the full config is in `.hydra/config.yaml`).\n"
    )


def strict_json(value: Any) -> Any:
    """NaN/inf (an unscorable item, a metric with no samples) become null: valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(item) for item in value]
    return value


def run_lab(cfg: DictConfig) -> Path:
    """Run ``cfg.studies`` in order; returns the report's path."""
    studies = check_studies(cfg.studies)
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    assistants = build_assistants(cfg.assistants, cfg.backend, cfg.models_dir)
    tracker = Tracker(
        cfg.wandb.enabled,
        run_dir,
        cfg.wandb.project,
        cfg.task_name,
        plain_dict(cfg),
        cfg.wandb.offline,
    )
    context = LabContext(cfg, assistants, run_dir, tracker)
    sections, data, seconds = [], {}, {}
    try:
        for name in studies:
            started = time.perf_counter()
            output = STUDIES[name](context)
            seconds[name] = time.perf_counter() - started
            sections.append(output.markdown)
            data[name] = output.data
            tracker.images(output.plots)
            log.info("study %s done in %.0f s", name, seconds[name])
    finally:
        close_all(assistants)
        for backend in context.extra_backends:
            backend.close()
        tracker.finish()
    data["seconds"] = seconds
    write_text(run_dir / "results.json", json.dumps(strict_json(data), indent=2, default=str))
    report = write_text(run_dir / "report.md", "\n".join([_header(cfg, seconds), *sections]))
    log.info("report: %s", report)
    return report


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="assistant_lab")
def _hydra_main(cfg: DictConfig) -> None:
    with errors_as_one_line():
        run_lab(cfg)


@one_line_errors
def main() -> None:
    import sys

    check_overrides(CONFIG_DIR, "assistant_lab", sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
