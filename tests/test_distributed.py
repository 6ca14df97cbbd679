"""fastnn inside joblib's worker processes (loky) and on a Dask cluster: no oversubscription, and estimators and
fitted models travel between processes."""
import os
import pickle
import sys

import numpy as np
import pytest

joblib = pytest.importorskip("joblib")
pytest.importorskip("sklearn")
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

import fastnn._core.threads  # noqa: E402
from fastnn.sklearn import MLPClassifier  # noqa: E402

# Helpers below run in other processes, which cannot import this test module: pickle them by value, with the
# cloudpickle that loky (joblib 1.5 and newer use the installed one, older ones a bundled copy) and Dask use.
_picklers = []
try:
    import cloudpickle

    _picklers.append(cloudpickle)
except ImportError:  # pragma: no cover
    pass
try:
    from joblib.externals import cloudpickle as _bundled

    _picklers.append(_bundled)
except ImportError:
    pass
for _p in _picklers:
    _p.register_pickle_by_value(sys.modules[__name__])
needs_cloudpickle = pytest.mark.skipif(not _picklers, reason="needs cloudpickle to send test helpers to workers")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

GRID = {"alpha": [1e-4, 1e-2], "hidden_layer_sizes": [(16,), (32,)]}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


def _estimator(**kw):
    return MLPClassifier(max_iter=15, random_state=0, **kw)


def threads_seen_in_fit(n_threads=None):
    """Fit a small model here and return the thread counts fastnn's fit resolved (and what None resolves to)."""
    import fastnn.training.trainer

    seen = []
    original = fastnn.training.trainer.resolve_n_threads

    def spy(n, *args, **kwargs):
        seen.append(original(n, *args, **kwargs))
        return seen[-1]

    fastnn.training.trainer.resolve_n_threads = spy
    try:
        rng = np.random.default_rng(0)
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, n_threads=n_threads).fit(
            rng.normal(size=(40, 4)), rng.integers(0, 2, 40))
    finally:
        fastnn.training.trainer.resolve_n_threads = original
    return {"none": fastnn._core.threads.resolve_n_threads(None), "fit": sorted(set(seen)),
            "cores": fastnn._core.threads.available_cores()}


@needs_cloudpickle
def test_loky_workers_split_the_cores():
    """joblib's loky workers get OMP_NUM_THREADS = cpu_count // n_jobs; a fit there uses that many threads."""
    expected = max(1, joblib.cpu_count() // 2)
    results = joblib.Parallel(n_jobs=2, backend="loky")(joblib.delayed(threads_seen_in_fit)() for _ in range(2))
    for r in results:
        want = min(expected, r["cores"])
        assert r["none"] == want
        assert r["fit"] == [want]
    # an explicit n_threads wins (capped at the cores)
    r = joblib.Parallel(n_jobs=2, backend="loky")([joblib.delayed(threads_seen_in_fit)(2)])[0]
    assert r["fit"] == [min(2, r["cores"])]


@needs_cloudpickle
def test_loky_inner_max_num_threads():
    with joblib.parallel_config(backend="loky", inner_max_num_threads=1):
        results = joblib.Parallel(n_jobs=2)(joblib.delayed(threads_seen_in_fit)() for _ in range(2))
    assert all(r["none"] == 1 and r["fit"] == [1] for r in results)


def test_grid_search_in_processes_matches_one_process(digits):
    X, y = digits
    one = GridSearchCV(_estimator(), GRID, cv=2, n_jobs=1).fit(X, y)
    two = GridSearchCV(_estimator(), GRID, cv=2, n_jobs=2).fit(X, y)
    # results do not depend on the thread count, so the scores are identical
    np.testing.assert_array_equal(one.cv_results_["mean_test_score"], two.cv_results_["mean_test_score"])
    assert one.best_params_ == two.best_params_
    np.testing.assert_array_equal(one.predict_proba(X), two.predict_proba(X))


# --- Dask --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    # Dask's nanny sets OMP_NUM_THREADS=1 (and the BLAS variables) in this process's os.environ too, for its
    # workers, and leaves them there: restore them so later tests' subprocesses get every core.
    saved = dict(os.environ)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, timeout=60)
    client = distributed.Client(cluster, timeout=60)
    try:
        yield client
    finally:
        client.close(timeout=30)
        cluster.close(timeout=30)
        os.environ.clear()
        os.environ.update(saved)


def _worker_threads(dask_worker):
    return {"nthreads": dask_worker.state.nthreads, **threads_seen_in_fit()}


@pytest.mark.timeout(120)
def test_dask_workers_run_one_thread_each(dask_client):
    """Dask's nanny starts worker processes with OMP_NUM_THREADS=1: a fit there runs one thread (the worker's
    threads_per_worker tasks each get one)."""
    results = dask_client.run(_worker_threads)
    assert len(results) == 2
    for r in results.values():
        assert r["nthreads"] == 1
        assert r["none"] == 1 and r["fit"] == [1]


@pytest.mark.timeout(120)
def test_grid_search_on_dask(dask_client, digits):
    X, y = digits
    local = GridSearchCV(_estimator(), GRID, cv=2, n_jobs=1).fit(X, y)
    with joblib.parallel_backend("dask"):
        search = GridSearchCV(_estimator(), GRID, cv=2).fit(X, y)
    np.testing.assert_array_equal(local.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"])
    assert local.best_params_ == search.best_params_
    np.testing.assert_array_equal(local.predict(X), search.predict(X))


@pytest.mark.timeout(120)
def test_fitted_model_travels_to_and_from_a_worker(dask_client, digits):
    X, y = digits
    clf = _estimator(hidden_layer_sizes=(16,)).fit(X, y)
    # a fitted model predicts on a worker as here
    on_worker = dask_client.submit(clf.predict_proba, X, pure=False).result(timeout=60)
    np.testing.assert_array_equal(on_worker, clf.predict_proba(X))
    # a model fitted on a worker comes back and predicts here as one fitted here
    fitted = dask_client.submit(_estimator(hidden_layer_sizes=(16,)).fit, X, y, pure=False).result(timeout=60)
    np.testing.assert_array_equal(fitted.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict(X), clf.predict(X))
