"""Dry run of a SLURM submission: print the batch script that ``hydra/launcher=slurm`` submits.

ganlab-slurm-dry-run trainer=ddp trainer.devices=4 trainer.num_nodes=2 hydra.launcher.partition=gpu

Composes the training config exactly as ``python run.py -m hydra/launcher=slurm ...`` would,
checks that the job is sized for Lightning (one task per GPU, positive counts), and renders the
``sbatch`` script with submitit's own template, so nothing needs ``sbatch`` or ``srun`` here.
The template is a private function of submitit (pinned in constraints.txt); the test suite
renders a script on every run, so a submitit change shows up there first.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

from ganlab.errors import ConfigError, is_integer, one_line_errors
from ganlab.utils.config import check_overrides, normalise_argv
from ganlab.utils.mappings import plain_dict

# Launcher keys that configure submitit itself, not the sbatch script.
_SUBMITIT_ONLY = ("_target_", "submitit_folder", "max_num_timeout")


def compose_launcher(overrides: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The resolved ``hydra.launcher`` section and the task overrides, for ``overrides``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    from ganlab.train import CONFIG_DIR

    overrides = [*overrides, "hydra/launcher=slurm"]
    check_overrides(CONFIG_DIR, "train", overrides)
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    launcher = plain_dict(cfg.hydra.launcher)
    return launcher, list(cfg.hydra.overrides.task)


def check_sizes(launcher: dict[str, Any]) -> None:
    for key, source in (
        ("nodes", "trainer.num_nodes"),
        ("tasks_per_node", "trainer.devices"),
        ("gpus_per_node", "trainer.devices"),
    ):
        value = launcher.get(key)
        if not is_integer(value) or value < 1:
            raise ConfigError(
                f"hydra.launcher.{key}={value!r} (from {source}) must be a positive number of "
                f"{'nodes' if key == 'nodes' else 'GPUs per node'} for SLURM, "
                f"e.g. {source}={2 if key == 'nodes' else 4}"
            )


def sbatch_script(launcher: dict[str, Any]) -> str:
    """The sbatch file submitit writes for ``launcher`` (a resolved ``hydra.launcher``)."""
    from submitit.slurm import slurm

    to_sbatch = slurm.SlurmExecutor._equivalence_dict()
    # str(): submitit types its names as a TypedDict, whose .get() mypy types as object.
    params = {
        str(to_sbatch.get(key, key)): value
        for key, value in launcher.items()
        if key not in _SUBMITIT_ONLY and value is not None
    }
    if "mem" in params:
        params["mem"] = slurm._convert_mem(params["mem"])
    folder = str(launcher["submitit_folder"])
    command = f"{shlex.quote(sys.executable)} -u -m submitit.core._submit {shlex.quote(folder)}"
    return slurm._make_sbatch_string(command=command, folder=folder, **params)


@one_line_errors
def main() -> None:
    """Console script: print the batch script and the overrides each task would get."""
    overrides = normalise_argv()[1:]
    launcher, task_overrides = compose_launcher(overrides)
    check_sizes(launcher)
    print(sbatch_script(launcher))
    tasks = launcher["nodes"] * launcher["tasks_per_node"]
    print(f"# {tasks} tasks (one per GPU) train one DDP run with these overrides:")
    print("#   " + " ".join(shlex.quote(o) for o in task_overrides))


if __name__ == "__main__":
    main()
