"""LayerNorm: PyTorch's ``nn.LayerNorm`` through the NumPy twin and PyTorch itself (forward and SGD steps to 1e-10 in
float64), gradients by float64 finite differences, per-row statistics (batches of one row, bit-identical for any
thread count), model files and ONNX's LayerNormalization."""
import numpy as np
import pytest

import fastnn
from fastnn import _reference as ref


def _dense_model(affine=True, dtype="float64"):
    return fastnn.Sequential([fastnn.Dense(5, 6), fastnn.LayerNorm(6, elementwise_affine=affine),
                              fastnn.Activation("tanh"), fastnn.Dense(6, 3, "softmax")], seed=0, dtype=dtype)


def _sequence_model(dtype="float64"):
    return fastnn.Sequential([fastnn.LSTM(3, 5, return_sequences=True), fastnn.LayerNorm(5, eps=1e-3),
                              fastnn.Dense(5, 2)], input_shape=(4, 3), seed=0, dtype=dtype)


def _image_model(dtype="float64"):
    return fastnn.Sequential([fastnn.Conv2D(1, 2, 3, activation="relu"), fastnn.LayerNorm((2, 4, 4)),
                              fastnn.Flatten(), fastnn.Dense(32, 2, "softmax")], input_shape=(1, 6, 6), seed=0,
                             dtype=dtype)


def _perturb(model, rng):
    for layer in model.layers:
        if isinstance(layer, fastnn.LayerNorm) and layer.elementwise_affine:
            layer.weight = rng.uniform(0.5, 2, layer.normalized_shape)
            layer.bias = rng.standard_normal(layer.normalized_shape)


@pytest.mark.parametrize("affine", [True, False])
def test_forward_and_gradient_equal_the_numpy_twin(affine, rng):
    model = _dense_model(affine).compile("cross_entropy")
    _perturb(model, rng)
    X, y = rng.standard_normal((7, 5)), rng.integers(0, 3, 7)
    d0, ln, d1 = model.layers[0], model.layers[1], model.layers[3]
    h = ref.dense_forward(X, d0.weight, d0.bias)
    z = ref.layer_norm(h, (6,), ln.weight, ln.bias)
    a = np.tanh(z)
    _, _, p, d = ref.output_loss(ref.CROSS_ENTROPY, ref.SOFTMAX, ref.dense_forward(a, d1.weight, d1.bias), labels=y)
    np.testing.assert_allclose(model.predict(X), p, rtol=1e-12, atol=1e-15)
    dz = d @ d1.weight * (1 - a * a)
    dh, dgamma, dbeta = ref.layer_norm_backward(h, dz, (6,), ln.weight)
    norm = [np.stack([dgamma, dbeta], axis=1).ravel()] if affine else []
    expected = np.concatenate([(dh.T @ X).ravel(), dh.sum(axis=0)] + norm + [(d.T @ a).ravel(), d.sum(axis=0)])
    _, grad = model.loss_and_gradient(X, y)
    np.testing.assert_allclose(grad, expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("build", [_dense_model, _sequence_model, _image_model])
def test_gradients_by_finite_differences(build, rng, numeric_gradient):
    model = build()
    _perturb(model, rng)
    X = rng.standard_normal((6,) + model.input_shape)
    if model.loss is None and model.layers[-1].activation == "softmax":
        model.compile("cross_entropy")
        y = rng.integers(0, model.n_outputs, 6)
    else:
        model.compile("mse")
        y = rng.standard_normal((6,) + model.output_shape)
    _, grad = model.loss_and_gradient(X, y)
    np.testing.assert_allclose(grad, numeric_gradient(model, X, y), rtol=1e-5, atol=1e-8)


def _torch_twin(torch, model):
    """The same network in PyTorch, with the model's parameters."""
    modules = []
    for layer in model.layers:
        if isinstance(layer, fastnn.Dense):
            m = torch.nn.Linear(layer.in_features, layer.out_features)
            pairs = {"weight": layer.weight, "bias": layer.bias}
        elif isinstance(layer, fastnn.LSTM):
            m = torch.nn.LSTM(layer.input_size, layer.hidden_size, batch_first=True)
            pairs = {"weight_ih_l0": layer.weight_ih, "weight_hh_l0": layer.weight_hh, "bias_ih_l0": layer.bias_ih,
                     "bias_hh_l0": layer.bias_hh}
        elif isinstance(layer, fastnn.LayerNorm):
            m = torch.nn.LayerNorm(layer.normalized_shape, eps=layer.eps)
            pairs = {"weight": layer.weight, "bias": layer.bias}
        else:
            modules.append(torch.nn.Tanh())
            continue
        m = m.double()
        with torch.no_grad():
            for name, value in pairs.items():
                getattr(m, name)[...] = torch.from_numpy(np.array(value))
        modules.append(m)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList(modules)

        def forward(self, x):
            for m in self.layers:
                x = m(x)[0] if isinstance(m, torch.nn.LSTM) else m(x)
            return x

    return Net()


@pytest.mark.parametrize("build", [_dense_model, _sequence_model])
def test_forward_and_an_sgd_step_equal_pytorch(build, rng):
    torch = pytest.importorskip("torch")
    model = build()
    _perturb(model, rng)
    X = rng.standard_normal((8,) + model.input_shape)
    net = _torch_twin(torch, model)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    if model.layers[-1].activation == "softmax":
        model.compile("cross_entropy", optimizer=fastnn.SGD(0.1))
        y = rng.integers(0, 3, 8)
        out = net(torch.from_numpy(X))
        np.testing.assert_allclose(model.predict(X), torch.softmax(out, 1).detach().numpy(), rtol=1e-10, atol=1e-14)
        loss = torch.nn.functional.cross_entropy(out, torch.from_numpy(y))
    else:
        model.compile("mse", optimizer=fastnn.SGD(0.1))
        y = rng.standard_normal((8,) + model.output_shape)
        out = net(torch.from_numpy(X))
        np.testing.assert_allclose(model.predict(X), out.detach().numpy(), rtol=1e-10, atol=1e-14)
        loss = torch.nn.functional.mse_loss(out, torch.from_numpy(y))
    loss.backward()
    opt.step()
    assert model.train_on_batch(X, y) == pytest.approx(loss.item(), rel=1e-12)
    ln = model.layers[1]
    tln = next(m for m in net.layers if isinstance(m, torch.nn.LayerNorm))
    np.testing.assert_allclose(ln.weight, tln.weight.detach().numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ln.bias, tln.bias.detach().numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(model.predict(X), (torch.softmax(net(torch.from_numpy(X)), 1) if
                                                  model.loss.name == "cross_entropy" else
                                                  net(torch.from_numpy(X))).detach().numpy(), rtol=1e-10, atol=1e-14)


def test_bit_identical_across_threads_batches_of_one_row_and_model_files(many_cores, rng, tmp_path):
    X = rng.standard_normal((50, 4, 3)).astype(np.float32)
    y = rng.standard_normal((50, 4, 2)).astype(np.float32)
    states = []
    for n_threads in (1, 2, 3):
        model = _sequence_model("float32").compile("mse", optimizer=fastnn.Adam(1e-2))
        model.fit(X, y, epochs=2, batch_size=7, verbose=0, n_threads=n_threads)  # the last batch holds one row
        states.append((model.parameters.copy(), model.predict(X, n_threads=n_threads)))
    assert all(np.array_equal(a, b) for s in states[1:] for a, b in zip(states[0], s))
    path = tmp_path / "ln.fnn"
    model.save(path)
    loaded = fastnn.load(path)
    assert repr(loaded.layers[1]) == "LayerNorm(5, eps=0.001)"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.layers[1].weight, model.layers[1].weight)


@pytest.mark.parametrize("build", [_dense_model, _sequence_model, _image_model,
                                   lambda dtype: _dense_model(False, dtype)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_onnx_layer_normalization_equals_predict(build, dtype, rng):
    ort = pytest.importorskip("onnxruntime")
    from fastnn.onnx import to_onnx

    model = build(dtype=dtype)
    _perturb(model, rng)
    X = rng.standard_normal((6,) + model.input_shape).astype(dtype)
    proto = to_onnx(model)
    assert "LayerNormalization" in [node.op_type for node in proto.graph.node]
    feed = {"input": X.reshape(6, -1)}
    if dtype == "float32":
        out = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    else:  # ONNX Runtime lacks float64 kernels of some of these: onnx's reference evaluator runs the graph
        from onnx.reference import ReferenceEvaluator

        out = ReferenceEvaluator(proto).run(None, feed)[0]
    np.testing.assert_allclose(out, model.predict(X), rtol=1e-5, atol=1e-5 if dtype == "float32" else 1e-12)
    with pytest.raises(ValueError, match="opset 17"):
        to_onnx(model, opset=16)


def test_layernorm_settings_are_checked():
    with pytest.raises(ValueError, match="eps"):
        fastnn.LayerNorm(4, eps=0)
    with pytest.raises(TypeError, match="elementwise_affine"):
        fastnn.LayerNorm(4, elementwise_affine="yes")
    with pytest.raises(ValueError, match=r"normalises the last dimensions \(5,\)"):
        fastnn.Sequential([fastnn.Dense(3, 4), fastnn.LayerNorm(5)])
    layer = fastnn.LayerNorm((2, 3), eps=1e-3, elementwise_affine=False)
    assert fastnn.LayerNorm.from_config(layer.get_config()).get_config() == layer.get_config()
    model = fastnn.Sequential([fastnn.Dense(6, 6), fastnn.Reshape((2, 3)), layer], seed=0)
    assert layer.weight is None and model.n_params == 42
    with pytest.raises(AttributeError, match="elementwise_affine=False"):
        layer.weight = np.ones((2, 3))
    first = fastnn.Sequential([fastnn.LayerNorm(4), fastnn.Dense(4, 2)], input_shape=(4,), seed=0)
    assert first.layers[0].weight.shape == (4,) and np.array_equal(first.layers[0].weight, np.ones(4))
