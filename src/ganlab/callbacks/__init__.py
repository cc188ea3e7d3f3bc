"""Lightning callbacks that turn a training run into pictures and numbers a person can read."""

from ganlab.callbacks.generation_quality import GenerationQualityCallback
from ganlab.callbacks.loss_curves import LossCurves
from ganlab.callbacks.progress_bar import RichProgressBar
from ganlab.callbacks.random_state import RandomState
from ganlab.callbacks.sample_grid import SampleGrid

__all__ = [
    "GenerationQualityCallback",
    "LossCurves",
    "RandomState",
    "RichProgressBar",
    "SampleGrid",
]
