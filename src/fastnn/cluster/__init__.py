"""Clustering: :class:`~fastnn.cluster.kmeans.KMeans` (Lloyd iterations in compiled code, bit-identical for any
number of threads) and :func:`~fastnn.cluster.spectral.spectral_embedding` (the manifold step before k-means)."""
from .kmeans import KMeans
from .spectral import spectral_embedding

__all__ = ["KMeans", "spectral_embedding"]
