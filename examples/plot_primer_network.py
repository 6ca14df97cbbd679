"""
The primer's network: 784-hidden-10 on Fashion-MNIST
====================================================

The primer's network reads a 28x28 image as 784 numbers, one input neuron per pixel, passes them through a
hidden layer and ends in 10 output neurons, one per class. A neuron is "a thing that holds a number": here we
draw those numbers for one image, layer by layer. Beside it, the 784-16-16-10 network of the video the primer
cites, the first layer's weights drawn as 28x28 images, the confusion matrix and the misclassified examples.
"""
import os

import matplotlib.pyplot as plt
import numpy as np

import fastnn

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
n_train, epochs = (5000, 3) if QUICK else (60000, 8)
classes = fastnn.datasets.FASHION_MNIST_CLASSES

(X, y), (X_test, y_test) = fastnn.datasets.load_fashion_mnist(flatten=True, scale=True)   # pixels in [0, 1]
X, y = X[:n_train], y[:n_train]

# %%
# Two networks
# ------------
# ``model.predict(X, layer=k)`` gives the numbers held by the neurons of layer ``k``.
networks = {
    "784-100-10": [fastnn.Dense(784, 100, "relu"), fastnn.Dense(100, 10, "softmax")],
    "784-16-16-10": [fastnn.Dense(784, 16, "relu"), fastnn.Dense(16, 16, "relu"), fastnn.Dense(16, 10, "softmax")],
}
models = {}
for name, layers in networks.items():
    model = fastnn.Sequential(layers, seed=0)
    model.compile(loss="cross_entropy", optimizer=fastnn.SGD(lr=0.05, momentum=0.9), metrics=["accuracy"])
    model.fit(X, y, epochs=epochs, batch_size=64, verbose=0, n_threads=1)
    models[name] = model
    print(f"{name:13s}: {model.count_params():6d} parameters, {epochs} epochs of {n_train} images "
          f"({int(np.ceil(n_train / 64))} iterations per epoch at batch size 64); "
          f"test accuracy {model.evaluate(X_test, y_test)['accuracy']:.4f}")

# %%
# One image, layer by layer
# -------------------------
model = models["784-16-16-10"]
image = X_test[:1]
activations = [image[0]] + [model.predict(image, layer=k)[0] for k in range(len(model.layers))]
print(f"test image 0 is of class {classes[y_test[0]]!r}; the output layer's probabilities: "
      + ", ".join(f"{classes[k]} {p:.2f}" for k, p in enumerate(activations[-1]) if p > 0.01))
fig, axes = plt.subplots(1, 4, figsize=(12, 3.5), gridspec_kw={"width_ratios": [3, 1, 1, 1]})
axes[0].imshow(image.reshape(28, 28), cmap="gray_r")
axes[0].set(title="784 inputs (28x28 pixels)", xticks=[], yticks=[])
for ax, values, title in zip(axes[1:], activations[1:], ["hidden 1: 16 ReLU", "hidden 2: 16 ReLU", "output: 10 softmax"]):
    ax.imshow(values[:, None], cmap="viridis", aspect="auto")
    for k, v in enumerate(values):
        ax.text(0, k, f"{v:.2f}", ha="center", va="center", color="white" if v < values.max() / 2 else "black",
                fontsize=7)
    ax.set(title=title, xticks=[], yticks=range(len(values)))
axes[3].set_yticklabels(classes, fontsize=7)
fig.tight_layout()

# %%
# The first layer's weights as images
# -----------------------------------
# Each hidden neuron of the first layer has 784 weights, one per pixel: drawn as a 28x28 image they show which
# pixels excite it (red) and which inhibit it (blue).
weights = models["784-100-10"].layers[0].weight                       # (100, 784)
fig, axes = plt.subplots(4, 8, figsize=(10, 5.5))
for k, ax in enumerate(axes.ravel()):
    w = weights[k].reshape(28, 28)
    limit = np.abs(w).max()
    ax.imshow(w, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_axis_off()
fig.suptitle("weights of the first 32 of 100 hidden neurons (784-100-10)")
fig.tight_layout()

# %%
# Confusion matrix and misclassified examples
# -------------------------------------------
model = models["784-100-10"]
predicted = model.predict_classes(X_test)
confusion = fastnn.metrics.confusion_matrix(y_test, predicted)
print("confusion matrix (rows: true class, columns: predicted class)")
print(confusion)
worst = np.unravel_index(np.argmax(confusion - np.diag(np.diag(confusion))), confusion.shape)
print(f"most frequent confusion: {classes[worst[0]]} taken for {classes[worst[1]]} ({confusion[worst]} times)")
fig, ax = plt.subplots(figsize=(6.5, 5.5))
ax.imshow(confusion, cmap="Blues")
for i in range(10):
    for j in range(10):
        ax.text(j, i, confusion[i, j], ha="center", va="center", fontsize=7,
                color="white" if confusion[i, j] > confusion.max() / 2 else "black")
ax.set_xticks(range(10), classes, rotation=60, ha="right", fontsize=8)
ax.set_yticks(range(10), classes, fontsize=8)
ax.set(xlabel="predicted", ylabel="true", title="784-100-10 on the 10,000 test images")
fig.tight_layout()

wrong = np.flatnonzero(predicted != y_test)[:12]
fig, axes = plt.subplots(2, 6, figsize=(10, 4))
for ax, i in zip(axes.ravel(), wrong):
    ax.imshow(X_test[i].reshape(28, 28), cmap="gray_r")
    ax.set_title(f"{classes[y_test[i]]}\nread as {classes[predicted[i]]}", fontsize=7)
    ax.set_axis_off()
fig.suptitle(f"misclassified test images: {len(np.flatnonzero(predicted != y_test))} of {len(y_test)}")
fig.tight_layout()
plt.show()
