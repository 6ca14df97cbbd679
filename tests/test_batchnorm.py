"""Batch normalization (BatchNorm1d, BatchNorm2d): PyTorch's math through the NumPy twin and PyTorch itself,
gradients by finite differences, running statistics as saved non-trained state."""
import numpy as np
import pytest

import fastnn
from fastnn import _reference as ref


def _dense_model(dtype="float64", activation="relu"):
    return fastnn.Sequential([fastnn.Dense(4, 6), fastnn.BatchNorm1d(6, activation=activation),
                              fastnn.Dense(6, 3, "softmax")], seed=0, dtype=dtype)


def _conv_model(dtype="float64"):
    return fastnn.Sequential([fastnn.Conv2D(2, 3, 3), fastnn.BatchNorm2d(3, momentum=0.3, activation="relu"),
                              fastnn.Flatten(), fastnn.Dense(48, 2, "softmax")], input_shape=(2, 6, 6), seed=0,
                             dtype=dtype)


def test_forward_and_running_statistics_equal_the_numpy_twin(rng):
    model = _conv_model()
    X = rng.standard_normal((10, 2, 6, 6))
    y = rng.integers(0, 2, 10)
    bn = model.layers[1]
    bn.weight = rng.uniform(0.5, 2, 3)
    bn.bias = rng.standard_normal(3)
    conv = ref.conv2d_forward(X, model.layers[0].weight, model.layers[0].bias)
    mean, var = bn.running_mean.copy(), bn.running_var.copy()
    out, mean, var = ref.batchnorm(conv, bn.weight, bn.bias, mean, var, training=True, momentum=0.3)
    model.compile("cross_entropy", optimizer=fastnn.SGD(1e-3))
    model.train_on_batch(X, y)  # the running statistics of this batch; then predict with the new weights
    conv = ref.conv2d_forward(X, model.layers[0].weight, model.layers[0].bias)
    np.testing.assert_allclose(bn.running_mean, mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(bn.running_var, var, rtol=1e-12, atol=1e-15)
    expected, _, _ = ref.batchnorm(conv, bn.weight, bn.bias, mean, var, training=False)
    np.testing.assert_allclose(model.predict(X, layer=1), np.maximum(expected, 0), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("build", [_dense_model, _conv_model])
def test_gradients_by_finite_differences(build, rng, numeric_gradient):
    model = build()
    shape = (12,) + model.input_shape
    X, y = rng.standard_normal(shape), rng.integers(0, 2, 12)
    model.compile("cross_entropy")
    model.layers[1].weight = rng.uniform(0.5, 2, model.layers[1].num_features)
    _, grad = model.loss_and_gradient(X, y)
    np.testing.assert_allclose(grad, numeric_gradient(model, X, y), rtol=1e-5, atol=1e-8)
    running = model.layers[1].running_mean.copy()
    model.evaluate(X, y)
    assert np.array_equal(model.layers[1].running_mean, running)  # neither these calls nor predict move them


@pytest.mark.parametrize("build", [_dense_model, _conv_model])
def test_three_sgd_steps_equal_pytorch(build, rng):
    torch = pytest.importorskip("torch")
    model = build().compile("cross_entropy", optimizer=fastnn.SGD(0.1, momentum=0.9))
    X = rng.standard_normal((16,) + model.input_shape)
    y = rng.integers(0, 2, 16)
    modules = []
    for layer in model.layers:
        if isinstance(layer, fastnn.Dense):
            m = torch.nn.Linear(layer.in_features, layer.out_features).double()
        elif isinstance(layer, fastnn.Conv2D):
            m = torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size).double()
        elif isinstance(layer, fastnn.Flatten):
            modules.append(torch.nn.Flatten())
            continue
        else:
            cls = torch.nn.BatchNorm1d if isinstance(layer, fastnn.BatchNorm1d) else torch.nn.BatchNorm2d
            m = cls(layer.num_features, eps=layer.eps, momentum=layer.momentum).double()
        with torch.no_grad():
            m.weight[...] = torch.from_numpy(np.array(layer.weight))
            m.bias[...] = torch.from_numpy(np.array(layer.bias))
        modules.append(m)
        if isinstance(layer, (fastnn.BatchNorm1d, fastnn.BatchNorm2d)):
            modules.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*modules)
    opt = torch.optim.SGD(net.parameters(), 0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        opt.step()
        model.train_on_batch(X, y)
    bn, tbn = model.layers[1], next(m for m in modules if "BatchNorm" in type(m).__name__)
    np.testing.assert_allclose(bn.running_mean, tbn.running_mean.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(bn.running_var, tbn.running_var.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(bn.weight, tbn.weight.detach().numpy(), rtol=1e-10, atol=1e-14)
    net.eval()
    expected = torch.softmax(net(torch.from_numpy(X)), 1).detach().numpy()
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-10, atol=1e-14)


def test_saved_with_the_model_bit_identical_across_threads_and_in_onnx(rng, tmp_path):
    X = rng.standard_normal((64, 2, 6, 6)).astype(np.float32)
    y = rng.integers(0, 2, 64)
    states = []
    for n_threads in (1, 2, 3):
        model = _conv_model("float32").compile("cross_entropy", optimizer=fastnn.Adam(1e-2))
        model.fit(X, y, epochs=2, batch_size=16, verbose=0, n_threads=n_threads)
        states.append((model.parameters.copy(), model._buffers.copy()))
    assert all(np.array_equal(a, b) for s in states[1:] for a, b in zip(states[0], s))
    path = tmp_path / "bn.fnn"
    model.save(path)
    loaded = fastnn.load(path)
    np.testing.assert_array_equal(loaded.layers[1].running_var, model.layers[1].running_var)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert "Non-trained state: 6 values" in str(model)
    ort = pytest.importorskip("onnxruntime")
    from fastnn.onnx import to_onnx

    session = ort.InferenceSession(to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": X.reshape(64, -1)})[0], model.predict(X), rtol=1e-5,
                               atol=1e-6)


def test_batchnorm_settings_are_checked():
    with pytest.raises(ValueError, match="softmax"):
        fastnn.BatchNorm1d(4, activation="softmax")
    with pytest.raises(ValueError, match="momentum"):
        fastnn.BatchNorm2d(4, momentum=1.5)
    with pytest.warns(UserWarning, match=r"Keras's BatchNormalization\(momentum=0.99\) is momentum=0.01 here"):
        fastnn.BatchNorm(8, momentum=0.99)
    with pytest.raises(ValueError, match=r"BatchNorm1d\(5\) takes \(5,\) features"):
        fastnn.Sequential([fastnn.Dense(3, 4), fastnn.BatchNorm1d(5)])
    with pytest.raises(ValueError, match="takes 3 channels, not 2"):
        fastnn.Sequential([fastnn.Conv2D(1, 2, 3), fastnn.BatchNorm2d(3)], input_shape=(1, 5, 5))
    copy = fastnn.BatchNorm2d.from_config(fastnn.BatchNorm2d(8, eps=1e-3, activation="relu").get_config())
    assert (copy.eps, copy.activation) == (1e-3, "relu")


def test_a_training_batch_of_one_row_is_refused_before_anything_changes(rng):
    model = _dense_model().compile("cross_entropy")
    X, y = rng.standard_normal((9, 4)), rng.integers(0, 3, 9)
    before = model.parameters.copy()
    with pytest.raises(ValueError, match="batch_size=4, 9 training rows make a batch of 1 row"):
        model.fit(X, y, batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="a batch of 1 row"):
        model.train_on_batch(X[:1], y[:1])
    with pytest.raises(ValueError, match="the training data is one row: a batch of 1 row.*train on at least 2 rows"):
        model.fit(X[:1], y[:1], verbose=0)
    assert np.array_equal(model.parameters, before) and model.epochs_trained == 0
    model.fit(X, y, batch_size=3, verbose=0)  # batches of 3 rows
    assert model.predict(X[:1]).shape == (1, 3)  # inference on one row uses the running statistics


def test_batchnorm_takes_features_or_channels_by_its_input(rng, tmp_path):
    """``BatchNorm`` (Keras's BatchNormalization): BatchNorm2d after a convolution, BatchNorm1d after Dense."""
    def build(bn_images, bn_rows, **images):
        return fastnn.Sequential([fastnn.Conv2D(2, 3, 3, **images), bn_images(3, activation="relu", **images),
                                  fastnn.Flatten(), fastnn.Dense(3 * 4 * 4, 5), bn_rows(5, momentum=0.3),
                                  fastnn.Dense(5, 2, "softmax")],
                                 input_shape=(6, 6, 2) if images else (2, 6, 6), seed=0, dtype="float64")

    X = rng.standard_normal((40, 2, 6, 6))
    y = rng.integers(0, 2, 40)
    models = [build(fastnn.BatchNorm, fastnn.BatchNorm), build(fastnn.BatchNorm2d, fastnn.BatchNorm1d)]
    for model in models:
        model.compile("cross_entropy", optimizer=fastnn.SGD(0.1, momentum=0.9)).fit(X, y, epochs=2, batch_size=8,
                                                                                    verbose=0)
    np.testing.assert_array_equal(models[0].parameters, models[1].parameters)
    np.testing.assert_array_equal(models[0].layers[4].running_var, models[1].layers[4].running_var)
    path = tmp_path / "bn.fnn"
    models[0].save(path)
    loaded = fastnn.load(path)
    assert type(loaded.layers[1]) is fastnn.BatchNorm and loaded.layers[4].momentum == 0.3
    np.testing.assert_array_equal(loaded.predict(X), models[0].predict(X))
    last = build(fastnn.BatchNorm, fastnn.BatchNorm, data_format="channels_last")
    assert last.input_shape == (6, 6, 2)
    with pytest.raises(ValueError, match=r"BatchNorm\(4\) takes 4 features a sample \(or channels of an image\), "
                                         "not 5"):
        fastnn.Sequential([fastnn.Dense(3, 5), fastnn.BatchNorm(4)])
    with pytest.raises(ValueError, match=r"BatchNorm\(4\) takes 4 channels, not 3"):
        fastnn.Sequential([fastnn.Conv2D(1, 3, 3), fastnn.BatchNorm(4)], input_shape=(1, 5, 5))
    ort = pytest.importorskip("onnxruntime")
    from fastnn.onnx import to_onnx

    Xf = X.astype(np.float32)
    small = fastnn.Sequential([fastnn.Conv2D(2, 3, 3), fastnn.BatchNorm(3, activation="relu"), fastnn.Flatten(),
                               fastnn.Dense(48, 5), fastnn.BatchNorm(5), fastnn.Dense(5, 2, "softmax")],
                              input_shape=(2, 6, 6), seed=0)
    small.compile("cross_entropy").fit(Xf, y, epochs=1, batch_size=8, verbose=0)
    session = ort.InferenceSession(to_onnx(small).SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": Xf.reshape(40, -1)})[0], small.predict(Xf), rtol=1e-5,
                               atol=1e-6)


def test_a_diverging_update_leaves_the_running_statistics_as_they_were(rng):
    model = fastnn.Sequential([fastnn.Dense(4, 8), fastnn.BatchNorm1d(8, activation="relu"), fastnn.Dense(8, 1)],
                              seed=0, dtype="float64")
    model.compile("mse", fastnn.SGD(1e200))  # the first update overflows the next batch's loss
    X, y = rng.standard_normal((40, 4)), rng.standard_normal(40)
    before = (model.parameters.copy(), model._buffers.copy())
    with pytest.raises(FloatingPointError):
        model.fit(X, y, batch_size=10, epochs=1, verbose=0)  # batches 1 and 2 moved the statistics
    assert np.array_equal(model.parameters, before[0]) and np.array_equal(model._buffers, before[1])
    model.compile("mse", fastnn.SGD(1e200))
    model.train_on_batch(X[:10], y[:10])
    moved = model._buffers.copy()
    with pytest.raises(FloatingPointError):
        model.train_on_batch(X[10:20], y[10:20])
    assert np.array_equal(model._buffers, moved)
