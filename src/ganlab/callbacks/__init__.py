"""Lightning callbacks that turn a training run into pictures a person can look at."""

from ganlab.callbacks.conditional_accuracy import ConditionalAccuracy
from ganlab.callbacks.loss_curves import LossCurves
from ganlab.callbacks.sample_grid import SampleGrid

__all__ = ["ConditionalAccuracy", "LossCurves", "SampleGrid"]
