"""Generators: the contract every kind keeps (``conditional_generator``), the LightningModules
that train them, and their inference-side forms (``trained_gan``).

The LightningModules are imported on first use, so that loading a checkpoint to sample or
serve does not import Lightning.
"""

from typing import Any

from ganlab.models.conditional_generator import ConditionalImageGenerator, GeneratorCard

__all__ = ["ConditionalGANModel", "ConditionalImageGenerator", "GeneratorCard", "MNISTGANModel"]


def __getattr__(name: str) -> Any:
    if name in ("ConditionalGANModel", "MNISTGANModel"):
        from ganlab.models import conditional_gan

        return conditional_gan.ConditionalGANModel
    raise AttributeError(f"module 'ganlab.models' has no attribute {name!r}")
