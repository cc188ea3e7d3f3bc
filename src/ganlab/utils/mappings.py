"""Config sections as plain dicts, light enough for the assistant's command-line tools."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf


def plain_dict(values: Mapping[str, Any]) -> dict[str, Any]:
    """A resolved copy of a DictConfig, made of plain dicts, lists and scalars, to edit and pass
    on as keyword arguments; any other mapping is copied as it is."""
    if not isinstance(values, DictConfig):
        return dict(values)
    container = OmegaConf.to_container(values, resolve=True)
    assert isinstance(container, dict)  # a DictConfig always converts to a dict
    # OmegaConf allows int, enum and bytes keys too; the lab's YAML configs only use strings.
    return cast(dict[str, Any], container)
