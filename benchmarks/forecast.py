"""A recurrent forecast on real data: the yearly sunspot numbers (1700-2008, in ``statsmodels.datasets``).

    pip install statsmodels
    python benchmarks/forecast.py [--seeds 0 1 2] [--window 24] [--epochs 300]

Each year is predicted from the ``--window`` years before it by ``GRU(1, 32)`` then ``Dense(32, 1)`` (Adam 3e-3,
clipnorm 1, batch 16, float64), trained on the windows whose target lies in the first 80% of the years
(standardized by those years' mean and deviation) and scored one step ahead on the last 20%: mean absolute
error and root mean squared error in sunspot numbers, beside the naive forecast "the same as last year".
"""
import argparse
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--window", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=300)
    args = parser.parse_args(argv)
    import statsmodels.api as sm

    import fastnn

    y = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float64)
    W = args.window
    X = np.stack([y[i:i + W] for i in range(len(y) - W)])[:, :, None]
    target = y[W:]
    split = int(len(y) * 0.8) - W
    mu, sd = y[:split + W].mean(), y[:split + W].std()
    years = f"{1700 + W + split}-{1700 + len(y) - 1}"
    print(f"sunspots: {len(y)} years; training targets {1700 + W}-{1700 + W + split - 1}, test {years} "
          f"({len(target) - split} years)")
    print(f"{'forecast':<22}{'MAE':>8}{'RMSE':>8}{'train s':>9}")
    for seed in args.seeds:
        model = fastnn.Sequential([fastnn.GRU(1, 32), fastnn.Dense(32, 1)], input_shape=(W, 1), seed=seed,
                                  dtype="float64")
        model.compile("mse", optimizer=fastnn.Adam(3e-3, clipnorm=1.0))
        t0 = time.perf_counter()
        model.fit((X[:split] - mu) / sd, (target[:split] - mu) / sd, epochs=args.epochs, batch_size=16, verbose=0)
        seconds = time.perf_counter() - t0
        pred = model.predict((X[split:] - mu) / sd)[:, 0] * sd + mu
        err = pred - target[split:]
        print(f"{f'GRU, seed {seed}':<22}{np.abs(err).mean():>8.2f}{np.sqrt((err ** 2).mean()):>8.2f}{seconds:>9.1f}")
    err = y[W - 1:-1][split:] - target[split:]
    print(f"{'same as last year':<22}{np.abs(err).mean():>8.2f}{np.sqrt((err ** 2).mean()):>8.2f}")


if __name__ == "__main__":
    main()
