"""The Activation layer: an engine kind of its own (no parameters), as Keras's ``Activation``."""
import numpy as np
import pytest

import fastnn


def test_same_model_as_the_fused_activation(rng):
    X, y = rng.standard_normal((16, 2, 6, 6)), rng.integers(0, 2, 16)
    split = fastnn.Sequential([fastnn.Conv2D(2, 3, 3), fastnn.BatchNorm2d(3), fastnn.Activation("relu"),
                               fastnn.Flatten(), fastnn.Dense(48, 2), fastnn.Activation("softmax")],
                              input_shape=(2, 6, 6), seed=0, dtype="float64")
    fused = fastnn.Sequential([fastnn.Conv2D(2, 3, 3), fastnn.BatchNorm2d(3, activation="relu"), fastnn.Flatten(),
                               fastnn.Dense(48, 2, "softmax")], input_shape=(2, 6, 6), seed=0, dtype="float64")
    for model in (split, fused):
        model.compile("cross_entropy", optimizer=fastnn.Adam(1e-2)).fit(X, y, epochs=3, batch_size=8, verbose=0)
    np.testing.assert_array_equal(split.parameters, fused.parameters)
    np.testing.assert_array_equal(split.predict(X), fused.predict(X))
    assert split.predict(X, layer=2).min() >= 0
    assert "activation (Activation)" in str(split)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "gelu", "elu", "softplus"])
def test_gradient_by_finite_differences(activation, rng, numeric_gradient):
    model = fastnn.Sequential([fastnn.Dense(4, 5), fastnn.Activation(activation), fastnn.Dropout(0.2),
                               fastnn.Dense(5, 3), fastnn.Activation("softmax")], seed=0, dtype="float64")
    model.compile("cross_entropy")
    X, y = rng.standard_normal((10, 4)), rng.integers(0, 3, 10)
    _, grad = model.loss_and_gradient(X, y)
    np.testing.assert_allclose(grad, numeric_gradient(model, X, y), rtol=1e-5, atol=1e-8)


def test_settings_files_and_onnx(rng, tmp_path):
    model = fastnn.Sequential([fastnn.Dense(4, 5), fastnn.Activation("relu"), fastnn.Dense(5, 2),
                               fastnn.Activation("sigmoid")], seed=0)
    X = rng.standard_normal((8, 4)).astype(np.float32)
    model.layers[1].activation = "tanh"  # a live setting, as a Dense layer's activation
    path = tmp_path / "a.fnn"
    model.save(path)
    np.testing.assert_array_equal(fastnn.load(path).predict(X), model.predict(X))
    with pytest.raises(ValueError, match="activation must be one of"):
        fastnn.Activation("swishy")
    ort = pytest.importorskip("onnxruntime")
    from fastnn.onnx import to_onnx

    session = ort.InferenceSession(to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": X})[0], model.predict(X), rtol=1e-6, atol=1e-7)
