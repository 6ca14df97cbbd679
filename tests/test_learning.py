"""End-to-end learning: the model actually learns what it should."""
import numpy as np
import pytest

import fastnn


def test_xor_sigmoid_mse():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    model = fastnn.Sequential([fastnn.Dense(2, 8, "sigmoid"), fastnn.Dense(8, 1, "sigmoid")], seed=0)
    model.compile(loss="mse", optimizer=fastnn.SGD(lr=2.0, momentum=0.9))
    history = model.fit(X, y, epochs=2000, batch_size=4, verbose=0)
    assert history["loss"][-1] < 0.01
    np.testing.assert_array_equal(model.predict(X)[:, 0] > 0.5, y[:, 0] > 0.5)


def test_regression_tanh_mse(rng):
    X = rng.uniform(-2, 2, size=(2000, 3)).astype(np.float32)
    y = (np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2])[:, None]
    model = fastnn.Sequential([fastnn.Dense(3, 64, "tanh"), fastnn.Dense(64, 1)], seed=0)
    model.compile(loss="mse", optimizer=fastnn.SGD(lr=0.05, momentum=0.9))
    history = model.fit(X[:1600], y[:1600], epochs=60, batch_size=32, validation_data=(X[1600:], y[1600:]),
                        verbose=0)
    baseline = float(np.var(y[1600:]))
    assert history["val_loss"][-1] < 0.05 * baseline
    assert history["loss"][-1] < history["loss"][0]


def test_binary_classification(rng):
    X = rng.normal(size=(1000, 2)).astype(np.float32)
    y = (X[:, 0] ** 2 + X[:, 1] ** 2 < 1.2).astype(np.float32)
    model = fastnn.Sequential([fastnn.Dense(2, 32, "relu"), fastnn.Dense(32, 1, "sigmoid")], seed=0)
    model.compile(loss="binary_cross_entropy", optimizer=fastnn.SGD(lr=0.1, momentum=0.9))
    model.fit(X[:800], y[:800], epochs=40, batch_size=20, verbose=0)
    assert model.evaluate(X[800:], y[800:])["accuracy"] > 0.93


def test_fashion_mnist_subset(fashion_mnist):
    (Xtr, ytr), (Xte, yte) = fashion_mnist
    model = fastnn.Sequential([fastnn.Dense(784, 256, activation="relu"),
                               fastnn.Dense(256, 10, activation="softmax")], seed=0, dtype="float32")
    model.compile(loss="cross_entropy", optimizer=fastnn.SGD(lr=0.05, momentum=0.9), regularizer=fastnn.L2(1e-4))
    history = model.fit(Xtr[:30000], ytr[:30000], epochs=4, batch_size=64, validation_data=(Xte, yte),
                        n_threads=2, verbose=0)
    scores = model.evaluate(Xte, yte)
    print(f"Fashion-MNIST 30k train / 10k test, 4 epochs: test accuracy {scores['accuracy']:.4f}, "
          f"seconds per epoch {history['seconds']}")
    assert scores["accuracy"] >= 0.84
    assert history["val_accuracy"][-1] == pytest.approx(scores["accuracy"])
    proba = model.predict(Xte[:5])
    assert proba.shape == (5, 10) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


@pytest.mark.long_learning
def test_autoencoder_codes_cluster_fashion_mnist_better_than_pixels(fashion_mnist):
    """On 6,000 Fashion-MNIST images, k-means on the spectral embedding of an autoencoder's codes matches the
    classes better than k-means on the pixels (measured: 0.556 against 0.518 for this seed)."""
    (X, y), _ = fashion_mnist
    X, y = X[:6000], y[:6000]
    pixels = fastnn.metrics.clustering_accuracy(y, fastnn.KMeans(10, random_state=0).fit_predict(X))
    ae = fastnn.Autoencoder([784, 256, 64, 10], output_activation="sigmoid", seed=0)
    ae.compile(loss="binary_cross_entropy", optimizer=fastnn.Adam(2e-3))
    before = ae.reconstruction_error(X).mean()
    ae.fit(X, epochs=15, batch_size=128, verbose=0)
    assert ae.reconstruction_error(X).mean() < 0.3 * before
    E = fastnn.cluster.spectral_embedding(ae.encode(X), n_components=10, n_neighbors=15)
    codes = fastnn.metrics.clustering_accuracy(y, fastnn.KMeans(10, n_init=10, random_state=0).fit_predict(E))
    assert codes > pixels + 0.02, (codes, pixels)


@pytest.mark.long_learning
def test_fashion_mnist_cnn_beats_an_mlp_of_equal_size(fashion_mnist):
    """On 3,000 Fashion-MNIST images a small CNN generalises better than a dense network with at least as many
    parameters (measured: about 0.83-0.84 against 0.79-0.80 test accuracy)."""
    (Xtr, ytr), (Xte, yte) = fashion_mnist
    cnn = fastnn.Sequential([fastnn.Reshape((1, 28, 28)), fastnn.Conv2D(1, 8, 3, activation="relu"),
                             fastnn.MaxPool2D(2), fastnn.Conv2D(8, 16, 3, activation="relu"), fastnn.MaxPool2D(2),
                             fastnn.Flatten(), fastnn.Dense(400, 10, activation="softmax")], seed=0)
    hidden = -(-(cnn.n_params - 10) // 795)  # 784 * h + h + 10 * h + 10 >= the CNN's parameters
    mlp = fastnn.Sequential([fastnn.Dense(784, hidden, "relu"), fastnn.Dense(hidden, 10, "softmax")], seed=0)
    assert cnn.n_params <= mlp.n_params < 1.1 * cnn.n_params
    scores = []
    for model in (cnn, mlp):
        model.compile(optimizer=fastnn.Adam(3e-3))
        model.fit(Xtr[:3000], ytr[:3000], epochs=8, batch_size=32, verbose=0)
        scores.append(model.evaluate(Xte[:2000], yte[:2000])["accuracy"])
    assert scores[0] > 0.8 and scores[0] > scores[1] + 0.02, scores
