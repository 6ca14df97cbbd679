"""
Mean squared error against cross-entropy for classification
===========================================================

Two losses the primer compares. **Mean squared error** (MSE) averages ``(prediction - target)^2`` over the
outputs; **cross-entropy** is ``-sum_k t_k log p_k``, minus the log of the probability given to the true class.

The primer's worked example: the target is ``[1, 0, 0]`` and the network predicts ``[0, 1, 0]``, confidently
wrong. MSE is ``(1 + 1 + 0) / 3 = 0.667``; cross-entropy is ``-log 0``: "infinity". fastnn never takes
``log(0)``: it computes the softmax and the cross-entropy together from the logits (a max-subtracted
log-sum-exp), so a confident wrong answer costs a large but finite loss - and, what matters for learning, a
large gradient.
"""
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import fastnn

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
epochs = 10 if QUICK else 40

# %%
# The worked example
# ------------------
target = np.array([1.0, 0.0, 0.0])
prediction = np.array([0.0, 1.0, 0.0])
print(f"MSE of {prediction} against {target}: {np.mean((prediction - target) ** 2):.3f}")
with np.errstate(divide="ignore"):
    print(f"cross-entropy written naively, -log(p[true class]): {-np.log(prediction[target.argmax()])}")

# A softmax layer gives the probabilities from logits z. A Dense(3, 3) layer with the identity matrix as weights
# and zero biases passes its input through, so its input *is* the logits and loss_and_gradient gives the loss
# and, in the bias entries, its gradient with respect to the logits.
def logit_layer(loss):
    model = fastnn.Sequential([fastnn.Dense(3, 3, activation="softmax")], seed=0, dtype="float64")
    model.compile(loss=loss, optimizer=fastnn.SGD(lr=0.1))
    model.layers[0].weight[...] = np.eye(3)
    model.layers[0].bias[...] = 0
    return model


cross_entropy, mse = logit_layer("cross_entropy"), logit_layer("mse")
gaps = np.array([0.5, 1, 2, 5, 10, 20, 50, 100, 500])
rows = []
for gap in gaps:
    z = np.array([[-gap, gap, -gap]])                             # more and more confident in the wrong class
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        p = np.exp(z) / np.exp(z).sum()
        naive = -np.log(p[0, 0])
    ce_loss, ce_grad = cross_entropy.loss_and_gradient(z, np.array([0]))
    mse_loss, mse_grad = mse.loss_and_gradient(z, target[None])
    rows.append((gap, naive, ce_loss, np.abs(ce_grad[-3:]).max(), mse_loss, np.abs(mse_grad[-3:]).max()))
print(" logits [-g, g, -g] | naive CE | fastnn CE | CE gradient | MSE   | MSE gradient  (largest |dL/dz|)")
for gap, naive, ce_loss, ce_g, mse_loss, mse_g in rows:
    print(f" g = {gap:6g}         | {naive:8.4g} | {ce_loss:9.4g} | {ce_g:11.4g} | {mse_loss:.3f} | {mse_g:.3g}")

# %%
# The gradient at a confident wrong answer
# ----------------------------------------
# Cross-entropy's gradient with respect to the logits is ``p - t``: at a confident wrong answer it is about
# ``[-1, 1, 0]``, as large as it gets, pushing hard towards the right class. MSE's gradient passes through the
# softmax's derivative, which is 0 when the softmax is saturated: the more wrong and confident the network, the
# less MSE tells it to change.
rows = np.array(rows)
fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(11, 4))
ax_loss.plot(rows[:, 0], rows[:, 2], "o-", label="cross-entropy (fastnn, finite)")
ax_loss.plot(rows[:, 0], rows[:, 4], "s-", label="MSE")
ax_loss.plot(rows[np.isinf(rows[:, 1]), 0], np.full(np.isinf(rows[:, 1]).sum(), rows[:, 2].max()), "rx", ms=10,
             label="naive cross-entropy: infinite")
ax_loss.set(xscale="log", yscale="log", xlabel="logit gap g (confidence in the wrong class)", ylabel="loss",
            title="loss of a confident wrong answer")
ax_loss.legend(fontsize=8)
ax_grad.plot(rows[:, 0], rows[:, 3], "o-", label="cross-entropy")
ax_grad.plot(rows[:, 0], np.maximum(rows[:, 5], 1e-300), "s-", label="MSE")
ax_grad.set(xscale="log", yscale="log", xlabel="logit gap g", ylabel="largest |dL/dz|",
            title="gradient with respect to the logits")
ax_grad.legend(fontsize=8)
fig.tight_layout()

# %%
# Training curves
# ---------------
# The same 64-32-10 softmax network on scikit-learn's digits, once with cross-entropy on the labels and once
# with MSE on one-hot targets, SGD at the same learning rate. MSE's small gradients through the softmax make it
# learn far more slowly (the accuracies printed below).
digits = load_digits()
X = (digits.data / 16.0).astype(np.float32)
y = digits.target
order = np.random.default_rng(0).permutation(len(X))
train, val = order[:1200], order[1200:]
onehot = np.eye(10, dtype=np.float32)
fig, ax = plt.subplots(figsize=(7, 4))
for loss, targets, val_targets in [("cross_entropy", y[train], y[val]), ("mse", onehot[y[train]], onehot[y[val]])]:
    model = fastnn.Sequential([fastnn.Dense(64, 32, "relu"), fastnn.Dense(32, 10, "softmax")], seed=0)
    model.compile(loss=loss, optimizer=fastnn.SGD(lr=0.1))
    accuracies = []
    for epoch in range(epochs):
        model.fit(X[train], targets, epochs=1, batch_size=32, verbose=0, n_threads=1)
        accuracies.append(np.mean(model.predict(X[val]).argmax(axis=1) == y[val]))
    ax.plot(np.arange(1, epochs + 1), accuracies, label=loss)
    print(f"{loss:13s}: validation accuracy after epoch 1 {accuracies[0]:.3f}, after epoch 5 {accuracies[4]:.3f}, "
          f"after epoch {epochs} {accuracies[-1]:.3f}")
ax.set(xlabel="epoch", ylabel="validation accuracy", title="digits: cross-entropy against MSE")
ax.legend()
fig.tight_layout()
plt.show()
