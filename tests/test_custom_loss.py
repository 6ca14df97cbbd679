"""Losses written in Python (``compile(loss=MyLoss())`` with ``forward`` and ``backward`` in NumPy): a custom MSE
trains as the built-in one does, a loss fastnn lacks backpropagates correctly (finite differences), and wrong
losses or arguments are refused before anything changes."""
import numpy as np
import pytest

import fastnn


class MyMSE(fastnn.losses.CustomLoss):
    """The mean squared error over every output value, as a user would write it."""

    def forward(self, outputs, targets):
        return float(np.mean((outputs - targets) ** 2))

    def backward(self, outputs, targets):
        return 2 * (outputs - targets) / outputs.size


class PlainMSE:
    """The same as a plain class (PyTorch's habit: no fastnn base class)."""

    def __init__(self):
        self.shapes = []

    def forward(self, outputs, targets):
        self.shapes.append(outputs.shape)
        return np.mean((outputs - targets) ** 2)

    def backward(self, outputs, targets):
        return 2 * (outputs - targets) / outputs.size


class LogCosh(fastnn.losses.CustomLoss):
    def forward(self, outputs, targets):
        return float(np.mean(np.log(np.cosh(outputs - targets))))

    def backward(self, outputs, targets):
        return np.tanh(outputs - targets) / outputs.size


def _mlp(loss):
    model = fastnn.Sequential([fastnn.Dense(5, 12, use_bias=False), fastnn.BatchNorm1d(12, activation="relu"),
                               fastnn.Dropout(0.25),
                               fastnn.Dense(12, 3, "tanh")], seed=0, dtype="float64")
    return model.compile(loss=loss, optimizer=fastnn.Adam(lr=1e-2), regularizer=fastnn.L2(1e-3))


def _sequence(loss):
    model = fastnn.Sequential([fastnn.GRU(3, 6, return_sequences=True), fastnn.Dense(6, 2)], input_shape=(4, 3),
                              seed=0, dtype="float64")
    return model.compile(loss=loss, optimizer=fastnn.SGD(0.1, momentum=0.9))


@pytest.mark.parametrize("build, loss", [(_mlp, MyMSE), (_mlp, PlainMSE), (_sequence, PlainMSE)])
def test_a_custom_mse_trains_as_the_built_in_mse(build, loss, rng):
    builtin, custom = build("mse"), build(loss())
    n = 45
    X = rng.standard_normal((n,) + builtin.input_shape)
    y = rng.standard_normal((n,) + builtin.output_shape)
    val = (rng.standard_normal((9,) + builtin.input_shape), rng.standard_normal((9,) + builtin.output_shape))
    expected = builtin.fit(X, y, epochs=3, batch_size=16, validation_data=val, verbose=0).history
    got = custom.fit(X, y, epochs=3, batch_size=16, validation_data=val, verbose=0).history
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-12)
    np.testing.assert_allclose(custom.parameters, builtin.parameters, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(custom._buffers, builtin._buffers, rtol=1e-12, atol=1e-14)
    assert custom.train_on_batch(X[:7], y[:7]) == pytest.approx(builtin.train_on_batch(X[:7], y[:7]), rel=1e-12)
    assert custom.evaluate(X, y)["loss"] == pytest.approx(builtin.evaluate(X, y)["loss"], rel=1e-12)
    if isinstance(getattr(custom.loss, "loss", None), PlainMSE):  # the loss saw the model's output shape
        assert set(custom.loss.loss.shapes) >= {(16,) + builtin.output_shape, (13,) + builtin.output_shape}


def test_gradient_of_a_loss_fastnn_lacks_by_finite_differences(rng, numeric_gradient):
    model = fastnn.Sequential([fastnn.Dense(4, 6, "tanh"), fastnn.Dense(6, 2, "sigmoid")], seed=1, dtype="float64")
    model.compile(loss=LogCosh())
    X, y = rng.standard_normal((8, 4)), rng.uniform(size=(8, 2))
    loss, grad = model.loss_and_gradient(X, y)
    out = model.predict(X)
    assert loss == pytest.approx(np.mean(np.log(np.cosh(out - y))), rel=1e-12)
    np.testing.assert_allclose(grad, numeric_gradient(model, X, y), rtol=1e-5, atol=1e-9)


def test_wrong_losses_and_arguments_are_refused_before_anything_changes(rng, tmp_path):
    class WrongShape(MyMSE):
        def backward(self, outputs, targets):
            return np.zeros(outputs.shape[0])

    class NotANumber(MyMSE):
        def forward(self, outputs, targets):
            return "small"

    X, y = rng.standard_normal((10, 5)), rng.standard_normal((10, 3))
    for loss, error, match in ((WrongShape(), ValueError, "of the outputs' shape"),
                               (NotANumber(), TypeError, "must return a number")):
        model = _mlp(loss)
        before = model.parameters.copy()
        with pytest.raises(error, match=match):
            model.fit(X, y, verbose=0)
        assert np.array_equal(model.parameters, before)
    model = _mlp(MyMSE())
    with pytest.raises(ValueError, match="no sample_weight"):
        model.train_on_batch(X, y, sample_weight=np.ones(10))
    with pytest.raises(TypeError, match="forward"):
        model.compile(loss=object())
    with pytest.raises(NotImplementedError, match="forward"):
        _mlp(fastnn.losses.CustomLoss()).fit(X, y, verbose=0)
    model.fit(X, y, epochs=1, verbose=0)
    model.save(tmp_path / "custom.fnn")  # the weights, as an uncompiled model
    loaded = fastnn.load(tmp_path / "custom.fnn")
    assert loaded.loss is None
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
