"""GAN lab: conditional GANs trained with Lightning, configured with Hydra, logged to W&B."""

__version__ = "0.1.0"
