"""Keras's ``data_format="channels_last"`` on the image layers: images ``(n, H, W, C)`` taken as they come, the
same network in both layouts equal (predictions and a training step) with correspondingly arranged weights,
Flatten in Keras's ``(h, w, c)`` order, the engine's PERMUTE kind against the NumPy reference, gradients by float64
finite differences, thread-count independence, errors, model files and ONNX export."""
import re
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import _kernels
from fastnn import _reference as ref
from fastnn.nn.reshaping import engine_activations

H, W, C = 6, 5, 3


def _net(fmt, dtype="float64", out="softmax", seed=0):
    """Conv-BN-ReLU, max pool, conv, average pool, Flatten, Dense: in layout ``fmt``."""
    kw = dict(data_format=fmt)
    shape = (C, H, W) if fmt == "channels_first" else (H, W, C)
    return fastnn.Sequential([
        fastnn.Conv2D(C, 4, 3, padding=1, **kw), fastnn.BatchNorm2d(4, activation="relu", **kw),
        fastnn.MaxPool2D(2, stride=1, **kw), fastnn.Conv2D(4, 5, 2, activation="tanh", **kw),
        fastnn.AvgPool2D(2, stride=1, **kw), fastnn.Flatten(), fastnn.Dense(5 * 3 * 2, 3, out),
    ], input_shape=shape, seed=seed, dtype=dtype)


def _keras_dense(weight, c, h, w):
    """A Dense weight whose columns take a Flatten of (c, h, w) images, for a Flatten of (h, w, c) ones."""
    return weight.reshape(len(weight), c, h, w).transpose(0, 2, 3, 1).reshape(len(weight), -1)


def _pair(dtype="float64"):
    first, last = _net("channels_first", dtype), _net("channels_last", dtype)
    first.parameters[:] += np.random.default_rng(3).normal(scale=0.05, size=first.n_params)  # biases off zero
    weights = first.get_weights()
    weights[-2] = _keras_dense(weights[-2], 5, 3, 2)
    last.set_weights(weights)
    return first, last


def _images(n=8, seed=0):
    X = np.random.default_rng(seed).normal(size=(n, C, H, W))
    return X, X.transpose(0, 2, 3, 1)


def test_the_same_network_in_both_layouts_predicts_and_trains_the_same():
    first, last = _pair()
    X, Xl = _images()
    np.testing.assert_allclose(last.predict(Xl), first.predict(X), rtol=0, atol=1e-12)
    y = np.random.default_rng(1).integers(0, 3, len(X))
    for model in (first, last):
        model.compile("cross_entropy", optimizer=fastnn.SGD(0.1, momentum=0.9))
    first.train_on_batch(X, y)
    last.train_on_batch(Xl, y)
    expected = first.get_weights()
    expected[-2] = _keras_dense(expected[-2], 5, 3, 2)
    for got, want in zip(last.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(last.layers[1], name), getattr(first.layers[1], name), rtol=0, atol=1e-12)
    np.testing.assert_allclose(last.predict(Xl), first.predict(X), rtol=0, atol=1e-12)
    assert last.evaluate(Xl, y)["loss"] == pytest.approx(first.evaluate(X, y)["loss"], abs=1e-12)


def test_layer_outputs_are_channels_last_and_flatten_is_in_keras_order():
    first, last = _pair()
    X, Xl = _images(5)
    for k in range(5):  # the image layers' outputs: (n, H, W, C)
        out = last.predict(Xl, layer=k)
        assert out.shape == (5,) + last._shapes[k] and out.flags.c_contiguous
        np.testing.assert_allclose(out, first.predict(X, layer=k).transpose(0, 2, 3, 1), rtol=0, atol=1e-12)
    flat = first.predict(X, layer=4).transpose(0, 2, 3, 1).reshape(5, -1)  # Keras's Flatten: (h, w, c) order
    np.testing.assert_allclose(last.predict(Xl, layer=5), flat, rtol=0, atol=1e-12)
    assert [s for s in last._shapes[:5]] == [(6, 5, 4), (6, 5, 4), (5, 4, 4), (4, 3, 5), (3, 2, 5)]


def test_keras_images_are_taken_as_they_come():
    model = fastnn.Sequential([fastnn.Conv2D(1, 4, 3, activation="relu", data_format="channels_last"),
                               fastnn.MaxPool2D(2, data_format="channels_last"), fastnn.Flatten(),
                               fastnn.Dense(4 * 13 * 13, 10, "softmax")], input_shape=(28, 28, 1), seed=0)
    X = np.random.default_rng(0).random((6, 28, 28, 1)).astype(np.float32)
    y = np.arange(6)
    model.compile("cross_entropy", optimizer="adam")
    model.fit(X, y, epochs=1, batch_size=3, verbose=0)
    out = model.predict(X)
    np.testing.assert_array_equal(model.predict(X[..., 0]), out)       # one channel: (n, 28, 28) too
    np.testing.assert_array_equal(model.predict(X.reshape(6, -1)), out)  # and flat rows
    rgb = fastnn.Sequential([fastnn.Conv2D(3, 2, 3, data_format="channels_last"),
                             fastnn.GlobalAvgPool2D(data_format="channels_last")], input_shape=(8, 8, 3))
    with pytest.raises(ValueError, match=r"its channels come first; put them last \(as Keras\), "
                                         r"X.transpose\(0, 2, 3, 1\)"):
        rgb.predict(np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"\(n_samples, 8, 8, 3\) or \(n_samples, 192\)"):
        rgb.predict(np.zeros((2, 8, 8)))
    channels_first = fastnn.Sequential([fastnn.Conv2D(3, 2, 3), fastnn.GlobalAvgPool2D()], input_shape=(3, 8, 8))
    with pytest.raises(ValueError, match="data_format='channels_last'"):
        channels_first.predict(np.zeros((2, 8, 8, 3)))


def test_gradients_against_finite_differences_and_the_reference(numeric_gradient):
    _, model = _pair()
    model.compile("cross_entropy", regularizer=fastnn.L2(0.01))
    _, Xl = _images(5)
    y = np.random.default_rng(2).integers(0, 3, 5)
    loss, grad = model.loss_and_gradient(Xl, y)
    np.testing.assert_allclose(grad, numeric_gradient(model, Xl, y), rtol=1e-5, atol=1e-8)
    # without BatchNorm: the engine's layer table (with its PERMUTE rows) against the NumPy twin
    net = fastnn.Sequential([fastnn.Conv2D(C, 4, 3, activation="gelu", data_format="channels_last"),
                             fastnn.AvgPool2D(2, stride=1, data_format="channels_last"), fastnn.Flatten(),
                             fastnn.Dense(4 * 3 * 2, 3, "softmax")], input_shape=(H, W, C), seed=1, dtype="float64")
    net.compile("cross_entropy")
    assert [row["kind"] if isinstance(row, dict) else row[0] for row in net._layout].count(_kernels.LAYER_PERMUTE) == 2
    twin = ref.LayerNetwork(net._layout, net.get_weights(), engine_activations(net._engine_layers), net.loss.code)
    X = Xl.reshape(5, -1)
    np.testing.assert_allclose(net.predict(X), twin.predict(X), rtol=1e-12, atol=1e-14)
    _, grad = net.loss_and_gradient(X, y)
    _, grads = twin.gradients(X, labels=y)
    np.testing.assert_allclose(grad, np.concatenate([g.ravel() for g in grads]), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(grad, numeric_gradient(net, X, y), rtol=1e-5, atol=1e-8)


def test_an_image_output_is_channels_last_with_its_activation_for_the_loss(numeric_gradient):
    def autoencoder(fmt):
        return fastnn.Sequential([fastnn.Conv2D(C, 4, 3, padding="same", activation="relu", data_format=fmt),
                                  fastnn.Conv2D(4, C, 3, padding="same", activation="sigmoid", data_format=fmt)],
                                 input_shape=(C, H, W) if fmt == "channels_first" else (H, W, C), seed=0,
                                 dtype="float64").compile("binary_cross_entropy")
    first, last = autoencoder("channels_first"), autoencoder("channels_last")
    last.set_weights(first.get_weights())
    X, Xl = _images(4)
    X, Xl = 1 / (1 + np.exp(-X)), 1 / (1 + np.exp(-Xl))
    assert last.output_shape == (H, W, C)
    keras_order = first.predict(X).reshape(4, C, H, W).transpose(0, 2, 3, 1).reshape(4, -1)
    np.testing.assert_allclose(last.predict(Xl), keras_order, rtol=0, atol=1e-12)
    loss_first, _ = first.loss_and_gradient(X, X.reshape(4, -1))
    loss, grad = last.loss_and_gradient(Xl, Xl.reshape(4, -1))
    assert loss == pytest.approx(loss_first, abs=1e-12)
    np.testing.assert_allclose(grad, numeric_gradient(last, Xl, Xl.reshape(4, -1)), rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="needs a 'sigmoid' output layer"):  # the output layer's, as it is
        last.layers[-1].activation = "tanh"


def _train(n_threads, dtype="float32"):
    model = _net("channels_last", dtype)
    model.compile("cross_entropy", optimizer=fastnn.Adam(1e-2))
    _, Xl = _images(40, seed=5)
    y = np.random.default_rng(6).integers(0, 3, 40)
    model.fit(Xl.astype(dtype), y, epochs=2, batch_size=16, verbose=0, n_threads=n_threads)
    return model, Xl.astype(dtype)


def test_results_are_bit_identical_for_any_thread_count(thread_invariant):
    thread_invariant(_train, layer=2)


@pytest.mark.parametrize("layers, input_shape, message", [
    ([fastnn.Conv2D(3, 4, 3, data_format="channels_last"), fastnn.MaxPool2D(2)], (8, 8, 3),
     r"layers\[1\] \(MaxPool2D.*\) takes data_format='channels_first' images, but layers\[0\] \(Conv2D.*\) gives "
     r"'channels_last' ones: use one data_format"),
    ([fastnn.Conv2D(3, 4, 3), fastnn.Activation("relu"), fastnn.BatchNorm2d(4, data_format="channels_last")],
     (3, 8, 8),
     r"layers\[2\] .* takes data_format='channels_last' images, but layers\[1\] .* gives 'channels_first'"),
])
def test_mixed_data_formats_are_refused_at_build(layers, input_shape, message):
    with pytest.raises(ValueError, match=message):
        fastnn.Sequential(layers, input_shape=input_shape)


def test_a_declared_input_shape_says_how_channels_last_images_are_shaped():
    with pytest.raises(ValueError, match=r"takes images \(height, width, channels\), but input_shape=\(28, 28\) is "
                                         r"not such a shape \(one channel: input_shape=\(28, 28, 1\)\)"):
        fastnn.Sequential([fastnn.Conv2D(1, 2, 3, data_format="channels_last")], input_shape=(28, 28))
    with pytest.raises(ValueError, match=r"cannot take input_shape=\(28, 28, 1\): its in_channels=3 differs from "
                                         r"the 1 channels it gets"):
        fastnn.Sequential([fastnn.Conv2D(3, 2, 3, data_format="channels_last")], input_shape=(28, 28, 1))


@pytest.mark.parametrize("first, input_shape", [(fastnn.Conv2D(3, 8, 3), (32, 32, 3)),
                                                (fastnn.Conv2D(1, 8, 3), (28, 28, 1)),
                                                (fastnn.BatchNorm2d(3), (16, 16, 3))])
def test_keras_shaped_images_for_channels_first_layers_point_at_data_format(first, input_shape):
    """Keras's image shape given to layers built PyTorch's way (the default): the error says what to change."""
    with pytest.raises(ValueError, match=rf"cannot take input_shape=\({input_shape[0]}, {input_shape[1]}, "
                                         rf"{input_shape[2]}\).* look channels-last \(height, width, channels\): "
                                         r"build the model's image layers with data_format='channels_last'"):
        fastnn.Sequential([first, fastnn.Flatten()], input_shape=input_shape)
    with pytest.raises(ValueError, match="differs from the 3 channels it gets$"):  # channels-first, wrong count
        fastnn.Sequential([fastnn.Conv2D(2, 8, 3), fastnn.Flatten()], input_shape=(3, 16, 16))


def test_channels_last_layers_after_flat_samples_say_what_they_take():
    with pytest.raises(ValueError, match=r"layers\[1\] \(MaxPool2D.*\) cannot take the output of layers\[0\] "
                                         r"\(Dense.*\), of shape \(12,\): it takes images \(n_samples, height, "
                                         r"width, channels\)"):
        fastnn.Sequential([fastnn.Dense(4, 12), fastnn.MaxPool2D(2, data_format="channels_last")])


def test_bad_data_format_arguments():
    for make in (lambda v: fastnn.Conv2D(1, 2, 3, data_format=v), lambda v: fastnn.MaxPool2D(2, data_format=v),
                 lambda v: fastnn.AvgPool2D(2, data_format=v), lambda v: fastnn.GlobalAvgPool2D(data_format=v),
                 lambda v: fastnn.BatchNorm2d(2, data_format=v)):
        with pytest.raises(ValueError, match=r"data_format must be one of \['channels_first', 'channels_last'\], got 'nhwc'"):
            make("nhwc")
        with pytest.raises(TypeError, match="data_format must be a string"):
            make(None)
        assert make("Channels_Last").data_format == "channels_last"
    conv = fastnn.Conv2D(3, 2, 3, data_format="channels_last")
    fastnn.Sequential([conv, fastnn.GlobalAvgPool2D("channels_last")], input_shape=(8, 8, 3))
    with pytest.raises(AttributeError, match="cannot change once the layer belongs to a model"):
        conv.data_format = "channels_first"


def test_summary_shows_channels_last_shapes():
    _, model = _pair()
    text = str(model)
    assert "input " in text and "(None, 6, 5, 3)" in text
    assert re.search(r"conv2d \(Conv2D\) +\(None, 6, 5, 4\)", text) and "(None, 3, 2, 5)" in text
    assert model.output_shape == (3,) and model.input_shape == (H, W, C)


def test_model_files_keep_the_data_format_and_old_files_load(tmp_path):
    _, model = _pair()
    _, Xl = _images(4)
    model.save(tmp_path / "last.fnn")
    loaded = fastnn.load(tmp_path / "last.fnn")
    assert repr(loaded) == repr(model) and loaded.layers[0].data_format == "channels_last"
    np.testing.assert_array_equal(loaded.predict(Xl), model.predict(Xl))
    first = _net("channels_first")  # a file written before data_format: no such field
    first.save(tmp_path / "first.fnn")
    with zipfile.ZipFile(tmp_path / "first.fnn") as z:
        members = {n: z.read(n) for n in z.namelist()}
    text = members["header.json"].decode()
    assert text.count('"data_format": "channels_first"') == 5
    members["header.json"] = re.sub(r',\s*"data_format": "channels_first"', "", text).encode()
    assert b"data_format" not in members["header.json"]
    with zipfile.ZipFile(tmp_path / "old.fnn", "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    old = fastnn.load(tmp_path / "old.fnn")
    assert repr(old) == repr(first)
    X, _ = _images(4)
    np.testing.assert_array_equal(old.predict(X), first.predict(X))


def _image_output(dtype="float64"):
    """Channels-last images in, channels-last images out (an autoencoder's shape), the last layer a sigmoid
    convolution."""
    last = dict(data_format="channels_last")
    return fastnn.Sequential([fastnn.Conv2D(C, 4, 3, padding="same", activation="relu", **last),
                              fastnn.BatchNorm2d(4, **last), fastnn.Activation("tanh"),
                              fastnn.Conv2D(4, C, 3, padding="same", activation="sigmoid", **last)],
                             input_shape=(H, W, C), seed=0, dtype=dtype)


@pytest.mark.parametrize("case", ["flatten", "image_output"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_onnx_export_of_a_channels_last_model(dtype, case):
    pytest.importorskip("onnx")
    from fastnn import onnx as fonnx

    model = _pair(dtype)[1] if case == "flatten" else _image_output(dtype)
    if case == "image_output":
        model.layers[1].running_mean[:] = [0.1, -0.2, 0.3, 0.0]
        model.layers[1].running_var[:] = [0.5, 2.0, 1.0, 1.5]
    _, Xl = _images(6)
    feed = Xl.reshape(6, -1).astype(dtype)
    proto = fonnx.to_onnx(model)
    assert [n.op_type for n in proto.graph.node].count("Transpose") == 2
    if dtype == "float32":
        ort = pytest.importorskip("onnxruntime")
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        out = session.run(None, {"input": feed})[0]
        tol = 1e-5
    else:
        from onnx.reference import ReferenceEvaluator

        out = ReferenceEvaluator(proto).run(None, {"input": feed})[0]
        tol = 1e-12
    expected = model.predict(feed)
    assert out.shape == (6,) + model.output_shape
    assert np.abs(out.reshape(expected.shape) - expected).max() <= tol * np.abs(expected).max()


def test_dropout_around_channels_last_layers():
    def model(fmt):
        return fastnn.Sequential([fastnn.Dropout(0.2), fastnn.Conv2D(C, 4, 3, activation="relu", data_format=fmt),
                                  fastnn.Dropout(0.3), fastnn.Flatten(), fastnn.Dense(4 * 4 * 3, 6, "relu"),
                                  fastnn.Dropout(0.1), fastnn.Dense(6, 3, "softmax")],
                                 input_shape=(C, H, W) if fmt == "channels_first" else (H, W, C), seed=0,
                                 dtype="float64").compile("cross_entropy")
    first, last = model("channels_first"), model("channels_last")
    assert last._dropout == [0.2, 0.0, 0.3, 0.0, 0.1]  # rows: permute in, conv, permute out, dense, dense
    weights = first.get_weights()
    weights[-4] = _keras_dense(weights[-4], 4, 4, 3)
    last.set_weights(weights)
    X, Xl = _images(10)
    np.testing.assert_allclose(last.predict(Xl), first.predict(X), rtol=0, atol=1e-12)
    last.layers[2].p = 0.5
    assert last._dropout == [0.2, 0.0, 0.5, 0.0, 0.1]
    history = last.fit(Xl, np.arange(10) % 3, epochs=2, batch_size=5, verbose=0)
    assert np.all(np.isfinite(history["loss"]))


def test_reshape_and_layernorm_after_channels_last_images_see_them_in_keras_order():
    last = dict(data_format="channels_last")
    model = fastnn.Sequential([fastnn.Conv2D(3, 4, 3, **last), fastnn.Reshape((12, 4)), fastnn.LayerNorm(4),
                               fastnn.Flatten(), fastnn.Dense(48, 2)], input_shape=(H, W, C), seed=0, dtype="float64")
    _, Xl = _images(5)
    conv = model.predict(Xl, layer=0)
    assert conv.shape == (5, 4, 3, 4)
    np.testing.assert_array_equal(model.predict(Xl, layer=1), conv.reshape(5, 12, 4))
    # each position's channels normalised: Keras's LayerNormalization(axis=-1) on (n, H, W, C)
    expected = (conv - conv.mean(-1, keepdims=True)) / np.sqrt(conv.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(model.predict(Xl, layer=2), expected.reshape(5, 12, 4), rtol=0, atol=1e-12)


def test_a_model_built_by_add_and_copies_of_a_model_predict_the_same():
    import copy
    import pickle

    def layers():
        return [fastnn.Conv2D(C, 4, 3, data_format="channels_last"), fastnn.Activation("relu"), fastnn.Dropout(0.2),
                fastnn.Flatten(), fastnn.Dense(4 * 4 * 3, 2, "softmax")]
    built = fastnn.Sequential(layers(), input_shape=(H, W, C), seed=0)
    added = fastnn.Sequential(input_shape=(H, W, C), seed=0)
    for layer in layers():
        added.add(layer)
    _, Xl = _images(5)
    Xl = Xl.astype(np.float32)
    assert added._dropout == built._dropout == [0.0, 0.0, 0.0, 0.2, 0.0]  # on the permutation's input
    for model in (added, copy.deepcopy(built), pickle.loads(pickle.dumps(built))):
        np.testing.assert_array_equal(model.predict(Xl), built.predict(Xl))
