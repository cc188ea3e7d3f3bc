"""LightningModules: how networks, losses and optimisers are combined into a training step."""

from ganlab.models.mnist_gan_model import MNISTGANModel

__all__ = ["MNISTGANModel"]
