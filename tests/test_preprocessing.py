import tracemalloc

import numpy as np
import pytest

import fastnn
from fastnn.preprocessing import LogScaler, MinMaxScaler, StandardScaler, get_scaler, scaler_from_state

sk = pytest.importorskip("sklearn.preprocessing")


@pytest.fixture
def X(rng):
    X = rng.normal(loc=3.0, scale=[1.0, 10.0, 0.01, 5.0], size=(200, 4))
    X[:, 2] = 7.0  # a constant feature
    return X


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standard_scaler_matches_sklearn(X, dtype):
    X = X.astype(dtype)
    ours = StandardScaler().fit(X)
    theirs = sk.StandardScaler().fit(X)
    np.testing.assert_allclose(ours.mean_, theirs.mean_, rtol=1e-6)
    np.testing.assert_allclose(ours.var_, theirs.var_, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(ours.scale_, theirs.scale_, rtol=1e-5)
    Z = ours.transform(X)
    assert Z.dtype == dtype
    np.testing.assert_allclose(Z, theirs.transform(X), rtol=1e-5, atol=1e-5)
    assert np.all(Z[:, 2] == 0)  # constant feature: no division by zero
    np.testing.assert_allclose(ours.inverse_transform(Z), X, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("with_mean, with_std", [(False, True), (True, False)])
def test_standard_scaler_options(X, with_mean, with_std):
    ours = StandardScaler(with_mean=with_mean, with_std=with_std).fit_transform(X)
    theirs = sk.StandardScaler(with_mean=with_mean, with_std=with_std).fit_transform(X)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("feature_range", [(0, 1), (-1, 1), (2.5, 10)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_minmax_scaler_matches_sklearn(X, feature_range, dtype):
    X = X.astype(dtype)
    ours = MinMaxScaler(feature_range).fit(X)
    theirs = sk.MinMaxScaler(feature_range=feature_range).fit(X)
    for attr in ("data_min_", "data_max_", "data_range_", "scale_", "min_"):
        np.testing.assert_allclose(getattr(ours, attr), getattr(theirs, attr), rtol=1e-6)
    Z = ours.transform(X)
    assert Z.dtype == dtype
    np.testing.assert_allclose(Z, theirs.transform(X), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.inverse_transform(Z), X, rtol=1e-5, atol=1e-4)


def test_log_scaler(rng):
    X = rng.pareto(1.5, size=(100, 3)).astype(np.float32)
    s = LogScaler().fit(X)
    Z = s.transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z, np.log1p(X), rtol=1e-6)
    np.testing.assert_allclose(s.inverse_transform(Z), X, rtol=1e-4)
    ft = sk.FunctionTransformer(np.log1p, inverse_func=np.expm1, check_inverse=False)
    np.testing.assert_allclose(Z, ft.fit_transform(X), rtol=1e-6)
    bad = X.copy()
    bad[5, 1] = -2.0
    with pytest.raises(ValueError, match=r"negative values \(feature 1"):
        s.transform(bad)
    with pytest.raises(ValueError, match="negative"):
        LogScaler().fit(bad)
    with pytest.raises(ValueError, match="too large"):
        s.inverse_transform(np.full((1, 3), 1e4, dtype=np.float32))


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler, LogScaler])
def test_errors(cls, X):
    X = np.abs(X)
    with pytest.raises(RuntimeError, match="not fitted"):
        cls().transform(X)
    s = cls().fit(X)
    with pytest.raises(ValueError, match=f"X has 3 features, but {cls.__name__} is expecting 4 features as input"):
        s.transform(X[:, :3])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cls().fit(bad)
    with pytest.raises(ValueError, match="NaN"):
        s.transform(bad)
    with pytest.raises(ValueError, match="empty"):
        cls().fit(np.zeros((0, 4)))
    with pytest.raises(ValueError, match="2-dimensional"):
        cls().fit(np.zeros(4))
    with pytest.raises(TypeError, match="real numbers"):
        cls().fit(np.array([["a", "b"]]))


def test_minmax_bad_range():
    # checked by fit, not the constructor: scikit-learn's convention (clone and set_params take any value)
    X = np.ones((2, 2))
    with pytest.raises(ValueError, match="below its maximum"):
        MinMaxScaler((1, 0)).fit(X)
    with pytest.raises(ValueError, match="finite"):
        MinMaxScaler((0, np.inf)).fit(X)
    with pytest.raises(TypeError, match="pair"):
        MinMaxScaler(3).fit(X)


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler, LogScaler])
def test_output_dtype(cls):
    X = np.array([[1, 2], [3, 4]], dtype=np.int32)
    s = cls().fit(X)
    assert s.transform(X).dtype == np.float32  # integers (pixels) become float32
    assert s.transform(X.astype(np.float32)).dtype == np.float32
    assert s.transform(X.astype(np.float64)).dtype == np.float64
    assert s.transform(X, dtype="float64").dtype == np.float64
    assert s.fit_transform(X, dtype=np.float64).dtype == np.float64
    assert s.inverse_transform(s.transform(X), dtype="float64").dtype == np.float64
    np.testing.assert_allclose(s.transform(X, dtype="float64"), s.transform(X.astype(np.float64)), rtol=0)
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64', got int8"):
        s.transform(X, dtype="int8")
    with pytest.raises(TypeError, match="dtype must be"):
        s.transform(X, dtype="nonsense")


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler, LogScaler])
def test_input_is_not_modified(cls, X):
    X = np.abs(X)
    before = X.copy()
    s = cls().fit(X)
    s.inverse_transform(s.transform(X))
    s.inverse_transform(X)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("name", ["standard", "minmax"])
def test_block_wise_statistics_match_sklearn_on_many_blocks(name):
    """uint8 pixels over many blocks of rows (and a strided view) agree with scikit-learn on float64 data."""
    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, size=(9000, 700), dtype=np.uint8)
    X[:, 5] = 17  # constant
    X = X[:, ::2]  # not contiguous
    ours = get_scaler(name).fit(X)
    theirs = {"standard": sk.StandardScaler, "minmax": sk.MinMaxScaler}[name]().fit(X.astype(np.float64))
    for attr in ("mean_", "var_", "scale_", "data_min_", "data_max_", "min_"):
        if hasattr(theirs, attr):
            np.testing.assert_allclose(getattr(ours, attr), getattr(theirs, attr), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.transform(X, dtype="float64"), theirs.transform(X.astype(np.float64)),
                               rtol=1e-12, atol=1e-12)


def _peak_bytes(func):
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", ["standard", "minmax", "log"])
def test_integer_input_makes_no_full_size_float64_copy(name):
    X = np.random.default_rng(0).integers(0, 256, size=(20000, 200), dtype=np.uint8)
    float64_copy = X.size * 8
    scaler = get_scaler(name)
    assert _peak_bytes(lambda: scaler.fit(X)) < float64_copy / 2
    float32_result = X.size * 4
    assert _peak_bytes(lambda: scaler.transform(X)) < float32_result + float64_copy / 4


def test_model_fit_with_a_scaler_makes_one_copy_in_the_models_dtype():
    X = np.random.default_rng(0).integers(0, 256, size=(20000, 200)).astype(np.float64)
    y = (X[:, 0] > 127).astype(np.int64)
    model = fastnn.Sequential([fastnn.Dense(200, 2, "softmax")], seed=0).compile("cross_entropy")
    model.scaler = StandardScaler().fit(X)
    peak = _peak_bytes(lambda: model.fit(X, y, epochs=1, batch_size=256, verbose=0, n_threads=1))
    assert peak < X.size * 4 + X.size * 8 / 4  # the float32 copy the model trains on, no float64 one


def test_model_fit_on_uint8_with_a_scaler_converts_a_chunk_at_a_time(monkeypatch):
    import fastnn.training.data

    monkeypatch.setattr(fastnn.training.data, "CHUNK_BYTES", 2 << 20)
    X = np.random.default_rng(0).integers(0, 256, size=(20000, 200)).astype(np.uint8)
    y = (X[:, 0] > 127).astype(np.int64)
    model = fastnn.Sequential([fastnn.Dense(200, 2, "softmax")], seed=0).compile("cross_entropy")
    model.scaler = StandardScaler().fit(X)
    peak = _peak_bytes(lambda: model.fit(X, y, epochs=1, batch_size=256, verbose=0, n_threads=1))
    assert peak < X.size * 4 / 2  # well under the float32 copy of the whole array (16 MB)


@pytest.mark.parametrize("name", ["standard", "minmax", "log"])
def test_state_round_trip(name, X):
    X = np.abs(X)
    s = get_scaler(name).fit(X)
    state = s.get_state()
    t = scaler_from_state(state)
    np.testing.assert_array_equal(t.transform(X), s.transform(X))
    assert type(t) is type(s) and t.get_params() == s.get_params()
    state["arrays"][next(iter(state["arrays"]))] = np.zeros(2)
    with pytest.raises(ValueError):
        scaler_from_state(state)


def test_get_scaler():
    assert get_scaler("none") is None and get_scaler(None) is None
    with pytest.raises(ValueError, match="scale must be one of"):
        get_scaler("robust")
