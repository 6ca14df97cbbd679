"""Spectral embedding: points mapped to the leading eigenvectors of their nearest-neighbour graph, where k-means
finds clusters that are connected but not round (the manifold step of autoencoder + manifold + k-means
clustering)."""
import numpy as np

from .._core.threads import resolve_n_threads
from .._core.validation import check_features, check_int

__all__ = ["spectral_embedding"]


def spectral_embedding(X, n_components=10, n_neighbors=15, n_threads=None):
    """The normalized spectral embedding of the ``n_neighbors``-nearest-neighbour graph of ``X``.

    Builds the symmetric k-nearest-neighbour graph ``A`` (an edge where either point is among the other's
    nearest neighbours, weight 1), takes the ``n_components`` leading eigenvectors of ``D^-1/2 A D^-1/2``
    (``D``: the degrees) and scales each row to unit length (Ng, Jordan and Weiss's spectral clustering).
    k-means on the result finds clusters that follow the data's manifold: rings, moons, or the classes in an
    autoencoder's codes. Neighbours come from a k-d tree (scipy), so it suits low-dimensional data such as codes
    (tens of features); the eigenvectors come from ARPACK started from a fixed vector, so the result
    is deterministic.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_components : int, default=10
        Dimensions of the embedding (usually the number of clusters).
    n_neighbors : int, default=15
    n_threads : int or None
        Threads of the neighbour search.

    Returns
    -------
    ndarray of shape (n_samples, n_components), float64

    Examples
    --------
    >>> import numpy as np, fastnn
    >>> t = np.random.default_rng(0).uniform(0, 2 * np.pi, 400)
    >>> rings = np.r_[np.c_[np.cos(t[:200]), np.sin(t[:200])], 3 * np.c_[np.cos(t[200:]), np.sin(t[200:])]]
    >>> E = fastnn.cluster.spectral_embedding(rings, n_components=2, n_neighbors=10)
    >>> labels = fastnn.KMeans(2, random_state=0).fit_predict(E)
    >>> fastnn.metrics.clustering_accuracy(np.repeat([0, 1], 200), labels)
    1.0
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import eigsh
    from scipy.spatial import cKDTree

    X = check_features(X, "X", np.float64)
    n = X.shape[0]
    k = check_int(n_components, "n_components", minimum=1)
    nn = check_int(n_neighbors, "n_neighbors", minimum=1)
    if nn >= n:
        raise ValueError(f"n_neighbors={nn} must be less than the number of samples ({n})")
    if k >= n:
        raise ValueError(f"n_components={k} must be less than the number of samples ({n})")
    nt = resolve_n_threads(n_threads, "n_threads")
    _, idx = cKDTree(X).query(X, k=nn + 1, workers=nt)
    rows = np.repeat(np.arange(n), nn)
    cols = idx[:, 1:].ravel()  # the first neighbour is the point itself (or a duplicate of it)
    A = sp.csr_matrix((np.ones(n * nn), (rows, cols)), shape=(n, n))
    A = A.maximum(A.T)
    scale = sp.diags(1 / np.sqrt(np.asarray(A.sum(axis=1)).ravel()))
    # a fixed random start: a start vector such as all ones would miss repeated eigenvalues (disconnected parts)
    v0 = np.random.default_rng(0).uniform(0.5, 1.5, n)
    _, vectors = eigsh(scale @ A @ scale, k=k, which="LA", tol=1e-6, v0=v0)
    vectors = vectors[:, ::-1]  # the leading one first
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-300)
