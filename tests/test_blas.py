import numpy as np
import pytest

from fastnn._blas import _gemm_check


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("m, n, k", [(1, 1, 1), (3, 5, 7), (17, 9, 33), (64, 10, 1), (1, 31, 13)])
def test_gemm_matches_numpy(dtype, rtol, ta, tb, m, n, k, rng):
    A = rng.normal(size=(k, m) if ta else (m, k)).astype(dtype)
    B = rng.normal(size=(n, k) if tb else (k, n)).astype(dtype)
    expected = (A.T if ta else A).astype(np.float64) @ (B.T if tb else B).astype(np.float64)
    got = _gemm_check(A, B, ta, tb)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.sqrt(k) * 4)


def test_gemm_empty_inner_dimension():
    A = np.zeros((3, 0))
    B = np.zeros((0, 4))
    np.testing.assert_array_equal(_gemm_check(A, B), np.zeros((3, 4)))


def test_gemm_rejects_mismatch():
    with pytest.raises(ValueError, match="inner dimensions"):
        _gemm_check(np.zeros((2, 3)), np.zeros((4, 2)))


@pytest.fixture(params=["scipy", "auto"])
def each_blas(request):
    """Run a test with scipy's BLAS and with the automatic choice, then restore the automatic choice."""
    from fastnn._core.blas_select import select_gemm
    from fastnn._core.threads import controller

    yield select_gemm(controller(), request.param)
    select_gemm(controller(), "auto")


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_through_each_blas(each_blas, dtype, rtol, ta, tb, rng):
    A = rng.normal(size=(33, 17) if ta else (17, 33)).astype(dtype)
    B = rng.normal(size=(9, 33) if tb else (33, 9)).astype(dtype)
    expected = (A.T if ta else A).astype(np.float64) @ (B.T if tb else B).astype(np.float64)
    np.testing.assert_allclose(_gemm_check(A, B, ta, tb), expected, rtol=rtol, atol=rtol * 30)


def test_blas_choice_is_reported():
    import fastnn
    from fastnn import _blas
    from fastnn._core.blas_select import select_gemm
    from fastnn._core.threads import controller

    info = fastnn.blas_in_use()
    assert set(info) == {"library", "version"} and info["library"]
    assert _blas._using_ilp64_gemm() == ("_64_" in info["library"] or "64_" in info["library"])
    assert select_gemm(controller(), "scipy")["library"] == "scipy.linalg.cython_blas"
    assert not _blas._using_ilp64_gemm()
    assert select_gemm(controller(), "auto") == info
    with pytest.raises(ValueError, match="prefer"):
        select_gemm(controller(), "mkl")
