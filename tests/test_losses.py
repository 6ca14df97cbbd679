"""The Huber and mean-absolute-error losses, and per-sample and per-class weights of every loss."""
import numpy as np
import pytest

import fastnn
from fastnn import _kernels
from fastnn import _reference as ref
from fastnn.losses import Huber, MeanAbsoluteError

REGRESSION_OUTPUTS = ["identity", "tanh", "sigmoid", "relu", "softplus", "elu", "gelu", "leaky_relu"]
ACT_CODES = {"identity": _kernels.ACT_IDENTITY, "tanh": _kernels.ACT_TANH, "sigmoid": _kernels.ACT_SIGMOID,
             "relu": _kernels.ACT_RELU, "softplus": _kernels.ACT_SOFTPLUS, "elu": _kernels.ACT_ELU,
             "gelu": _kernels.ACT_GELU, "leaky_relu": _kernels.ACT_LEAKY_RELU}


def huber(e, delta):
    """torch.nn.HuberLoss(delta=delta, reduction='none') written out."""
    a = np.abs(e)
    return np.where(a <= delta, 0.5 * e * e, delta * (a - 0.5 * delta))


def huber_grad(e, delta):
    return np.clip(e, -delta, delta)



def _net(out_act, K=3, seed=1):
    return fastnn.Sequential([fastnn.Dense(4, 6, "tanh"), fastnn.Dense(6, K, out_act)], seed=seed, dtype="float64")


# -- values and gradients of the losses ----------------------------------------------------------------------------

@pytest.mark.parametrize("out_act", REGRESSION_OUTPUTS)
@pytest.mark.parametrize("loss", [Huber(0.5), Huber(1.0), Huber(3.0), MeanAbsoluteError()], ids=repr)
def test_gradient(out_act, loss, rng, numeric_gradient):
    X = rng.normal(size=(8, 4))
    y = rng.normal(scale=2.0, size=(8, 3))  # errors on both sides of every delta
    model = _net(out_act).compile(loss=loss, regularizer=fastnn.L2(0.01))
    model.parameters[:] += rng.normal(scale=0.05, size=model.n_params)
    value, grad = model.loss_and_gradient(X, y)
    assert np.isfinite(value)
    np.testing.assert_allclose(grad, numeric_gradient(model, X, y), rtol=1e-5, atol=1e-7)
    _, grad2 = model.loss_and_gradient(X, y, n_threads=2)
    np.testing.assert_array_equal(grad, grad2)


@pytest.mark.parametrize("delta", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("out_act", ["identity", "tanh"])
def test_huber_value_is_pytorchs(delta, out_act, rng):
    X = rng.normal(size=(50, 4))
    y = rng.normal(scale=3.0, size=(50, 3))
    model = _net(out_act).compile(loss=Huber(delta))
    e = model.predict(X) - y
    assert (np.abs(e) <= delta).any() and (np.abs(e) > delta).any()
    expected = huber(e, delta).mean()  # mean over units and samples, as HuberLoss(reduction='mean')
    assert model.evaluate(X, y)["loss"] == pytest.approx(expected, rel=1e-12)
    assert model.loss_and_gradient(X, y)[0] == pytest.approx(expected, rel=1e-12)


def test_huber_default_delta_and_names():
    assert fastnn.losses.get_loss("huber") == Huber(1.0)
    assert fastnn.losses.get_loss("huber", delta=2.0) == Huber(delta=2.0)
    assert isinstance(fastnn.losses.get_loss("mae"), MeanAbsoluteError)
    assert isinstance(fastnn.losses.get_loss("mean_absolute_error"), MeanAbsoluteError)
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="delta"):
            Huber(bad)


def test_huber_against_torch_formula_on_known_errors():
    """Errors chosen on both sides of delta, and at delta itself."""
    model = fastnn.Sequential([fastnn.Dense(1, 1, "identity")], dtype="float64").compile(loss=Huber(2.0))
    model.set_weights([np.ones((1, 1)), np.zeros(1)])
    X = np.array([[0.0], [1.0], [2.0], [5.0], [-7.0]])
    y = np.zeros((5, 1))
    # 0, 0.5, 2 (= 0.5 * 2^2), 2 * (5 - 1) = 8, 2 * (7 - 1) = 12
    assert model.evaluate(X, y)["loss"] == pytest.approx((0 + 0.5 + 2 + 8 + 12) / 5, rel=1e-15)


@pytest.mark.parametrize("out_act", ["identity", "sigmoid"])
def test_mae_is_mean_absolute_error(out_act, rng):
    X = rng.normal(size=(40, 4))
    y = rng.normal(size=(40, 3))
    model = _net(out_act).compile(loss="mae")
    expected = np.abs(model.predict(X) - y).mean()
    assert model.evaluate(X, y)["loss"] == pytest.approx(expected, rel=1e-12)
    assert model.loss_and_gradient(X, y)[0] == pytest.approx(expected, rel=1e-12)


def test_mae_gradient_at_zero_error_is_zero():
    model = fastnn.Sequential([fastnn.Dense(1, 2, "identity")], dtype="float64").compile(loss="mae")
    model.set_weights([np.array([[1.0], [1.0]]), np.zeros(2)])
    X = np.array([[1.0], [2.0]])
    y = np.array([[1.0, 0.0], [2.0, 0.0]])  # unit 0 exact, unit 1 over by 1 and 2
    loss, grad = model.loss_and_gradient(X, y)
    assert loss == pytest.approx(0.75)
    W, b = grad[:2], grad[2:]
    np.testing.assert_allclose(b, [0.0, 0.5])  # d/db mean_{i,k}|e| = sign(e) / (n K), summed over samples
    np.testing.assert_allclose(W, [0.0, (1 + 2) / 4])


# -- the compiled output kernel --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("loss_code, delta", [(_kernels.LOSS_HUBER, 0.5), (_kernels.LOSS_HUBER, 1.0),
                                              (_kernels.LOSS_HUBER, 3.0), (_kernels.LOSS_MAE, 1.0)])
@pytest.mark.parametrize("act", ["identity", "tanh", "sigmoid", "gelu"])
@pytest.mark.parametrize("weighted", [False, True])
def test_output_loss_kernel(dtype, tol, loss_code, delta, act, weighted, rng):
    B, K = 13, 4
    z_in = (rng.normal(size=(B, K)) * 2).astype(dtype)
    a = ref.activation_forward(ACT_CODES[act], z_in.copy()).astype(dtype)
    targets = (rng.normal(size=(B, K)) * 2).astype(dtype)
    weights = rng.uniform(0, 3, B).astype(dtype) if weighted else None
    z = a.copy()
    d = np.full((B, K), np.nan, dtype)
    sample_loss, _ = _kernels.output_loss(loss_code, ACT_CODES[act], z, d, None, targets, z_in, weights, delta)

    e = a.astype(np.float64) - targets
    if loss_code == _kernels.LOSS_HUBER:
        per_unit, dl_de = huber(e, delta), huber_grad(e, delta)
    else:
        per_unit, dl_de = np.abs(e), np.sign(e)
    w = np.ones(B) if weights is None else weights.astype(np.float64)
    np.testing.assert_allclose(sample_loss, per_unit.mean(axis=1), rtol=tol, atol=tol)
    # d = gradient of sum_i w_i l_i / sum_i w_i with respect to the pre-activation
    expected = dl_de * (w / w.sum())[:, None] / K
    expected = ref.activation_backward(ACT_CODES[act], a.astype(np.float64), expected, z_in.astype(np.float64))
    np.testing.assert_allclose(d, expected, rtol=tol * 10, atol=tol)
    np.testing.assert_array_equal(z, a)  # the output is left as it was


# -- sample weights ----------------------------------------------------------------------------------------------

def _data(kind, rng, n=12, K=3):
    X = rng.normal(size=(n, 4))
    if kind == "cross_entropy":
        return X, rng.integers(0, K, n), "softmax"
    return X, rng.normal(size=(n, K)), "identity"


LOSSES = ["cross_entropy", "mse", Huber(0.7)]


def _model(loss, out_act, optimizer=None, seed=3):
    model = fastnn.Sequential([fastnn.Dense(4, 5, "relu"), fastnn.Dense(5, 3, out_act)], seed=seed,
                              dtype="float64")
    return model.compile(loss=loss, optimizer=optimizer or fastnn.SGD(lr=0.1, momentum=0.9))


@pytest.mark.parametrize("loss", LOSSES, ids=str)
@pytest.mark.parametrize("optimizer", [None, fastnn.Adam(lr=0.01)], ids=["sgd", "adam"])
def test_integer_weights_equal_repeated_samples(loss, optimizer, rng):
    X, y, out_act = _data(loss if isinstance(loss, str) else "huber", rng)
    w = rng.integers(1, 4, X.shape[0])
    weighted = _model(loss, out_act, optimizer)
    weighted.fit(X, y, epochs=3, batch_size=X.shape[0], sample_weight=w, verbose=0)
    repeated = _model(loss, out_act, optimizer)
    rows = np.repeat(np.arange(X.shape[0]), w)
    repeated.fit(X[rows], y[rows], epochs=3, batch_size=len(rows), verbose=0)
    np.testing.assert_allclose(weighted.parameters, repeated.parameters, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(weighted.history["loss"], repeated.history["loss"], rtol=1e-12)


@pytest.mark.parametrize("loss", LOSSES, ids=str)
def test_zero_weights_exclude_samples(loss, rng):
    X, y, out_act = _data(loss if isinstance(loss, str) else "huber", rng)
    w = np.ones(X.shape[0])
    w[[1, 4, 5, 9]] = 0
    weighted = _model(loss, out_act)
    weighted.fit(X, y, epochs=3, batch_size=X.shape[0], sample_weight=w, verbose=0)
    subset = _model(loss, out_act)
    keep = w > 0
    subset.fit(X[keep], y[keep], epochs=3, batch_size=int(keep.sum()), verbose=0)
    np.testing.assert_allclose(weighted.parameters, subset.parameters, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", LOSSES + ["mae"], ids=str)
def test_evaluate_with_sample_weight_is_the_weighted_mean(loss, rng):
    X, y, out_act = _data(loss if loss == "cross_entropy" else "regression", rng, n=30)
    model = _model(loss, out_act)
    w = rng.uniform(0, 2, 30)
    p = model.predict(X)
    if loss == "cross_entropy":
        per_sample = -np.log(p[np.arange(30), y])
    else:
        e = p - y
        per_sample = {"mse": e ** 2, "mae": np.abs(e)}.get(loss, None) if isinstance(loss, str) else None
        per_sample = (huber(e, loss.delta) if per_sample is None else per_sample).mean(axis=1)
    expected = (w * per_sample).sum() / w.sum()
    assert model.evaluate(X, y, sample_weight=w)["loss"] == pytest.approx(expected, rel=1e-12)
    assert model.evaluate(X, y, sample_weight=np.ones(30))["loss"] == pytest.approx(per_sample.mean(), rel=1e-12)
    if loss == "cross_entropy":  # accuracy counts every sample once
        accuracy = np.mean(p.argmax(axis=1) == y)
        assert model.evaluate(X, y, sample_weight=w)["accuracy"] == pytest.approx(accuracy)


@pytest.mark.parametrize("bad, message", [
    (lambda n: -np.ones(n), "sample_weight must be >= 0"),
    (lambda n: np.r_[np.ones(n - 1), np.nan], "sample_weight contains NaN"),
    (lambda n: np.r_[np.ones(n - 1), np.inf], "sample_weight contains NaN or infinity"),
    (lambda n: np.ones(n - 1), r"sample_weight must have shape \(12,\)"),
    (lambda n: np.ones((n, 1)), r"sample_weight must have shape \(12,\)"),
    (lambda n: np.zeros(n), "sample_weight .*every sample weight 0"),
], ids=["negative", "nan", "inf", "short", "2-d", "all-zero"])
@pytest.mark.parametrize("where", ["fit", "evaluate"])
def test_bad_sample_weights_are_refused_before_any_change(bad, message, where, rng):
    X, y, out_act = _data("cross_entropy", rng)
    model = _model("cross_entropy", out_act)
    model.fit(X, y, epochs=1, verbose=0)
    before = (model.parameters.copy(), model.history, model.epochs_trained, model._rng.bit_generator.state)
    with pytest.raises(ValueError, match=message):
        if where == "fit":
            model.fit(X, y, epochs=2, sample_weight=bad(12), verbose=0)
        else:
            model.evaluate(X, y, sample_weight=bad(12))
    np.testing.assert_array_equal(model.parameters, before[0])
    assert model.history is before[1] and model.epochs_trained == before[2]
    assert model._rng.bit_generator.state == before[3]


def test_zero_weights_in_the_training_part_name_sample_weight(rng):
    X, y, out_act = _data("cross_entropy", rng, n=10)
    model = _model("cross_entropy", out_act)
    before = model.parameters.copy()
    w = np.r_[np.zeros(8), np.ones(2)]  # the last 20% are the validation rows
    with pytest.raises(ValueError, match="sample_weight"):
        model.fit(X, y, epochs=1, validation_split=0.2, sample_weight=w, verbose=0)
    np.testing.assert_array_equal(model.parameters, before)


# -- class weights ---------------------------------------------------------------------------------------------

def _imbalanced(rng, n=40):
    X = rng.normal(size=(n, 4))
    y = np.r_[np.zeros(25, int), np.ones(10, int), np.full(5, 2)]
    return X, rng.permutation(y)


def test_class_weight_dict_equals_sample_weight(rng):
    X, y = _imbalanced(rng)
    table = {0: 0.5, 2: 3.0}  # class 1 is missing: weight 1
    a = _model("cross_entropy", "softmax")
    a.fit(X, y, epochs=3, batch_size=8, class_weight=table, verbose=0)
    b = _model("cross_entropy", "softmax")
    b.fit(X, y, epochs=3, batch_size=8, sample_weight=np.array([table.get(c, 1.0) for c in y]), verbose=0)
    np.testing.assert_allclose(a.parameters, b.parameters, rtol=1e-12, atol=1e-14)


def test_class_weight_balanced_is_scikit_learns(rng):
    sklearn_utils = pytest.importorskip("sklearn.utils")
    X, y = _imbalanced(rng)
    balanced = sklearn_utils.compute_class_weight("balanced", classes=np.unique(y), y=y)
    np.testing.assert_allclose(balanced, 40 / (3 * np.bincount(y)))
    a = _model("cross_entropy", "softmax")
    a.fit(X, y, epochs=3, batch_size=8, class_weight="balanced", verbose=0)
    b = _model("cross_entropy", "softmax")
    b.fit(X, y, epochs=3, batch_size=8, sample_weight=balanced[y], verbose=0)
    np.testing.assert_allclose(a.parameters, b.parameters, rtol=1e-12, atol=1e-14)


def test_class_weight_multiplies_sample_weight(rng):
    X, y = _imbalanced(rng)
    w = rng.uniform(0.5, 2, 40)
    a = _model("cross_entropy", "softmax")
    a.fit(X, y, epochs=2, batch_size=40, sample_weight=w, class_weight={1: 4.0}, verbose=0)
    b = _model("cross_entropy", "softmax")
    b.fit(X, y, epochs=2, batch_size=40, sample_weight=w * np.where(y == 1, 4.0, 1.0), verbose=0)
    np.testing.assert_allclose(a.parameters, b.parameters, rtol=1e-12, atol=1e-14)


def test_class_weight_binary_cross_entropy(rng):
    X = rng.normal(size=(30, 4))
    y = (rng.uniform(size=30) < 0.2).astype(float)
    model = fastnn.Sequential([fastnn.Dense(4, 1, "sigmoid")], seed=0, dtype="float64").compile("bce")
    other = fastnn.Sequential([fastnn.Dense(4, 1, "sigmoid")], seed=0, dtype="float64").compile("bce")
    model.fit(X, y, epochs=2, batch_size=30, class_weight="balanced", verbose=0)
    counts = np.bincount(y.astype(int))
    other.fit(X, y, epochs=2, batch_size=30, sample_weight=(30 / (2 * counts))[y.astype(int)], verbose=0)
    np.testing.assert_allclose(model.parameters, other.parameters, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("class_weight, error, message", [
    ({5: 1.0}, ValueError, "class_weight key"),
    ({0: -1.0}, ValueError, r"class_weight\[0\]"),
    ("auto", ValueError, "'balanced'"),
    ([1.0, 2.0, 3.0], TypeError, "dict or 'balanced'"),
])
def test_bad_class_weight(class_weight, error, message, rng):
    X, y = _imbalanced(rng)
    model = _model("cross_entropy", "softmax")
    before = model.parameters.copy()
    with pytest.raises(error, match=message):
        model.fit(X, y, epochs=1, class_weight=class_weight, verbose=0)
    np.testing.assert_array_equal(model.parameters, before)


def test_class_weight_needs_a_classification_loss(rng):
    X, y, out_act = _data("mse", rng)
    model = _model("mse", out_act)
    with pytest.raises(ValueError, match="class_weight needs a classification loss"):
        model.fit(X, y, class_weight="balanced", verbose=0)
