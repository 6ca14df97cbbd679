"""Data-parallel training over MPI beside one process, and a model of its scaling to more nodes.

    python benchmarks/distributed.py [--repeats 3] [--epochs 2]

Trains 784-512-512-10 (float32, SGD with momentum 0.9) on 60,000 MNIST-shaped rows with a global batch of 1024:
one process with 2 threads, and ``mpiexec -n 2`` ranks with 1 thread each (fastnn.distributed.DataParallel),
interleaved, the minimum of the repeats. The ranks' runs also time their all-reduce of the gradients apart from
the rest of each step. From those figures it prints the seconds per epoch a cluster of nodes like this machine
would take (see benchmarks/README.md for the model).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import make_data  # noqa: E402

WIDTHS = [784, 512, 512, 10]
BATCH = 1024


def _model():
    import fastnn

    layers = [fastnn.Dense(a, b, "relu") for a, b in zip(WIDTHS[:-2], WIDTHS[1:-1])]
    model = fastnn.Sequential(layers + [fastnn.Dense(WIDTHS[-2], WIDTHS[-1], "softmax")], seed=0)
    return model.compile("cross_entropy", fastnn.SGD(0.05, momentum=0.9))


def worker(args):
    """One run: seconds per epoch (the minimum over ``args.epochs``), and with MPI the all-reduce's share."""
    X, y = make_data()
    model = _model()
    dp = None
    if args.mpi:
        from fastnn.distributed import DataParallel

        dp = DataParallel()
        reduce, spent = dp.allreduce_, [0.0, 0]

        def timed(buf):  # the gradients' all-reduce, timed apart from the step's other work
            t0 = time.perf_counter()
            out = reduce(buf)
            spent[0] += time.perf_counter() - t0
            spent[1] += 1
            return out

        dp.allreduce_ = timed
    seconds, reduce_seconds = [], []
    for _ in range(args.epochs):
        if dp is not None:
            dp.comm.Barrier()
            spent[:] = [0.0, 0]
        t0 = time.perf_counter()
        model.fit(X, y, epochs=1, batch_size=args.batch, n_threads=args.threads, verbose=0, distribute=dp)
        seconds.append(time.perf_counter() - t0)
        if dp is not None:
            reduce_seconds.append(spent[0] / spent[1])
    result = {"epoch": min(seconds), "steps": -(-len(X) // args.batch), "params": model.n_params}
    if dp is not None:
        everyone = dp.comm.gather(result | {"reduce": min(reduce_seconds)}, root=0)
        if dp.rank != 0:
            return
        result["reduce"] = max(r["reduce"] for r in everyone)  # the slower rank's wait bounds the step
        result["ranks"] = dp.size
    print(json.dumps(result))


def _launch(extra, mpi_ranks=0):
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    cmd = [sys.executable, __file__, "--worker"] + extra
    if mpi_ranks:
        cmd = [mpiexec, "-n", str(mpi_ranks)] + cmd + ["--mpi"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _allreduce_seconds(p, bytes_, bandwidth, latency):
    """A ring all-reduce of ``bytes_`` over ``p`` nodes: 2 (p - 1) messages of bytes / p each."""
    return 0.0 if p == 1 else 2 * (p - 1) / p * bytes_ / bandwidth + 2 * (p - 1) * latency


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (the fastest counts)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mpi", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=BATCH, help=argparse.SUPPRESS)
    parser.add_argument("--latency", type=float, default=5e-6,
                        help="network latency per message for the model, seconds (default: 5e-6)")
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    runs = {"one": [], "ranks": [], "small": []}
    for _ in range(args.repeats):  # interleaved: the machine's noise falls on both alike
        runs["one"].append(_launch(["--threads", "2", "--epochs", str(args.epochs)]))
        runs["ranks"].append(_launch(["--threads", "1", "--epochs", str(args.epochs)], mpi_ranks=2))
        runs["small"].append(_launch(["--threads", "2", "--epochs", str(args.epochs), "--batch", str(BATCH // 4)]))
    one = min(r["epoch"] for r in runs["one"])
    ranks = min(r["epoch"] for r in runs["ranks"])
    reduce = min(r["reduce"] for r in runs["ranks"])
    steps, n_params = runs["one"][0]["steps"], runs["one"][0]["params"]
    print(f"784-512-512-10 float32, 60,000 rows, global batch {BATCH}, {args.repeats} interleaved runs (minimum)")
    print(f"  1 process x 2 threads : {one:6.3f} s/epoch")
    print(f"  2 ranks x 1 thread    : {ranks:6.3f} s/epoch   speed {one / ranks:.2f}x the single process")
    step = ranks / steps
    print(f"  per step of the ranks : {step * 1e3:6.2f} ms, of which the all-reduce of {n_params * 4 / 1e6:.2f} MB "
          f"{reduce * 1e3:.2f} ms ({reduce / step:.0%})")
    # the model: a node computes a step of b rows in a + b c (fitted from batches 1024 and 256 at 2 threads)
    small = min(r["epoch"] for r in runs["small"]) / runs["small"][0]["steps"]
    big = one / steps
    c = (big - small) / (BATCH - BATCH // 4)
    a = max(big - BATCH * c, 0.0)
    bytes_ = n_params * 4
    print(f"\nmodel: a node's step of b rows takes {a * 1e3:.2f} ms + b x {c * 1e6:.2f} us; all-reduce of "
          f"{bytes_ / 1e6:.2f} MB; latency {args.latency * 1e6:g} us a message; 60,000 rows an epoch")
    print(f"{'nodes':>5} {'Gbit/s':>6} {'batch':>6} {'s/epoch':>8} {'speed-up':>8} {'efficiency':>10}")
    for bandwidth in (10e9 / 8, 100e9 / 8):
        for p in (1, 4, 16, 64):
            for batch in (1024, 8192):
                t = a + batch / p * c + _allreduce_seconds(p, bytes_, bandwidth, args.latency)
                epoch = t * -(-60000 // batch)
                single = (a + batch * c) * -(-60000 // batch)
                print(f"{p:>5} {bandwidth * 8 / 1e9:>6.0f} {batch:>6} {epoch:>8.3f} {single / epoch:>8.2f} "
                      f"{single / epoch / p:>10.0%}")
        for p in (4, 16, 64):  # the smallest global batch that keeps 80% efficiency (compute >= 4x the rest)
            need = _batch_for_efficiency(p, a, c, bytes_, bandwidth, args.latency, 0.8)
            print(f"  {bandwidth * 8 / 1e9:.0f} Gbit/s, {p} nodes: 80% efficiency from a global batch of "
                  f"{need:,} rows ({need // p:,} a node)")


def _batch_for_efficiency(p, a, c, bytes_, bandwidth, latency, target):
    """The smallest global batch B with (a + B c) / (p (a + B c / p + allreduce)) >= target."""
    r = _allreduce_seconds(p, bytes_, bandwidth, latency)
    # a + B c >= target p a + target B c + target p r  ->  B c (1 - target) >= target p (a + r) - a
    return max(1, int(np.ceil((target * p * (a + r) - a) / (c * (1 - target)))))


if __name__ == "__main__":
    main()
