"""
Epochs, batch size and iterations
=================================

An **epoch** is one pass over the whole training set. The set is cut into batches of ``batch_size`` samples;
each batch gives one gradient and one update of the weights, an **iteration**. So an epoch of ``n`` samples
takes ``ceil(n / batch_size)`` iterations per epoch (the last, smaller batch is trained, not dropped).

This example trains the same small network on Fashion-MNIST with batch sizes 1, 32, 256 and the full set, and
draws the training loss against the number of updates and against epochs: small batches make many noisy
updates per epoch, the full batch makes one smooth update per epoch. Then it shows the primer's warning: a
few outliers in the data make large, erratic updates when the batch is small, because nothing averages them
out.
"""
import math
import os

import matplotlib.pyplot as plt
import numpy as np

import fastnn

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
n_train = 500 if QUICK else 2000
epochs = 2 if QUICK else 5

(X, y), _ = fastnn.datasets.load_fashion_mnist(flatten=True, scale=True)
rng = np.random.default_rng(0)
rows = rng.choice(len(X), n_train, replace=False)
X, y = X[rows], y[rows]


def make_model():
    model = fastnn.Sequential([fastnn.Dense(784, 32, activation="relu"),
                               fastnn.Dense(32, 10, activation="softmax")], seed=0)
    return model.compile(loss="cross_entropy", optimizer=fastnn.SGD(lr=0.05))


class BatchLosses(fastnn.callbacks.Callback):
    """Keeps the loss of every batch (Keras's batch hook, with the model first)."""

    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, model, batch, logs):
        self.losses.append(logs["loss"])


# %%
# Iterations per epoch
# --------------------
# The same data, four batch sizes. The number of iterations (updates) per epoch is the number of batches.
batch_sizes = [1, 32, 256, n_train]
runs = {}
for batch_size in batch_sizes:
    recorder = BatchLosses()
    history = make_model().fit(X, y, epochs=epochs, batch_size=batch_size, callbacks=[recorder], verbose=0,
                               n_threads=1)
    runs[batch_size] = (recorder.losses, history.history["loss"])
    iterations = history.history["iterations"][0]
    assert iterations == math.ceil(n_train / batch_size)
    print(f"batch size {batch_size:5d}: {iterations:5d} iterations per epoch, "
          f"{iterations * epochs:6d} updates in {epochs} epochs, final epoch loss "
          f"{history.history['loss'][-1]:.3f}")

# %%
# Loss against updates and against epochs
# ---------------------------------------
# Left: every update's batch loss (on a log axis of updates). Batch size 1 is the noisiest; the full batch
# descends smoothly but has made only one update per epoch. Right: the mean loss of each epoch. With the same
# learning rate, batch size 32 goes further per epoch than 256 or the full set because it updates more often;
# batch size 1 updates most often of all, but its updates are so noisy at this learning rate that its loss
# stays higher (the printed spread of its batch losses is the largest).
fig, (ax_updates, ax_epochs) = plt.subplots(1, 2, figsize=(11, 4))
for batch_size, (batch_losses, epoch_losses) in runs.items():
    label = "full set" if batch_size == n_train else f"batch size {batch_size}"
    ax_updates.plot(np.arange(1, len(batch_losses) + 1), batch_losses, lw=0.6, label=label)
    ax_epochs.plot(np.arange(1, epochs + 1), epoch_losses, marker="o", label=label)
ax_updates.set(xscale="log", xlabel="update (iteration)", ylabel="batch loss", title="loss against updates")
ax_epochs.set(xlabel="epoch", ylabel="mean training loss", title="loss against epochs")
ax_epochs.legend()
fig.tight_layout()

for batch_size, (batch_losses, _) in runs.items():
    last = np.asarray(batch_losses[-max(1, len(batch_losses) // epochs):])   # the last epoch's batches
    print(f"batch size {batch_size:5d}: spread (standard deviation) of the batch losses in the last epoch "
          f"{last.std():.3f}")

# %%
# What a few outliers do to small-batch updates
# ---------------------------------------------
# We add 10 outliers: images whose pixels are multiplied by 10, with random labels. The size of a single update
# is the learning rate times the norm of the batch's gradient, which ``loss_and_gradient`` gives without
# updating anything. A batch of one outlier gives a far larger gradient than a batch of one ordinary image; in
# a batch of 32 the outlier is averaged with 31 ordinary images and its pull is divided by 32.
outliers = np.clip(X[:10] * 10, 0, None).astype(np.float32)
outlier_labels = rng.integers(0, 10, size=10)
model = make_model()
model.fit(X, y, epochs=epochs, batch_size=32, verbose=0, n_threads=1)


def gradient_norm(xb, yb):
    _, gradient = model.loss_and_gradient(xb, yb, n_threads=1)
    return float(np.linalg.norm(gradient))


ordinary_1 = [gradient_norm(X[i:i + 1], y[i:i + 1]) for i in range(100)]
outlier_1 = [gradient_norm(outliers[i:i + 1], outlier_labels[i:i + 1]) for i in range(10)]
ordinary_32 = [gradient_norm(X[i:i + 32], y[i:i + 32]) for i in range(0, 320, 32)]
mixed_32 = [gradient_norm(np.concatenate([outliers[i:i + 1], X[32 * i + 1:32 * i + 32]]),
                          np.concatenate([outlier_labels[i:i + 1], y[32 * i + 1:32 * i + 32]]))
            for i in range(10)]
for name, values in [("batch of 1, ordinary image", ordinary_1), ("batch of 1, an outlier", outlier_1),
                     ("batch of 32, ordinary images", ordinary_32), ("batch of 32 with one outlier", mixed_32)]:
    print(f"{name:30s}: median gradient norm {np.median(values):8.3f}")
print(f"an outlier's update is {np.median(outlier_1) / np.median(ordinary_1):.1f}x an ordinary one at batch size 1, "
      f"{np.median(mixed_32) / np.median(ordinary_32):.1f}x at batch size 32")

fig, ax = plt.subplots(figsize=(6, 4))
ax.boxplot([ordinary_1, outlier_1, ordinary_32, mixed_32], showfliers=False)
ax.set_xticks([1, 2, 3, 4], ["1\nordinary", "1\noutlier", "32\nordinary", "32\none outlier"])
ax.set(yscale="log", xlabel="batch size and content", ylabel="norm of the batch gradient (update size / lr)",
       title="a few outliers dominate small-batch updates")
fig.tight_layout()
plt.show()
