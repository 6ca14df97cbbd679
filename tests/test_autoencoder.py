"""Autoencoder: the mirrored architecture, encode/decode, training on its own inputs, files, and codes that
k-means clusters better than the raw inputs."""
import numpy as np
import pytest

import fastnn
from fastnn import _reference as ref


@pytest.fixture
def data(rng):
    # 3 clusters on a 2-d plane embedded in 30 dimensions, in [0, 1]
    centers = rng.uniform(0.2, 0.8, size=(3, 2))
    labels = rng.integers(0, 3, 600)
    codes = centers[labels] + rng.normal(scale=0.03, size=(600, 2))
    mix = rng.normal(size=(2, 30)) / 3
    X = 1 / (1 + np.exp(-(codes - 0.5) @ mix * 4))
    return X.astype(np.float32), labels


def test_architecture_mirrors_the_encoder():
    ae = fastnn.Autoencoder([30, 16, 8, 2], activation="tanh", output_activation="sigmoid", seed=0)
    assert ae.widths == [30, 16, 8, 2, 8, 16, 30]
    assert [l.activation for l in ae._dense] == ["tanh", "tanh", "identity", "tanh", "tanh", "sigmoid"]
    assert ae.code_size == 2
    noisy = fastnn.Autoencoder([30, 2], input_noise=0.2, seed=0)
    assert isinstance(noisy.layers[0], fastnn.Dropout) and noisy.layers[0].p == 0.2


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 2e-6)])
def test_encode_and_decode_are_the_two_halves(dtype, tol, data):
    X = data[0].astype(dtype)
    ae = fastnn.Autoencoder([30, 12, 4], output_activation="sigmoid", seed=1, dtype=dtype)
    net = ref.Network(ae.get_weights(), [l.activation_code for l in ae._dense], ref.MSE)
    outs = net.forward(X.astype(np.float64))
    np.testing.assert_allclose(ae.encode(X), outs[2], rtol=tol, atol=tol)
    np.testing.assert_allclose(ae.decode(ae.encode(X)), ae.reconstruct(X), rtol=tol * 10, atol=tol * 10)
    np.testing.assert_allclose(ae.reconstruct(X), outs[-1], rtol=tol, atol=tol)
    err = ae.reconstruction_error(X)
    np.testing.assert_allclose(err, ((outs[-1] - X) ** 2).mean(axis=1), rtol=1e-5)


def test_training_reduces_the_reconstruction_error_and_codes_cluster(data):
    X, labels = data
    ae = fastnn.Autoencoder([30, 32, 2], output_activation="sigmoid", seed=0)
    ae.compile(loss="mse", optimizer=fastnn.Adam(3e-3))
    before = ae.reconstruction_error(X).mean()
    h = ae.fit(X, epochs=60, batch_size=32, validation_data=X[:100], verbose=0)
    assert ae.reconstruction_error(X).mean() < 0.2 * before
    assert "val_loss" in h and h["val_loss"][-1] < h["val_loss"][0]
    codes = ae.encode(X)
    km = fastnn.KMeans(3, random_state=0).fit(codes)
    assert fastnn.metrics.clustering_accuracy(labels, km.labels_) > 0.95


def test_denoising_training_and_files(tmp_path, data):
    X, _ = data
    ae = fastnn.Autoencoder([30, 8], output_activation="sigmoid", input_noise=0.3, seed=2)
    ae.compile(loss="binary_cross_entropy", optimizer=fastnn.Adam(1e-2))
    ae.fit(X, epochs=3, batch_size=50, verbose=0)
    ae.save(tmp_path / "ae.fnn")
    back = fastnn.load(tmp_path / "ae.fnn")
    assert isinstance(back, fastnn.Autoencoder) and back.input_noise == 0.3
    np.testing.assert_array_equal(back.encode(X), ae.encode(X))
    np.testing.assert_array_equal(back.reconstruct(X), ae.reconstruct(X))


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(widths=[30]), ValueError, "at least a code width"),
    (dict(widths=[30, 0]), ValueError, r"widths\[1\] must be >= 1"),
    (dict(widths=[30, 2.5]), TypeError, r"widths\[1\] must be an integer"),
    (dict(widths=30), TypeError, "widths must be a sequence"),
    (dict(widths=[30, 2], input_noise=1.0), ValueError, "input_noise must be < 1"),
    (dict(widths=[30, 2], activation="swish"), ValueError, "activation must be one of"),
])
def test_bad_settings(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fastnn.Autoencoder(**kwargs)


def test_decode_checks_the_code_width():
    ae = fastnn.Autoencoder([30, 4], seed=0)
    with pytest.raises(ValueError, match="Z has 3 features, but the code size is 4"):
        ae.decode(np.zeros((2, 3)))


def _untied_twin(ae):
    """A plain Sequential with the same layers and parameters as the tied autoencoder ``ae`` (float64)."""
    twin = fastnn.Sequential([fastnn.Dense(l.in_features, l.out_features, l.activation) for l in ae._dense],
                             seed=0, dtype=ae.dtype)
    twin.parameters[:] = ae.parameters
    return twin


@pytest.mark.parametrize("regularizer", [None, fastnn.L2(1e-2)])
def test_tied_gradient_is_the_sum_of_both_uses_and_matches_finite_differences(regularizer, data):
    X = data[0][:40].astype(np.float64)
    ae = fastnn.Autoencoder([30, 7, 3], activation="tanh", output_activation="sigmoid", tied=True, seed=3,
                            dtype="float64")
    np.testing.assert_array_equal(ae._dense[2].weight, ae._dense[1].weight.T)
    np.testing.assert_array_equal(ae._dense[3].weight, ae._dense[0].weight.T)
    ae.compile(loss="mse", optimizer="sgd", regularizer=regularizer)
    loss, grad = ae.loss_and_gradient(X, X)
    # the same network untied: the tied matrix's gradient is the sum of its two copies' gradients
    twin = _untied_twin(ae).compile(loss="mse", optimizer="sgd")
    twin_loss, g = twin.loss_and_gradient(X, X)
    views = [(l.n_params, l.out_features, l.in_features) for l in ae._dense]
    offsets = np.cumsum([0] + [n for n, _, _ in views])
    W = [g[offsets[i]:offsets[i] + o * n_in].reshape(o, n_in) for i, (_, o, n_in) in enumerate(views)]
    G = [grad[offsets[i]:offsets[i] + o * n_in].reshape(o, n_in) for i, (_, o, n_in) in enumerate(views)]
    for enc, dec in ((0, 3), (1, 2)):
        expected = W[enc] + W[dec].T
        if regularizer is not None:
            expected = expected + 1e-2 * ae._dense[enc].weight  # the penalty counts the shared matrix once
        np.testing.assert_allclose(G[enc], expected, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(G[dec], G[enc].T)
    if regularizer is None:
        assert loss == pytest.approx(twin_loss, rel=1e-14)
    # central differences of the loss as a function of the shared matrices: move both copies together
    params = ae.parameters
    eps = 1e-6
    rng = np.random.default_rng(0)
    for enc, dec in ((0, 3), (1, 2)):
        o, n_in = views[enc][1], views[enc][2]
        for j, i in zip(rng.integers(0, o, 6), rng.integers(0, n_in, 6)):
            a, b = offsets[enc] + j * n_in + i, offsets[dec] + i * o + j
            old_a, old_b = params[a], params[b]
            params[a], params[b] = old_a + eps, old_b + eps
            up, _ = ae.loss_and_gradient(X, X)
            params[a], params[b] = old_a - eps, old_b - eps
            down, _ = ae.loss_and_gradient(X, X)
            params[a], params[b] = old_a, old_b
            assert (up - down) / (2 * eps) == pytest.approx(G[enc][j, i], rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_tied_training_keeps_the_copies_transposed_for_any_thread_count(optimizer, data, many_cores):
    X = data[0]
    runs = []
    for nt in (1, 2, 3):
        ae = fastnn.Autoencoder([30, 16, 2], output_activation="sigmoid", tied=True, seed=0)
        ae.compile(loss="mse", optimizer=optimizer, regularizer=fastnn.L2(1e-4))
        before = ae.reconstruction_error(X).mean()
        ae.fit(X, epochs=5, batch_size=32, verbose=0, n_threads=nt)
        for enc, dec in ((0, 3), (1, 2)):
            np.testing.assert_array_equal(ae._dense[dec].weight, ae._dense[enc].weight.T)
        assert ae.reconstruction_error(X).mean() < before
        runs.append(ae.parameters.copy())
    for other in runs[1:]:
        np.testing.assert_array_equal(other, runs[0])


def test_one_tied_sgd_step_against_numpy(data):
    X = data[0][:50].astype(np.float64)
    ae = fastnn.Autoencoder([30, 5], output_activation="sigmoid", tied=True, seed=4, dtype="float64")
    ae.compile(loss="mse", optimizer=fastnn.SGD(lr=0.5))
    before = ae.parameters.copy()
    twin = _untied_twin(ae).compile(loss="mse", optimizer="sgd")
    _, g = twin.loss_and_gradient(X, X)
    n_w = 5 * 30
    shared = g[:n_w].reshape(5, 30) + g[n_w + 5:n_w + 5 + n_w].reshape(30, 5).T
    ae.train_on_batch(X, X)
    W = ae._dense[0].weight
    np.testing.assert_allclose(W, before[:n_w].reshape(5, 30) - 0.5 * shared, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(ae._dense[1].weight, W.T)
    np.testing.assert_allclose(ae._dense[1].bias, before[-30:] - 0.5 * g[-30:], rtol=1e-12, atol=1e-15)


def test_tied_autoencoder_files_and_errors(tmp_path, data):
    X = data[0]
    ae = fastnn.Autoencoder([30, 8, 2], tied=True, seed=0)
    ae.compile(loss="mse", optimizer="adam")
    ae.fit(X, epochs=2, batch_size=64, verbose=0)
    assert "tied=True" in repr(ae)
    assert ae._summary_text().endswith("Total params: 560 (float32)\nTrainable params: 304\nNon-trainable params: 0\n"
                                       "Tied weights: 256 values stored twice (counted once in the trainable and "
                                       "non-trainable params)")
    ae.save(tmp_path / "tied.fnn")
    back = fastnn.load(tmp_path / "tied.fnn")
    assert back.tied and back._ties == ae._ties
    np.testing.assert_array_equal(back.parameters, ae.parameters)
    back.fit(X, epochs=1, batch_size=64, verbose=0)  # training resumes, still tied
    np.testing.assert_array_equal(back._dense[3].weight, back._dense[0].weight.T)
    # the encoder's weights are the ones to set: fit copies them into the decoder
    ae._dense[0].weight[...] = 0.01
    ae.fit(X, epochs=1, batch_size=600, verbose=0)
    np.testing.assert_array_equal(ae._dense[3].weight, ae._dense[0].weight.T)
    with pytest.raises(TypeError, match="tied must be True or False"):
        fastnn.Autoencoder([30, 2], tied="yes")


def test_engine_rejects_ties_of_the_wrong_shape():
    from fastnn import _kernels

    model = fastnn.Sequential([fastnn.Dense(4, 3), fastnn.Dense(3, 5)], seed=0).compile(loss="mse")
    engine = model._engine(8)
    with pytest.raises(ValueError, match="cannot share the weights"):
        engine.tie([-1, 0])
    with pytest.raises(ValueError, match="one entry per layer"):
        engine.tie([-1])
    with pytest.raises(ValueError, match="not an untied layer"):
        engine.tie([1, 0])
    assert _kernels is not None


def test_summary_of_a_denoising_autoencoder(capsys):
    ae = fastnn.Autoencoder([30, 8, 2], input_noise=0.3, seed=0)
    ae.summary()
    print(ae)
    out = capsys.readouterr().out
    assert "dropout (Dropout 0.3)" in out and "(None, 30)" in out and str(ae) in out


def test_reconstruction_records_no_accuracy_unless_asked(data):
    X = data[0]
    ae = fastnn.Autoencoder([30, 8, 2], output_activation="sigmoid", seed=0)
    ae.compile(loss="binary_cross_entropy", optimizer=fastnn.Adam(1e-2))
    history = ae.fit(X[:500], epochs=2, batch_size=50, validation_data=X[500:], verbose=0)
    assert "accuracy" not in history and "val_accuracy" not in history and "val_loss" in history
    scores = ae.evaluate(X[500:])  # the target is X itself
    assert set(scores) == {"loss"} and scores == ae.evaluate(X[500:], X[500:])
    assert scores["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-6)
    with pytest.raises(ValueError, match="predict_classes needs a classifier"):
        ae.predict_classes(X)
    # asked for explicitly (as Keras does): the fraction of output units on the right side of 0.5
    ae.compile(loss="binary_cross_entropy", optimizer=fastnn.Adam(1e-2), metrics=["accuracy"])
    history = ae.fit(X[:500], epochs=1, batch_size=50, validation_data=X[500:], verbose=0)
    assert "accuracy" in history and "val_accuracy" in history and "accuracy" in ae.evaluate(X)


def test_train_on_batch_and_loss_and_gradient_take_the_inputs_as_targets(data):
    X = data[0][:64].astype(np.float64)
    ae = fastnn.Autoencoder([30, 4], seed=0, dtype="float64").compile("mse")
    loss, grad = ae.loss_and_gradient(X)
    loss2, grad2 = ae.loss_and_gradient(X, X)
    assert loss == loss2
    np.testing.assert_array_equal(grad, grad2)
    assert ae.train_on_batch(X) == pytest.approx(loss, rel=1e-12)


@pytest.mark.parametrize("name, value", [("tied", True), ("activation", "tanh"), ("output_activation", "sigmoid"),
                                         ("code_activation", "relu"), ("input_noise", 0.5),
                                         ("encoder_widths", [30, 4])])
def test_autoencoder_settings_are_fixed_once_built(name, value):
    ae = fastnn.Autoencoder([30, 8, 2], seed=0)
    before = repr(ae)
    with pytest.raises(AttributeError, match=f"Autoencoder.{name} is fixed when the autoencoder is built"):
        setattr(ae, name, value)
    assert repr(ae) == before


def test_the_readme_shows_the_real_signature():
    import ast
    import inspect
    import pathlib
    import re

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    text = " ".join(readme.split())
    match = re.search(r"`fastnn\.Autoencoder\((widths[^`]*)\)`", text)
    assert match, "the README shows Autoencoder's signature"
    shown = ast.parse(f"def f({match.group(1)}): pass").body[0].args
    names = [a.arg for a in shown.args]
    defaults = dict(zip(names[len(names) - len(shown.defaults):], (ast.literal_eval(d) for d in shown.defaults)))
    real = inspect.signature(fastnn.Autoencoder).parameters
    assert names == list(real)
    assert defaults == {k: p.default for k, p in real.items() if p.default is not inspect.Parameter.empty}


def test_tied_penalty_counts_the_shared_matrix_once(data):
    X = data[0][:50].astype(np.float64)
    ae = fastnn.Autoencoder([30, 7, 3], tied=True, seed=0, dtype="float64").compile("mse", regularizer=fastnn.L2(0.1))
    loss, _ = ae.loss_and_gradient(X)
    assert ae.evaluate(X)["loss"] == pytest.approx(loss, rel=1e-12)
    expected = 0.05 * sum(float(np.sum(ae.layers[i].weight ** 2)) for i in (0, 1))
    assert ae.penalty() == pytest.approx(expected, rel=1e-12)


def test_metrics_asked_for_are_kept_in_model_files(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((40, 8)).astype(np.float32)
    ae = fastnn.Autoencoder([8, 4], seed=0, output_activation="sigmoid")
    ae.compile("binary_cross_entropy", metrics=["accuracy"])
    ae.save(tmp_path / "ae.fnn")
    loaded = fastnn.load(tmp_path / "ae.fnn")
    assert loaded.metrics == ["accuracy"]
    assert loaded.evaluate(X) == ae.evaluate(X)
    plain = fastnn.Autoencoder([8, 4], seed=0, output_activation="sigmoid").compile("binary_cross_entropy")
    plain.save(tmp_path / "plain.fnn")
    assert "accuracy" not in fastnn.load(tmp_path / "plain.fnn").evaluate(X)
