"""
Gradient descent: SGD, momentum, Nesterov and Adam on a 2-D loss surface
========================================================================

Gradient descent moves the weights a small step against the gradient of the loss, ``w -= lr * gradient``.
With only two weights the loss is a surface we can draw, and the path of each optimizer on it.

The model is a single neuron, ``y = w * x + b``, fitted with mean squared error to scikit-learn's diabetes data
(the disease progression against the body-mass index). The inputs are *not* standardized: ``x`` is shifted away
from zero, which makes the surface a long narrow valley in which ``w`` and ``b`` pull against each other, the
situation momentum and Adam were made for. Every path is taken by fastnn's own optimizers through
``train_on_batch`` on the whole data set (full-batch gradient descent).
"""
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes

import fastnn

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
steps = 40 if QUICK else 100

data = load_diabetes()
bmi = data.data[:, 2]
x = ((bmi - bmi.mean()) / bmi.std() + 3.0).reshape(-1, 1)      # a feature centred at 3, not at 0
y = (data.target - data.target.mean()) / data.target.std()      # standardized target


def descend(optimizer, start=(-2.0, 2.0)):
    """The (w, b) path of ``steps`` full-batch updates from ``start``."""
    model = fastnn.Sequential([fastnn.Dense(1, 1)], seed=0, dtype="float64")
    model.compile(loss="mse", optimizer=optimizer)
    model.layers[0].weight[...] = start[0]
    model.layers[0].bias[...] = start[1]
    path = [start]
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
        if not np.isfinite(loss) or abs(model.layers[0].weight[0, 0]) > 10:
            break
        path.append((model.layers[0].weight[0, 0], model.layers[0].bias[0]))
    return np.array(path), model.evaluate(x, y)["loss"]


def surface(w, b):
    return np.mean((w[..., None] * x[:, 0] + b[..., None] - y) ** 2, axis=-1)


# %%
# Four optimizers at a good learning rate
# ---------------------------------------
# Plain SGD zig-zags across the valley; momentum (``v = mu*v + g; w -= lr*v``, PyTorch's rule) builds up speed
# along the valley floor; Nesterov's momentum looks ahead and overshoots less; Adam scales each weight's step
# by its own gradient history, so each step is about ``lr`` long whatever the gradient's size: it needs a
# larger rate than SGD here to cover the same distance in 100 updates.
optimizers = {
    "SGD lr=0.05": fastnn.SGD(lr=0.05),
    "momentum 0.9": fastnn.SGD(lr=0.05, momentum=0.9),
    "Nesterov 0.9": fastnn.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "Adam lr=0.3": fastnn.Adam(lr=0.3),
}
ws, bs = np.meshgrid(np.linspace(-2.5, 2.5, 200), np.linspace(-3.5, 3.5, 200))
losses = surface(ws, bs)
best = np.linalg.lstsq(np.c_[x, np.ones_like(x)], y, rcond=None)[0]
print(f"least-squares optimum: w = {best[0]:.3f}, b = {best[1]:.3f}, loss {surface(best[0], best[1]):.4f}")

fig, ax = plt.subplots(figsize=(7, 5.5))
ax.contour(ws, bs, losses, levels=np.geomspace(losses.min() + 1e-3, losses.max(), 25), cmap="Greys", linewidths=0.7)
for name, optimizer in optimizers.items():
    path, final = descend(optimizer)
    ax.plot(path[:, 0], path[:, 1], marker=".", ms=3, lw=1, label=f"{name} (loss {final:.3f})")
    print(f"{name:14s}: loss after {len(path) - 1} updates {final:.4f}, "
          f"distance to the optimum {np.hypot(*(path[-1] - best)):.3f}")
ax.plot(*best, "k*", ms=12, label="optimum")
ax.set(xlabel="weight w", ylabel="bias b", title=f"{steps} full-batch updates from (-2, 2)")
ax.legend(loc="lower left", fontsize=8)
fig.tight_layout()

# %%
# Learning rates too small and too large
# --------------------------------------
# The curvature of the valley limits plain SGD: for mean squared error the limit is 2 over the largest
# eigenvalue of the loss's Hessian (printed below). A rate far below the limit crawls, one just below it
# oscillates across the valley, and one above it makes every step overshoot further than the last: the loss
# grows without bound (the path leaves the picture and is cut off).
hessian = 2 * np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]])
print(f"largest curvature {np.linalg.eigvalsh(hessian).max():.2f}: SGD diverges above lr = "
      f"{2 / np.linalg.eigvalsh(hessian).max():.4f}")
fig, (ax_paths, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.5))
ax_paths.contour(ws, bs, losses, levels=np.geomspace(losses.min() + 1e-3, losses.max(), 25), cmap="Greys",
                 linewidths=0.7)
for lr in [0.005, 0.05, 0.09, 0.095]:
    path, final = descend(fastnn.SGD(lr=lr))
    ax_paths.plot(path[:, 0], path[:, 1], marker=".", ms=3, lw=1, label=f"lr={lr}")
    ax_loss.plot(surface(path[:, 0], path[:, 1]), label=f"lr={lr}")
    print(f"SGD lr={lr:<6}: loss after {len(path) - 1} updates {surface(*path[-1]):.4f}")
ax_paths.set(xlim=(-2.5, 2.5), ylim=(-3.5, 3.5), xlabel="weight w", ylabel="bias b", title="SGD paths")
ax_paths.legend(fontsize=8)
ax_loss.set(yscale="log", xlabel="update", ylabel="training loss (MSE)", title="loss against updates")
ax_loss.legend(fontsize=8)
fig.tight_layout()
plt.show()
