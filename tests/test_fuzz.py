"""Property-based: the public API, driven with wrong and extreme inputs, either works or raises a Python
exception that names the problem - it never crashes the interpreter or corrupts the model."""
import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastnn

# derandomize: the same examples on every run, so that a failure found once reproduces, and the suite's outcome
# never depends on the run (Hypothesis's example database is then not needed either).
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
ALLOWED = (TypeError, ValueError, FloatingPointError, RuntimeError)

dtypes = st.sampled_from([np.float32, np.float64, np.int8, np.int64, np.uint8, np.bool_, np.complex64, np.float16,
                          object, "U3"])


@st.composite
def arrays(draw, max_rows=12, max_cols=7):
    dtype = draw(dtypes)
    ndim = draw(st.integers(0, 3))
    shape = tuple(draw(st.integers(0, max_rows if i == 0 else max_cols)) for i in range(ndim))
    if dtype is object:
        arr = np.empty(shape, dtype=object)
        if arr.size:
            arr.flat[0] = draw(st.sampled_from([None, "x", 1.5, [1, 2]]))
        return arr
    if dtype == "U3":
        return np.full(shape, "ab", dtype="U3")
    elements = None
    if np.dtype(dtype).kind == "f":
        elements = st.floats(allow_nan=True, allow_infinity=True, width=np.dtype(dtype).itemsize * 8)
    arr = draw(hnp.arrays(dtype, shape, elements=elements))
    if ndim == 2 and draw(st.booleans()):
        arr = np.asfortranarray(arr)
    if arr.ndim and arr.shape[0] > 1 and draw(st.booleans()):
        arr = arr[::2]
    if draw(st.booleans()):
        arr.setflags(write=False)
    return arr


def model(dtype="float32", loss="cross_entropy"):
    out = {"cross_entropy": ("softmax", 3), "binary_cross_entropy": ("sigmoid", 1), "mse": ("identity", 2)}[loss]
    m = fastnn.Sequential([fastnn.Dense(5, 4, "relu"), fastnn.Dense(4, out[1], out[0])], seed=0, dtype=dtype)
    m.compile(loss, fastnn.SGD(lr=0.1, momentum=0.5))
    return m


def check_untouched_or_finite(m, before):
    assert m.parameters.shape == before.shape
    assert np.all(np.isfinite(m.parameters))


@SETTINGS
@given(X=arrays(), y=arrays(), loss=st.sampled_from(["cross_entropy", "binary_cross_entropy", "mse"]),
       dtype=st.sampled_from(["float32", "float64"]))
def test_fit_with_arbitrary_arrays(X, y, loss, dtype):
    m = model(dtype, loss)
    before = m.parameters.copy()
    try:
        m.fit(X, y, epochs=1, batch_size=4, verbose=0)
    except ALLOWED as exc:
        assert str(exc)
        np.testing.assert_array_equal(m.parameters, before)  # refused input leaves the model untouched
        return
    check_untouched_or_finite(m, before)


@SETTINGS
@given(X=arrays())
def test_predict_with_arbitrary_arrays(X):
    m = model()
    try:
        out = m.predict(X)
    except ALLOWED as exc:
        assert str(exc)
        return
    assert out.shape == (np.asarray(X).shape[0], 3) and np.all(np.isfinite(out))


@SETTINGS
@given(n=st.integers(1, 40), batch=st.integers(1, 64), epochs=st.integers(0, 3),
       lr=st.floats(1e-12, 1e6), momentum=st.floats(0, 0.999999), nesterov=st.booleans(),
       l1=st.floats(0, 1e3), l2=st.floats(0, 1e3), wd=st.floats(0, 1e3),
       labels=st.lists(st.integers(-2, 4), min_size=1, max_size=40),
       scale=st.floats(1e-30, 1e30))
@example(n=23, batch=2, epochs=1, lr=6.0, momentum=0.0, nesterov=False, l1=0.0, l2=0.0, wd=273.0,
         labels=[0, 1, 2], scale=1.0)  # once found: an update that overflowed the weights went unnoticed
def test_fit_with_extreme_hyperparameters(n, batch, epochs, lr, momentum, nesterov, l1, l2, wd, labels, scale):
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(n, 5)) * scale).astype(np.float64)
    y = np.resize(np.array(labels), n)
    m = fastnn.Sequential([fastnn.Dense(5, 4, "tanh"), fastnn.Dense(4, 3, "softmax")], seed=0)
    try:
        m.compile("cross_entropy", fastnn.SGD(lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0,
                                              weight_decay=wd), regularizer=fastnn.L1L2(l1=l1, l2=l2))
        m.fit(X, y, epochs=epochs, batch_size=batch, verbose=0)
    except ALLOWED as exc:
        assert str(exc)
    assert np.all(np.isfinite(m.parameters))  # a diverged run restores its last good weights


@SETTINGS
@given(value=st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=3),
                       st.lists(st.integers(), max_size=2)),
       arg=st.sampled_from(["epochs", "batch_size", "validation_split", "shuffle", "n_threads", "verbose"]))
def test_fit_keyword_arguments(value, arg):
    m = model()
    X = np.zeros((6, 5))
    y = np.zeros(6, dtype=int)
    try:
        m.fit(X, y, **{arg: value}, **({} if arg == "verbose" else {"verbose": 0}))
    except ALLOWED as exc:
        assert str(exc)


@SETTINGS
@given(sizes=st.lists(st.one_of(st.integers(-3, 6), st.floats(-1, 5), st.none(), st.text(max_size=2)),
                      min_size=2, max_size=2),
       activation=st.one_of(st.none(), st.sampled_from(["relu", "RELU", "swish", "", "softmax"]), st.integers()))
def test_dense_construction(sizes, activation):
    try:
        layer = fastnn.Dense(sizes[0], sizes[1], activation)
    except ALLOWED as exc:
        assert str(exc)
        return
    assert layer.in_features >= 1 and layer.out_features >= 1


@SETTINGS
@given(X=arrays(), y=arrays())
def test_evaluate_and_gradient(X, y):
    m = model("float64")
    before = m.parameters.copy()
    for call in (m.evaluate, m.loss_and_gradient):
        try:
            call(X, y)
        except ALLOWED as exc:
            assert str(exc)
    np.testing.assert_array_equal(m.parameters, before)


@SETTINGS
@given(X=arrays(), kind=st.sampled_from(["standard", "minmax", "log"]))
def test_scalers_with_arbitrary_arrays(X, kind):
    s = fastnn.preprocessing.get_scaler(kind)
    try:
        Z = s.fit_transform(X)
    except ALLOWED as exc:
        assert str(exc)
        return
    assert np.all(np.isfinite(Z))
