"""The cost of the Adam update beside the SGD-momentum update, over the parameters of 784-512-512-10.

    python benchmarks/optimizer_update.py [--n 669706] [--repeats 50] [--dtype float32]

Both go through ``fastnn._kernels.optimizer_update(p, g, state, hyper, step)``, the update the training engine
runs (one thread), with ``hyper`` from ``fastnn.SGD(lr=0.01, momentum=0.9)._hyper(0, 0)`` and
``fastnn.Adam()._hyper(0, 0)`` and state arrays of shape ``(n_state, n)``. The two take turns, a block of calls
each, and the table shows each one's minimum seconds per update over ``--repeats`` blocks, the bytes it moves
(parameters, gradients and state rows read, parameters and state written) as GB/s, and Adam's time as a
multiple of SGD's.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from latency import time_interleaved  # noqa: E402


def updaters(n, dtype):
    import fastnn
    from fastnn import _kernels

    rng = np.random.default_rng(0)
    out = {}
    for name, opt in (("sgd momentum", fastnn.SGD(lr=0.01, momentum=0.9)), ("adam", fastnn.Adam())):
        p = rng.normal(size=n).astype(dtype)
        g = (rng.normal(size=n) * 0.01).astype(dtype)
        state = np.zeros((opt.n_state(), n), dtype)
        hyper = opt._hyper(0.0, 0.0)

        def update(p=p, g=g, state=state, hyper=hyper):  # step 10: Adam's bias corrections are computed
            _kernels.optimizer_update(p, g, state, hyper, 10)
        out[name] = (update, opt.n_state())
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--n", type=int, default=669_706, help="parameters (default: those of 784-512-512-10)")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args(argv)

    import fastnn

    fns = updaters(args.n, args.dtype)
    best = time_interleaved({k: v[0] for k, v in fns.items()}, calls=20, repeats=args.repeats, settle=0.01)
    item = np.dtype(args.dtype).itemsize
    print(f"fastnn {fastnn.__version__}; optimizer_update over {args.n:,} {args.dtype} parameters, one thread, "
          f"minimum of {args.repeats} interleaved blocks of 20 updates\n")
    header = f"{'update':<14}{'state rows':>11}{'time':>12}{'GB/s':>8}{'vs sgd':>9}"
    print(header)
    print("-" * len(header))
    for name, (_, n_state) in fns.items():
        moved = args.n * item * (2 + n_state + 1 + n_state)  # read p, g, state; write p, state
        print(f"{name:<14}{n_state:>11}{best[name] * 1e6:>9,.0f} us{moved / best[name] / 1e9:>8.1f}"
              f"{best[name] / best['sgd momentum']:>8.2f}x")
    print(f"\nadam / sgd momentum: {best['adam'] / best['sgd momentum']:.2f}x (target: within 1.3x)")
    return best


if __name__ == "__main__":
    main()
