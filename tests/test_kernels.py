"""Each compiled kernel against its pure-NumPy twin in fastnn._reference."""
import numpy as np
import pytest

from fastnn import _kernels
from fastnn import _reference as ref

DTYPES = [(np.float32, 2e-5), (np.float64, 1e-12)]
ACTS = [ref.IDENTITY, ref.RELU, ref.SIGMOID, ref.TANH, ref.SOFTMAX, ref.LEAKY_RELU, ref.ELU, ref.SOFTPLUS, ref.GELU]
SHAPES = [(1, 1), (1, 10), (7, 3), (33, 17), (64, 1)]


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("B, n_in, n_out", [(1, 1, 1), (1, 13, 5), (37, 9, 1), (64, 784, 10), (5, 3, 129)])
def test_dense_forward(dtype, tol, B, n_in, n_out, rng):
    x = rng.normal(size=(B, n_in)).astype(dtype)
    W = rng.normal(size=(n_out, n_in)).astype(dtype)
    b = rng.normal(size=n_out).astype(dtype)
    out = np.empty((B, n_out), dtype)
    _kernels.dense_forward(x, W, b, out)
    np.testing.assert_allclose(out, ref.dense_forward(x, W, b), rtol=tol * 10, atol=tol * 10 * np.sqrt(n_in))


def test_dense_forward_shape_check():
    with pytest.raises(ValueError):
        _kernels.dense_forward(np.zeros((2, 3)), np.zeros((4, 2)), np.zeros(4), np.zeros((2, 4)))


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", SHAPES)
def test_activation_forward(dtype, tol, act, shape, rng):
    z = (rng.normal(size=shape) * 5).astype(dtype)
    expected = ref.activation_forward(act, z)
    _kernels.activation_forward(act, z)
    np.testing.assert_allclose(z, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", SHAPES)
def test_activation_backward(dtype, tol, act, shape, rng):
    z = rng.normal(size=shape).astype(dtype)
    a = ref.activation_forward(act, z)
    d = rng.normal(size=shape).astype(dtype)
    expected = ref.activation_backward(act, a, d, z)
    _kernels.activation_backward(act, a, d, z)
    np.testing.assert_allclose(d, expected, rtol=tol, atol=tol)


def test_activation_extremes_stay_finite():
    z = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], dtype=np.float32)
    for act in ACTS:
        out = z.copy()
        _kernels.activation_forward(act, out)
        assert np.all(np.isfinite(out)), act


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("B, K", [(1, 2), (5, 10), (33, 3)])
@pytest.mark.parametrize("dense", [False, True])
def test_cross_entropy(dtype, tol, B, K, dense, rng):
    z = (rng.normal(size=(B, K)) * 3).astype(dtype)
    labels = rng.integers(0, K, B).astype(np.int32)
    targets = None
    if dense:
        targets = rng.dirichlet(np.ones(K), size=B).astype(dtype)
        labels = None
    sl, acc, p, grad = ref.output_loss(ref.CROSS_ENTROPY, ref.SOFTMAX, z, labels, targets)
    d = np.empty_like(z)
    got_sl, got_acc = _kernels.output_loss(ref.CROSS_ENTROPY, ref.SOFTMAX, z, d, labels, targets)
    np.testing.assert_allclose(got_sl, sl, rtol=tol * 10, atol=tol * 10)
    np.testing.assert_array_equal(got_acc, acc)
    np.testing.assert_allclose(z, p, rtol=tol, atol=tol)
    np.testing.assert_allclose(d, grad, rtol=tol, atol=tol)


def test_cross_entropy_confident_wrong_is_large_and_finite():
    z = np.array([[1000.0, -1000.0]], dtype=np.float32)
    d = np.empty_like(z)
    sl, _ = _kernels.output_loss(ref.CROSS_ENTROPY, ref.SOFTMAX, z, d, np.array([1], np.int32), None)
    assert np.isfinite(sl[0]) and sl[0] == pytest.approx(2000.0)
    np.testing.assert_allclose(d, [[1.0, -1.0]])


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("B, K", [(1, 1), (9, 1), (6, 4)])
def test_binary_cross_entropy(dtype, tol, B, K, rng):
    z = (rng.normal(size=(B, K)) * 4).astype(dtype)
    t = rng.random((B, K)).astype(dtype)
    t[0] = 1.0
    sl, acc, a, grad = ref.output_loss(ref.BINARY_CROSS_ENTROPY, ref.SIGMOID, z, None, t)
    d = np.empty_like(z)
    got_sl, got_acc = _kernels.output_loss(ref.BINARY_CROSS_ENTROPY, ref.SIGMOID, z, d, None, t)
    np.testing.assert_allclose(got_sl, sl, rtol=tol * 10, atol=tol * 10)
    np.testing.assert_allclose(got_acc, acc, rtol=tol)
    np.testing.assert_allclose(z, a, rtol=tol, atol=tol)
    np.testing.assert_allclose(d, grad, rtol=tol, atol=tol)


def test_binary_cross_entropy_saturated_is_finite():
    z = np.array([[200.0], [-200.0]], dtype=np.float32)
    t = np.array([[0.0], [1.0]], dtype=np.float32)
    d = np.empty_like(z)
    sl, _ = _kernels.output_loss(ref.BINARY_CROSS_ENTROPY, ref.SIGMOID, z, d, None, t)
    np.testing.assert_allclose(sl, [200.0, 200.0], rtol=1e-6)


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("B, K", [(1, 1), (7, 3)])
def test_mean_squared_error(dtype, tol, act, B, K, rng):
    z = rng.normal(size=(B, K)).astype(dtype)
    a = ref.activation_forward(act, z)
    t = rng.normal(size=(B, K)).astype(dtype)
    sl, _, _, grad = ref.output_loss(ref.MSE, act, a, None, t, z)
    d = np.empty_like(a)
    got_sl, _ = _kernels.output_loss(ref.MSE, act, a, d, None, t, z)
    np.testing.assert_allclose(got_sl, sl, rtol=tol * 10, atol=tol)
    np.testing.assert_allclose(d, grad, rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.5, True)])
@pytest.mark.parametrize("wd, l1, l2", [(0, 0, 0), (1e-2, 0, 0), (0, 1e-3, 0), (0, 0, 1e-2), (1e-3, 1e-3, 1e-2)])
@pytest.mark.parametrize("regularize", [True, False])
@pytest.mark.parametrize("n", [1, 7, 1000])
def test_sgd_update(dtype, tol, momentum, nesterov, wd, l1, l2, regularize, n, rng):
    p = rng.normal(size=n).astype(dtype)
    g = rng.normal(size=n).astype(dtype)
    v = rng.normal(size=n).astype(dtype)
    p_ref, v_ref = p.copy(), v.copy()
    pen_ref = ref.sgd_update(p_ref, g.copy(), v_ref, 0.1, momentum, nesterov, wd, l1, l2, regularize)
    pen = _kernels.sgd_update(p, g, v, 0.1, momentum, nesterov, wd, l1, l2, regularize)
    np.testing.assert_allclose(p, p_ref, rtol=tol, atol=tol)
    if momentum:
        np.testing.assert_allclose(v, v_ref, rtol=tol, atol=tol)
    assert pen == pytest.approx(pen_ref, rel=1e-6 if dtype == np.float32 else 1e-12)


def test_activation_derivative_needing_its_input_refuses_without_it():
    a = np.zeros((2, 3))
    with pytest.raises(ValueError, match="needs its input"):
        _kernels.activation_backward(ref.GELU, a, a.copy())


def test_activations_match_pytorch_definitions():
    """Leaky ReLU (slope 0.01), ELU (alpha 1), softplus and exact GELU as torch.nn.functional defines them."""
    from scipy.special import erf

    z = np.linspace(-30, 30, 601)
    cases = {ref.LEAKY_RELU: np.where(z > 0, z, 0.01 * z), ref.ELU: np.where(z > 0, z, np.exp(z) - 1),
             ref.SOFTPLUS: np.logaddexp(0, z), ref.GELU: z * 0.5 * (1 + erf(z / np.sqrt(2)))}
    for act, expected in cases.items():
        out = z[None].copy()
        _kernels.activation_forward(act, out)
        np.testing.assert_allclose(out[0], expected, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_update_flags_a_step_to_infinity(dtype, momentum, nesterov):
    """A step that overflows a parameter makes the update report NaN (the engine's divergence signal)."""
    if nesterov and not momentum:
        return
    big = np.finfo(dtype).max / 4
    p = np.array([1.0, big, 0.5], dtype)
    g = np.array([0.0, -big, 0.0], dtype)
    v = np.zeros(3, dtype)
    assert np.isnan(_kernels.sgd_update(p, g, v, 10.0, momentum, nesterov))
    p, g = np.ones(3, dtype), np.ones(3, dtype)
    assert _kernels.sgd_update(p, g, np.zeros(3, dtype), 10.0, momentum, nesterov) == 0.0


def test_all_finite():
    X = np.ones((4, 3), np.float32)
    assert _kernels.all_finite(X)
    for bad in (np.nan, np.inf, -np.inf):
        Y = X.copy()
        Y[3, 2] = bad
        assert not _kernels.all_finite(Y)
    assert _kernels.all_finite(np.ones((0, 3)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_any_beyond_compares_magnitudes_as_numpy(dtype, rng):
    X = (rng.standard_normal((5, 7)) * 10).astype(dtype)
    for limit in [0.0, 1.0, float(np.abs(X).max()), float(np.abs(X).max()) * 0.999, float(np.sort(np.abs(X).ravel())[-2])]:
        limit = float(dtype(limit))
        assert _kernels.any_beyond(X, limit) == bool(np.abs(X).max() > limit), limit
    assert _kernels.any_beyond(-np.abs(X), float(np.abs(X).max()) / 2)  # negative values by their magnitude
    assert not _kernels.any_beyond(np.zeros((3, 2), dtype), 0.0) and not _kernels.any_beyond(X[:0], 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_beyond_peaks_compares_each_column_with_its_peak(dtype, rng):
    X = rng.standard_normal((6, 4)).astype(dtype)
    peaks = np.abs(X).max(axis=0).astype(np.float64)
    assert not _kernels.beyond_peaks(X, peaks)
    for j in range(4):
        lower = peaks.copy()
        lower[j] = np.nextafter(lower[j], 0)
        assert _kernels.beyond_peaks(X, lower)
    with pytest.raises(ValueError, match="one value per column"):
        _kernels.beyond_peaks(X, peaks[:3])


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("loss", [ref.HUBER, ref.MAE])
@pytest.mark.parametrize("act", [ref.IDENTITY, ref.TANH, ref.GELU])
def test_huber_and_mae_against_the_twin(dtype, tol, loss, act, rng):
    z = rng.normal(size=(9, 4)).astype(dtype)
    a = ref.activation_forward(act, z)
    t = (rng.normal(size=(9, 4)) * 2).astype(dtype)
    sl, _, _, grad = ref.output_loss(loss, act, a, None, t, z, delta=0.7)
    d = np.empty_like(a)
    got_sl, _ = _kernels.output_loss(loss, act, a, d, None, t, z, None, 0.7)
    np.testing.assert_allclose(got_sl, sl, rtol=tol * 10, atol=tol)
    np.testing.assert_allclose(d, grad, rtol=tol * 10, atol=tol)


def test_mix64_equals_its_numpy_twin():
    values = [0, 1, 2, 12345, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, 0x9E3779B97F4A7C15]
    values += [int(v) for v in np.random.default_rng(0).integers(0, 1 << 63, 50, dtype=np.uint64)]
    for v in values:
        assert _kernels.mix64(v) == ref.mix64(v)
