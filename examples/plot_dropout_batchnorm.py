"""
Dropout and batch normalization
===============================

Two layers that change how a network trains without changing what it computes at test time.

* **Dropout** (``fastnn.Dropout(p)``) zeroes each hidden unit with probability ``p`` at every training update
  (and scales the kept ones by ``1/(1-p)``), so no unit can rely on another: a cheap way against over-fitting.
  ``predict`` and ``evaluate`` use every unit.
* **Batch normalization** (``fastnn.BatchNorm1d``) standardizes each unit over the batch - mean 0, variance 1,
  then a learned scale and shift - the way we standardize the inputs, but inside the network. It lets the
  training loss fall faster (and is sometimes said to regularize); at test time it uses running averages of the batch statistics.

The same 784-256-256-10 network is trained on 2,000 Fashion-MNIST images, plain, with dropout, and with batch
normalization after each hidden ``Dense`` layer.
"""
import os

import matplotlib.pyplot as plt
import numpy as np

import fastnn

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
n_train, n_val, epochs = (500, 1000, 6) if QUICK else (2000, 5000, 30)

(X, y), _ = fastnn.datasets.load_fashion_mnist(flatten=True, scale=True)
rng = np.random.default_rng(0)
rows = rng.choice(len(X), n_train + n_val, replace=False)
X_train, y_train = X[rows[:n_train]], y[rows[:n_train]]
X_val, y_val = X[rows[n_train:]], y[rows[n_train:]]

networks = {
    "plain": [fastnn.Dense(784, 256, "relu"), fastnn.Dense(256, 256, "relu"), fastnn.Dense(256, 10, "softmax")],
    "dropout 0.5": [fastnn.Dense(784, 256, "relu"), fastnn.Dropout(0.5), fastnn.Dense(256, 256, "relu"),
                    fastnn.Dropout(0.5), fastnn.Dense(256, 10, "softmax")],
    "batch normalization": [fastnn.Dense(784, 256), fastnn.BatchNorm1d(256, activation="relu"),
                            fastnn.Dense(256, 256), fastnn.BatchNorm1d(256, activation="relu"),
                            fastnn.Dense(256, 10, "softmax")],
}

# %%
# Training
# --------
# SGD with momentum, the same learning rate and batch size for the three.
histories = {}
for name, layers in networks.items():
    model = fastnn.Sequential(layers, seed=0)
    model.compile(loss="cross_entropy", optimizer=fastnn.SGD(lr=0.01, momentum=0.9), metrics=["accuracy"])
    h = model.fit(X_train, y_train, epochs=epochs, batch_size=64, validation_data=(X_val, y_val), verbose=0,
                  n_threads=1).history
    histories[name] = h
    best = int(np.argmax(h["val_accuracy"]))
    print(f"{name:20s}: training loss after epoch 1 {h['loss'][0]:.3f}, after epoch 3 {h['loss'][2]:.3f}; "
          f"last epoch: training loss {h['loss'][-1]:.4f}, validation loss {h['val_loss'][-1]:.3f}, "
          f"validation accuracy {h['val_accuracy'][-1]:.3f} (best {h['val_accuracy'][best]:.3f} at epoch {best + 1})")

# %%
# Curves
# ------
# Left, the training loss: batch normalization drops fastest in the first epochs. Right, the validation loss:
# the plain network over-fits (its validation loss turns up while its training loss keeps falling); batch
# normalization, which fits the 2,000 training images fastest, over-fits the most - it speeds training up but
# is no cure for over-fitting on so little data; dropout keeps training and validation loss closest together
# (the gap printed below).
fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for name, h in histories.items():
    ax_train.plot(np.arange(1, epochs + 1), h["loss"], label=name)
    ax_val.plot(np.arange(1, epochs + 1), h["val_loss"], label=name)
ax_train.set(yscale="log", xlabel="epoch", ylabel="cross-entropy", title="training loss")
ax_val.set(yscale="log", xlabel="epoch", title="validation loss")
ax_val.legend()
fig.tight_layout()
for name, h in histories.items():
    print(f"{name:20s}: validation loss - training loss at the last epoch {h['val_loss'][-1] - h['loss'][-1]:.3f}; "
          f"validation loss rose {h['val_loss'][-1] - min(h['val_loss']):.3f} above its minimum")
plt.show()
