"""
Scaling the inputs: standardization, min-max normalization and log scaling
==========================================================================

Networks train best on inputs of about unit scale. The primer's three tools, all in fastnn with
scikit-learn's interface (``fit``, ``transform``, ``mean_``, ``scale_``):

* **standardization** (``fastnn.StandardScaler``): subtract each feature's mean, divide by its standard
  deviation - mean 0, variance 1;
* **min-max normalization** (``fastnn.MinMaxScaler``): map each feature's range onto [0, 1];
* **log scaling** (``fastnn.LogScaler``, ``log(1 + x)``): for non-negative, skewed features with a long tail of
  outliers, which the other two leave squeezed into a corner.

The data: scikit-learn's breast-cancer set, 30 features whose scales differ by a factor of more than 10,000
(areas in the thousands beside smoothness values near 0.1), several of them skewed with outliers.
"""
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer

import fastnn

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
epochs = 15 if QUICK else 60

data = load_breast_cancer()
X, y = data.data, data.target
rng = np.random.default_rng(0)
order = rng.permutation(len(X))
train, val = order[:400], order[400:]
feature = list(data.feature_names).index("area error")
print(f"feature scales (standard deviations) range from {X.std(axis=0).min():.2g} to {X.std(axis=0).max():.2g}")
skew = np.mean(((X[:, feature] - X[:, feature].mean()) / X[:, feature].std()) ** 3)
print(f"'area error': median {np.median(X[:, feature]):.1f}, max {X[:, feature].max():.1f}, skewness {skew:.1f}")

# %%
# What each scaling does to a skewed feature
# ------------------------------------------
# Each scaler is fitted on the training rows only and applied to all rows.
log_then_standard = fastnn.StandardScaler().fit(fastnn.LogScaler().fit_transform(X[train]))
scalings = {
    "none (raw)": lambda A: A,
    "standardized": fastnn.StandardScaler().fit(X[train]).transform,
    "min-max [0, 1]": fastnn.MinMaxScaler().fit(X[train]).transform,
    "log, then standardized": lambda A: log_then_standard.transform(fastnn.LogScaler().fit_transform(A)),
}
fig, axes = plt.subplots(1, 4, figsize=(13, 3))
for ax, (name, scale) in zip(axes, scalings.items()):
    values = scale(X)[:, feature]
    ax.hist(values, bins=40)
    ax.set(title=name, xlabel="'area error'")
    squeezed = np.mean(values <= values.min() + 0.1 * (values.max() - values.min()))
    print(f"{name:24s}: range [{values.min():9.3f}, {values.max():9.3f}], "
          f"{squeezed:.0%} of the samples in the lowest tenth of the range")
fig.tight_layout()

# %%
# Standardization and min-max keep the shape: the outliers stretch the range and most samples stay squeezed
# into its lowest tenth (the printed share). The log spreads the bulk of the samples out and pulls the outliers in.
#
# What each does to training
# --------------------------
# The same 30-32-2 network is trained on each version of the data. On the raw features fastnn warns that the
# inputs are far from unit scale (the warning is caught and printed here), and the first epoch's validation
# loss is enormous; every scaling trains better than the raw data.
fig, ax = plt.subplots(figsize=(7, 4))
for name, scale in scalings.items():
    Xs = scale(X).astype(np.float32)
    model = fastnn.Sequential([fastnn.Dense(30, 32, "relu"), fastnn.Dense(32, 2, "softmax")], seed=0)
    model.compile(loss="cross_entropy", optimizer=fastnn.Adam(lr=1e-3), metrics=["accuracy"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = model.fit(Xs[train], y[train], epochs=epochs, batch_size=32, validation_data=(Xs[val], y[val]),
                      verbose=0, n_threads=1).history
    for w in caught:
        print(f"  warning on {name}: {str(w.message)[:100]}...")
    ax.plot(np.arange(1, epochs + 1), h["val_loss"], label=name)
    print(f"{name:24s}: validation loss after epoch 1 {h['val_loss'][0]:8.3f}, after the last "
          f"{h['val_loss'][-1]:.3f}; validation accuracy {h['val_accuracy'][-1]:.3f}")
ax.set(yscale="log", xlabel="epoch", ylabel="validation loss", title="the same network on differently scaled data")
ax.legend()
fig.tight_layout()
plt.show()
