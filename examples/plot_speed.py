"""
Speed: fastnn beside NumPy and scikit-learn
===========================================

The same network, 784-128-10 with ReLU and softmax, trained for one epoch of plain mini-batch SGD (batch size
64) on 10,000 Fashion-MNIST images, three ways: fastnn; the same training loop written in NumPy (float32, each
batch's forward and backward pass as matrix products, as in the backpropagation example, in order without
shuffling); and scikit-learn's ``MLPClassifier`` (``partial_fit``: one epoch). All on one thread (BLAS held at
one thread with threadpoolctl, ``n_threads=1`` for fastnn), best of 3 runs, each including building the model
and computing its training accuracy. This is a short live run on whatever machine builds the page;
``python benchmarks/compare.py`` in fastnn's repository measures more networks, PyTorch included.
"""
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

import fastnn

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
n_samples, repeats = (2000, 1) if QUICK else (10000, 3)
batch_size, lr = 64, 0.05

(X, y), _ = fastnn.datasets.load_fashion_mnist(flatten=True, scale=True)
X, y = X[:n_samples], y[:n_samples]


def fastnn_epoch():
    model = fastnn.Sequential([fastnn.Dense(784, 128, "relu"), fastnn.Dense(128, 10, "softmax")], seed=0)
    model.compile(loss="cross_entropy", optimizer=fastnn.SGD(lr=lr))
    model.fit(X, y, epochs=1, batch_size=batch_size, verbose=0, n_threads=1)
    return model.evaluate(X, y)["accuracy"]


def numpy_epoch():
    rng = np.random.default_rng(0)
    W1 = rng.uniform(-1, 1, (784, 128)).astype(np.float32) * np.sqrt(6 / 784)
    W2 = rng.uniform(-1, 1, (128, 10)).astype(np.float32) * np.sqrt(6 / 138)
    b1, b2 = np.zeros(128, np.float32), np.zeros(10, np.float32)
    onehot = np.eye(10, dtype=np.float32)
    for start in range(0, n_samples, batch_size):
        idx = slice(start, start + batch_size)
        xb, tb = X[idx], onehot[y[idx]]
        a1 = np.maximum(xb @ W1 + b1, 0)
        z = a1 @ W2 + b2
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        d2 = (p - tb) / len(xb)
        d1 = (d2 @ W2.T) * (a1 > 0)
        W2 -= lr * (a1.T @ d2); b2 -= lr * d2.sum(axis=0)
        W1 -= lr * (xb.T @ d1); b1 -= lr * d1.sum(axis=0)
    return np.mean((np.maximum(X @ W1 + b1, 0) @ W2 + b2).argmax(axis=1) == y)


def sklearn_epoch():
    clf = MLPClassifier(hidden_layer_sizes=(128,), solver="sgd", learning_rate_init=lr, momentum=0.0,
                        batch_size=batch_size, alpha=0.0, random_state=0)
    clf.partial_fit(X, y, classes=np.arange(10))
    return clf.score(X, y)


# %%
# Timing
# ------
results = {}
with threadpool_limits(limits=1, user_api="blas"):
    for name, run in [("fastnn", fastnn_epoch), ("NumPy", numpy_epoch), ("scikit-learn", sklearn_epoch)]:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            accuracy = run()
            times.append(time.perf_counter() - start)
        results[name] = min(times)
        print(f"{name:12s}: one epoch of {n_samples} images in {min(times):.3f} s (best of {repeats}); "
              f"training accuracy after it {accuracy:.3f}")
for name, seconds in results.items():
    print(f"{name:12s}: {seconds / results['fastnn']:.2f}x fastnn's time")

fig, ax = plt.subplots(figsize=(6, 3.5))
bars = ax.bar(list(results), list(results.values()), color=["C2", "C0", "C1"])
ax.bar_label(bars, [f"{s:.3f} s" for s in results.values()])
ax.set(ylabel="seconds for one epoch (one thread)", title=f"784-128-10, batch {batch_size}, {n_samples} images")
fig.tight_layout()
plt.show()
