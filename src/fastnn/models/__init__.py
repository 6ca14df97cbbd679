"""Models: :class:`~fastnn.models.sequential.Sequential`, a stack of layers, and
:class:`~fastnn.models.autoencoder.Autoencoder`, a Sequential that reproduces its inputs through a code layer."""
from .autoencoder import Autoencoder
from .sequential import Sequential

__all__ = ["Sequential", "Autoencoder"]
