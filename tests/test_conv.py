"""Convolution and pooling layers: kernels against the NumPy reference (and PyTorch where installed), gradients
by float64 finite differences, training against the reference, thread-count independence, shapes and errors."""
import numpy as np
import pytest

import fastnn
from fastnn import _reference as ref
from fastnn.layers import ACTIVATIONS

# (input shape, Conv2D keyword arguments, pooling layer): stride 1 and 2, padding 0, 1 and 'same', odd sizes,
# 1 and 3 input channels, non-square kernels, overlapping windows.
CONFIGS = [
    ((1, 7, 9), dict(kernel_size=3), fastnn.MaxPool2D(2)),
    ((3, 9, 7), dict(kernel_size=3, stride=2, padding=1), fastnn.AvgPool2D(2, stride=1)),
    ((3, 9, 7), dict(kernel_size=3, padding="same"), fastnn.MaxPool2D((2, 3), stride=(1, 2))),
    ((1, 8, 5), dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 0)), fastnn.AvgPool2D(1)),
    ((3, 5, 5), dict(kernel_size=4, padding="same"), fastnn.MaxPool2D(3, stride=1)),
    ((1, 6, 6), dict(kernel_size=1), fastnn.AvgPool2D(3)),
]


def _cnn(shape, conv, pool, activation="tanh", out="softmax", n_out=3, dtype="float64", seed=1, dropout=None):
    def body():
        return [fastnn.Reshape(shape), fastnn.Conv2D(shape[0], 4, activation=activation, **conv),
                type(pool)(pool.pool_size, pool.stride), fastnn.Conv2D(4, 5, 2, padding=1, activation="relu"),
                fastnn.Flatten()]

    n_flat = fastnn.Sequential(body()).n_outputs
    tail = ([fastnn.Dropout(dropout)] if dropout else []) + [fastnn.Dense(n_flat, n_out, out)]
    return fastnn.Sequential(body() + tail, seed=seed, dtype=dtype)


def _reference(model):
    return ref.LayerNetwork(model._layout, model.get_weights(),
                            [ACTIVATIONS[l.activation] for l in model._engine_layers], model.loss.code)


@pytest.mark.parametrize("shape, conv, pool", CONFIGS)
def test_forward_and_gradients_against_the_reference_and_finite_differences(shape, conv, pool, numeric_gradient):
    rng = np.random.default_rng(0)
    model = _cnn(shape, conv, pool).compile("cross_entropy", regularizer=fastnn.L2(0.01))
    model.parameters[:] += rng.normal(scale=0.05, size=model.n_params)  # biases off zero
    X = rng.normal(size=(5, int(np.prod(shape))))
    y = rng.integers(0, 3, 5)
    net = _reference(model)
    np.testing.assert_allclose(model.predict(X), net.predict(X), rtol=1e-12, atol=1e-14)
    loss, grad = model.loss_and_gradient(X, y)
    sl, grads = net.gradients(X, labels=y)
    expected = np.concatenate([g.ravel() for g in grads]) + 0.01 * model.parameters * _weight_mask(model)
    np.testing.assert_allclose(grad, expected, rtol=1e-10, atol=1e-13)
    assert loss == pytest.approx(sl.mean() + model.penalty(), rel=1e-12)
    idx = np.random.default_rng(1).choice(model.n_params, 60, replace=False)
    numeric = numeric_gradient(model, X, y, indices=idx)[idx]
    np.testing.assert_allclose(grad[idx], numeric, rtol=1e-5, atol=1e-8)


def _weight_mask(model):
    """1 on weights, 0 on biases (the regularizer's terms apply to weights only)."""
    mask = np.zeros(model.n_params)
    at = 0
    for layer in model._dense:
        mask[at:at + layer.weight.size] = 1
        at += layer.n_params
    return mask


@pytest.mark.parametrize("activation", ["gelu", "sigmoid", "elu"])
def test_conv_activations_and_regression_output(activation, numeric_gradient):
    rng = np.random.default_rng(2)
    shape = (2, 6, 5)
    model = fastnn.Sequential([fastnn.Reshape(shape), fastnn.Conv2D(2, 3, 3, padding=1, activation=activation),
                               fastnn.AvgPool2D(2), fastnn.Conv2D(3, 2, 2, activation="sigmoid")],
                              seed=0, dtype="float64").compile("mse")
    X = rng.normal(size=(4, 60))
    y = rng.normal(size=(4, model.n_outputs))
    loss, grad = model.loss_and_gradient(X, y)
    sl, grads = _reference(model).gradients(X, targets=y)
    np.testing.assert_allclose(grad, np.concatenate([g.ravel() for g in grads]), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(grad, numeric_gradient(model, X, y), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_training_equals_the_reference_with_a_partial_last_batch(batch_size):
    rng = np.random.default_rng(3)
    shape, conv, pool = CONFIGS[1]
    model = _cnn(shape, conv, pool).compile("cross_entropy", optimizer=fastnn.SGD(lr=0.1, momentum=0.9))
    X = rng.normal(size=(11, int(np.prod(shape))))
    y = rng.integers(0, 3, 11)
    net = _reference(model)
    velocity = [np.zeros_like(p) for p in net.params]
    model.fit(X, y, epochs=2, batch_size=batch_size, shuffle=False, verbose=0)
    for _ in range(2):
        for start in range(0, 11, batch_size):
            _, grads = net.gradients(X[start:start + batch_size], labels=y[start:start + batch_size])
            for p, g, v in zip(net.params, grads, velocity):
                ref.sgd_update(p, g, v, 0.1, momentum=0.9)
    np.testing.assert_allclose(model.parameters, np.concatenate([p.ravel() for p in net.params]), rtol=1e-9,
                               atol=1e-12)


def _train(n_threads, dtype="float32", optimizer=None):
    rng = np.random.default_rng(4)
    model = _cnn((3, 12, 11), dict(kernel_size=3, padding=1), fastnn.MaxPool2D(2), activation="relu",
                 dtype=dtype, n_out=4, dropout=0.3)
    model.compile("cross_entropy", optimizer=optimizer or fastnn.Adam(1e-3))
    X = rng.normal(size=(150, 3 * 12 * 11)).astype(dtype)
    y = rng.integers(0, 4, 150)
    model.fit(X, y, epochs=2, batch_size=32, verbose=0, n_threads=n_threads)
    return model, X


def test_results_are_bit_identical_for_any_thread_count(thread_invariant):
    thread_invariant(_train, layer=2)


@pytest.mark.parametrize("optimizer", [fastnn.SGD(0.05, momentum=0.9, nesterov=True), fastnn.Adam(1e-3, amsgrad=True),
                                       fastnn.AdamW(1e-3), fastnn.RMSprop(1e-3, momentum=0.5)], ids=repr)
def test_every_optimizer_trains_a_cnn(optimizer):
    model, X = _train(2, optimizer=optimizer)
    assert np.all(np.isfinite(model.parameters)) and model.history["loss"][-1] < model.history["loss"][0]


def test_images_flat_or_shaped_and_the_model_api():
    rng = np.random.default_rng(5)
    model = fastnn.Sequential([fastnn.Reshape((1, 8, 8)), fastnn.Conv2D(1, 4, 3, activation="relu"),
                               fastnn.MaxPool2D(2), fastnn.Flatten(), fastnn.Dropout(0.2),
                               fastnn.Dense(36, 3, activation="softmax")], seed=0)
    model.compile(optimizer="adam")
    assert model.input_shape == (1, 8, 8) and model.n_features == 64
    X = rng.normal(size=(20, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    assert model.layers[1].weight.shape == (4, 1, 3, 3) and model.layers[1].bias.shape == (4,)
    assert np.shares_memory(model.layers[1].weight, model.parameters)
    np.testing.assert_array_equal(model.predict(X), model.predict(X.reshape(20, 64)))
    assert model.predict(X, layer=1).shape == (20, 4, 6, 6)
    assert model.predict(X, layer=2).shape == (20, 4, 3, 3)
    assert model.predict(X, layer=3).shape == (20, 36)
    assert model.predict(X, layer=0).shape == (20, 1, 8, 8)
    np.testing.assert_array_equal(model.predict(X, layer=3), model.predict(X, layer=4))
    model.train_on_batch(X[:5], y[:5])
    model.fit(X, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    assert set(model.evaluate(X, y)) == {"loss", "accuracy"}
    text = str(model)
    assert "conv2d (Conv2D)" in text and "(None, 4, 6, 6)" in text and "max_pool2d (MaxPool2D)" in text
    assert "(None, 4, 3, 3)" in text and "flatten (Flatten)" in text and "(None, 36)" in text
    with pytest.raises(ValueError, match=r"\(n_samples, 1, 8, 8\) or \(n_samples, 8, 8\) or \(n_samples, 64\)"):
        model.predict(np.zeros((2, 2, 8, 8)))


def test_he_initialisation_by_fan_in():
    model = fastnn.Sequential([fastnn.Reshape((8, 10, 10)), fastnn.Conv2D(8, 64, 3, activation="relu"),
                               fastnn.Conv2D(64, 16, 3)], seed=0)
    w = model.layers[1].weight
    limit = np.sqrt(6 / (8 * 9))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit
    assert np.all(model.layers[1].bias == 0)
    glorot = np.sqrt(6 / (64 * 9 + 16 * 9))
    assert np.abs(model.layers[2].weight).max() <= glorot


def test_output_sizes_match_pytorch_formula():
    m = fastnn.Sequential([fastnn.Reshape((3, 28, 27)), fastnn.Conv2D(3, 2, 5, stride=2, padding=1),
                           fastnn.MaxPool2D(3, stride=2), fastnn.Conv2D(2, 2, (3, 2), padding="same"),
                           fastnn.AvgPool2D((2, 1))], seed=0)
    assert m._shapes[1:] == [(2, 13, 13), (2, 6, 6), (2, 6, 6), (2, 3, 6)]


@pytest.mark.parametrize("layers, message", [
    ([fastnn.Reshape((1, 4, 4)), fastnn.Conv2D(1, 2, 5)], r"layers\[1\] .*Conv2D.* layers\[0\] .*Reshape.*\(1, 4, 4\).*kernel 5x5 is larger than the padded input 4x4"),
    ([fastnn.Reshape((3, 8, 8)), fastnn.Conv2D(1, 2, 3)], r"layers\[1\].*in_channels=1 differs from the 3 channels"),
    ([fastnn.Reshape((1, 8, 8)), fastnn.Conv2D(1, 2, 3), fastnn.Conv2D(3, 2, 3)], r"layers\[2\].*layers\[1\].*\(2, 6, 6\)"),
    ([fastnn.Reshape((1, 8, 8)), fastnn.MaxPool2D(9)], r"window 9x9 is larger than the input 8x8"),
    ([fastnn.Reshape((1, 8, 8)), fastnn.Dense(64, 2)], r"layers\[1\].*Flatten"),
    ([fastnn.Dense(64, 10), fastnn.Conv2D(1, 2, 3)], r"layers\[1\].*\(10,\).*Reshape"),
    ([fastnn.Conv2D(1, 2, 3), fastnn.Flatten()], r"layers\[0\].*cannot come first.*Reshape"),
    ([fastnn.Reshape((1, 8, 8)), fastnn.Flatten(), fastnn.Dense(60, 2)], r"layers\[2\].*in_features=60.*64"),
    ([fastnn.Reshape((2, 5)), fastnn.Reshape((3, 3))], r"10 values a sample.*\(3, 3\)"),
])
def test_shape_mismatches_name_both_layers(layers, message):
    with pytest.raises(ValueError, match=message):
        fastnn.Sequential(layers)


@pytest.mark.parametrize("make, message", [
    (lambda: fastnn.Conv2D(1, 2, 0), "kernel_size"),
    (lambda: fastnn.Conv2D(1, 2, 3, stride=0), "stride"),
    (lambda: fastnn.Conv2D(0, 2, 3), "in_channels"),
    (lambda: fastnn.Conv2D(1, 2, 3, padding=-1), "padding"),
    (lambda: fastnn.Conv2D(1, 2, 3, padding="full"), "padding"),
    (lambda: fastnn.Conv2D(1, 2, 3, stride=2, padding="same"), "stride 1"),
    (lambda: fastnn.Conv2D(1, 2, (3, 3, 3)), "pair"),
    (lambda: fastnn.Conv2D(1, 2, 3, activation="softmax"), "softmax"),
    (lambda: fastnn.MaxPool2D(0), "pool_size"),
    (lambda: fastnn.AvgPool2D(2, stride=0), "stride"),
    (lambda: fastnn.Reshape((1, 0, 3)), "shape"),
    (lambda: fastnn.Reshape(()), "shape"),
])
def test_bad_layer_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
def test_kernels_match_pytorch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 3, 9, 8))
    W = rng.normal(size=(4, 3, 3, 2))
    b = rng.normal(size=4)
    for stride, padding in [((1, 1), (0, 0)), ((2, 1), (1, 1)), ((2, 2), (1, 0))]:
        tx = torch.tensor(x, requires_grad=True)
        tw = torch.tensor(W, requires_grad=True)
        tb = torch.tensor(b, requires_grad=True)
        ty = F.conv2d(tx, tw, tb, stride=stride, padding=padding)
        dy = rng.normal(size=ty.shape)
        ty.backward(torch.tensor(dy))
        np.testing.assert_allclose(ref.conv2d_forward(x, W, b, stride, padding), ty.detach().numpy(), rtol=1e-12)
        for got, want in zip(ref.conv2d_backward(x, W, dy, stride, padding), (tx.grad, tw.grad, tb.grad)):
            np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-12)
    for pool, stride in [((2, 2), (2, 2)), ((3, 2), (1, 2))]:
        tx = torch.tensor(x, requires_grad=True)
        ty = F.max_pool2d(tx, pool, stride)
        dy = rng.normal(size=ty.shape)
        ty.backward(torch.tensor(dy))
        out, arg = ref.max_pool2d(x, pool, stride)
        np.testing.assert_array_equal(out, ty.detach().numpy())
        np.testing.assert_allclose(ref.max_pool2d_backward(dy, arg, x.shape[1:]), tx.grad.numpy(), rtol=1e-15)
        tx = torch.tensor(x, requires_grad=True)
        ty = F.avg_pool2d(tx, pool, stride)
        ty.backward(torch.tensor(dy))
        np.testing.assert_allclose(ref.avg_pool2d(x, pool, stride), ty.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(ref.avg_pool2d_backward(dy, pool, stride, x.shape[1:]), tx.grad.numpy(),
                                   rtol=1e-12)
    # 'same' padding: PyTorch pads (k - 1) // 2 before and the rest after
    for k in (3, 4):
        tw = torch.tensor(rng.normal(size=(2, 3, k, k)))
        want = F.conv2d(torch.tensor(x), tw, padding="same").numpy()
        got = ref.conv2d_forward(x, tw.numpy(), np.zeros(2), (1, 1), ((k - 1) // 2,) * 2, x.shape[2:])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_a_cnn_equals_pytorch():
    """The engine's forward pass and gradients equal PyTorch's on the same network and weights (float64)."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    rng = np.random.default_rng(7)
    model = fastnn.Sequential([fastnn.Reshape((1, 12, 12)), fastnn.Conv2D(1, 4, 3, activation="relu"),
                               fastnn.MaxPool2D(2), fastnn.Conv2D(4, 6, 3, padding="same", activation="relu"),
                               fastnn.AvgPool2D(2), fastnn.Flatten(), fastnn.Dense(24, 5, "softmax")],
                              seed=0, dtype="float64").compile("cross_entropy")
    tnet = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding="same"),
                         nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(24, 5)).double()
    params = [p for p in tnet.parameters()]
    with torch.no_grad():
        for p, w in zip(params, model.get_weights()):
            p.copy_(torch.tensor(w))
    X = rng.normal(size=(6, 144))
    y = rng.integers(0, 5, 6)
    logits = tnet(torch.tensor(X).reshape(6, 1, 12, 12))
    loss = nn.functional.cross_entropy(logits, torch.tensor(y))
    loss.backward()
    np.testing.assert_allclose(model.predict(X), torch.softmax(logits, 1).detach().numpy(), rtol=1e-10, atol=1e-14)
    value, grad = model.loss_and_gradient(X, y)
    assert value == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(grad, np.concatenate([p.grad.numpy().ravel() for p in params]), rtol=1e-9,
                               atol=1e-13)


# -- input shapes: images of one channel (n, H, W), declared input shapes ------------------------------------------

def _small_cnn(first, seed=3):
    """A CNN for one-channel 8x8 images: ``first`` is [Reshape((1, 8, 8))] or [] (with input_shape=)."""
    layers = first + [fastnn.Conv2D(1, 3, 3, activation="relu"), fastnn.MaxPool2D(2), fastnn.Flatten(),
                      fastnn.Dense(27, 4, "softmax")]
    kwargs = {} if first else {"input_shape": (1, 8, 8)}
    return fastnn.Sequential(layers, seed=seed, dtype="float64", **kwargs).compile(optimizer="adam")


@pytest.mark.parametrize("first", [[fastnn.Reshape((1, 8, 8))], []], ids=["reshape", "input_shape"])
def test_images_of_one_channel_without_the_channel_axis(first):
    rng = np.random.default_rng(2)
    X = rng.random((40, 8, 8))
    y = rng.integers(0, 4, 40)
    shaped = X[:, None]
    models = [_small_cnn([type(l)(l.shape) for l in first]) for _ in range(2)]
    histories = [models[0].fit(X, y, epochs=2, batch_size=16, validation_data=(X[:8], y[:8]), verbose=0),
                 models[1].fit(shaped, y, epochs=2, batch_size=16, validation_data=(shaped[:8], y[:8]), verbose=0)]
    np.testing.assert_array_equal(models[0].parameters, models[1].parameters)
    assert histories[0].history["val_loss"] == histories[1].history["val_loss"]
    a, b = models
    np.testing.assert_array_equal(a.predict(X), b.predict(shaped))
    np.testing.assert_array_equal(a.predict(X), b.predict(X.reshape(40, 64)))
    assert a.predict(X, layer=-4).shape == (40, 3, 6, 6)
    assert a.evaluate(X, y) == b.evaluate(shaped, y)
    assert a.train_on_batch(X[:5], y[:5]) == b.train_on_batch(shaped[:5], y[:5])
    np.testing.assert_array_equal(a.parameters, b.parameters)
    assert a.loss_and_gradient(X[:6], y[:6])[0] == b.loss_and_gradient(shaped[:6], y[:6])[0]


def test_a_cnn_with_input_shape_equals_one_that_starts_with_reshape():
    rng = np.random.default_rng(3)
    X = rng.random((30, 8, 8))
    y = rng.integers(0, 4, 30)
    declared, reshaped = _small_cnn([]), _small_cnn([fastnn.Reshape((1, 8, 8))])
    assert declared.input_shape == reshaped.input_shape == (1, 8, 8) and declared.n_features == 64
    assert declared._shapes == reshaped._shapes[1:]
    np.testing.assert_array_equal(declared.parameters, reshaped.parameters)
    declared.fit(X, y, epochs=2, batch_size=8, verbose=0)
    reshaped.fit(X, y, epochs=2, batch_size=8, verbose=0)
    np.testing.assert_array_equal(declared.parameters, reshaped.parameters)
    assert repr(declared).endswith("dtype='float64', input_shape=(1, 8, 8))")
    assert repr(reshaped).endswith("dtype='float64')")
    lines = str(declared).splitlines()
    assert lines[2].split() == ["input", "(None,", "1,", "8,", "8)", "0"]
    assert lines[3].startswith("conv2d (Conv2D)")


def test_fashion_mnist_as_loaded_trains_a_cnn_without_reshape():
    try:
        (X, y), _ = fastnn.datasets.load_fashion_mnist(download=False, verbose=False, scale=True)
    except Exception as exc:  # the data is not installed here
        pytest.skip(f"Fashion-MNIST not available: {exc}")
    X, y = X[:64], y[:64]
    assert X.shape == (64, 28, 28)
    model = fastnn.Sequential([fastnn.Conv2D(1, 4, 3, activation="relu"), fastnn.MaxPool2D(2), fastnn.Flatten(),
                               fastnn.Dense(4 * 13 * 13, 10, "softmax")], input_shape=(1, 28, 28), seed=0)
    model.compile(optimizer="adam")
    model.fit(X, y, epochs=1, batch_size=32, verbose=0)
    assert model.predict(X).shape == (64, 10) and set(model.evaluate(X, y)) == {"loss", "accuracy"}
    old = fastnn.Sequential([fastnn.Reshape((1, 28, 28)), fastnn.Conv2D(1, 4, 3, activation="relu"),
                             fastnn.MaxPool2D(2), fastnn.Flatten(), fastnn.Dense(4 * 13 * 13, 10, "softmax")],
                            seed=0).compile(optimizer="adam")
    old.fit(X, y, epochs=1, batch_size=32, verbose=0)  # the older way takes them too
    np.testing.assert_array_equal(old.parameters, model.parameters)


@pytest.mark.parametrize("layers, input_shape, error, message", [
    ([fastnn.Dense(100, 2)], (1, 28, 28), ValueError,
     r"layers\[0\] \(Dense\(100, 2.*takes 100 features, but input_shape=\(1, 28, 28\) gives 784 values a sample"),
    ([fastnn.Dropout(0.1), fastnn.Dense(50, 2)], (7, 7), ValueError, r"layers\[1\] .*takes 50 features.*49"),
    ([fastnn.Conv2D(1, 2, 3)], (28, 28), ValueError,
     r"layers\[0\] \(Conv2D.*takes images \(channels, height, width\), but input_shape=\(28, 28\) is not such a "
     r"shape \(one channel: input_shape=\(1, 28, 28\)\)"),
    ([fastnn.MaxPool2D(2)], (784,), ValueError, r"layers\[0\] \(MaxPool2D.*takes images"),
    ([fastnn.Conv2D(3, 2, 3)], (1, 28, 28), ValueError,
     r"layers\[0\] .*cannot take input_shape=\(1, 28, 28\): its in_channels=3 differs from the 1 channels"),
    ([fastnn.Reshape((1, 27, 27))], (1, 28, 28), ValueError, r"cannot take input_shape=\(1, 28, 28\)"),
    ([fastnn.Conv2D(1, 2, 3), fastnn.Flatten(), fastnn.Dense(8, 2)], None, ValueError,
     r"cannot come first.*input_shape=\(channels, height, width\).*Reshape"),
    ([fastnn.Dense(4, 2)], "4", TypeError, "input_shape must be a tuple of ints"),
    ([fastnn.Dense(4, 2)], (2, 0), ValueError, "input_shape"),
    ([fastnn.Dense(4, 2)], (1, 1, 1, 2, 2), ValueError, "input_shape must hold 1 to 4 sizes"),
    ([fastnn.Dense(4, 2)], (2.0, 2), TypeError, "input_shape"),
])
def test_declared_input_shapes_are_checked_against_the_first_layer(layers, input_shape, error, message):
    with pytest.raises(error, match=message):
        fastnn.Sequential(layers, input_shape=input_shape)


def test_a_dense_model_with_a_declared_input_shape_takes_its_samples_shaped_or_flat(rng):
    X = rng.normal(size=(20, 4, 5))
    model = fastnn.Sequential([fastnn.Dense(20, 3, "softmax")], input_shape=(4, 5), seed=0)
    assert model.input_shape == (4, 5) and model.n_features == 20
    np.testing.assert_array_equal(model.predict(X), model.predict(X.reshape(20, 20)))
    assert fastnn.Sequential([fastnn.Dense(6, 2)], input_shape=6).input_shape == (6,)


@pytest.mark.parametrize("model, shape, message", [
    ("dense", (5, 28, 28), r"X has shape \(5, 28, 28\), but the model takes \(n_samples, 784\): flatten the "
                           r"samples, X.reshape\(len\(X\), -1\), or declare the input's shape, "
                           r"Sequential\(layers, input_shape=\(28, 28\)\)"),
    ("cnn", (5, 28, 28, 1), r"X has shape \(5, 28, 28, 1\), but the model takes \(n_samples, 1, 28, 28\) or "
                            r"\(n_samples, 28, 28\) or \(n_samples, 784\): reshape it to \(n_samples, 1, 28, 28\) "
                            r"\(channels first, as PyTorch\), X.reshape\(len\(X\), 1, 28, 28\)"),
    ("cnn", (5, 2, 28, 28), r"its samples hold 1568 values, not 784"),
    ("cnn", (784,), r"X has shape \(784,\), but the model takes \(n_samples, 1, 28, 28\)"),
    ("rgb", (5, 28, 28, 3), r"its channels come last; put them first \(as PyTorch\), X.transpose\(0, 3, 1, 2\)"),
    ("rgb", (5, 28, 28), r"the model takes \(n_samples, 3, 28, 28\) or \(n_samples, 2352\); its samples hold 784"),
    ("rgb", (3, 28, 28), r"X looks like one sample; give it as a batch of one, X\[None\] \(or "
                         r"X.reshape\(1, 3, 28, 28\)\)$"),
    ("cnn", (28, 28), r"X has 28 features, but the model expects 784 .*: X looks like one sample; give it as a batch "
                      r"of one, X\[None\]$"),
])
def test_inputs_of_the_wrong_shape_say_how_to_pass_them(model, shape, message):
    channels = {"dense": None, "cnn": 1, "rgb": 3}[model]
    if channels is None:
        net = fastnn.Sequential([fastnn.Dense(784, 10, "softmax")]).compile()
    else:
        net = fastnn.Sequential([fastnn.Conv2D(channels, 2, 3), fastnn.Flatten(), fastnn.Dense(2 * 26 * 26, 10, "softmax")],
                                input_shape=(channels, 28, 28)).compile()
    X = np.zeros(shape, np.float32)
    for call in (lambda: net.predict(X), lambda: net.evaluate(X, np.zeros(len(X), int)),
                 lambda: net.fit(X, np.zeros(len(X), int), verbose=0),
                 lambda: net.train_on_batch(X, np.zeros(len(X), int))):
        with pytest.raises(ValueError, match=message):
            call()
    assert net.epochs_trained == 0


def test_flat_images_of_the_wrong_width_name_the_image_shape():
    net = _small_cnn([])
    with pytest.raises(ValueError, match=r"X has 60 features, but the model expects 64 \(flat samples of shape "
                                         r"\(1, 8, 8\)\)"):
        net.predict(np.zeros((2, 60)))


def test_input_shape_is_saved_and_old_files_without_it_load(tmp_path):
    import json
    import zipfile

    rng = np.random.default_rng(4)
    X = rng.random((20, 8, 8))
    model = _small_cnn([])
    model.fit(X, rng.integers(0, 4, 20), epochs=1, verbose=0)
    path = tmp_path / "cnn.fnn"
    model.save(path)
    loaded = fastnn.load(path)
    assert loaded.input_shape == (1, 8, 8) and repr(loaded) == repr(model)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))

    def rewrite(source, target, change):
        with zipfile.ZipFile(source) as z:
            members = {n: z.read(n) for n in z.namelist()}
        header = json.loads(members["header.json"])
        change(header)
        members["header.json"] = json.dumps(header).encode()
        with zipfile.ZipFile(target, "w") as z:
            for n, data in members.items():
                z.writestr(n, data)
        return target

    assert json.loads(zipfile.ZipFile(path).read("header.json"))["input_shape"] == [1, 8, 8]
    old = _small_cnn([fastnn.Reshape((1, 8, 8))])  # files of older fastnn have no input_shape
    old.save(tmp_path / "old.fnn")
    old_file = rewrite(tmp_path / "old.fnn", tmp_path / "old2.fnn", lambda h: h.pop("input_shape"))
    assert fastnn.load(old_file).input_shape == (1, 8, 8)
    dense = fastnn.Sequential([fastnn.Dense(64, 2)], seed=0)
    dense.save(tmp_path / "dense.fnn")
    assert fastnn.load(rewrite(tmp_path / "dense.fnn", tmp_path / "d2.fnn",
                               lambda h: h.pop("input_shape"))).input_shape == (64,)
    for bad, match in [([1, 8, "8"], "'input_shape' holds"), ([1, 12, 12], "invalid architecture"),
                       ([8, 8], "invalid architecture"), ([], "'input_shape' holds")]:
        with pytest.raises(fastnn.ModelFileError, match=match):
            fastnn.load(rewrite(path, tmp_path / "bad.fnn", lambda h: h.update(input_shape=bad)))
    assert fastnn.load(rewrite(tmp_path / "dense.fnn", tmp_path / "d3.fnn",
                               lambda h: h.update(input_shape=[1, 8, 8]))).input_shape == (1, 8, 8)


def test_onnx_export_of_a_model_with_a_declared_input_shape(rng):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import fastnn.onnx

    model = fastnn.Sequential([fastnn.Dense(64, 16, "relu"), fastnn.Dense(16, 3, "softmax")],
                              input_shape=(1, 8, 8), seed=0)
    X = rng.random((10, 8, 8)).astype(np.float32)
    session = ort.InferenceSession(fastnn.onnx.to_onnx(model).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["N", 64]  # samples flat, as predict also takes them
    out = session.run(["output"], {"input": X.reshape(10, 64)})[0]
    np.testing.assert_allclose(out, model.predict(X), rtol=1e-6, atol=1e-7)
    from onnx.reference import ReferenceEvaluator  # ONNX Runtime has no float64 Conv

    cnn = _small_cnn([])  # float64
    X = rng.random((4,) + cnn.input_shape)
    out = ReferenceEvaluator(fastnn.onnx.to_onnx(cnn)).run(["output"], {"input": X.reshape(4, -1)})[0]
    np.testing.assert_allclose(out, cnn.predict(X), rtol=1e-10, atol=1e-14)


def test_inference_works_in_blocks_that_bound_memory(rng):
    """A wide network predicts in blocks whose buffers stay within 256 MB whatever batch_size asks."""
    model = fastnn.Sequential([fastnn.Conv2D(1, 32, 3, activation="relu"), fastnn.MaxPool2D(2), fastnn.Flatten(),
                               fastnn.Dense(32 * 13 * 13, 10, "softmax")], input_shape=(1, 28, 28), seed=0)
    rows = fastnn.training.inference.block_rows(model)
    assert 500 < rows < 4096
    X = rng.random((rows + 7, 28, 28)).astype(np.float32)
    out = model.predict(X, batch_size=4096)
    assert model._kept_engine.capacity <= rows
    np.testing.assert_array_equal(out[:rows], model.predict(X[:rows], batch_size=rows))  # the same first block


def test_default_inference_blocks_stay_in_cache_for_wide_samples(rng):
    """Without batch_size, a network of wide samples predicts and evaluates in blocks whose buffers take about
    INFERENCE_CACHE bytes (so each layer's output is still cached when the next reads it); a dense network keeps
    PREDICT_BLOCK rows. The outputs are those of larger blocks, to rounding."""
    from fastnn.training import inference
    cnn = fastnn.Sequential([fastnn.Conv2D(1, 32, 3, activation="relu"), fastnn.MaxPool2D(2), fastnn.Flatten(),
                             fastnn.Dense(32 * 13 * 13, 10, "softmax")], input_shape=(1, 28, 28), seed=0)
    cnn.compile("cross_entropy")
    dense = fastnn.Sequential([fastnn.Dense(784, 512, "relu"), fastnn.Dense(512, 10, "softmax")], seed=0)
    row_bytes = 2 * sum(cnn.widths) * 4
    block = inference.inference_block(cnn)
    assert inference.CACHE_MIN_ROWS <= block < inference.PREDICT_BLOCK
    assert block * row_bytes <= inference.INFERENCE_CACHE < (block + 1) * row_bytes
    assert inference.inference_block(dense) == inference.PREDICT_BLOCK
    assert inference.inference_block(cnn, batch_size=500) == 500
    X = rng.random((3 * block + 5, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, len(X))
    out = cnn.predict(X)
    assert cnn._kept_engine.capacity == block
    np.testing.assert_allclose(out, cnn.predict(X, batch_size=len(X)), rtol=1e-5, atol=1e-7)
    assert cnn.evaluate(X, y) == pytest.approx(cnn.evaluate(X, y, batch_size=len(X)), rel=1e-5)
