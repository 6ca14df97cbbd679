"""Sequential: training against the NumPy reference, threads, reproducibility, history, progress output."""
import io

import numpy as np
import pytest

import fastnn
from fastnn import _reference as ref

DTYPES = [("float32", 2e-4), ("float64", 1e-10)]


def make_model(widths, acts, dtype="float64", seed=0, loss="cross_entropy", optimizer=None, regularizer=None):
    layers = [fastnn.Dense(a, b, activation=f) for a, b, f in zip(widths[:-1], widths[1:], acts)]
    model = fastnn.Sequential(layers, seed=seed, dtype=dtype)
    model.compile(loss=loss, optimizer=optimizer or fastnn.SGD(lr=0.1), regularizer=regularizer)
    return model


def reference_of(model):
    return ref.Network(model.get_weights(), [layer.activation_code for layer in model._dense], model.loss.code)


CASES = [
    # widths, activations, loss, n_samples, batch_size
    ([5, 3], ["softmax"], "cross_entropy", 10, 1),                  # batch of one, no hidden layer
    ([9, 17, 3], ["relu", "softmax"], "cross_entropy", 50, 16),     # last partial batch (50 = 3*16 + 2)
    ([13, 65, 33, 4], ["tanh", "sigmoid", "softmax"], "cross_entropy", 70, 32),
    ([7, 130, 1], ["relu", "sigmoid"], "binary_cross_entropy", 41, 8),  # one output unit
    ([6, 70, 2], ["tanh", "identity"], "mse", 33, 10),
    ([6, 11, 3], ["softmax", "sigmoid"], "mse", 20, 7),                 # softmax hidden layer
]


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("widths, acts, loss, n, batch", CASES)
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("hyper", [dict(momentum=0.0), dict(momentum=0.9, l2=1e-2),
                                   dict(momentum=0.5, nesterov=True, l1=1e-3, weight_decay=1e-2)])
def test_fit_matches_reference(dtype, tol, widths, acts, loss, n, batch, n_threads, hyper, rng):
    X = rng.normal(size=(n, widths[0]))
    K = widths[-1]
    if loss == "cross_entropy":
        y = rng.integers(0, K, n)
        kw = dict(labels=y)
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (n, K)).astype(float)
        kw = dict(targets=y.astype(dtype))
    else:
        y = rng.normal(size=(n, K))
        kw = dict(targets=y.astype(dtype))
    l1, l2 = hyper.get("l1", 0.0), hyper.get("l2", 0.0)
    reg = fastnn.L1L2(l1=l1, l2=l2) if (l1 or l2) else None
    opt = fastnn.SGD(lr=0.05, momentum=hyper["momentum"], nesterov=hyper.get("nesterov", False),
                     weight_decay=hyper.get("weight_decay", 0.0))
    model = make_model(widths, acts, dtype, loss=loss, optimizer=opt, regularizer=reg)
    net = reference_of(model)
    history = model.fit(X, y, epochs=2, batch_size=batch, shuffle=False, n_threads=n_threads, verbose=0)
    Xd = X.astype(dtype)
    losses = [net.train_epoch(Xd, np.arange(n), batch, lr=0.05, momentum=hyper["momentum"],
                              nesterov=hyper.get("nesterov", False), weight_decay=hyper.get("weight_decay", 0.0),
                              l1=l1, l2=l2, **kw) for _ in range(2)]
    for got, expected in zip(model.get_weights(), net.params):
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(history["loss"], losses, rtol=tol * 10)
    assert history["iterations"] == [-(-n // batch)] * 2
    np.testing.assert_allclose(model.predict(X), net.predict(Xd), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [1, 37, 128, 500])
def test_threads_give_identical_results(dtype, batch, rng, many_cores):
    X = rng.normal(size=(500, 97))
    y = rng.integers(0, 10, 500)
    results = []
    for nt in (1, 2, 3):
        model = make_model([97, 300, 130, 10], ["relu", "tanh", "softmax"], dtype, seed=3,
                           optimizer=fastnn.SGD(lr=0.05, momentum=0.9), regularizer=fastnn.L2(1e-3))
        h = model.fit(X, y, epochs=2, batch_size=batch, n_threads=nt, verbose=0)
        results.append((model.parameters.copy(), h["loss"], model.predict(X, n_threads=nt)))
    for params, loss, pred in results[1:]:
        np.testing.assert_array_equal(params, results[0][0])
        assert loss == results[0][1]
        np.testing.assert_array_equal(pred, results[0][2])


def test_seeded_runs_are_reproducible_and_seeds_matter(rng):
    X = rng.normal(size=(200, 8))
    y = rng.integers(0, 3, 200)
    runs = []
    for seed in (7, 7, 8):
        model = make_model([8, 16, 3], ["relu", "softmax"], "float32", seed=seed)
        model.fit(X, y, epochs=3, batch_size=16, verbose=0)
        runs.append(model.parameters.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_initialisation():
    model = fastnn.Sequential([fastnn.Dense(400, 300, "relu"), fastnn.Dense(300, 100, "tanh")], seed=0)
    w0, w1 = model.layers[0].weight, model.layers[1].weight
    assert np.abs(w0).max() <= np.sqrt(6 / 400) and w0.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert np.abs(w1).max() <= np.sqrt(6 / 400) and w1.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert not model.layers[0].bias.any()
    # float32 and float64 models from one seed start from the same weights (up to rounding)
    m64 = fastnn.Sequential([fastnn.Dense(400, 300, "relu"), fastnn.Dense(300, 100, "tanh")], seed=0,
                            dtype="float64")
    np.testing.assert_allclose(m64.layers[0].weight, w0, rtol=1e-6)


def test_weight_views_are_live_and_assignable():
    model = make_model([3, 4, 2], ["relu", "softmax"], "float32")
    layer = model.layers[0]
    assert layer.weight.shape == (4, 3) and layer.bias.shape == (4,)
    assert np.shares_memory(layer.weight, model.parameters)
    layer.weight[0, 0] = 5.0
    assert model.parameters[0] == 5.0
    layer.weight = np.ones((4, 3))
    assert layer.weight.dtype == np.float32 and np.all(model.parameters[:12] == 1)
    with pytest.raises(ValueError, match="shape"):
        layer.weight = np.ones((3, 4))
    with pytest.raises(ValueError, match="NaN"):
        layer.bias = [np.nan] * 4
    assert np.all(model.parameters[:12] == 1)
    weights = model.get_weights()
    weights[0][:] = 2
    model.set_weights(weights)
    assert np.all(layer.weight == 2)
    with pytest.raises(ValueError, match="shape"):
        model.set_weights([np.zeros((4, 3)), np.zeros(4), np.zeros((2, 4)), np.zeros(3)])
    assert np.all(layer.weight == 2)


def test_history_and_validation_data(rng):
    X = rng.normal(size=(120, 5))
    y = (X[:, 0] > 0).astype(int)
    model = make_model([5, 8, 2], ["relu", "softmax"], "float32")
    h = model.fit(X[:100], y[:100], epochs=3, batch_size=20, validation_data=(X[100:], y[100:]), verbose=0)
    keys = {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "iterations", "seconds"}
    assert set(h.history) == keys
    assert len(h) == 3 and h.epoch == [0, 1, 2] and h["iterations"] == [5, 5, 5]
    ev = model.evaluate(X[100:], y[100:])
    assert ev["loss"] == pytest.approx(h["val_loss"][-1], rel=1e-5)
    assert ev["accuracy"] == pytest.approx(h["val_accuracy"][-1])
    assert model.history is h
    h2 = model.fit(X, y, epochs=2, batch_size=20, validation_split=0.25, verbose=0)
    assert h2.params["samples"] == 90 and h2["iterations"] == [5, 5]


def test_regularization_penalty_is_part_of_reported_loss(rng):
    X = rng.normal(size=(40, 6))
    y = rng.integers(0, 3, 40)
    plain = make_model([6, 10, 3], ["relu", "softmax"])
    reg = make_model([6, 10, 3], ["relu", "softmax"], regularizer=fastnn.L1L2(l1=0.01, l2=0.1))
    weights = [layer.weight for layer in reg.layers]
    expected_penalty = 0.01 * sum(np.abs(w).sum() for w in weights) + 0.05 * sum((w ** 2).sum() for w in weights)
    assert reg.penalty() == pytest.approx(expected_penalty)
    assert reg.evaluate(X, y)["loss"] == pytest.approx(plain.evaluate(X, y)["loss"] + expected_penalty)


def test_epochs_zero_trains_nothing(rng):
    model = make_model([4, 3], ["softmax"])
    before = model.parameters.copy()
    h = model.fit(rng.normal(size=(10, 4)), rng.integers(0, 3, 10), epochs=0, verbose=0)
    assert len(h) == 0 and np.array_equal(model.parameters, before)


def test_batch_larger_than_data(rng):
    model = make_model([4, 3], ["softmax"])
    h = model.fit(rng.normal(size=(10, 4)), rng.integers(0, 3, 10), epochs=1, batch_size=1000, verbose=0)
    assert h["iterations"] == [1]


def test_one_hot_targets_equal_labels(rng):
    X = rng.normal(size=(30, 4))
    y = rng.integers(0, 3, 30)
    a = make_model([4, 5, 3], ["relu", "softmax"])
    b = make_model([4, 5, 3], ["relu", "softmax"])
    a.fit(X, y, epochs=2, batch_size=8, verbose=0)
    b.fit(X, np.eye(3)[y], epochs=2, batch_size=8, verbose=0)
    np.testing.assert_allclose(a.parameters, b.parameters, rtol=1e-12, atol=1e-14)


def test_predict_classes_and_blocks(rng):
    X = rng.normal(size=(2500, 6))
    model = make_model([6, 9, 4], ["relu", "softmax"], "float32")
    full = model.predict(X)
    np.testing.assert_array_equal(model.predict(X, batch_size=7), full)
    np.testing.assert_allclose(full.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(model.predict_classes(X), full.argmax(axis=1))


def test_divergence_raises_and_restores(rng):
    X = rng.normal(size=(64, 4)) * 1e3
    y = rng.normal(size=(64, 1)) * 1e3
    model = make_model([4, 32, 1], ["relu", "identity"], "float32", loss="mse", optimizer=fastnn.SGD(lr=10.0))
    before = model.parameters.copy()
    with pytest.raises(FloatingPointError, match=r"epoch 1, iteration \d+"):
        model.fit(X, y, epochs=5, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_array_equal(model.parameters, before)


def test_update_that_overflows_the_weights_raises_and_restores():
    """A step that leaves a parameter infinite (while the loss before it was finite) is divergence too."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(23, 5))
    y = rng.integers(0, 3, 23)
    model = fastnn.Sequential([fastnn.Dense(5, 4, "tanh"), fastnn.Dense(4, 3, "softmax")], seed=0)
    model.compile("cross_entropy", fastnn.SGD(lr=6.0, weight_decay=273))
    before = model.parameters.copy()
    with pytest.raises(FloatingPointError, match=r"epoch 1, iteration \d+ of 12"):
        model.fit(X, y, epochs=1, batch_size=2, verbose=0)
    np.testing.assert_array_equal(model.parameters, before)
    assert np.all(np.isfinite(model.predict(X)))


@pytest.mark.parametrize("verbose", [1, 2])
def test_progress_output(verbose, rng, capsys):
    X = rng.normal(size=(50, 4))
    y = rng.integers(0, 2, 50)
    model = make_model([4, 2], ["softmax"])
    model.fit(X, y, epochs=2, batch_size=10, verbose=verbose, validation_split=0.2)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Epoch 1/2" in text and "Epoch 2/2" in text
    assert "loss:" in text and "val_accuracy:" in text


def test_plain_progress_without_tqdm():
    from fastnn._core.progress import EpochProgress

    buf = io.StringIO()
    buf.isatty = lambda: True
    p = EpochProgress(1, 3, 10, verbose=1, file=buf, use_tqdm=False)
    p.update(10, 100, 0.5)
    p.close(1.0, {"loss": 0.5})
    assert "10/10 it" in buf.getvalue() and "Epoch 1/3 - 10 it - 1.00s - loss: 0.5000" in buf.getvalue()


def test_tqdm_bar_on_a_terminal():
    pytest.importorskip("tqdm")
    from fastnn._core.progress import EpochProgress

    buf = io.StringIO()
    buf.isatty = lambda: True
    p = EpochProgress(2, 5, 100, verbose=1, file=buf)
    p.update(40, 2560, 0.75)
    p.update(60, 6400, 0.5)
    p.close(0.5, {"loss": 0.5, "val_loss": 0.6})
    text = buf.getvalue()
    assert "40/100" in text and "loss=0.7500" in text and "samples_s=" in text
    assert "Epoch 2/5 - 100 it - 0.50s - loss: 0.5000 - val_loss: 0.6000" in text


def test_no_live_bar_when_not_a_terminal():
    from fastnn._core.progress import EpochProgress

    buf = io.StringIO()
    p = EpochProgress(1, 1, 10, verbose=1, file=buf)
    p.update(10, 100, 0.5)
    p.close(1.0, {"loss": 0.5})
    assert buf.getvalue() == "Epoch 1/1 - 10 it - 1.00s - loss: 0.5000\n"


def test_silent_by_verbose_zero(rng, capsys):
    model = make_model([4, 2], ["softmax"])
    model.fit(rng.normal(size=(20, 4)), rng.integers(0, 2, 20), verbose=0)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_summary_and_repr():
    model = make_model([784, 256, 10], ["relu", "softmax"], "float32")
    assert model.summary() is None
    printed = []
    model.summary(print_fn=printed.append)
    text = printed[0]
    assert "200,960" in text and "Total params: 203,530" in text and str(model) == text
    assert repr(model).startswith("Sequential([Dense(784, 256")
    assert model.n_params == 203530


# -- behaviour a user coming from Keras, PyTorch or scikit-learn expects ----------------------------------------

def test_layers_as_positional_arguments():
    a = fastnn.Sequential(fastnn.Dense(4, 8, "relu"), fastnn.Dense(8, 3, "softmax"), seed=5)
    b = fastnn.Sequential([fastnn.Dense(4, 8, "relu"), fastnn.Dense(8, 3, "softmax")], seed=5)
    c = fastnn.Sequential([fastnn.Dense(4, 8, "relu"), fastnn.Dense(8, 3, "softmax")], 5, "float32")
    np.testing.assert_array_equal(a.parameters, b.parameters)
    np.testing.assert_array_equal(a.parameters, c.parameters)
    with pytest.raises(TypeError, match=r"layers\[1\] must be a fastnn layer.*keyword"):
        fastnn.Sequential(fastnn.Dense(4, 8), 5)


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_copies_keep_layer_views_and_optimizer_state(how, rng):
    import copy
    import pickle

    X = rng.normal(size=(60, 4))
    y = rng.integers(0, 3, 60)
    model = make_model([4, 8, 3], ["relu", "softmax"], optimizer=fastnn.SGD(lr=0.1, momentum=0.9))
    model.fit(X, y, epochs=2, batch_size=16, verbose=0)
    twin = pickle.loads(pickle.dumps(model)) if how == "pickle" else copy.deepcopy(model)
    for layer, original in zip(twin.layers, model.layers):
        assert np.shares_memory(layer.weight, twin.parameters) and np.shares_memory(layer.bias, twin.parameters)
        assert not np.shares_memory(layer.weight, model.parameters)
        np.testing.assert_array_equal(layer.weight, original.weight)
    np.testing.assert_array_equal(twin._state, model._state)
    # both continue identically: momentum and the shuffling generator came along
    model.fit(X, y, epochs=1, batch_size=16, verbose=0)
    twin.fit(X, y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(twin.parameters, model.parameters)
    np.testing.assert_array_equal(twin.layers[1].weight, twin.parameters[40:64].reshape(3, 8))
    twin.layers[0].bias = np.ones(8)  # writes through a layer reach the copy's model, not the original
    assert np.all(twin.parameters[32:40] == 1) and not np.all(model.parameters[32:40] == 1)


def test_probability_targets_must_sum_to_one(rng):
    model = make_model([4, 10], ["softmax"])
    X = rng.normal(size=(8, 4))
    with pytest.raises(ValueError, match=r"y rows must sum to 1.*row 0 sums to 5"):
        model.fit(X, np.full((8, 10), 0.5), verbose=0)
    smooth = np.full((8, 10), 0.01)
    smooth[:, 0] = 0.91
    model.fit(X, smooth, verbose=0)  # label smoothing is a valid distribution


def test_raw_pixels_warn_once_with_the_remedy(rng):
    X = rng.integers(0, 256, size=(64, 6)).astype(np.uint8)
    y = rng.integers(0, 3, 64)
    model = make_model([6, 3], ["softmax"])
    with pytest.warns(UserWarning, match=r"far from unit scale.*StandardScaler.*X / 255"):
        model.fit(X, y, verbose=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, y, verbose=0)  # once per model
        scaled = make_model([6, 3], ["softmax"])
        scaled.scaler = fastnn.StandardScaler().fit(X)
        scaled.fit(X, y, verbose=0)  # inputs the model's scaler makes unit-scale: no warning
        make_model([6, 3], ["softmax"]).fit(X / 255.0, y, verbose=0)


def _pixels_model(rng, inputs=None):
    """A model trained on 0-255 pixels divided by 255 (or on ``inputs(pixels)``): the pixels, labels, model."""
    pixels = rng.integers(0, 256, size=(300, 6)).astype(np.uint8)
    y = rng.integers(0, 3, 300)
    model = make_model([6, 8, 3], ["relu", "softmax"])
    model.fit(pixels / 255.0 if inputs is None else inputs(pixels), y, epochs=2, verbose=0)
    return pixels, y, model


def test_predict_and_evaluate_warn_once_for_inputs_far_beyond_the_training_range(rng):
    import copy
    import warnings

    pixels, y, model = _pixels_model(rng)
    np.testing.assert_array_equal(model.input_peak_, (pixels / 255.0).max(axis=0))
    many, one, scores, layer = (copy.deepcopy(model) for _ in range(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # data in the training range: never a warning
        model.predict(pixels / 255.0)
        model.predict(np.ascontiguousarray(pixels[:1] / 255.0))
        model.evaluate(pixels / 255.0, y)
        model.predict(pixels[:50] / 300.0, layer=0)
    remedy = r"^X is far outside the range of the inputs this model was trained on .*scale X .*X / 255"
    with pytest.warns(UserWarning, match=remedy + r".*") as caught:
        many.predict(pixels)  # raw uint8 pixels, converted a block at a time
    assert len(caught) == 1 and "predictions are unreliable" in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the caller
    with pytest.warns(UserWarning, match=remedy):
        one.predict(pixels[:1].astype(np.float64))  # one row: the small-call path
    with pytest.warns(UserWarning, match=remedy) as caught:
        scores.evaluate(pixels.astype(np.float32), y)
    assert "scores are unreliable" in str(caught[0].message)
    with pytest.warns(UserWarning, match=remedy):
        layer.predict(pixels, layer=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        many.predict(pixels)  # once per model
        many.evaluate(pixels, y)


def test_inputs_near_the_largest_float32_give_limits_without_overflow(rng):
    import warnings

    X = rng.normal(size=(64, 3))
    X[:, 0] *= 1e38 / np.abs(X[:, 0]).max()  # ten times this is beyond float32
    y = rng.integers(0, 3, 64)
    model = make_model([3, 3], ["softmax"], dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fit's own: far from unit scale
        warnings.simplefilter("error", RuntimeWarning)
        try:
            model.fit(X, y, epochs=1, verbose=0)
        except FloatingPointError:
            pass  # the inputs' range is kept before training starts
        model.predict(X.astype(np.float32))
    assert np.isfinite(model.input_peak_).all() and model.input_peak_[0] > 9e37


def test_the_training_range_is_the_one_the_network_saw(rng):
    import warnings

    # scaled outside the model: raw values are far beyond what fit saw
    def standardize(a):
        return (a - a.mean(axis=0)) / a.std(axis=0)

    pixels, y, outside = _pixels_model(rng, standardize)
    with pytest.warns(UserWarning, match="^X is far outside"):
        outside.predict(pixels.astype(np.float64))
    # the model's own scaler applies to every input: raw pixels are what it expects
    inside = make_model([6, 8, 3], ["relu", "softmax"])
    inside.scaler = fastnn.StandardScaler().fit(pixels)
    inside.fit(pixels, y, verbose=0)
    bright = pixels.astype(np.float64)
    bright[:, 0] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inside.predict(pixels)
        inside.evaluate(pixels, y)
        # a feature that was always 0 in fit is compared with the features' usual scale, not with 0
        zeros, _, dark = _pixels_model(rng, lambda p: np.c_[np.zeros(len(p)), p[:, 1:] / 255.0])
        dark.predict(np.c_[np.full((5, 1), 0.5), zeros[:5, 1:] / 255.0])
        # a model never trained, or trained before models kept their range, has nothing to compare with
        assert make_model([6, 3], ["softmax"]).input_peak_ is None
        make_model([6, 3], ["softmax"]).predict(pixels)
    # train_on_batch widens the range of a fitted model; a generator's batches are a fit's inputs too
    _, _, tuned = _pixels_model(rng)
    tuned.train_on_batch(pixels[:20].astype(np.float64), y[:20])
    np.testing.assert_array_equal(tuned.input_peak_, np.maximum((pixels / 255.0).max(axis=0), pixels[:20].max(0)))
    streamed = make_model([6, 8, 3], ["relu", "softmax"])
    streamed.fit(iter([(pixels[:150] / 255.0, y[:150]), (pixels[150:] / 510.0, y[150:])]), verbose=0)
    np.testing.assert_array_equal(streamed.input_peak_, np.maximum(pixels[:150].max(0) / 255.0,
                                                                   pixels[150:].max(0) / 510.0))


def test_keras_words_in_compile_and_sgd(rng):
    model = make_model([4, 3], ["softmax"])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    assert isinstance(model.optimizer, fastnn.SGD) and model.metrics == ["accuracy"]
    assert fastnn.SGD(learning_rate=0.3).lr == 0.3 and fastnn.SGD().lr == 0.01
    with pytest.raises(TypeError, match="not both"):
        fastnn.SGD(lr=0.1, learning_rate=0.2)
    with pytest.raises(ValueError, match="unknown metric 'r2_score'"):
        model.compile(metrics=["r2_score"])
    with pytest.raises(ValueError, match="classification loss"):
        make_model([4, 1], ["identity"], loss="mse").compile("mse", metrics=["acc"])


@pytest.mark.parametrize("name", ["leaky_relu", "elu", "softplus", "gelu", "LeakyReLU"])
def test_new_activations_train(name, rng):
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    model = make_model([4, 32, 2], [name, "softmax"], optimizer=fastnn.SGD(lr=0.2, momentum=0.9))
    model.fit(X, y, epochs=40, batch_size=20, verbose=0)
    assert model.evaluate(X, y)["accuracy"] > 0.85
    ref_net = reference_of(model)
    np.testing.assert_allclose(model.predict(X), ref_net.predict(X), rtol=1e-10, atol=1e-12)


def test_divergence_message_and_epoch_line_agree(capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(23, 5))
    y = rng.integers(0, 3, 23)
    model = fastnn.Sequential([fastnn.Dense(5, 4, "tanh"), fastnn.Dense(4, 3, "softmax")], seed=0)
    model.compile("cross_entropy", fastnn.SGD(lr=6.0, weight_decay=273))
    with pytest.raises(FloatingPointError, match=r"iteration (\d+) of 12 \(after (\d+) complete") as info:
        model.fit(X, y, epochs=1, batch_size=2, shuffle=False, verbose=2)
    import re

    at, done = map(int, re.search(r"iteration (\d+) of 12 \(after (\d+)", str(info.value)).groups())
    assert done == at - 1
    line = capsys.readouterr().out
    assert f"Epoch 1/1 - {done} it - " in line and f"diverged at iteration {at} of 12" in line


# -- train_on_batch and single-row predictions ------------------------------------------------------------------

@pytest.mark.parametrize("loss, out, opt", [("cross_entropy", "softmax", lambda: fastnn.Adam(lr=0.01)),
                                            ("huber", "identity", lambda: fastnn.SGD(lr=0.05, momentum=0.9)),
                                            ("mse", "tanh", lambda: fastnn.RMSprop(lr=0.01, momentum=0.5))])
@pytest.mark.parametrize("rows", [1, 7, 64, 300])
def test_train_on_batch_equals_a_one_batch_fit(loss, out, opt, rows, rng):
    X = rng.normal(size=(rows, 5)).astype(np.float32)
    y = rng.integers(0, 3, rows) if loss == "cross_entropy" else rng.normal(size=(rows, 3)).astype(np.float32)

    def make():
        m = fastnn.Sequential(fastnn.Dense(5, 80, "relu"), fastnn.Dense(80, 3, out), seed=4)
        return m.compile(loss, opt(), regularizer=fastnn.L2(1e-3))

    a, b = make(), make()
    losses = [a.train_on_batch(X, y) for _ in range(3)]
    for _ in range(3):
        h = b.fit(X, y, batch_size=rows, shuffle=False, verbose=0)
    np.testing.assert_array_equal(a.parameters, b.parameters)
    np.testing.assert_array_equal(a._state, b._state)
    assert losses[-1] == h["loss"][0] and int(a._step[0]) == 3
    # other kinds of input (lists, int64 labels, float64 features) give the same update
    c = make()
    c.train_on_batch(X.tolist(), y.tolist() if loss == "cross_entropy" else y.astype(np.float64))
    d = make()
    d.train_on_batch(X, y)
    np.testing.assert_array_equal(c.parameters, d.parameters)


def test_train_on_batch_refuses_bad_input_and_divergence(rng):
    m = fastnn.Sequential(fastnn.Dense(4, 8, "relu"), fastnn.Dense(8, 3, "softmax"), seed=0)
    m.compile("cross_entropy", fastnn.SGD(lr=1e30))
    before = m.parameters.copy()
    X = rng.normal(size=(6, 4)).astype(np.float32)
    for x, y, match in ((X, np.array([0, 1, 2, 3, 0, 1]), "label 3"), (X[:, :3], np.zeros(6, int), "features"),
                        (X * np.nan, np.zeros(6, int), "NaN"), (X, np.zeros(5, int), "5 labels")):
        with pytest.raises(ValueError, match=match):
            m.train_on_batch(x, y)
    with pytest.raises(FloatingPointError, match="left as it was"):
        m.train_on_batch(X * 1e10, np.zeros(6, int))
    np.testing.assert_array_equal(m.parameters, before)
    assert int(m._step[0]) == 0
    with pytest.raises(RuntimeError, match="compile"):
        fastnn.Sequential(fastnn.Dense(4, 3, "softmax")).train_on_batch(X, np.zeros(6, int))


def test_recompiling_refreshes_the_kept_engine(rng):
    X = rng.normal(size=(16, 4)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    m = fastnn.Sequential(fastnn.Dense(4, 8, "relu"), fastnn.Dense(8, 3, "softmax"), seed=0)
    m.compile("cross_entropy", fastnn.SGD(lr=0.1, momentum=0.9))
    m.train_on_batch(X, y)
    m.compile("cross_entropy", fastnn.Adam(lr=0.01, amsgrad=True))
    m.train_on_batch(X, y)
    assert m._state.shape[0] == 3 and np.any(m._state[2] != 0)  # the new optimizer's state was written
    m.optimizer.lr = 1e-9  # a changed setting reaches the compiled copy
    before = m.parameters.copy()
    m.train_on_batch(X, y)
    np.testing.assert_allclose(m.parameters, before, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_single_row_predictions(dtype, rng, many_cores):
    m = fastnn.Sequential(fastnn.Dense(70, 130, "gelu"), fastnn.Dense(130, 65, "relu"),
                          fastnn.Dense(65, 3, "softmax"), seed=1, dtype=dtype).compile("cross_entropy")
    X = rng.normal(size=(5, 70)).astype(dtype)
    ref_net = reference_of(m)
    tol = 2e-6 if dtype == "float32" else 1e-13
    for x in X:
        row = x[None, :]
        one = m.predict(row)
        np.testing.assert_allclose(one, ref_net.predict(row.astype(np.float64)), rtol=tol, atol=tol)
        for nt in (1, 2, 3):  # the same bits on any number of threads
            np.testing.assert_array_equal(m.predict(row, n_threads=nt), one)
        np.testing.assert_array_equal(m.predict(row.tolist()), one)  # the checked path agrees with the fast one
    np.testing.assert_allclose(m.predict(X), np.vstack([m.predict(x[None]) for x in X]), rtol=tol, atol=tol)


def test_class_weight_weighs_the_training_part_of_a_split_only(rng):
    X = rng.normal(size=(100, 5))
    y = rng.integers(0, 3, 100)
    m = make_model([5, 8, 3], ["relu", "softmax"])
    h = m.fit(X, y, epochs=2, batch_size=10, validation_split=0.2, class_weight={0: 5.0}, verbose=0)
    assert h["val_loss"][-1] == pytest.approx(m.evaluate(X[80:], y[80:])["loss"], rel=1e-12)
    w = np.r_[np.ones(80), np.arange(20.0)]
    h = m.fit(X, y, epochs=1, batch_size=10, validation_split=0.2, sample_weight=w, verbose=0)
    assert h["val_loss"][-1] == pytest.approx(m.evaluate(X[80:], y[80:], sample_weight=w[80:])["loss"], rel=1e-12)


def test_predict_of_a_hidden_layer(rng):
    m = fastnn.Sequential([fastnn.Dense(6, 9, "tanh"), fastnn.Dropout(0.3), fastnn.Dense(9, 5, "gelu"),
                           fastnn.Dense(5, 3, "softmax")], seed=2, dtype="float64").compile("cross_entropy")
    X = rng.normal(size=(40, 6))
    outs = reference_of(m).forward(X)
    np.testing.assert_allclose(m.predict(X, layer=0), outs[1], rtol=1e-12)
    np.testing.assert_array_equal(m.predict(X, layer=1), m.predict(X, layer=0))  # dropout: identity at inference
    np.testing.assert_allclose(m.predict(X, layer=2), outs[2], rtol=1e-12)
    np.testing.assert_array_equal(m.predict(X, layer=-1), m.predict(X))
    np.testing.assert_array_equal(m.predict(X, layer=2, n_threads=1), m.predict(X, layer=2, n_threads=2))
    for bad in (4, -5):
        with pytest.raises(ValueError, match="layer must be"):
            m.predict(X, layer=bad)
    with pytest.raises(TypeError, match="layer must be an integer"):
        m.predict(X, layer=1.0)


@pytest.mark.parametrize("images", [False, True])
def test_summary_of_a_model_that_starts_with_dropout(images, rng):
    body = ([fastnn.Reshape((1, 2, 3)), fastnn.Flatten(), fastnn.Dense(6, 4, "relu")] if images
            else [fastnn.Dense(6, 4, "relu")])
    m = fastnn.Sequential([fastnn.Dropout(0.2)] + body + [fastnn.Dense(4, 2, "softmax")], seed=0)
    text = m._summary_text()
    assert str(m) == text and "dropout (Dropout 0.2)" in text
    row = next(line for line in text.splitlines() if line.startswith("dropout ("))
    assert f"(None, {', '.join(map(str, m.input_shape))})" in row
    printed = []
    m.summary(print_fn=printed.append)
    assert printed == [text]
    X = rng.normal(size=(5, 6)).astype(np.float32)
    np.testing.assert_array_equal(m.predict(X, layer=0).reshape(5, -1), X)  # dropout: identity at inference


@pytest.mark.parametrize("classes", [["cat", "dog", "bird"], [3, 7, 11], None])
def test_predict_classes_returns_the_model_class_labels(classes, rng, tmp_path):
    X = rng.normal(size=(50, 6))
    model = make_model([6, 9, 3], ["relu", "softmax"], "float32")
    model.classes = classes
    index = model.predict(X).argmax(axis=1)
    assert len(set(index.tolist())) > 1
    expected = index if classes is None else np.array(classes)[index]
    np.testing.assert_array_equal(model.predict_classes(X), expected)
    model.save(tmp_path / "m.fastnn")
    np.testing.assert_array_equal(fastnn.load(tmp_path / "m.fastnn").predict_classes(X), expected)


def test_predict_classes_of_a_single_sigmoid_unit(rng):
    X = rng.normal(size=(40, 6))
    model = make_model([6, 1], ["sigmoid"], loss="binary_cross_entropy")
    model.layers[0].bias[...] = 0.1
    positive = model.predict(X)[:, 0] > 0.5
    assert 0 < positive.sum() < 40
    np.testing.assert_array_equal(model.predict_classes(X), positive.astype(np.int64))
    model.classes = ["no", "yes"]
    np.testing.assert_array_equal(model.predict_classes(X), np.where(positive, "yes", "no"))
    model.classes = ["yes"]
    with pytest.raises(ValueError, match="model.classes holds 1 label.*needs 2"):
        model.predict_classes(X)


@pytest.mark.parametrize("acts, loss", [(["relu", "identity"], "mse"), (["relu", "sigmoid"], "mse"),
                                        (["relu", "softmax"], "huber"), (["relu", "relu"], None)])
def test_predict_classes_refuses_models_that_are_not_classifiers(acts, loss, rng):
    layers = [fastnn.Dense(6, 5, acts[0]), fastnn.Dense(5, 3, acts[1])]
    model = fastnn.Sequential(layers, seed=0)
    if loss is not None:
        model.compile(loss=loss)
    with pytest.raises(ValueError, match="predict_classes needs a classifier"):
        model.predict_classes(rng.normal(size=(4, 6)))


def test_predict_classes_of_an_uncompiled_softmax_model(rng):
    model = fastnn.Sequential([fastnn.Dense(6, 3, "softmax")], seed=0)
    X = rng.normal(size=(10, 6))
    np.testing.assert_array_equal(model.predict_classes(X), model.predict(X).argmax(axis=1))


# -- layer settings after the model is built ----------------------------------------------------------------------

def _all_kinds(dtype="float64"):
    return fastnn.Sequential([fastnn.Reshape((1, 6, 6)), fastnn.Conv2D(1, 3, 3, padding=1, activation="relu"),
                              fastnn.MaxPool2D(2), fastnn.Conv2D(3, 4, 2, activation="tanh"),
                              fastnn.AvgPool2D(2, stride=1), fastnn.Flatten(), fastnn.Dropout(0.3),
                              fastnn.Dense(4, 5, "relu"), fastnn.Dense(5, 3, "softmax")], seed=0, dtype=dtype)


@pytest.mark.parametrize("index, name, value", [
    (0, "shape", (36,)), (1, "in_channels", 2), (1, "out_channels", 2), (1, "kernel_size", 2), (1, "stride", 2),
    (1, "padding", 0), (2, "pool_size", 3), (2, "stride", 1), (4, "pool_size", 1), (4, "stride", 2),
    (7, "in_features", 3), (7, "out_features", 6), (8, "out_features", 2)])
def test_settings_that_fix_shapes_are_refused_once_in_a_model(index, name, value, rng):
    m = _all_kinds()
    X = rng.normal(size=(4, 36))
    before = m.predict(X)
    layer = m.layers[index]
    old = getattr(layer, name)
    with pytest.raises(AttributeError, match=f"{name} cannot change once the layer belongs to a model.*build a new"):
        setattr(layer, name, value)
    assert getattr(layer, name) == old
    np.testing.assert_array_equal(m.predict(X), before)


def test_pooling_has_no_activation_to_set():
    m = _all_kinds()
    for pool in (m.layers[2], m.layers[4]):
        with pytest.raises(AttributeError, match="activation cannot be set"):
            pool.activation = "relu"
        assert pool.activation == "identity"


def test_settings_are_checked_before_a_layer_joins_a_model():
    d = fastnn.Dense(3, 4)
    d.in_features, d.activation = 5, "ReLU"
    assert (d.in_features, d.activation) == (5, "relu")
    with pytest.raises(ValueError, match="in_features must be"):
        d.in_features = 0
    with pytest.raises(ValueError, match="activation must be one of"):
        d.activation = "swish"
    c = fastnn.Conv2D(1, 2, 3, padding="same")
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        c.stride = 2
    c.kernel_size = 5
    assert c.kernel_size == (5, 5) and c.stride == (1, 1)
    with pytest.raises(ValueError, match="softmax"):
        c.activation = "softmax"
    with pytest.raises(ValueError, match="p must be"):
        fastnn.Dropout(0.1).p = 1.0
    r = fastnn.Reshape((1, 2, 2))
    r.shape = 4
    assert r.shape == (4,)


@pytest.mark.parametrize("index, value", [(1, "elu"), (3, "sigmoid"), (7, "tanh"), (7, None)])
def test_a_new_activation_is_what_predict_computes(index, value, rng):
    m = _all_kinds()
    X = rng.normal(size=(30, 36))
    before = m.predict(X)  # the model keeps an engine from here on
    m.layers[index].activation = value
    fresh = _all_kinds()
    fresh.layers[index].activation = value
    fresh.parameters[...] = m.parameters
    after = m.predict(X)
    assert not np.array_equal(after, before)
    np.testing.assert_array_equal(after, fresh.predict(X))
    np.testing.assert_array_equal(m.predict(X[:1]), fresh.predict(X[:1]))  # the single-row path too
    np.testing.assert_array_equal(m.predict(X, layer=index), fresh.predict(X, layer=index))


def test_a_bad_activation_is_refused_and_changes_nothing(rng):
    m = make_model([4, 6, 3], ["relu", "softmax"])
    X = rng.normal(size=(5, 4))
    before = m.predict(X)
    with pytest.raises(ValueError, match="activation must be one of.*'swish'"):
        m.layers[0].activation = "swish"
    with pytest.raises(ValueError, match="loss 'cross_entropy' needs a 'softmax' output layer"):
        m.layers[1].activation = "relu"  # the compiled loss cannot take it
    assert [l.activation for l in m.layers] == ["relu", "softmax"]
    np.testing.assert_array_equal(m.predict(X), before)
    m.compile("mse")
    m.layers[1].activation = "identity"  # now it can


def test_a_new_dropout_rate_is_what_fit_uses(rng):
    X = rng.normal(size=(64, 6))
    y = rng.integers(0, 3, 64)

    def model(p):
        m = fastnn.Sequential([fastnn.Dense(6, 16, "relu"), fastnn.Dropout(p), fastnn.Dense(16, 3, "softmax")],
                              seed=3, dtype="float64")
        return m.compile("cross_entropy", fastnn.SGD(lr=0.1, momentum=0.9))

    a, b = model(0.5), model(0.0)
    a.fit(X, y, epochs=1, batch_size=16, verbose=0)  # the engine is kept from here on
    a.layers[1].p = 0.0
    b.parameters[...], b._state[...], b._step[...] = a.parameters, a._state, a._step
    b._rng.bit_generator.state = a._rng.bit_generator.state
    a.fit(X, y, epochs=1, batch_size=16, verbose=0)
    b.fit(X, y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(a.parameters, b.parameters)
    c, d = model(0.2), model(0.5)
    c.layers[1].p = 0.5  # a rate set later equals one given at construction
    c.fit(X, y, epochs=1, batch_size=16, verbose=0)
    d.fit(X, y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(c.parameters, d.parameters)


def test_a_setting_changed_by_a_callback_takes_effect_in_the_next_epoch(rng):
    X = rng.normal(size=(64, 5))
    y = rng.integers(0, 2, 64)

    class Switch(fastnn.callbacks.Callback):
        def on_epoch_end(self, model, epoch, logs):
            if epoch == 0:
                model.layers[0].activation = "tanh"
                model.layers[1].p = 0.0

    def model(activation="relu", p=0.4):
        return fastnn.Sequential([fastnn.Dense(5, 8, activation), fastnn.Dropout(p), fastnn.Dense(8, 2, "softmax")],
                                 seed=1, dtype="float64").compile("cross_entropy", fastnn.SGD(lr=0.1, momentum=0.9))

    a, b, c = model(), model(), model("tanh", 0.0)
    a.fit(X, y, epochs=2, batch_size=16, callbacks=[Switch()], verbose=0)
    b.fit(X, y, epochs=1, batch_size=16, verbose=0)
    c.parameters[...], c._state[...], c._step[...] = b.parameters, b._state, b._step  # c: b's state, new settings
    c._rng.bit_generator.state = b._rng.bit_generator.state
    c.fit(X, y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(a.parameters, c.parameters)


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_a_copy_follows_its_own_layers_settings(how, rng):
    import copy
    import pickle

    m = make_model([4, 6, 3], ["relu", "softmax"])
    X = rng.normal(size=(8, 4))
    before = m.predict(X)
    twin = pickle.loads(pickle.dumps(m)) if how == "pickle" else copy.deepcopy(m)
    twin.layers[0].activation = "tanh"
    twin.layers[0].trainable = False
    assert m.layers[0].activation == "relu" and m.layers[0].trainable
    np.testing.assert_array_equal(m.predict(X), before)
    assert not np.array_equal(twin.predict(X), before)
    with pytest.raises(AttributeError, match="in_features cannot change"):
        twin.layers[0].in_features = 5


def test_layers_declare_their_parameter_tensors():
    """The model lays out, binds, initialises and returns parameters from each layer's params() alone."""
    from fastnn.layers import INITIALIZERS, ParamSpec

    conv, dense = fastnn.Conv2D(1, 4, 3, activation="relu"), fastnn.Dense(4 * 6 * 6, 3, "softmax")
    assert conv.params() == (ParamSpec("weight", (4, 1, 3, 3), "he_uniform", True),
                             ParamSpec("bias", (4,), "zeros", False))
    assert dense.params()[0].init == "glorot_uniform" and fastnn.MaxPool2D(2).params() == ()
    model = fastnn.Sequential([conv, fastnn.Flatten(), dense], input_shape=(1, 8, 8), seed=3)
    tensors = model.get_weights()
    assert [t.shape for t in tensors] == [(4, 1, 3, 3), (4,), (3, 144), (3,)]
    assert model.n_params == sum(t.size for t in tensors) == model.parameters.size
    np.testing.assert_array_equal(np.concatenate([t.ravel() for t in tensors]), model.parameters)
    rng = np.random.default_rng(3)  # the model's generator: the same draws, tensor by tensor
    expected = [INITIALIZERS[s.init](rng, s.shape, layer.fans) for layer in (conv, dense) for s in layer.params()]
    for got, want in zip(tensors, expected):
        np.testing.assert_array_equal(got, np.broadcast_to(np.float32(want), got.shape) if np.isscalar(want)
                                      else np.asarray(want, dtype=np.float32))
    assert np.all(np.abs(tensors[0]) <= np.sqrt(6 / 9)) and np.all(np.abs(tensors[2]) <= np.sqrt(6 / (144 + 3)))


def test_optimizer_state_is_a_view_of_the_saved_state(tmp_path):
    rng = np.random.default_rng(0)
    model = fastnn.Sequential([fastnn.Dense(3, 2, "softmax")], seed=0)
    model.compile("cross_entropy", fastnn.Adam())
    assert model.optimizer_state.shape == (2, model.n_params) and not model.optimizer_state.any()
    model.train_on_batch(rng.normal(size=(8, 3)).astype(np.float32), np.arange(8) % 2)
    assert model.optimizer_state.any()
    model.save(tmp_path / "m.fnn")
    np.testing.assert_array_equal(fastnn.load(tmp_path / "m.fnn").optimizer_state, model.optimizer_state)
