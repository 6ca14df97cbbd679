import numpy as np
import pytest
from threadpoolctl import threadpool_info

import fastnn
from fastnn import _kernels
from fastnn._core.threads import available_cores, blas_single_thread, resolve_n_threads


def blas_threads():
    return {m["filepath"]: m["num_threads"] for m in threadpool_info() if m["user_api"] == "blas"}


def test_blas_held_at_one_thread_and_restored():
    before = blas_threads()
    with blas_single_thread():
        assert all(n == 1 for n in blas_threads().values())
        with blas_single_thread():  # nested entries share the limit
            assert all(n == 1 for n in blas_threads().values())
        assert all(n == 1 for n in blas_threads().values())
    assert blas_threads() == before


def test_fit_restores_blas_threads(rng):
    before = blas_threads()
    m = fastnn.Sequential([fastnn.Dense(5, 3, "softmax")], seed=0).compile("cross_entropy")
    m.fit(rng.normal(size=(30, 5)), rng.integers(0, 3, 30), verbose=0)
    m.predict(rng.normal(size=(3, 5)))
    assert blas_threads() == before


def test_resolve_n_threads(many_cores):
    assert resolve_n_threads(None) == 8
    assert resolve_n_threads(3) == 3
    assert resolve_n_threads(np.int64(2)) == 2
    with pytest.raises(ValueError):
        resolve_n_threads(0)
    with pytest.raises(TypeError):
        resolve_n_threads(1.5)
    with pytest.raises(TypeError):
        resolve_n_threads(True)


def test_none_respects_the_openmp_limit():
    """n_threads=None stays within OpenMP's current limit (what loky and Dask workers set); an explicit count
    is used as given, capped at the cores."""
    import threadpoolctl

    from fastnn._core.threads import openmp_max_threads

    cores = available_cores()
    assert resolve_n_threads(None) == min(cores, openmp_max_threads())
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert openmp_max_threads() == 1
        assert resolve_n_threads(None) == 1
        assert resolve_n_threads(cores) == cores
    assert resolve_n_threads(None) == min(cores, openmp_max_threads())


def test_build_flags_are_what_ci_asked_for():
    import os

    expected = os.environ.get("FASTNN_EXPECT_BOUNDSCHECK")
    if expected is not None:
        assert _kernels.BOUNDSCHECK == (expected == "1")


def test_openmp_is_compiled_in():
    assert _kernels.openmp_enabled()
    assert _kernels.max_threads() >= 1


def test_limit_applies_when_entered_from_a_worker_thread():
    """threadpoolctl lets only one thread change OpenBLAS's limit; fastnn's limit must apply from any thread."""
    import threading

    seen = {}

    def work():
        with blas_single_thread():
            seen["inside"] = blas_threads()

    before = blas_threads()
    with blas_single_thread():  # the main thread takes (and gives back) control first
        pass
    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert all(n == 1 for n in seen["inside"].values())
    assert blas_threads() == before


def test_more_threads_than_cores_are_capped_with_a_warning():
    cores = available_cores()
    with pytest.warns(RuntimeWarning, match=f"n_threads={cores + 62} is more than the {cores} cores"):
        assert resolve_n_threads(cores + 62) == cores
    m = fastnn.Sequential([fastnn.Dense(5, 3, "softmax")], seed=0).compile("cross_entropy")
    with pytest.warns(RuntimeWarning, match="more than the"):
        m.predict(np.zeros((3, 5)), n_threads=cores + 1)


@pytest.fixture
def big_machine(monkeypatch, many_cores):
    """Tile the work as on a 32-core machine (row tiles and input-feature tiles), on this one."""
    import fastnn._core.threads

    monkeypatch.setattr(fastnn._core.threads, "machine_cores", lambda: 32)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [1, 37, 128])
def test_tiles_of_a_large_machine_give_identical_results_for_any_thread_count(dtype, batch, big_machine, rng):
    X = rng.normal(size=(300, 97)).astype(dtype)
    y = rng.integers(0, 10, 300)
    results = []
    for nt in (1, 2, 3, 8):
        m = fastnn.Sequential([fastnn.Dense(97, 300, "relu"), fastnn.Dropout(0.2), fastnn.Dense(300, 130, "gelu"),
                               fastnn.Dense(130, 10, "softmax")], seed=3, dtype=dtype)
        m.compile("cross_entropy", fastnn.Adam(lr=1e-3), regularizer=fastnn.L1L2(l1=1e-4, l2=1e-3))
        m.fit(X, y, epochs=2, batch_size=batch, n_threads=nt, verbose=0)
        results.append((m.parameters.copy(), m.predict(X, n_threads=nt)))
    for params, pred in results[1:]:
        np.testing.assert_array_equal(params, results[0][0])
        np.testing.assert_array_equal(pred, results[0][1])


def test_tiled_step_equals_the_untiled_one(monkeypatch, many_cores, rng):
    """Tiles change which BLAS calls compute a product, not the mathematics: a 32-core tiling and the 2-core
    one agree to rounding, and both agree with the NumPy reference."""
    import fastnn._core.threads
    from fastnn import _reference as ref

    X = rng.normal(size=(128, 70))
    y = rng.integers(0, 5, 128)
    params = {}
    for cores in (2, 32):
        monkeypatch.setattr(fastnn._core.threads, "machine_cores", lambda: cores)
        m = fastnn.Sequential([fastnn.Dense(70, 200, "tanh"), fastnn.Dense(200, 5, "softmax")], seed=1,
                              dtype="float64").compile("cross_entropy", fastnn.SGD(lr=0.1),
                                                       regularizer=fastnn.L1(1e-3))
        weights = m.get_weights()
        m.fit(X, y, batch_size=128, shuffle=False, n_threads=2, verbose=0)
        params[cores] = m.parameters.copy()
    net = ref.Network(weights, [ref.TANH, ref.SOFTMAX], ref.CROSS_ENTROPY)
    net.train_batch(X, labels=y, lr=0.1, l1=1e-3)
    expected = np.concatenate([p.ravel() for p in net.params])
    np.testing.assert_allclose(params[32], params[2], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(params[32], expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cores, forward_tasks, update_tasks", [(2, 4, 9), (8, 8, 18), (32, 32, 72)])
def test_a_step_splits_into_enough_tiles_for_the_machine(cores, forward_tasks, update_tasks):
    m = fastnn.Sequential([fastnn.Dense(784, 512, "relu"), fastnn.Dense(512, 512, "relu"),
                           fastnn.Dense(512, 10, "softmax")], seed=0).compile("cross_entropy")
    engine = fastnn._kernels.Engine(m._params, m._grads, m._state, m.widths, [1, 1, 4], 1, 128, cores=cores)
    plan = dict(engine.plan(128))
    assert len(plan["forward 0"]) == len(plan["forward 1"]) == forward_tasks
    assert sum(plan["forward 0"]) == 128 * 784 * 512
    assert sum(plan["weight gradients and update"]) == 128 * (784 * 512 + 512 * 512 + 512 * 10)
    assert len(plan["weight gradients and update"]) == update_tasks


@pytest.mark.parametrize("spin_us", [0.0, 50.0])
def test_thread_pool_gives_the_same_results_whether_its_threads_spin_or_sleep(many_cores, spin_us, rng):
    """With no spinning every wait goes through sleeping and waking; results stay bit-identical for 1 to 4
    threads, with three Python threads training and predicting at once (one of them at a time owns the pool,
    the others run their tasks in their own thread) and k-means beside them."""
    import threading

    before = _kernels._tuning()["spin_us"]
    _kernels._tuning(spin_us=spin_us)
    X = rng.normal(size=(300, 40)).astype(np.float32)
    y = rng.integers(0, 3, 300)

    def train(n_threads):
        m = fastnn.Sequential(fastnn.Dense(40, 64, "relu"), fastnn.Dropout(0.1), fastnn.Dense(64, 3, "softmax"),
                              seed=0)
        m.compile("cross_entropy", fastnn.Adam(lr=1e-3))
        m.fit(X, y, epochs=2, batch_size=32, n_threads=n_threads, verbose=0)
        return m.parameters.copy(), m.predict(X, n_threads=n_threads)

    try:
        reference = train(1)
        results = {}

        def worker(key, n_threads):
            results[key] = train(n_threads)

        threads = [threading.Thread(target=worker, args=(k, 1 + k % 4)) for k in range(6)]
        for t in threads:
            t.start()
        centers = [fastnn.KMeans(n_clusters=4, random_state=0, n_threads=nt).fit(X).cluster_centers_
                   for nt in (1, 3)]
        for t in threads:
            t.join(120)
        assert sorted(results) == list(range(6))
        for params, proba in results.values():
            np.testing.assert_array_equal(params, reference[0])
            np.testing.assert_array_equal(proba, reference[1])
        np.testing.assert_array_equal(centers[0], centers[1])
        assert _kernels.pool_helpers() >= 1  # the pool did run jobs on helper threads
    finally:
        _kernels._tuning(spin_us=before)
