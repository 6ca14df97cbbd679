"""Seconds of k-means: fastnn.KMeans beside scikit-learn's KMeans(algorithm="lloyd"), same data and start.

    python benchmarks/kmeans.py [--samples 60000] [--clusters 10] [--iterations 50] [--threads 1 2] [--repeats 3]

Fashion-MNIST's training images (60,000 x 784, float32, scaled to [0, 1]) when installed, else random data of
that shape; both libraries start from the same centers and run exactly ``--iterations`` Lloyd iterations
(``tol=0``, ``max_iter``); the two take turns and the table shows each one's minimum seconds over
``--repeats`` and scikit-learn's time over fastnn's.
"""
import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits


def data(n):
    try:
        import fastnn

        (X, _), _ = fastnn.datasets.load_fashion_mnist(download=False, flatten=True, scale=True, verbose=False)
        return X[:n], "Fashion-MNIST"
    except Exception:
        return np.random.default_rng(0).random((n, 784), dtype=np.float32), "random"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import fastnn
    from sklearn.cluster import KMeans as SKMeans

    X, name = data(args.samples)
    init = X[np.random.default_rng(0).choice(len(X), args.clusters, replace=False)]
    print(f"k-means on {name} {X.shape[0]} x {X.shape[1]} float32, {args.clusters} clusters, same start, "
          f"{args.iterations} iterations; minimum of {args.repeats} interleaved runs")
    print(f"{'threads':>7}{'fastnn':>10}{'sklearn':>10}{'sklearn/fastnn':>16}")
    for nt in args.threads:
        best = {"fastnn": np.inf, "sklearn": np.inf}
        for _ in range(args.repeats):
            t = time.perf_counter()
            ours = fastnn.KMeans(args.clusters, init=init, n_init=1, max_iter=args.iterations, tol=0.0,
                                 n_threads=nt).fit(X)
            best["fastnn"] = min(best["fastnn"], time.perf_counter() - t)
            with threadpool_limits(limits=nt):
                t = time.perf_counter()
                theirs = SKMeans(args.clusters, init=init, n_init=1, max_iter=args.iterations, tol=0.0,
                                 algorithm="lloyd").fit(X)
                best["sklearn"] = min(best["sklearn"], time.perf_counter() - t)
            time.sleep(0.3)
        print(f"{nt:>7}{best['fastnn']:>9.2f}s{best['sklearn']:>9.2f}s{best['sklearn'] / best['fastnn']:>15.2f}x"
              f"   (inertia {ours.inertia_:.6g} vs {theirs.inertia_:.6g}, {ours.n_iter_} and {theirs.n_iter_} "
              "iterations)", flush=True)


if __name__ == "__main__":
    main()
