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
