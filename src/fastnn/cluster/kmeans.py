"""k-means clustering: Lloyd iterations in compiled code, bit-identical for any number of threads.

:class:`KMeans` follows scikit-learn's ``KMeans`` (parameters, fitted attributes, k-means++ seeding with
``2 + log(k)`` greedy candidates, ``tol`` relative to the data's mean variance, empty clusters moved to the
points farthest from their centers, a last assignment so that ``labels_`` match ``cluster_centers_``). Unlike
scikit-learn, whose threads merge partial sums in whatever order they finish, every sum here is taken in one
order, so the same seed gives the same clustering, bit for bit, whatever ``n_threads`` is.
"""
import contextlib
import math

import numpy as np

from .. import _kmeans
from .._core.estimator import Estimator
from .._core.registry import register
from .._core.threads import blas_single_thread, resolve_n_threads
from .._core.validation import check_features, check_float, check_int, check_sample_weight, warn_user

__all__ = ["KMeans"]


# Integer data (uint8 pixels, a memory-mapped file of them) is converted about this many bytes of rows at a time.
_CHUNK_BYTES = 32 << 20


def _dtype(X):
    """The floats an array is clustered in: float32 and float64 as they are, integers in float64 (scikit-learn's
    rule), converted a chunk of rows at a time."""
    return X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)


def _chunks(X, dtype=None):
    """``(first, stop, rows)`` of ``X`` in ``dtype`` (default its clustering dtype): the array itself when it has
    it, else converted chunks of about ``_CHUNK_BYTES``."""
    dtype = _dtype(X) if dtype is None else np.dtype(dtype)
    if X.dtype == dtype:
        yield 0, X.shape[0], X
        return
    step = max(1, _CHUNK_BYTES // (dtype.itemsize * max(1, X.shape[1])))
    for lo in range(0, X.shape[0], step):
        hi = min(lo + step, X.shape[0])
        yield lo, hi, np.ascontiguousarray(X[lo:hi], dtype=dtype)


def _lloyd_step(X, w, centers, labels, dist, sums, nt, exact=True):
    """``_kmeans.lloyd_step`` over the chunks of ``X``, their sums added in order."""
    part = None
    for lo, hi, rows in _chunks(X, centers.dtype):
        if lo == 0 and hi == X.shape[0]:
            _kmeans.lloyd_step(rows, w, centers, labels, dist, sums, nt, exact)
            return
        if part is None:
            part = np.empty_like(sums)
            sums[...] = 0
        _kmeans.lloyd_step(rows, None if w is None else w[lo:hi], centers, labels[lo:hi], dist[lo:hi], part, nt,
                           exact)
        sums += part


def _row_norms(X):
    return np.einsum("ij,ij->i", X, X, dtype=np.float64)


def _mean_variance(X, block=4096, dp=None):
    """The mean over features of each feature's variance, summed in float64 a block of rows at a time (no
    float64 copy of ``X``); with ``dp`` (a DataParallel), of every rank's rows."""
    n = X.shape[0]
    total = np.zeros(X.shape[1])
    for i in range(0, n, block):
        total += X[i:i + block].sum(axis=0, dtype=np.float64)
    if dp is not None:
        total, n = dp.sum(total), dp.sum([n])[0]
    mean = total / n
    sq = np.zeros(X.shape[1])
    for i in range(0, X.shape[0], block):
        sq += np.square(X[i:i + block] - mean).sum(axis=0)
    if dp is not None:
        sq = dp.sum(sq)
    return float(np.mean(sq / n))


def _kmeans_plusplus(X, k, x_norms, rng, weights):
    """scikit-learn's greedy k-means++: each new center is the best of ``2 + log(k)`` candidates drawn with
    probability proportional to the (weighted) squared distance to the nearest center so far."""
    n = X.shape[0]
    trials = 2 + int(math.log(k))
    centers = np.empty((k, X.shape[1]), dtype=_dtype(X))
    first = rng.choice(n, p=weights / weights.sum())
    centers[0] = X[first]

    def sq_dist(points):
        # the products in X's own dtype: a float64 copy of X per draw would cost its whole size again
        products = np.concatenate([(points @ rows.T).astype(np.float64) for _, _, rows in _chunks(X)], axis=1)
        d = x_norms[None, :] - 2 * products + _row_norms(points)[:, None]
        return np.maximum(d, 0)

    closest = sq_dist(centers[:1])[0]
    pot = float(closest @ weights)
    for c in range(1, k):
        cumulative = np.cumsum(closest * weights)
        values = rng.uniform(size=trials) * pot
        ids = np.minimum(np.searchsorted(cumulative, values), n - 1)
        candidates = np.minimum(closest, sq_dist(X[ids]))
        pots = candidates @ weights
        best = int(np.argmin(pots))
        pot, closest = float(pots[best]), candidates[best]
        centers[c] = X[ids[best]]
    return centers


@register
class KMeans(Estimator):
    """k-means clustering (Lloyd's algorithm) with scikit-learn's parameters and fitted attributes.

    Parameters
    ----------
    n_clusters : int, default=8
    init : {'k-means++', 'random'} or array of shape (n_clusters, n_features), default='k-means++'
    n_init : 'auto' or int, default='auto'
        Runs from different seeds; the lowest inertia wins. 'auto': 1 for k-means++ and an array, 10 for random.
    max_iter : int, default=300
    tol : float, default=1e-4
        Convergence when the centers' squared movement summed over clusters falls to ``tol`` times the mean
        variance of the features (scikit-learn's rule).
    random_state : int or None, default=None
    n_threads : int or None, default=None
        Threads to use (None: every core, within OpenMP's limit, e.g. in a joblib worker); results are the same for
        any value.
    algorithm : {'lloyd'}, default='lloyd'
        scikit-learn's name of the algorithm, Lloyd's iterations: the only one here (scikit-learn's ``'elkan'``
        is refused with a ValueError).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
        Sum of (weighted) squared distances of the samples to their centers.
    n_iter_ : int
    n_features_in_ : int

    Notes
    -----
    ``fastnn.save(km, path)`` writes the parameters and fitted attributes in fastnn's safe file format (no
    pickle) and ``fastnn.load(path)`` gives back a KMeans that predicts and transforms bit for bit as this one.

    Examples
    --------
    >>> import numpy as np, fastnn
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> km = fastnn.KMeans(n_clusters=2, random_state=0).fit(X)
    >>> sorted(np.bincount(km.labels_).tolist())
    [2, 2]
    """

    _estimator_type = "clusterer"
    _fitted_attr = "cluster_centers_"

    #: The kind of file fastnn.save writes it to (see fastnn._core.registry).
    _file_format = "fastnn-estimator"

    def __init__(self, n_clusters=8, init="k-means++", n_init="auto", max_iter=300, tol=1e-4, random_state=None,
                 n_threads=None, algorithm="lloyd"):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.n_threads = n_threads
        self.algorithm = algorithm

    def __repr__(self):
        changed = {k: v for k, v in self.get_params().items() if not _same(v, _DEFAULTS[k])}
        return "KMeans(" + ", ".join(f"{k}={v!r}" for k, v in changed.items()) + ")"

    # -- files (fastnn.save / fastnn.load, see fastnn.saving.estimators) ----------------------------------------

    def _file_attributes(self):
        """The fitted attributes a file keeps."""
        out = {k: getattr(self, k) for k in ("n_features_in_", "cluster_centers_", "labels_", "inertia_", "n_iter_")}
        if hasattr(self, "feature_names_in_"):
            out["feature_names_in_"] = self.feature_names_in_
        return out

    def _restore_attributes(self, attrs):
        """Set the fitted attributes read from a file, each checked (against the others and the parameters)
        first."""
        k = check_int(self.n_clusters, "n_clusters", minimum=1)
        n_features = attrs.integer("n_features_in_", minimum=1)
        centers = attrs.array("cluster_centers_", "f", (k, n_features))
        labels = attrs.array("labels_", "iu", (None,))
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"attribute labels_ holds labels outside 0..{k - 1}")
        inertia = attrs.real("inertia_")
        n_iter = attrs.integer("n_iter_")
        names = attrs.feature_names(n_features)
        attrs.done()
        self.n_features_in_, self.cluster_centers_ = n_features, np.ascontiguousarray(centers)
        self.labels_, self.inertia_, self.n_iter_ = labels.astype(np.int64), inertia, n_iter
        if names is not None:
            self.feature_names_in_ = names

    # -- fitting ----------------------------------------------------------------------------------------------

    def _check_params(self, X):
        if not (isinstance(self.algorithm, str) and self.algorithm == "lloyd"):
            raise ValueError(f"algorithm must be 'lloyd' (Lloyd's iterations, the only algorithm of fastnn's KMeans), "
                             f"got {self.algorithm!r}")
        k = check_int(self.n_clusters, "n_clusters", minimum=1)
        if k > X.shape[0]:
            raise ValueError(f"n_clusters={k} is more than the {X.shape[0]} samples")
        max_iter = check_int(self.max_iter, "max_iter", minimum=1)
        tol = check_float(self.tol, "tol", low=0.0)
        init = self.init
        if isinstance(init, str):
            if init not in ("k-means++", "random"):
                raise ValueError(f"init must be 'k-means++', 'random' or an array, got {init!r}")
        else:
            init = check_features(init, "init", _dtype(X), X.shape[1], fitted_by="X has")
            if init.shape[0] != k:
                raise ValueError(f"init has {init.shape[0]} centers but n_clusters={k}")
        if self.n_init == "auto":
            n_init = 10 if isinstance(init, str) and init == "random" else 1
        else:
            n_init = check_int(self.n_init, "n_init", minimum=1)
        if not isinstance(init, str) and n_init != 1:
            warn_user(f"init is an array, so n_init={n_init} runs would start alike; doing one run", RuntimeWarning)
            n_init = 1
        seed = self.random_state
        if seed is not None and not isinstance(seed, np.random.Generator):
            seed = check_int(seed, "random_state", minimum=0)
        return k, max_iter, tol, init, n_init, np.random.default_rng(seed)

    def fit(self, X, y=None, sample_weight=None, distribute=None):
        """Cluster ``X`` (array-like of shape (n_samples, n_features)); ``y`` is ignored.

        With ``distribute`` (a :class:`fastnn.distributed.DataParallel`), the processes of an MPI job share the
        work: each rank assigns its block of the rows (or, with ``local_data=True``, its own rows), and the
        clusters' sums and counts are summed over the ranks in a fixed order, so every rank ends with the same
        centers - those of one process up to the order of the sums (with the same data on every rank), and
        ``labels_`` of all the rows (of the rank's own rows with ``local_data``). The seeding runs on rank 0
        (on its own rows with ``local_data``) and is sent to the others.

        Returns
        -------
        self
        """
        if distribute is not None and not hasattr(distribute, "_kmeans_part"):
            raise TypeError(f"distribute must be a fastnn.distributed.DataParallel, got {type(distribute).__name__}")
        with contextlib.nullcontext() if distribute is None else distribute.guard():
            X = self._validate(X, reset=True, keep_integers=True)  # integers: converted a chunk at a time
            weights = np.ones(X.shape[0]) if sample_weight is None else \
                check_sample_weight(sample_weight, "sample_weight", X.shape[0])
            if not weights.sum() > 0 and distribute is None:
                raise ValueError("sample_weight is zero for every sample: nothing to cluster")
            k, max_iter, tol, init, n_init, rng = self._check_params(X)
            nt = resolve_n_threads(self.n_threads, "n_threads")
            if distribute is not None:
                nt = distribute.threads(self.n_threads, nt)
            best = self._fit_runs(X, weights, k, max_iter, tol, init, n_init, rng, nt, distribute)
        self.cluster_centers_, self.labels_, self.inertia_, self.n_iter_ = best
        self.n_features_in_ = X.shape[1]
        found = len(np.unique(self.labels_ if distribute is None or not distribute.local_data else
                              distribute._gather_rows(np.unique(self.labels_))))
        if found < k:  # scikit-learn's check: fewer distinct points than clusters
            warn_user(f"only {found} distinct clusters found for n_clusters={k}: the data may hold fewer distinct "
                      "points than clusters", RuntimeWarning)
        return self

    def _fit_runs(self, X, weights, k, max_iter, tol, init, n_init, rng, nt, dp):
        """The best of ``n_init`` runs: ``(centers, labels, inertia, n_iter)``. With ``dp``, each rank runs
        Lloyd's iterations on its part of the rows (``X`` holds every rank's rows unless ``dp.local_data``)."""
        if dp is None:
            part, offset = (X, weights), 0
            tol = tol * _mean_variance(X) if tol else 0.0
        else:
            part, offset, tol = dp._kmeans_part(X, weights, tol, _mean_variance)
        x_norms = _row_norms(X) if isinstance(init, str) and init == "k-means++" and \
            (dp is None or dp.rank == 0) else None
        best = None
        with blas_single_thread():
            for _ in range(n_init):
                if dp is not None and dp.rank != 0:
                    centers = None  # rank 0's seeding, sent below
                elif isinstance(init, str):
                    if init == "k-means++":
                        centers = _kmeans_plusplus(X, k, x_norms, rng, weights)
                    else:
                        centers = X[rng.choice(X.shape[0], k, replace=False)].astype(_dtype(X))
                else:
                    centers = init.copy()
                if dp is not None:
                    centers = dp.broadcast(centers)
                run = self._lloyd(*part, centers, max_iter, tol, nt, dp, offset)
                if best is None or run[2] < best[2]:
                    best = run
        if dp is not None and not dp.local_data:
            best = best[:1] + (dp._gather_rows(best[1]),) + best[2:]
        return best

    def _lloyd(self, X, weights, centers, max_iter, tol, nt, dp=None, offset=0):
        """Lloyd's iterations from ``centers`` on the rows ``X`` (this rank's, the first at ``offset`` among all
        ranks' rows, with ``dp``)."""
        n, d = X.shape
        k = centers.shape[0]
        w = weights.astype(_dtype(X))
        labels = np.empty(n, dtype=np.int32)
        dist = np.empty(n, dtype=_dtype(X))
        sums = np.empty((k, d), dtype=np.float64)
        wp = None if np.all(weights == 1) else w
        previous = np.full(n, -1, dtype=np.int32)
        n_iter = 0
        for n_iter in range(1, max_iter + 1):
            _lloyd_step(X, wp, centers, labels, dist, sums, nt, False)
            moved = not np.array_equal(labels, previous)
            counts = np.bincount(labels, weights=weights, minlength=k)
            if dp is not None:  # the sums, counts and moves of every rank
                moved = dp._sum_clusters(sums, counts, moved)
            if not moved:  # nothing moved: the centers are final (scikit-learn's rule)
                break
            previous[:] = labels
            empty = np.flatnonzero(counts == 0)
            if empty.size:  # scikit-learn's rule: the points farthest from their centers start the empty clusters
                _lloyd_step(X, wp, centers, labels, dist, sums if dp is None else np.empty_like(sums), nt,
                                   True)  # the distances, this once
                for c, (i, row, wi, old) in zip(empty, _farthest(X, weights, labels, dist, empty.size, dp, offset)):
                    sums[old] -= wi * row
                    counts[old] -= wi
                    sums[c] = wi * row
                    counts[c] = wi
                    if 0 <= i - offset < n:
                        labels[i - offset] = c
            new = (sums / counts[:, None]).astype(_dtype(X))
            shift = float(np.sum((new.astype(np.float64) - centers) ** 2))
            centers = new
            if shift <= tol:
                break
        _lloyd_step(X, wp, centers, labels, dist, sums, nt)  # labels that match the final centers
        inertia = float(dist.astype(np.float64) @ weights)
        if dp is not None:
            inertia = float(dp.sum([inertia])[0])
        return centers, labels.astype(np.int64), inertia, n_iter

    def _fitted(self, X):
        return self._validate(X, dtype=self.cluster_centers_.dtype if self.__sklearn_is_fitted__() else None,
                              keep_integers=True)

    def predict(self, X):
        """Index of the nearest center for each sample."""
        return self._predict(self._fitted(X))

    def _predict(self, X):
        labels = np.empty(X.shape[0], dtype=np.int32)
        dist = np.empty(X.shape[0], dtype=self.cluster_centers_.dtype)
        sums = np.empty(self.cluster_centers_.shape, dtype=np.float64)
        with blas_single_thread():
            _lloyd_step(X, None, self.cluster_centers_, labels, dist, sums,
                        resolve_n_threads(self.n_threads, "n_threads"))
        return labels.astype(np.int64)

    def fit_predict(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X):
        """Euclidean distances of each sample to every center, shape (n_samples, n_clusters)."""
        return self._transform(self._fitted(X))

    def _transform(self, X):
        C = self.cluster_centers_
        products = np.concatenate([(rows @ C.T).astype(np.float64) for _, _, rows in _chunks(X, C.dtype)])
        d = _row_norms(X)[:, None] - 2 * products + _row_norms(C)[None, :]
        return np.sqrt(np.maximum(d, 0)).astype(C.dtype)

    def fit_transform(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X, y=None, sample_weight=None):
        """Minus the inertia of ``X`` under the fitted centers."""
        X = self._fitted(X)
        weights = np.ones(X.shape[0]) if sample_weight is None else \
            check_sample_weight(sample_weight, "sample_weight", X.shape[0])
        d = self._transform(X).astype(np.float64) ** 2
        return -float(d[np.arange(X.shape[0]), self._predict(X)] @ weights)


_DEFAULTS = dict(n_clusters=8, init="k-means++", n_init="auto", max_iter=300, tol=1e-4, random_state=None,
                 n_threads=None, algorithm="lloyd")


def _farthest(X, weights, labels, dist, m, dp, offset):
    """The ``m`` points farthest from their centers, farthest first (ties by index): ``(index, row, weight,
    label)`` each; with ``dp``, over every rank's rows (indices among all of them)."""
    far = np.argsort(-dist.astype(np.float64), kind="stable")[:m]
    found = [(offset + int(i), X[i].astype(_dtype(X)), weights[i], int(labels[i]), float(dist[i])) for i in far]
    if dp is not None:
        found = [f for part in dp.comm.allgather(found) for f in part]
        found.sort(key=lambda f: (-f[4], f[0]))
        found = found[:m]
    return [f[:4] for f in found]


def _same(a, b):
    return type(a) is type(b) and (a == b if not isinstance(a, np.ndarray) else False)
