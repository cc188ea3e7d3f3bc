"""Adversarial losses. Each takes raw discriminator scores and returns scalar losses."""

from ganlab.losses.base import GANLoss
from ganlab.losses.least_squares import LeastSquaresLoss
from ganlab.losses.non_saturating import NonSaturatingLoss

__all__ = ["GANLoss", "LeastSquaresLoss", "NonSaturatingLoss"]
