"""fastnn.sklearn.MLPClassifier beside scikit-learn's MLPClassifier on Fashion-MNIST, and a GridSearchCV of each.

    python benchmarks/sklearn_mlp.py [--epochs 20] [--samples 60000] [--no-search]

Both train hidden_layer_sizes=(256,), solver="adam", batch_size=200, max_iter=--epochs (tol=0, so every epoch
runs), early_stopping=False, random_state=0 on standardised pixels, BLAS and fastnn at 2 threads; the table shows
fit seconds, seconds per epoch and test accuracy. Then GridSearchCV over 4 settings (alpha x learning_rate_init)
with n_jobs=2 and 3-fold cross-validation on the first 10,000 images, wall-clock for each library.
"""
import argparse
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--no-search", action="store_true")
    args = parser.parse_args(argv)
    import fastnn
    from fastnn.sklearn import MLPClassifier as FastMLP
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV
    from sklearn.neural_network import MLPClassifier as SkMLP

    (X, y), (Xt, yt) = fastnn.datasets.load_fashion_mnist(download=False, flatten=True, verbose=False)
    X, y = X[:args.samples], y[:args.samples]
    scaler = fastnn.StandardScaler().fit(X)
    X, Xt = scaler.transform(X), scaler.transform(Xt)
    settings = dict(hidden_layer_sizes=(256,), solver="adam", batch_size=200, max_iter=args.epochs, tol=0.0,
                    early_stopping=False, random_state=0)
    print(f"Fashion-MNIST {X.shape[0]} x {X.shape[1]}, standardised; {args.epochs} epochs; 2 threads")
    print(f"{'library':<10}{'fit':>9}{'per epoch':>11}{'test accuracy':>15}")
    times = {}
    for name, make in (("fastnn", lambda: FastMLP(**settings, n_threads=2)), ("sklearn", lambda: SkMLP(**settings))):
        with threadpool_limits(limits=2, user_api="blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = make()
            t = time.perf_counter()
            clf.fit(X, y)
            times[name] = time.perf_counter() - t
        acc = clf.score(Xt, yt)
        print(f"{name:<10}{times[name]:>8.1f}s{times[name] / clf.n_iter_:>10.2f}s{acc:>15.4f}", flush=True)
        time.sleep(0.5)
    print(f"fastnn is {times['sklearn'] / times['fastnn']:.1f}x faster")
    if args.no_search:
        return
    grid = {"alpha": [1e-4, 1e-3], "learning_rate_init": [1e-3, 3e-3]}
    Xs, ys = X[:10000], y[:10000]
    print("\nGridSearchCV, 4 settings x 3 folds, n_jobs=2, first 10,000 images")
    for name, est in (("fastnn", FastMLP(**settings)), ("sklearn", SkMLP(**settings))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t = time.perf_counter()
            search = GridSearchCV(est, grid, cv=3, n_jobs=2).fit(Xs, ys)
            seconds = time.perf_counter() - t
        print(f"{name:<10}{seconds:>8.1f}s  best {search.best_params_} cv accuracy {search.best_score_:.4f}",
              flush=True)
        time.sleep(0.5)


if __name__ == "__main__":
    main()
