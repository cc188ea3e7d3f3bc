"""Augmentations applied inside the training step (differentiable, on the model's device)."""

from ganlab.augmentations.diff_augment import DiffAugment

__all__ = ["DiffAugment"]
