"""The assignment's name for the conditional GAN module, which trains on any data set."""

from ganlab.models.conditional_gan import ConditionalGANModel

MNISTGANModel = ConditionalGANModel

__all__ = ["MNISTGANModel"]
