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


def test_results_are_bit_identical_for_any_thread_count(many_cores):
    base, X = _train(1)
    for nt in (2, 3):
        model, _ = _train(nt)
        np.testing.assert_array_equal(model.parameters, base.parameters)
        np.testing.assert_array_equal(model.predict(X, n_threads=nt), base.predict(X, n_threads=1))
        np.testing.assert_array_equal(model.predict(X, layer=2, n_threads=nt), base.predict(X, layer=2))


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
    assert "conv2d_0 (Conv2D)" in text and "(None, 4, 6, 6)" in text and "max_pool2d_0 (MaxPool2D)" in text
    assert "(None, 4, 3, 3)" in text and "flatten_0 (Flatten)" in text and "(None, 36)" in text
    with pytest.raises(ValueError, match=r"\(n_samples, 1, 8, 8\) or \(n_samples, 64\)"):
        model.predict(np.zeros((2, 8, 8)))


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
