"""
An autoencoder: reconstructions, codes and denoising
====================================================

An autoencoder is trained to give back its input through a narrow layer, the **code**: unsupervised learning,
no labels needed. ``fastnn.Autoencoder([784, 256, 32])`` builds the encoder 784 -> 256 -> 32 and its mirror
image, the decoder 32 -> 256 -> 784. Its codes are a compressed description of each image; drawn in 2-D, the
classes it has never been told about fall into groups. With ``input_noise`` it learns to repair damaged
inputs: a denoising autoencoder.
"""
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA

import fastnn

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
n_train, epochs = (1500, 2) if QUICK else (10000, 8)
classes = fastnn.datasets.FASHION_MNIST_CLASSES

(X, y), (X_test, y_test) = fastnn.datasets.load_fashion_mnist(flatten=True, scale=True)
X = X[:n_train]
X_test, y_test = X_test[:2000], y_test[:2000]


def autoencoder(input_noise=0.0):
    model = fastnn.Autoencoder([784, 256, 32], output_activation="sigmoid", input_noise=input_noise, seed=0)
    model.compile(loss="binary_cross_entropy", optimizer=fastnn.Adam(lr=1e-3))
    model.fit(X, epochs=epochs, batch_size=128, verbose=0, n_threads=1)
    return model


plain = autoencoder()
print(f"784 -> 32 numbers per image; test reconstruction error (per-pixel MSE) "
      f"{plain.reconstruction_error(X_test).mean():.4f}")

# %%
# Reconstructions beside the originals
# ------------------------------------
reconstructed = plain.reconstruct(X_test[:8])
fig, axes = plt.subplots(2, 8, figsize=(11, 3))
for k in range(8):
    axes[0, k].imshow(X_test[k].reshape(28, 28), cmap="gray_r")
    axes[1, k].imshow(reconstructed[k].reshape(28, 28), cmap="gray_r")
    axes[0, k].set_title(classes[y_test[k]], fontsize=7)
for ax in axes.ravel():
    ax.set_axis_off()
axes[0, 0].text(-4, 14, "original", rotation=90, va="center", ha="right", fontsize=8)
axes[1, 0].text(-4, 14, "from 32\nnumbers", rotation=90, va="center", ha="right", fontsize=8)
fig.tight_layout()

# %%
# The codes in 2-D, coloured by class
# -----------------------------------
# The 32-number codes projected on their two principal components. The labels were never used in training.
codes = plain.encode(X_test)
points = PCA(n_components=2, random_state=0).fit_transform(codes)
fig, ax = plt.subplots(figsize=(7, 5.5))
for c in range(10):
    ax.scatter(*points[y_test == c].T, s=4, label=classes[c])
ax.set(xlabel="principal component 1 of the codes", ylabel="principal component 2", title="autoencoder codes")
ax.legend(markerscale=3, fontsize=7, loc="best")
fig.tight_layout()
centroids = np.stack([codes[y_test == c].mean(axis=0) for c in range(10)])
within = np.mean([np.linalg.norm(codes[y_test == c] - centroids[c], axis=1).mean() for c in range(10)])
between = np.mean([np.linalg.norm(a - b) for i, a in enumerate(centroids) for b in centroids[i + 1:]])
print(f"codes: mean distance to the own class's centre {within:.2f}, mean distance between class centres {between:.2f}")

# %%
# Denoising
# ---------
# Half of each test image's pixels are set to 0. An autoencoder trained with ``input_noise=0.5`` (half of the
# inputs dropped at every update) repairs them better than the plain one.
denoising = autoencoder(input_noise=0.5)
rng = np.random.default_rng(1)
damaged = X_test * (rng.random(X_test.shape) > 0.5)
for name, model in [("plain", plain), ("denoising", denoising)]:
    error = np.mean((model.reconstruct(damaged) - X_test) ** 2)
    print(f"{name:9s} autoencoder: MSE between its repair of the damaged images and the originals {error:.4f}")
print(f"(the damaged images themselves: {np.mean((damaged - X_test) ** 2):.4f})")
fig, axes = plt.subplots(4, 6, figsize=(8, 5.5))
rows = [("original", X_test[:6]), ("half the pixels zeroed", damaged[:6]),
        ("plain autoencoder", plain.reconstruct(damaged[:6])), ("denoising autoencoder", denoising.reconstruct(damaged[:6]))]
for r, (title, images) in enumerate(rows):
    for k in range(6):
        axes[r, k].imshow(images[k].reshape(28, 28), cmap="gray_r")
        axes[r, k].set_axis_off()
    axes[r, 0].set_title(title, fontsize=8, loc="left")
fig.tight_layout()
plt.show()
