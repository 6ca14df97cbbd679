"""
A convolutional network: filters and feature maps
=================================================

A convolutional layer slides small filters (here 3x3) over the image; each filter gives a **feature map** that
is large where the image looks like the filter. The same few weights are used at every position, so a
convolutional network needs far fewer weights than a dense one to look at a whole image. Pooling then keeps the
largest value of each 2x2 window.

This example trains a small CNN on Fashion-MNIST (images in PyTorch's layout: channels, height, width), draws
the filters and the feature maps of the first convolution for one image, and compares its accuracy with a dense
network of about the same number of parameters.
"""
import os

import matplotlib.pyplot as plt
import numpy as np

import fastnn

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
n_train, n_test, epochs = (2000, 2000, 2) if QUICK else (10000, 10000, 5)

(X, y), (X_test, y_test) = fastnn.datasets.load_fashion_mnist(scale=True)   # (n, 28, 28) in [0, 1]
X, y, X_test, y_test = X[:n_train], y[:n_train], X_test[:n_test], y_test[:n_test]

# %%
# A CNN and a dense network of about equal size
# ---------------------------------------------
cnn = fastnn.Sequential([
    fastnn.Conv2D(1, 8, kernel_size=3, activation="relu"),        # (8, 26, 26)
    fastnn.MaxPool2D(2),                                          # (8, 13, 13)
    fastnn.Conv2D(8, 16, kernel_size=3, activation="relu"),       # (16, 11, 11)
    fastnn.MaxPool2D(2),                                          # (16, 5, 5)
    fastnn.Flatten(),                                             # 400
    fastnn.Dense(400, 10, activation="softmax"),
], input_shape=(1, 28, 28), seed=0)
dense = fastnn.Sequential([fastnn.Dense(784, 7, "relu"), fastnn.Dense(7, 10, "softmax")], seed=0)
results = {}
for name, model in [("CNN", cnn), ("dense 784-7-10", dense)]:
    model.compile(loss="cross_entropy", optimizer=fastnn.Adam(lr=1e-3), metrics=["accuracy"])
    inputs = X if name == "CNN" else X.reshape(len(X), -1)
    history = model.fit(inputs, y, epochs=epochs, batch_size=64, verbose=0, n_threads=1)
    test = model.evaluate(X_test if name == "CNN" else X_test.reshape(len(X_test), -1), y_test)
    results[name] = (model.count_params(), test["accuracy"], history.history["accuracy"])
    print(f"{name:15s}: {model.count_params():5d} parameters, training accuracy {history.history['accuracy'][-1]:.3f}, "
          f"test accuracy {test['accuracy']:.4f} ({n_train} training images, {epochs} epochs)")

# %%
# The filters of the first convolution
# ------------------------------------
# ``cnn.layers[0].weight`` has PyTorch's shape ``(out_channels, in_channels, kh, kw)``: 8 filters of 3x3.
filters = cnn.layers[0].weight[:, 0]
print(f"first-layer filters: shape {cnn.layers[0].weight.shape}")
fig, axes = plt.subplots(1, 8, figsize=(11, 1.8))
for k, ax in enumerate(axes):
    limit = np.abs(filters[k]).max()
    ax.imshow(filters[k], cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(f"filter {k}", fontsize=8)
    ax.set_axis_off()
fig.tight_layout()

# %%
# Feature maps
# ------------
# ``predict(X, layer=0)`` returns the first convolution's output for an image, one 26x26 map per filter.
maps = cnn.predict(X_test[:1], layer=0)[0]
print(f"feature maps of test image 0: shape {maps.shape}; the largest value of each map: "
      + " ".join(f"{m:.2f}" for m in maps.max(axis=(1, 2))))
fig, axes = plt.subplots(1, 9, figsize=(13, 1.9))
axes[0].imshow(X_test[0], cmap="gray_r")
axes[0].set_title("image", fontsize=8)
for k, ax in enumerate(axes[1:]):
    ax.imshow(maps[k], cmap="magma")
    ax.set_title(f"map {k}", fontsize=8)
for ax in axes:
    ax.set_axis_off()
fig.tight_layout()

# %%
# Accuracy against the dense network
# ----------------------------------
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, (params, accuracy, curve) in results.items():
    ax.plot(np.arange(1, epochs + 1), curve, marker="o", label=f"{name} ({params} parameters): test {accuracy:.3f}")
ax.set(xlabel="epoch", ylabel="training accuracy", title="CNN against a dense network of about equal size")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
