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
