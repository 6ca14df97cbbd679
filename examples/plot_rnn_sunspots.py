"""
A recurrent network: forecasting the sunspots
=============================================

A recurrent layer reads a sequence one step at a time and carries a hidden state from step to step, so its
output can depend on everything it has read. Here a ``fastnn.GRU`` reads the yearly sunspot numbers of 24 years
and predicts the next year (a sequence task: many inputs in, one number out). The data, 1700-2008, ships with
statsmodels (``pip install statsmodels``). The network is trained on the first 80% of the years and forecasts
the last 20% one year ahead, beside the naive forecast "the same as last year".
"""
import os

import matplotlib.pyplot as plt
import numpy as np
import statsmodels.api as sm

import fastnn

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
epochs = 10 if QUICK else 150
window = 24

years = sm.datasets.sunspots.load_pandas().data
y = years["SUNACTIVITY"].to_numpy(np.float64)
first_year = int(years["YEAR"].iloc[0])
X = np.stack([y[i:i + window] for i in range(len(y) - window)])[:, :, None]   # (samples, 24 steps, 1 feature)
target = y[window:]
split = int(len(y) * 0.8) - window
mean, std = y[:split + window].mean(), y[:split + window].std()            # standardized by the training years
print(f"{len(y)} years ({first_year}-{first_year + len(y) - 1}); {split} training windows, "
      f"{len(target) - split} test years from {first_year + window + split}")

# %%
# Training
# --------
# Batch-first sequences ``(n, T, F)`` as in PyTorch; the gradients' norm is clipped to 1, as is usual for
# recurrent networks.
model = fastnn.Sequential([fastnn.GRU(1, 32), fastnn.Dense(32, 1)], input_shape=(window, 1), seed=0,
                          dtype="float64")
model.compile(loss="mse", optimizer=fastnn.Adam(lr=3e-3, clipnorm=1.0))
history = model.fit((X[:split] - mean) / std, (target[:split] - mean) / std, epochs=epochs, batch_size=16,
                    validation_split=0.1, verbose=0, n_threads=1)
predicted = model.predict((X[split:] - mean) / std)[:, 0] * std + mean
naive = y[window - 1:-1][split:]
for name, forecast in [("GRU(1, 32)", predicted), ("same as last year", naive)]:
    error = forecast - target[split:]
    print(f"{name:18s}: mean absolute error {np.abs(error).mean():5.1f}, "
          f"root mean squared error {np.sqrt(np.mean(error ** 2)):5.1f} sunspots")

# %%
# The forecast against the truth
# ------------------------------
test_years = first_year + window + split + np.arange(len(target) - split)
fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [2, 1]})
ax.plot(first_year + np.arange(len(y)), y, color="grey", lw=0.8, label="sunspot number")
ax.plot(test_years, predicted, color="C3", label="GRU, one year ahead")
ax.axvline(test_years[0] - 0.5, color="k", ls=":", lw=1)
ax.set(xlabel="year", ylabel="sunspots", title="training years left of the dotted line, forecast right of it")
ax.legend(loc="upper left", fontsize=8)
ax_loss.plot(history.history["loss"], label="training")
ax_loss.plot(history.history["val_loss"], label="validation")
ax_loss.set(yscale="log", xlabel="epoch", ylabel="MSE (standardized)", title="learning curves")
ax_loss.legend()
fig.tight_layout()
plt.show()
