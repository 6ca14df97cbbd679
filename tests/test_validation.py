"""Bad input raises a clear error naming the argument, and leaves the model untouched."""
import numpy as np
import pytest

import fastnn


@pytest.fixture
def model():
    m = fastnn.Sequential([fastnn.Dense(4, 6, "relu"), fastnn.Dense(6, 3, "softmax")], seed=0)
    m.compile("cross_entropy", fastnn.SGD(lr=0.1, momentum=0.9))
    return m


@pytest.fixture
def data(rng):
    return rng.normal(size=(20, 4)), rng.integers(0, 3, 20)


def unchanged(model, fn):
    before = model.parameters.copy()
    fn()
    np.testing.assert_array_equal(model.parameters, before)


@pytest.mark.parametrize("X, exc, match", [
    (np.zeros((20, 5)), ValueError, "X has 5 features"),
    (np.zeros(20), ValueError, "2-dimensional"),
    (np.zeros((0, 4)), ValueError, "empty"),
    (np.full((20, 4), np.nan), ValueError, "NaN"),
    (np.full((20, 4), np.inf), ValueError, "NaN or infinity"),
    (np.full((20, 4), 1e300), ValueError, "too large for float32"),
    (np.zeros((20, 4), dtype=complex), TypeError, "complex"),
    (np.array([["a"] * 4] * 20), TypeError, "string"),
    (np.empty((20, 4), dtype=object), TypeError, "object"),
    ("not an array", TypeError, "X must"),
])
def test_bad_X(model, data, X, exc, match):
    _, y = data
    with pytest.raises(exc, match=match):
        unchanged(model, lambda: model.fit(X, y, verbose=0))


@pytest.mark.parametrize("y, match", [
    (np.full(20, 3), r"label 3 outside \[0, 2\]"),
    (np.full(20, -1), r"label -1 outside"),
    (np.zeros(19, dtype=int), "19 labels but X has 20"),
    (np.full(20, 0.5), "integer class labels"),
    (np.full(20, np.nan), "NaN"),
    (np.zeros((20, 2, 2)), "1-dimensional"),
])
def test_bad_labels(model, data, y, match):
    X, _ = data
    with pytest.raises(ValueError, match=match):
        unchanged(model, lambda: model.fit(X, y, verbose=0))


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
    (dict(batch_size=2.5), TypeError, "batch_size must be an integer"),
    (dict(epochs=-1), ValueError, "epochs must be >= 0"),
    (dict(epochs=True), TypeError, "epochs must be an integer"),
    (dict(validation_split=1.0), ValueError, "validation_split"),
    (dict(validation_split=0.99), ValueError, "both parts must be non-empty"),
    (dict(n_threads=0), ValueError, "n_threads"),
    (dict(n_threads="2"), TypeError, "n_threads"),
    (dict(verbose=3), ValueError, "verbose"),
    (dict(shuffle="yes"), TypeError, "shuffle"),
    (dict(validation_data=(np.zeros((3, 4)),)), ValueError, "validation_data"),
    (dict(validation_data=(np.zeros((3, 4)), np.zeros(3)), validation_split=0.2), ValueError, "not both"),
    (dict(validation_data=(np.zeros((3, 5)), np.zeros(3))), ValueError, r"validation_data\[0\] has 5 features"),
    (dict(validation_data=(np.zeros((3, 4)), np.full(3, 7))), ValueError, r"validation_data\[1\] holds label 7"),
])
def test_bad_fit_arguments(model, data, kwargs, exc, match):
    X, y = data
    with pytest.raises(exc, match=match):
        unchanged(model, lambda: model.fit(X, y, **kwargs))


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(lr=0), ValueError, "lr must be > 0"),
    (dict(lr=-1), ValueError, "lr must be > 0"),
    (dict(lr=float("nan")), ValueError, "lr must be finite"),
    (dict(lr="fast"), TypeError, "lr must be a real number"),
    (dict(momentum=1.0), ValueError, "momentum must be < 1"),
    (dict(momentum=-0.1), ValueError, "momentum must be >= 0"),
    (dict(nesterov=True), ValueError, "nesterov momentum needs momentum > 0"),
    (dict(weight_decay=-1), ValueError, "weight_decay"),
])
def test_bad_optimizer(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fastnn.SGD(**kwargs)


@pytest.mark.parametrize("make, exc, match", [
    (lambda: fastnn.Dense(0, 3), ValueError, "in_features must be >= 1"),
    (lambda: fastnn.Dense(3, 0), ValueError, "out_features must be >= 1"),
    (lambda: fastnn.Dense(3.0, 2), TypeError, "in_features must be an integer"),
    (lambda: fastnn.Dense(3, 2, activation="swish"), ValueError, "activation must be one of"),
    (lambda: fastnn.Sequential([]).predict(np.zeros((1, 2))), AttributeError, "no Dense, Conv2D or pooling layer yet"),
    (lambda: fastnn.Sequential([fastnn.Dense(3, 4), fastnn.Dense(5, 2)]), ValueError, "in_features=5"),
    (lambda: fastnn.Sequential([fastnn.Dense(3, 4), "relu"]), TypeError, r"layers\[1\]"),
    (lambda: fastnn.Sequential([fastnn.Dense(3, 4)], dtype="int32"), ValueError, "dtype"),
    (lambda: fastnn.Sequential([fastnn.Dense(3, 4)], seed=-1), ValueError, "seed"),
    (lambda: fastnn.L2(-1.0), ValueError, "alpha"),
    (lambda: fastnn.L1L2(l1=float("inf")), ValueError, "l1 must be finite"),
])
def test_bad_construction(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_layer_reuse_refused():
    layer = fastnn.Dense(3, 2)
    fastnn.Sequential([layer])
    with pytest.raises(ValueError, match="already belongs"):
        fastnn.Sequential([layer])


@pytest.mark.parametrize("loss, out_act, match", [
    ("cross_entropy", "sigmoid", "needs a 'softmax' output"),
    ("binary_cross_entropy", "softmax", "needs a 'sigmoid' output"),
    ("hinge", "softmax", "unknown loss"),
])
def test_bad_compile(loss, out_act, match):
    m = fastnn.Sequential([fastnn.Dense(3, 2, out_act)])
    with pytest.raises(ValueError, match=match):
        m.compile(loss)


def test_cross_entropy_needs_two_units():
    m = fastnn.Sequential([fastnn.Dense(3, 1, "softmax")])
    with pytest.raises(ValueError, match="at least 2 output units"):
        m.compile("cross_entropy")


def test_compile_argument_types():
    m = fastnn.Sequential([fastnn.Dense(3, 2, "softmax")])
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'"):
        m.compile("cross_entropy", optimizer="adamax")
    with pytest.raises(TypeError, match="optimizer"):
        m.compile("cross_entropy", optimizer=0.1)
    with pytest.raises(TypeError, match="regularizer"):
        m.compile("cross_entropy", regularizer=0.01)
    with pytest.raises(TypeError, match="loss"):
        m.compile(3)


def test_uncompiled_model_refuses_fit(data):
    m = fastnn.Sequential([fastnn.Dense(4, 3, "softmax")])
    with pytest.raises(RuntimeError, match="compile"):
        m.fit(*data)
    assert m.predict(data[0]).shape == (20, 3)  # predicting needs no loss


def test_bad_targets_for_bce_and_mse(rng):
    X = rng.normal(size=(10, 3))
    bce = fastnn.Sequential([fastnn.Dense(3, 1, "sigmoid")]).compile("binary_cross_entropy")
    with pytest.raises(ValueError, match=r"must lie in \[0.0, 1.0\]"):
        bce.fit(X, np.full(10, 2.0), verbose=0)
    mse = fastnn.Sequential([fastnn.Dense(3, 2)]).compile("mse")
    with pytest.raises(ValueError, match=r"shape \(10, 2\)"):
        mse.fit(X, np.zeros(10), verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        mse.fit(X, np.full((10, 2), np.nan), verbose=0)


def test_inputs_of_other_kinds_are_accepted(model, rng):
    X = rng.integers(0, 255, size=(20, 4), dtype=np.uint8)
    y = [0, 1, 2, 0] * 5
    model.fit(X, y, epochs=1, verbose=0)  # uint8 features, list labels
    model.fit(np.asfortranarray(X.astype(np.float64)), np.array(y, dtype=np.float32), verbose=0)
    ro = np.ascontiguousarray(X, dtype=np.float32)
    ro.setflags(write=False)
    assert model.predict(ro).shape == (20, 3)
    assert model.predict(X[::2]).shape == (10, 3)  # non-contiguous view
    assert model.predict(X.tolist()).shape == (20, 3)


def test_predict_and_evaluate_validate(model, data):
    X, y = data
    with pytest.raises(ValueError, match="features"):
        model.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(X, batch_size=0)
    with pytest.raises(ValueError, match="label"):
        model.evaluate(X, y + 3)


def test_sparse_input_is_named(model, data):
    import scipy.sparse

    X, y = data
    with pytest.raises(TypeError, match=r"scipy sparse matrix.*toarray"):
        model.fit(scipy.sparse.csr_matrix(X), y, verbose=0)
    with pytest.raises(TypeError, match="sparse"):
        model.predict(scipy.sparse.csr_matrix(X))


def test_foreign_scaler_refused_when_set(model, data):
    X, _ = data
    sklearn_preprocessing = pytest.importorskip("sklearn.preprocessing")
    for bad in (sklearn_preprocessing.StandardScaler().fit(X), "standard", 3):
        with pytest.raises(TypeError, match="model.scaler must be a fitted fastnn"):
            model.scaler = bad
    with pytest.raises(ValueError, match="must be fitted"):
        model.scaler = fastnn.StandardScaler()
    with pytest.raises(ValueError, match="fitted on 3 features"):
        model.scaler = fastnn.StandardScaler().fit(X[:, :3])
    assert model.scaler is None
    model.scaler = fastnn.StandardScaler().fit(X)
    model.scaler = None


def test_one_hot_rows_of_the_wrong_width_say_what_fits():
    model = fastnn.Sequential([fastnn.Dense(4, 3, "softmax")], seed=0).compile("cross_entropy")
    X = np.zeros((6, 4))
    with pytest.raises(ValueError, match=r"y has shape \(6, 5\): cross-entropy takes class labels \(n_samples,\) "
                                         r"or one-hot \(probability\) rows \(n_samples, 3\)"):
        model.fit(X, np.eye(5)[[0, 1, 2, 0, 1, 2]], verbose=0)
