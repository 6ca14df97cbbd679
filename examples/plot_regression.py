"""
Regression: predictions against truth, and residuals
====================================================

In regression the network predicts a number, not a class: the output layer is a single neuron without an
activation (the identity), and the loss is the mean squared error. The data: scikit-learn's diabetes set (442
patients, 10 standardized measurements, a measure of disease progression one year later). The target is
standardized for training too, and the predictions are mapped back to its units with the scaler's
``inverse_transform``. A linear regression (scikit-learn's) is the baseline to beat.
"""
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, r2_score

import fastnn

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
epochs = 100 if QUICK else 300

X, y = load_diabetes(return_X_y=True)
rng = np.random.default_rng(0)
order = rng.permutation(len(X))
train, test = order[:340], order[340:]
x_scaler = fastnn.StandardScaler().fit(X[train])
y_scaler = fastnn.StandardScaler().fit(y[train, None])
X_train, X_test = x_scaler.transform(X[train]), x_scaler.transform(X[test])
t_train = y_scaler.transform(y[train, None])

# %%
# A small network, with early stopping on a validation split
# ----------------------------------------------------------
# 340 patients are few: a network of 8 hidden units, a little L2 and early stopping. (Wider networks, 32 units,
# over-fit here and end below the linear baseline: this data is close to linear.)
def fit_network(width):
    model = fastnn.Sequential([fastnn.Dense(10, width, "relu"), fastnn.Dense(width, 1)], seed=0)
    model.compile(loss="mse", optimizer=fastnn.Adam(lr=1e-3), regularizer=fastnn.L2(1e-3))
    history = model.fit(X_train, t_train, epochs=epochs, batch_size=16, validation_split=0.2, verbose=0,
                        n_threads=1, callbacks=[fastnn.callbacks.EarlyStopping(patience=20, restore_best_weights=True)])
    print(f"10-{width}-1 network: trained {len(history.history['loss'])} epochs (early stopping, patience 20)")
    return history, y_scaler.inverse_transform(model.predict(X_test))[:, 0]


history, predicted = fit_network(8)
_, predicted_wide = fit_network(32)
linear = LinearRegression().fit(X_train, y[train]).predict(X_test)
for name, p in [("fastnn 10-8-1", predicted), ("fastnn 10-32-1", predicted_wide), ("linear regression", linear),
                ("the mean", np.full(len(test), y[train].mean()))]:
    print(f"{name:18s}: test R^2 {r2_score(y[test], p):6.3f}, mean absolute error {mean_absolute_error(y[test], p):5.1f}")

# %%
# Predictions against truth, and residuals
# ----------------------------------------
# A perfect model puts every point on the diagonal. The residuals (truth - prediction) against the prediction
# should scatter around zero without a pattern; their spread is what the model does not explain.
residuals = y[test] - predicted
print(f"residuals: mean {residuals.mean():.1f}, standard deviation {residuals.std():.1f} "
      f"(the target's standard deviation: {y[test].std():.1f})")
fig, (ax_fit, ax_res, ax_curve) = plt.subplots(1, 3, figsize=(13, 4))
ax_fit.scatter(y[test], predicted, s=12, label="fastnn")
ax_fit.scatter(y[test], linear, s=12, marker="x", alpha=0.6, label="linear regression")
lims = [y.min(), y.max()]
ax_fit.plot(lims, lims, "k--", lw=1)
ax_fit.set(xlabel="true disease progression", ylabel="predicted", title="predictions against truth")
ax_fit.legend(fontsize=8)
ax_res.scatter(predicted, residuals, s=12)
ax_res.axhline(0, color="k", lw=1)
ax_res.set(xlabel="predicted", ylabel="residual (truth - prediction)", title="residuals")
ax_curve.plot(history.history["loss"], label="training")
ax_curve.plot(history.history["val_loss"], label="validation")
ax_curve.set(xlabel="epoch", ylabel="MSE (standardized target, with the L2 penalty)", title="learning curves")
ax_curve.legend()
fig.tight_layout()
plt.show()
