"""GlobalAvgPool2D: the mean of each channel over the image, a layer kind built from the layer interface alone
(its shapes and its engine row; no parameters, no kernel of its own)."""
import re
import numpy as np
import pytest

import fastnn
from fastnn import _reference as ref


def _net(seed=0, dtype="float64"):
    return fastnn.Sequential([fastnn.Conv2D(2, 3, 3, activation="tanh"), fastnn.GlobalAvgPool2D(),
                              fastnn.Dense(3, 4, "softmax")], input_shape=(2, 7, 6), seed=seed, dtype=dtype)


def test_forward_is_the_channel_mean():
    X = np.random.default_rng(0).normal(size=(5, 3, 4, 6))
    model = fastnn.Sequential([fastnn.GlobalAvgPool2D(), fastnn.Dense(3, 2)], input_shape=(3, 4, 6), seed=0,
                              dtype="float64")
    pooled = model.predict(X, layer=0)
    np.testing.assert_allclose(pooled, X.mean(axis=(2, 3)), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(pooled, ref.avg_pool2d(X, (4, 6), (4, 6)).reshape(5, 3), rtol=1e-14, atol=1e-15)
    assert model.layers[0].params() == () and model.n_params == 3 * 2 + 2


def test_gradients_against_finite_differences(numeric_gradient):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(6, 2, 7, 6)), rng.integers(0, 4, 6)
    model = _net()
    model.compile("cross_entropy")
    _, grad = model.loss_and_gradient(X, y)
    np.testing.assert_allclose(grad, numeric_gradient(model, X, y), rtol=1e-6, atol=1e-9)


def test_shapes_summary_and_errors():
    model = _net(dtype="float32")
    assert model._shapes[1] == (3,)
    assert re.search(r"global_avg_pool2d \(GlobalAvgPool2D\) +\(None, 3\)", str(model))
    with pytest.raises(ValueError, match="GlobalAvgPool2D takes images"):
        fastnn.Sequential([fastnn.Dense(4, 3), fastnn.GlobalAvgPool2D()])
    with pytest.raises(AttributeError, match="cannot be set"):
        fastnn.GlobalAvgPool2D().activation = "relu"


def test_saved_and_loaded(tmp_path):
    model = _net(dtype="float32")
    model.compile("cross_entropy", fastnn.Adam())
    X = np.random.default_rng(2).normal(size=(8, 2, 7, 6)).astype(np.float32)
    model.fit(X, np.arange(8) % 4, epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / "m.fnn")
    loaded = fastnn.load(tmp_path / "m.fnn")
    assert isinstance(loaded.layers[1], fastnn.GlobalAvgPool2D)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_bit_identical_for_any_thread_count(many_cores):
    X = np.random.default_rng(3).normal(size=(40, 2, 7, 6)).astype(np.float32)
    y = np.arange(40) % 4
    params = []
    for n_threads in (1, 3):
        model = _net(dtype="float32")
        model.compile("cross_entropy", fastnn.SGD(lr=0.05, momentum=0.9))
        model.fit(X, y, epochs=2, batch_size=8, n_threads=n_threads, verbose=0)
        params.append(model.parameters.copy())
    np.testing.assert_array_equal(params[0], params[1])
