"""
L1 and L2 regularization (weight decay)
=======================================

Regularization adds a penalty on the size of the weights to the loss. **L2** adds ``alpha/2 * sum(w^2)``: its
gradient ``alpha * w`` shrinks every weight in proportion to its size (weight decay). **L1** adds
``alpha * sum|w|``: its gradient ``alpha * sign(w)`` pulls every weight towards zero by the same amount, so the
weights that matter little end at (or next to) zero - a sparse network.

The primer's point: with outliers in the training data, a network without a penalty grows its weights to fit
them. Here 15% of the training labels of scikit-learn's handwritten digits are replaced by random ones
(outliers the network cannot learn from the pixels), and the same network is trained without a penalty, with
``fastnn.L1`` and with ``fastnn.L2`` (given to ``compile`` as ``regularizer=``).
"""
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import fastnn

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
epochs = 60 if QUICK else 200

digits = load_digits()
X = (digits.data / 16.0).astype(np.float32)                       # pixels 0-16 scaled to [0, 1]
y = digits.target.copy()
rng = np.random.default_rng(0)
order = rng.permutation(len(X))
train, val = order[:700], order[700:]
X_train, y_train, X_val, y_val = X[train], y[train].copy(), X[val], y[val]
outliers = rng.choice(len(train), int(0.15 * len(train)), replace=False)
y_train[outliers] = (y_train[outliers] + rng.integers(1, 10, size=len(outliers))) % 10   # a wrong label
print(f"{len(train)} training images, {len(outliers)} of them with a wrong label; {len(val)} validation images")

# %%
# Training with and without a penalty
# -----------------------------------
penalties = {"no penalty": None, "L1(1e-3)": fastnn.L1(1e-3), "L2(5e-3)": fastnn.L2(5e-3)}
results = {}
for name, regularizer in penalties.items():
    model = fastnn.Sequential([fastnn.Dense(64, 256, activation="relu"),
                               fastnn.Dense(256, 10, activation="softmax")], seed=0)
    model.compile(loss="cross_entropy", optimizer=fastnn.Adam(lr=3e-3), regularizer=regularizer,
                  metrics=["accuracy"])
    history = model.fit(X_train, y_train, epochs=epochs, batch_size=32, validation_data=(X_val, y_val),
                        verbose=0, n_threads=1)
    W = model.layers[0].weight.copy()
    fitted_outliers = np.mean(model.predict_classes(X_train[outliers]) == y_train[outliers])
    results[name] = dict(weights=W, history=history.history, fitted=fitted_outliers)
    print(f"{name:10s}: first layer |W| (Frobenius) {np.linalg.norm(W):6.2f}, largest |w| {np.abs(W).max():.3f}, "
          f"near zero (|w| < 0.01) {np.mean(np.abs(W) < 0.01):5.1%}; wrong labels learned {fitted_outliers:5.1%}; "
          f"validation accuracy {history.history['val_accuracy'][-1]:.3f} "
          f"(best {max(history.history['val_accuracy']):.3f})")

# %%
# The weights of the first layer
# ------------------------------
# Without a penalty the weights spread widest: the network has grown them to memorise the wrong labels. L2
# keeps them small; L1 piles most of them up at zero (a tall spike) and keeps a few large ones.
fig, axes = plt.subplots(1, 3, figsize=(12, 3.5), sharex=True)
for ax, (name, r) in zip(axes, results.items()):
    ax.hist(r["weights"].ravel(), bins=np.linspace(-2.6, 2.6, 105), color="C0")
    ax.set(yscale="log", xlabel="weight of the first layer", title=f"{name}: {np.mean(np.abs(r['weights']) < 0.01):.0%} near 0")
axes[0].set_ylabel("count")
fig.tight_layout()

# %%
# The validation effect
# ---------------------
# The penalties keep the network from fitting the wrong labels (it learns fewer of them) and the validation
# accuracy - on correctly labelled digits - stays higher at the end of training.
fig, (ax_val, ax_bar) = plt.subplots(1, 2, figsize=(11, 4))
for name, r in results.items():
    ax_val.plot(np.arange(1, epochs + 1), r["history"]["val_loss"], label=name)
ax_val.set(xlabel="epoch", ylabel="validation loss (with the penalty)", yscale="log", title="validation loss")
ax_val.legend()
names = list(results)
ax_bar.bar(np.arange(3) - 0.2, [results[k]["fitted"] for k in names], width=0.4, label="wrong labels learned")
ax_bar.bar(np.arange(3) + 0.2, [results[k]["history"]["val_accuracy"][-1] for k in names], width=0.4,
           label="validation accuracy")
ax_bar.set_xticks(np.arange(3), names)
ax_bar.set(ylim=(0, 1), title=f"after {epochs} epochs")
ax_bar.legend(loc="lower right")
fig.tight_layout()
plt.show()
