"""Generator and discriminator networks; each file holds one family."""

from ganlab.networks.mlp import Discriminator, Generator, MLPDiscriminator, MLPGenerator
from ganlab.networks.spec import build_network, network_spec

__all__ = [
    "Discriminator",
    "Generator",
    "MLPDiscriminator",
    "MLPGenerator",
    "build_network",
    "network_spec",
]
