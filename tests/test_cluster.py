"""KMeans: Lloyd iterations against scikit-learn's, thread-count invariance, weights, empty clusters, errors."""
import numpy as np
import pytest

import fastnn

sklearn_cluster = pytest.importorskip("sklearn.cluster")


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return load_digits().data


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-9), (np.float32, 1e-3)])
def test_lloyd_equals_scikit_learn_from_the_same_start(digits, dtype, tol):
    X = digits.astype(dtype)
    init = X[np.random.default_rng(0).choice(len(X), 10, replace=False)]
    ours = fastnn.KMeans(10, init=init, n_init=1, tol=1e-6, algorithm="lloyd").fit(X)
    theirs = sklearn_cluster.KMeans(10, init=init, n_init=1, tol=1e-6, algorithm="lloyd").fit(X)
    assert ours.get_params()["algorithm"] == theirs.get_params()["algorithm"] == "lloyd"
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=tol, atol=tol)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=tol)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.transform(X[:50]), theirs.transform(X[:50]), rtol=tol * 10, atol=tol * 10)
    assert ours.score(X) == pytest.approx(theirs.score(X), rel=tol)


def test_kmeans_plus_plus_is_as_good_as_scikit_learns(digits):
    ours = [fastnn.KMeans(10, random_state=s).fit(digits).inertia_ for s in range(10)]
    theirs = [sklearn_cluster.KMeans(10, random_state=s).fit(digits).inertia_ for s in range(10)]
    assert np.mean(ours) <= 1.02 * np.mean(theirs)


def test_identical_for_any_thread_count(digits, many_cores):
    X = np.vstack([digits] * 3).astype(np.float32)
    runs = [fastnn.KMeans(12, random_state=3, n_threads=nt).fit(X) for nt in (1, 2, 3)]
    for run in runs[1:]:
        np.testing.assert_array_equal(run.cluster_centers_, runs[0].cluster_centers_)
        np.testing.assert_array_equal(run.labels_, runs[0].labels_)
        assert run.inertia_ == runs[0].inertia_


def test_integer_weights_equal_repeated_samples(rng):
    X = rng.normal(size=(60, 3))
    w = rng.integers(1, 4, 60)
    init = X[:4]
    a = fastnn.KMeans(4, init=init).fit(X, sample_weight=w)
    b = fastnn.KMeans(4, init=init).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-12)


def test_empty_clusters_are_restarted_from_far_points():
    X = np.array([[0.0], [0.1], [0.2], [10.0], [10.1]])
    km = fastnn.KMeans(3, init=np.array([[0.1], [100.0], [10.0]])).fit(X)
    assert sorted(np.bincount(km.labels_, minlength=3).tolist()) == [1, 2, 2]
    assert np.all(np.isfinite(km.cluster_centers_))


def test_reproducible_with_a_seed_and_fitted_attributes(digits):
    a = fastnn.KMeans(5, random_state=1).fit(digits)
    b = fastnn.KMeans(5, random_state=1).fit(digits)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.n_features_in_ == 64 and a.n_iter_ >= 1 and a.labels_.shape == (len(digits),)
    np.testing.assert_array_equal(a.fit_predict(digits), a.labels_)
    assert a.get_params()["n_clusters"] == 5 and repr(a) == "KMeans(n_clusters=5, random_state=1)"


@pytest.mark.parametrize("kwargs, X, exc, match", [
    (dict(n_clusters=0), np.zeros((5, 2)), ValueError, "n_clusters must be >= 1"),
    (dict(n_clusters=6), np.zeros((5, 2)), ValueError, "more than the 5 samples"),
    (dict(n_clusters=2, init="kmeans"), np.zeros((5, 2)), ValueError, "init must be"),
    (dict(n_clusters=2, init=np.zeros((3, 2))), np.zeros((5, 2)), ValueError, "init has 3 centers"),
    (dict(n_clusters=2, init=np.zeros((2, 3))), np.zeros((5, 2)), ValueError, "init has 3 features"),
    (dict(), np.array([[np.nan, 0.0]] * 9), ValueError, "NaN"),
    (dict(max_iter=0), np.zeros((9, 2)), ValueError, "max_iter"),
    (dict(algorithm="elkan"), np.zeros((9, 2)), ValueError, "algorithm must be 'lloyd'.*got 'elkan'"),
    (dict(algorithm="auto"), np.zeros((9, 2)), ValueError, "algorithm must be 'lloyd'"),
])
def test_bad_input(kwargs, X, exc, match):
    km = fastnn.KMeans(**kwargs)
    with pytest.raises(exc, match=match):
        km.fit(X)
    assert not hasattr(km, "cluster_centers_")  # refused before anything changed


def test_predict_before_fit_and_feature_count():
    with pytest.raises(RuntimeError, match="not fitted"):
        fastnn.KMeans(2).predict(np.zeros((3, 2)))
    km = fastnn.KMeans(2, random_state=0).fit(np.random.default_rng(0).normal(size=(20, 2)))
    with pytest.raises(ValueError, match="3 features"):
        km.predict(np.zeros((3, 3)))


def test_fewer_distinct_points_than_clusters_warns():
    with pytest.warns(RuntimeWarning, match="distinct points"):
        fastnn.KMeans(3, random_state=0).fit(np.array([[1.0, 1.0]] * 4 + [[2.0, 2.0]] * 4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [1, 5, 6, 7, 40])  # up to 32 centers without BLAS (one to four at a time), then gemm
def test_lloyd_step_kernel_against_the_twin(dtype, weighted, k, rng):
    from fastnn import _kmeans
    from fastnn import _reference as ref

    X = rng.normal(size=(701, 37)).astype(dtype)  # an odd number of rows: the last one has no partner
    C = X[:k].copy()
    w = rng.uniform(0.5, 2, 701).astype(dtype) if weighted else None
    labels, dist, sums = np.empty(701, np.int32), np.empty(701, dtype), np.empty((k, 37))
    _kmeans.lloyd_step(X, w, C, labels, dist, sums, 2)
    r_labels, r_dist, r_sums = ref.lloyd_step(X, None if w is None else w.astype(np.float64), C)
    np.testing.assert_array_equal(labels, r_labels)
    np.testing.assert_allclose(dist, r_dist, rtol=1e-5 if dtype == np.float32 else 1e-12)
    # float32 rows are summed 64 at a time in float32 before the float64 sums: errors of a few float32 epsilons of
    # the magnitudes summed, which matter where positive and negative values cancel
    np.testing.assert_allclose(sums, r_sums, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-4 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_same_iterations_as_scikit_learn_on_data_without_ties(seed):
    """On continuous data every step matches scikit-learn's: labels, centers, inertia to 1e-10 relative and the
    iteration count. (On integer data such as the digits, distances tie exactly and the two may break a tie
    differently on the way, reaching the same centers in a different number of steps.)"""
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(loc=rng.normal(scale=3, size=20), size=(300, 20)) for _ in range(8)])
    init = X[np.random.default_rng(seed).choice(len(X), 8, replace=False)]
    ours = fastnn.KMeans(8, init=init, n_init=1).fit(X)
    theirs = sklearn_cluster.KMeans(8, init=init, n_init=1, algorithm="lloyd").fit(X)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-10, atol=1e-12)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-10)


def _rings(rng, n=300):
    t = rng.uniform(0, 2 * np.pi, 2 * n)
    r = np.repeat([1.0, 3.0], n)
    X = np.c_[r * np.cos(t), r * np.sin(t)] + rng.normal(scale=0.05, size=(2 * n, 2))
    return X, np.repeat([0, 1], n)


def test_spectral_embedding_separates_what_kmeans_cannot(rng):
    X, y = _rings(rng)
    plain = fastnn.KMeans(2, random_state=0).fit_predict(X)
    assert fastnn.metrics.clustering_accuracy(y, plain) < 0.8
    E = fastnn.cluster.spectral_embedding(X, n_components=2, n_neighbors=10)
    assert E.shape == (600, 2) and E.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, rtol=1e-12)
    labels = fastnn.KMeans(2, random_state=0).fit_predict(E)
    assert fastnn.metrics.clustering_accuracy(y, labels) == 1.0


def test_spectral_embedding_is_the_normalized_adjacencys_leading_eigenvectors(rng):
    X = rng.normal(size=(120, 3))
    E = fastnn.cluster.spectral_embedding(X, n_components=3, n_neighbors=6, n_threads=2)
    # dense twin: the symmetric 6-NN graph, D^-1/2 A D^-1/2, its 3 leading eigenvectors, rows to unit length
    d = ((X[:, None] - X[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    A = np.zeros((120, 120))
    np.put_along_axis(A, np.argsort(d, axis=1)[:, :6], 1.0, axis=1)
    A = np.maximum(A, A.T)
    s = 1 / np.sqrt(A.sum(1))
    vals, vecs = np.linalg.eigh(s[:, None] * A * s[None])
    V = vecs[:, ::-1][:, :3]
    V = V / np.linalg.norm(V, axis=1, keepdims=True)
    # eigenvectors are defined up to sign: compare each column up to its sign
    for j in range(3):
        sign = np.sign(V[:, j] @ E[:, j])
        np.testing.assert_allclose(E[:, j], sign * V[:, j], atol=1e-5)
    np.testing.assert_array_equal(E, fastnn.cluster.spectral_embedding(X, n_components=3, n_neighbors=6))


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_neighbors=50), "n_neighbors=50 must be less than the number of samples"),
    (dict(n_components=50), "n_components=50 must be less than the number of samples"),
    (dict(n_neighbors=0), "n_neighbors must be >= 1"),
])
def test_spectral_embedding_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fastnn.cluster.spectral_embedding(np.random.default_rng(0).normal(size=(50, 2)), **kwargs)
    with pytest.raises(ValueError, match="NaN"):
        fastnn.cluster.spectral_embedding(np.array([[0.0, np.nan]] * 5), n_components=1, n_neighbors=2)
