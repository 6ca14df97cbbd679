import numpy as np
import pytest
from threadpoolctl import threadpool_info

import fastnn
from fastnn import _kernels
from fastnn._threads import available_cores, blas_single_thread, resolve_n_threads


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
