"""Float64 finite-difference checks of the analytic gradient, for every activation x loss x regularizer."""
import numpy as np
import pytest

import fastnn

HIDDEN = ["identity", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "softplus", "gelu"]
OUTPUTS = [("cross_entropy", "softmax", "labels"), ("cross_entropy", "softmax", "probabilities"),
           ("binary_cross_entropy", "sigmoid", "binary"), ("mse", "identity", "real"), ("mse", "sigmoid", "real"),
           ("mse", "tanh", "real"), ("mse", "relu", "real"), ("mse", "softmax", "real"),
           ("mse", "leaky_relu", "real"), ("mse", "elu", "real"), ("mse", "softplus", "real"), ("mse", "gelu", "real")]
REGULARIZERS = [None, fastnn.L1(0.01), fastnn.L2(0.1), fastnn.L1L2(l1=0.02, l2=0.05)]



@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("loss, out_act, target", OUTPUTS)
@pytest.mark.parametrize("regularizer", REGULARIZERS, ids=repr)
def test_gradient(hidden, loss, out_act, target, regularizer, numeric_gradient):
    rng = np.random.default_rng(0)
    n, K = 6, 3
    X = rng.normal(size=(n, 4))
    if target == "labels":
        y = rng.integers(0, K, n)
    elif target == "probabilities":
        y = rng.dirichlet(np.ones(K), size=n)
    elif target == "binary":
        y = rng.integers(0, 2, (n, K)).astype(float)
    else:
        y = rng.normal(size=(n, K))
    model = fastnn.Sequential([fastnn.Dense(4, 5, hidden), fastnn.Dense(5, 7, "tanh"), fastnn.Dense(7, K, out_act)],
                              seed=1, dtype="float64")
    model.compile(loss=loss, regularizer=regularizer)
    model.parameters[:] += rng.normal(scale=0.05, size=model.n_params)  # biases away from zero, weights off 0
    loss_value, grad = model.loss_and_gradient(X, y)
    assert np.isfinite(loss_value)
    expected = numeric_gradient(model, X, y)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)
    # the threaded path computes the same gradient
    _, grad2 = model.loss_and_gradient(X, y, n_threads=2)
    np.testing.assert_array_equal(grad, grad2)


def test_gradient_of_wide_layers_threaded(numeric_gradient):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 70))
    y = rng.integers(0, 5, 40)
    model = fastnn.Sequential([fastnn.Dense(70, 130, "relu"), fastnn.Dense(130, 5, "softmax")], seed=2,
                              dtype="float64")
    model.compile("cross_entropy", regularizer=fastnn.L2(0.01))
    _, grad = model.loss_and_gradient(X, y, n_threads=2)
    idx = rng.choice(model.n_params, 150, replace=False)
    np.testing.assert_allclose(grad[idx], numeric_gradient(model, X, y, indices=idx)[idx], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_loss_and_gradient_with_sample_weight_equals_repeated_rows(loss):
    """Integer sample weights give the loss and gradient of the rows repeated (weight 0: the row left out)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 4))
    y = rng.integers(0, 3, 12) if loss == "cross_entropy" else rng.normal(size=(12, 3))
    w = rng.integers(0, 4, 12)
    w[0] = 2
    model = fastnn.Sequential([fastnn.Dense(4, 5, "tanh"), fastnn.Dense(5, 3, "softmax" if loss != "mse" else
                                                                          "identity")], seed=0, dtype="float64")
    model.compile(loss=loss, regularizer=fastnn.L2(0.1))
    weighted = model.loss_and_gradient(X, y, sample_weight=w)
    repeated = model.loss_and_gradient(np.repeat(X, w, axis=0), np.repeat(y, w, axis=0))
    assert weighted[0] == pytest.approx(repeated[0], rel=1e-12)
    np.testing.assert_allclose(weighted[1], repeated[1], rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="sample_weight"):
        model.loss_and_gradient(X, y, sample_weight=w[:5])
