"""
Generalization: over-fitting and early stopping
===============================================

A network **generalizes** when it does as well on data it has not seen as on its training data. Trained long
enough on few samples, a large network learns the training set by heart - its training loss keeps falling
while the loss on held-out validation data turns up again: **over-fitting**. A network too small for the task
**under-fits**: both losses stay high.

This example trains a small (784-8-10) and a large (784-512-512-10) network on 1,000 Fashion-MNIST images,
watches the validation loss on 2,000 others, and then lets ``EarlyStopping`` stop the large one when the
validation loss stops improving, keeping the weights of its best epoch.
"""
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import fastnn

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
n_train, n_val, epochs = (300, 500, 12) if QUICK else (1000, 2000, 40)

(X, y), (X_test, y_test) = fastnn.datasets.load_fashion_mnist(flatten=True, scale=True)
rng = np.random.default_rng(0)
rows = rng.choice(len(X), n_train + n_val, replace=False)
X_train, y_train = X[rows[:n_train]], y[rows[:n_train]]
X_val, y_val = X[rows[n_train:]], y[rows[n_train:]]


def network(widths):
    layers = [fastnn.Dense(a, b, activation="relu") for a, b in zip(widths[:-2], widths[1:-1])]
    layers.append(fastnn.Dense(widths[-2], widths[-1], activation="softmax"))
    model = fastnn.Sequential(layers, seed=0)
    return model.compile(loss="cross_entropy", optimizer=fastnn.Adam(lr=1e-3), metrics=["accuracy"])


# %%
# Training and validation curves
# ------------------------------
histories = {}
for name, widths in [("small 784-8-10", [784, 8, 10]), ("large 784-512-512-10", [784, 512, 512, 10])]:
    history = network(widths).fit(X_train, y_train, epochs=epochs, batch_size=32, validation_data=(X_val, y_val),
                                  verbose=0, n_threads=1)
    histories[name] = h = history.history
    best = int(np.argmin(h["val_loss"]))
    print(f"{name:22s}: lowest validation loss {h['val_loss'][best]:.3f} at epoch {best + 1}, "
          f"at the last epoch {h['val_loss'][-1]:.3f} (training loss {h['loss'][-1]:.4f}); "
          f"accuracy training {h['accuracy'][-1]:.3f}, validation {h['val_accuracy'][-1]:.3f}")

# %%
# The large network's training loss goes towards 0 while its validation loss, after its minimum, climbs:
# the gap between the two curves is over-fitting. The small network's curves stay close together.
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, (name, h) in zip(axes, histories.items()):
    epochs_axis = np.arange(1, len(h["loss"]) + 1)
    ax.plot(epochs_axis, h["loss"], label="training loss")
    ax.plot(epochs_axis, h["val_loss"], label="validation loss")
    best = int(np.argmin(h["val_loss"]))
    ax.axvline(best + 1, color="grey", ls=":", label=f"lowest validation loss (epoch {best + 1})")
    ax.set(yscale="log", xlabel="epoch", title=name)
    ax.legend(fontsize=8)
axes[0].set_ylabel("cross-entropy")
fig.tight_layout()

large = histories["large 784-512-512-10"]
gap = large["val_loss"][-1] - large["loss"][-1]
print(f"large network, last epoch: validation loss - training loss = {gap:.3f}; the validation loss rose by "
      f"{large['val_loss'][-1] - min(large['val_loss']):.3f} from its minimum")

# %%
# Early stopping
# --------------
# ``EarlyStopping(patience=3, restore_best_weights=True)`` (Keras's callback) ends training once the validation
# loss has not improved for 3 epochs and puts back the weights of the best epoch.
model = network([784, 512, 512, 10])
stopper = fastnn.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
history = model.fit(X_train, y_train, epochs=epochs, batch_size=32, validation_data=(X_val, y_val),
                    callbacks=[stopper], verbose=0, n_threads=1)
stopped = len(history.history["loss"])
kept = model.evaluate(X_val, y_val)
test = model.evaluate(X_test, y_test)
print(f"early stopping: trained {stopped} of {epochs} epochs; validation loss of the kept weights "
      f"{kept['loss']:.3f} (accuracy {kept['accuracy']:.3f}); test accuracy {test['accuracy']:.3f}")

# %%
# ``history.plot(path)`` draws fastnn's learning curves (loss and accuracy, training beside validation) on its
# own matplotlib canvas and writes them to a file; here the file is read back to show it.
with tempfile.TemporaryDirectory() as folder:
    history.plot(os.path.join(folder, "curves.png"))
    image = plt.imread(os.path.join(folder, "curves.png"))
fig, ax = plt.subplots(figsize=(10, 4))
ax.imshow(image)
ax.set_axis_off()
ax.set_title(f"large network with early stopping: stopped after {stopped} epochs")
fig.tight_layout()
plt.show()
