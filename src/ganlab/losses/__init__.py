"""Adversarial losses. Each takes raw discriminator scores and returns scalar losses."""

from ganlab.losses.base import GANLoss
from ganlab.losses.hinge import HingeLoss
from ganlab.losses.least_squares import LeastSquaresLoss
from ganlab.losses.non_saturating import NonSaturatingLoss
from ganlab.losses.penalties import gradient_penalty, r1_penalty
from ganlab.losses.wasserstein import WassersteinGPLoss

__all__ = [
    "GANLoss",
    "HingeLoss",
    "LeastSquaresLoss",
    "NonSaturatingLoss",
    "WassersteinGPLoss",
    "gradient_penalty",
    "r1_penalty",
]
