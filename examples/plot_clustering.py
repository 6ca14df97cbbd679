"""
Clustering: k-means on pixels and on an autoencoder's codes
===========================================================

k-means puts the samples into ``k`` groups around ``k`` centres, alternating two steps: give each sample to its
nearest centre, move each centre to the mean of its samples. It uses no labels; afterwards we can ask how well
the clusters match the classes: **clustering accuracy** (the best one-to-one matching of clusters to classes)
and **normalized mutual information** (NMI). ``fastnn.KMeans`` has scikit-learn's parameters and results.

On raw pixels, images are near each other when the same pixels are dark; on an autoencoder's codes, when they
are described alike. The cluster centres are means of images, so they can be drawn as images.
"""
import os

import matplotlib.pyplot as plt
import numpy as np

import fastnn

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
n_samples, epochs = (1500, 2) if QUICK else (10000, 10)

(X, y), _ = fastnn.datasets.load_fashion_mnist(flatten=True, scale=True)
X, y = X[:n_samples], y[:n_samples]

# %%
# k-means on the pixels
# ---------------------
pixels = fastnn.KMeans(n_clusters=10, n_init=3, random_state=0).fit(X)
print(f"k-means on 784 pixels: clustering accuracy {fastnn.metrics.clustering_accuracy(y, pixels.labels_):.3f}, "
      f"NMI {fastnn.metrics.normalized_mutual_info(y, pixels.labels_):.3f}, {pixels.n_iter_} iterations")

# %%
# k-means on the codes of an autoencoder
# --------------------------------------
autoencoder = fastnn.Autoencoder([784, 500, 500, 10], output_activation="sigmoid", seed=0)
autoencoder.compile(loss="binary_cross_entropy", optimizer=fastnn.Adam(lr=1e-3))
autoencoder.fit(X, epochs=epochs, batch_size=128, verbose=0, n_threads=1)
codes = fastnn.StandardScaler().fit_transform(autoencoder.encode(X))
on_codes = fastnn.KMeans(n_clusters=10, n_init=3, random_state=0).fit(codes)
print(f"k-means on 10 code numbers: clustering accuracy "
      f"{fastnn.metrics.clustering_accuracy(y, on_codes.labels_):.3f}, "
      f"NMI {fastnn.metrics.normalized_mutual_info(y, on_codes.labels_):.3f}")

# %%
# The cluster centres as images
# -----------------------------
# On pixels a centre is the mean of its images. On codes, we draw the mean of the images of each cluster.
fig, axes = plt.subplots(2, 10, figsize=(12, 3))
for k in range(10):
    axes[0, k].imshow(pixels.cluster_centers_[k].reshape(28, 28), cmap="gray_r")
    axes[1, k].imshow(X[on_codes.labels_ == k].mean(axis=0).reshape(28, 28), cmap="gray_r")
    axes[0, k].set_title(f"{np.sum(pixels.labels_ == k)}", fontsize=7)
    axes[1, k].set_title(f"{np.sum(on_codes.labels_ == k)}", fontsize=7)
for ax in axes.ravel():
    ax.set_axis_off()
axes[0, 0].text(-5, 14, "pixels", rotation=90, va="center", ha="right")
axes[1, 0].text(-5, 14, "codes", rotation=90, va="center", ha="right")
fig.suptitle("cluster centres (the number above each: its samples)")
fig.tight_layout()

# %%
# How the clusters and the classes overlap
# ----------------------------------------
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
for ax, (name, labels) in zip(axes, [("pixels", pixels.labels_), ("codes", on_codes.labels_)]):
    table = fastnn.metrics.confusion_matrix(y, labels)
    ax.imshow(table, cmap="Blues")
    ax.set_yticks(range(10), fastnn.datasets.FASHION_MNIST_CLASSES, fontsize=7)
    ax.set(xlabel="cluster", title=f"k-means on {name}: NMI {fastnn.metrics.normalized_mutual_info(y, labels):.3f}")
fig.tight_layout()
plt.show()
