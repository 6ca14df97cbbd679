"""``fastnn.autoencoder``: :class:`Autoencoder`. The code lives in :mod:`fastnn.models.autoencoder`."""
from .models.autoencoder import Autoencoder

__all__ = ["Autoencoder"]
