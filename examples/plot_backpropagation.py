"""
Backpropagation by hand
=======================

Backpropagation is the chain rule applied layer by layer, from the loss back to the first weights. Here the
gradients of a 2-layer network (4 inputs, 8 tanh units, 3 softmax outputs, cross-entropy loss) on scikit-learn's
iris data are written out in NumPy, step by step, and compared with fastnn's ``model.loss_and_gradient``
(which runs the compiled backward pass without updating anything) and with finite differences.
"""
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_iris

import fastnn

iris = load_iris()
X = fastnn.StandardScaler().fit_transform(iris.data)              # standardized, float64
y = iris.target
model = fastnn.Sequential([fastnn.Dense(4, 8, activation="tanh"),
                           fastnn.Dense(8, 3, activation="softmax")], seed=0, dtype="float64")
model.compile(loss="cross_entropy", optimizer=fastnn.SGD(lr=0.1))
model.fit(X, y, epochs=3, batch_size=16, verbose=0)               # somewhere away from the starting point
W1, b1 = model.layers[0].weight, model.layers[0].bias             # (8, 4), (8,)
W2, b2 = model.layers[1].weight, model.layers[1].bias             # (3, 8), (3,)

# %%
# The forward pass
# ----------------
# Each layer holds numbers: ``z = x W^T + b`` and the activation ``a = f(z)``. The loss is the mean over the
# ``n`` samples of ``-log p[true class]``.
n = len(X)
z1 = X @ W1.T + b1
a1 = np.tanh(z1)
z2 = a1 @ W2.T + b2
p = np.exp(z2 - z2.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
onehot = np.eye(3)[y]
loss = -np.mean(np.log(p[np.arange(n), y]))

# %%
# The backward pass
# -----------------
# 1. For softmax with cross-entropy the gradient of the loss with respect to the logits is ``(p - onehot) / n``.
# 2. The last layer's weight gradient is that delta times the layer's input: ``dW2 = delta2^T a1``;
#    ``db2`` is the column sum of delta2.
# 3. The delta moves back through the weights, ``delta2 W2``, and through tanh's derivative, ``1 - a1^2``
#    (computed from the layer's output).
# 4. The first layer's gradients follow as in step 2.
delta2 = (p - onehot) / n
dW2 = delta2.T @ a1
db2 = delta2.sum(axis=0)
delta1 = (delta2 @ W2) * (1 - a1 ** 2)
dW1 = delta1.T @ X
db1 = delta1.sum(axis=0)
by_hand = np.concatenate([dW1.ravel(), db1, dW2.ravel(), db2])   # the layout of model.parameters

fastnn_loss, fastnn_gradient = model.loss_and_gradient(X, y)
print(f"loss by hand {loss:.15f}, fastnn {fastnn_loss:.15f}")
print(f"largest difference between the gradients: {np.abs(by_hand - fastnn_gradient).max():.2e} "
      f"({by_hand.size} entries)")
assert np.allclose(by_hand, fastnn_gradient, rtol=0, atol=1e-12)

# %%
# Finite differences
# ------------------
# The definition of a derivative checks both: move one weight by ``+h`` and ``-h`` and take
# ``(L(w + h) - L(w - h)) / 2h``. ``model.parameters`` is the flat array of every weight and bias.
h = 1e-6
numeric = np.empty_like(by_hand)
for i in range(by_hand.size):
    saved = model.parameters[i]
    model.parameters[i] = saved + h
    up, _ = model.loss_and_gradient(X, y)
    model.parameters[i] = saved - h
    down, _ = model.loss_and_gradient(X, y)
    model.parameters[i] = saved
    numeric[i] = (up - down) / (2 * h)
print(f"largest difference from finite differences: {np.abs(numeric - by_hand).max():.2e}")

fig, (ax_compare, ax_error) = plt.subplots(1, 2, figsize=(11, 4))
ax_compare.plot(by_hand, fastnn_gradient, "o", ms=4, label="fastnn loss_and_gradient")
ax_compare.plot(by_hand, numeric, "x", ms=6, label="finite differences")
ax_compare.set(xlabel="gradient entry, by hand in NumPy", ylabel="the same entry, computed otherwise",
               title="three ways to the same gradient")
ax_compare.legend()
ax_error.semilogy(np.abs(by_hand - fastnn_gradient) + 1e-18, ".", label="|by hand - fastnn|")
ax_error.semilogy(np.abs(by_hand - numeric) + 1e-18, ".", label="|by hand - finite differences|")
bounds = np.cumsum([0, dW1.size, db1.size, dW2.size, db2.size])
for b in bounds[1:-1]:
    ax_error.axvline(b - 0.5, color="grey", lw=0.5)
ax_error.set(xlabel="entry of the flat parameter vector (W1 | b1 | W2 | b2)", ylabel="absolute difference",
             title="differences (1e-18 added to show zeros)")
ax_error.legend(fontsize=8)
fig.tight_layout()
plt.show()
