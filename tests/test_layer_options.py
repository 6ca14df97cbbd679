"""Keras's layer options on Dense and Conv2D: ``use_bias=False`` (no bias parameter at all: counts, summary, the
NumPy twin, gradients by float64 finite differences, threads, model files, ONNX) and ``kernel_initializer`` (each
initialiser's statistics, orthogonality, the default unchanged)."""
import io
import json
import math
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import _reference as ref
from fastnn.layers import ACTIVATIONS, INITIALIZERS, KERNEL_INITIALIZERS


def _no_bias_cnn(dtype="float64", seed=0):
    return fastnn.Sequential([fastnn.Conv2D(2, 3, 3, padding=1, activation="relu", use_bias=False),
                              fastnn.MaxPool2D(2), fastnn.Conv2D(3, 4, 2, activation="tanh"), fastnn.Flatten(),
                              fastnn.Dense(16, 5, "relu", use_bias=False), fastnn.Dense(5, 3, "softmax")],
                             input_shape=(2, 6, 6), seed=seed, dtype=dtype)


def test_a_layer_without_bias_has_no_bias_parameter():
    model = _no_bias_cnn()
    conv, dense = model.layers[0], model.layers[4]
    assert conv.bias is None and dense.bias is None
    assert [spec.name for spec in dense.params()] == ["weight"]
    assert conv.n_params == 3 * 2 * 9 and dense.n_params == 80
    assert model.n_params == 54 + (4 * 3 * 4 + 4) + 80 + (15 + 3)
    assert len(model.get_weights()) == 6  # W0, W2 b2, W4, W5 b5
    with pytest.raises(AttributeError, match="use_bias=False"):
        dense.bias = np.zeros(5)
    text = str(model)
    assert f"Total params: {model.n_params}" in text
    assert text.split("conv2d (")[1].splitlines()[0].split()[-1] == "54"
    assert text.split("dense (")[1].splitlines()[0].split()[-1] == "80"
    assert repr(dense) == "Dense(16, 5, activation='relu', use_bias=False)"
    with pytest.raises(TypeError, match="use_bias"):
        fastnn.Dense(3, 2, use_bias="no")


def test_forward_and_gradients_equal_the_numpy_twin_and_finite_differences(rng, numeric_gradient):
    model = _no_bias_cnn().compile("cross_entropy", regularizer=fastnn.L2(0.01))
    model.parameters[:] += rng.normal(scale=0.05, size=model.n_params)
    X = rng.standard_normal((5, 2, 6, 6))
    y = rng.integers(0, 3, 5)
    net = ref.LayerNetwork(model._layout, model.get_weights(),
                           [ACTIVATIONS[layer.activation] for layer in model._engine_layers], model.loss.code)
    flat = X.reshape(5, -1)
    np.testing.assert_allclose(model.predict(X), net.predict(flat), rtol=1e-12, atol=1e-14)
    _, grad = model.loss_and_gradient(X, y)
    _, grads = net.gradients(flat, labels=y)
    penalty = np.concatenate([0.01 * w.ravel() if spec.decayed else np.zeros(w.size)
                              for w, (_, _, spec) in zip(model.get_weights(), model._tensors())])
    np.testing.assert_allclose(grad, np.concatenate([g.ravel() for g in grads]) + penalty, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(grad, numeric_gradient(model, X, y), rtol=1e-5, atol=1e-8)


def test_training_equals_pytorch_without_bias(rng):
    torch = pytest.importorskip("torch")
    model = fastnn.Sequential([fastnn.Dense(6, 8, "tanh", use_bias=False), fastnn.Dense(8, 3, use_bias=False)],
                              seed=0, dtype="float64").compile("mse", optimizer=fastnn.SGD(0.1, momentum=0.9))
    net = torch.nn.Sequential(torch.nn.Linear(6, 8, bias=False), torch.nn.Tanh(),
                              torch.nn.Linear(8, 3, bias=False)).double()
    with torch.no_grad():
        net[0].weight[...] = torch.from_numpy(model.layers[0].weight.copy())
        net[2].weight[...] = torch.from_numpy(model.layers[1].weight.copy())
    opt = torch.optim.SGD(net.parameters(), 0.1, momentum=0.9)
    X, y = rng.standard_normal((16, 6)), rng.standard_normal((16, 3))
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        opt.step()
        model.train_on_batch(X, y)
    np.testing.assert_allclose(model.layers[1].weight, net[2].weight.detach().numpy(), rtol=1e-10, atol=1e-14)


def test_bit_identical_for_any_thread_count_and_kept_by_model_files(thread_invariant, rng, tmp_path):
    X = rng.standard_normal((48, 2, 6, 6)).astype(np.float32)
    y = rng.integers(0, 3, 48)

    def train(n_threads):
        model = _no_bias_cnn("float32").compile("cross_entropy", optimizer=fastnn.Adam(1e-2))
        model.fit(X, y, epochs=2, batch_size=16, verbose=0, n_threads=n_threads)
        return model, X

    thread_invariant(train, 0)
    model, _ = train(1)
    path = tmp_path / "nobias.fnn"
    model.save(path)
    loaded = fastnn.load(path)
    assert loaded.layers[0].use_bias is False and loaded.layers[0].bias is None
    assert loaded.n_params == model.n_params
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_files_written_before_the_option_load_with_biases(tmp_path):
    model = fastnn.Sequential([fastnn.Dense(3, 4, "relu"), fastnn.Dense(4, 2)], seed=0)
    path = tmp_path / "old.fnn"
    model.save(path)
    with zipfile.ZipFile(path) as z:  # the layers as files stored them before these settings
        members = {name: z.read(name) for name in z.namelist()}
    header = json.loads(members["header.json"])
    for spec in header["layers"]:
        del spec["use_bias"], spec["kernel_initializer"]
    members["header.json"] = json.dumps(header).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    loaded = fastnn.load(path)
    assert loaded.layers[0].use_bias and loaded.layers[0].kernel_initializer is None
    np.testing.assert_array_equal(loaded.parameters, model.parameters)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_onnx_export_without_bias_equals_predict(dtype, rng):
    ort = pytest.importorskip("onnxruntime")
    from fastnn.onnx import to_onnx

    model = _no_bias_cnn(dtype)
    X = rng.standard_normal((7, 72)).astype(dtype)
    proto = to_onnx(model)
    assert sum("_bias_" in t.name for t in proto.graph.initializer) == 2  # the two layers with a bias
    if dtype == "float32":
        out = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {"input": X})[0]
        np.testing.assert_allclose(out, model.predict(X.reshape(7, 2, 6, 6)), rtol=1e-5, atol=1e-6)
    else:  # ONNX Runtime has no float64 Conv: onnx's reference evaluator runs the graph
        from onnx.reference import ReferenceEvaluator

        out = ReferenceEvaluator(proto).run(None, {"input": X})[0]
        np.testing.assert_allclose(out, model.predict(X.reshape(7, 2, 6, 6)), rtol=1e-10, atol=1e-12)
    sequence = fastnn.Sequential([fastnn.GRU(3, 4, return_sequences=True), fastnn.Dense(4, 2, use_bias=False)],
                                 input_shape=(5, 3), seed=0)
    Xs = rng.standard_normal((6, 5, 3)).astype(np.float32)
    out = ort.InferenceSession(to_onnx(sequence).SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"input": Xs.reshape(6, -1)})[0]
    np.testing.assert_allclose(out, sequence.predict(Xs), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# kernel_initializer
# ---------------------------------------------------------------------------------------------------------------

def _weights(init, layer):
    shape = (layer.in_channels, 12, 12) if isinstance(layer, fastnn.Conv2D) else None
    return fastnn.Sequential([layer], input_shape=shape,
                             seed=7, dtype="float64").layers[0].weight


@pytest.mark.parametrize("make, fans", [(lambda init: fastnn.Dense(400, 300, kernel_initializer=init), (400, 300)),
                                        (lambda init: fastnn.Conv2D(16, 96, 5, kernel_initializer=init),
                                         (16 * 25, 96 * 25))])
@pytest.mark.parametrize("init", ["he_normal", "he_uniform", "glorot_uniform", "glorot_normal"])
def test_initializer_statistics_follow_keras(init, make, fans):
    w = _weights(init, make(init))
    fan_in, fan_out = fans  # Keras's fans of a conv kernel: channels times the receptive field
    var = 2 / fan_in if init.startswith("he") else 2 / (fan_in + fan_out)
    assert abs(w.mean()) < 0.02 * math.sqrt(var)
    assert w.var() == pytest.approx(var, rel=0.03)
    if init.endswith("uniform"):  # U(-limit, limit), limit = sqrt(3 var)
        limit = math.sqrt(3 * var)
        assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    else:  # Keras's truncated normal: stddev sqrt(var) / 0.8796..., nothing beyond two of them
        stddev = math.sqrt(var) / 0.87962566103423978
        assert np.abs(w).max() <= 2 * stddev and np.abs(w).max() > 1.95 * stddev


@pytest.mark.parametrize("layer", [fastnn.Dense(50, 20, kernel_initializer="orthogonal"),
                                   fastnn.Dense(20, 50, kernel_initializer="orthogonal"),
                                   fastnn.Conv2D(3, 8, 3, kernel_initializer="orthogonal")])
def test_orthogonal_rows_or_columns(layer):
    w = _weights("orthogonal", layer)
    m = w.reshape(w.shape[0], -1)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-12)


def test_zeros_and_the_default_unchanged():
    assert not _weights("zeros", fastnn.Dense(5, 4, kernel_initializer="zeros")).any()
    for activation, init in (("relu", "he_uniform"), ("tanh", "glorot_uniform")):
        default = _weights(None, fastnn.Dense(30, 20, activation))
        named = _weights(init, fastnn.Dense(30, 20, activation, kernel_initializer=init))
        np.testing.assert_array_equal(default, named)


def test_initializer_names_are_checked_and_saved(tmp_path):
    assert set(KERNEL_INITIALIZERS) <= set(INITIALIZERS)
    with pytest.raises(ValueError, match="kernel_initializer must be one of"):
        fastnn.Dense(3, 2, kernel_initializer="lecun_banana")
    with pytest.raises(TypeError, match="kernel_initializer"):
        fastnn.Conv2D(1, 2, 3, kernel_initializer=3)
    layer = fastnn.Conv2D(1, 2, 3, kernel_initializer="He_Normal", use_bias=False)
    assert fastnn.Conv2D.from_config(layer.get_config()).get_config() == layer.get_config()
    assert layer.get_config()["kernel_initializer"] == "he_normal"
    model = fastnn.Sequential([fastnn.Dense(3, 2, kernel_initializer="orthogonal")], seed=0)
    model.save(tmp_path / "m.fnn")
    assert fastnn.load(tmp_path / "m.fnn").layers[0].kernel_initializer == "orthogonal"
