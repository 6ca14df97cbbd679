"""fastnn on a busy machine: the default thread count beside one thread, and beside PyTorch, with another
CPU-bound process running (and on a quiet machine, for comparison).

    python benchmarks/under_load.py [--repeats 3] [--busy 1] [--conditions load quiet] [--json FILE]

Under load, ``--busy`` processes running ``while True: pass`` are started beside the work (and stopped at the
end). Three cases, each run by every implementation in turn, ``--repeats`` times, every run in a process of its
own (the table shows the minimum and the median of the repeats):

a. ``cli``: 2 epochs of the command line's default network on Fashion-MNIST (784-256-128-10 ReLU, softmax,
   SGD with Nesterov momentum 0.9 under a one-cycle schedule, batch 128, 54,000 training rows; random
   MNIST-shaped data when the dataset is not installed); PyTorch: the same network and optimizer.
b. ``digits``: ``fastnn.sklearn.MLPClassifier(random_state=0)`` fitted on scikit-learn's digits (1,797 x 64,
   standardised, until it stops by scikit-learn's rule); PyTorch: a 64-100-10 ReLU network trained with Adam
   (lr 1e-3, batch 200) for as many epochs as fastnn's fit took.
c. ``train_on_batch``: 10 calls of one update of a 4-64-64-2 ReLU network (Adam, Huber loss, 64 rows);
   PyTorch: ``zero_grad``, forward, ``HuberLoss``, ``backward``, ``step``.

Implementations: fastnn with its default ``n_threads`` (None) and with ``n_threads=1``; PyTorch at its default
thread count (``torch.get_num_threads()``, every core) and at one thread, when PyTorch is installed. The goal: under
load, fastnn's default is never more than 10% slower than one thread, and never slower than PyTorch.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402


# ---------------------------------------------------------------------------------------------------------------
# The cases: each returns {implementation name: a function that runs the case once}
# ---------------------------------------------------------------------------------------------------------------

def fashion_mnist():
    import fastnn

    try:
        (X, y), _ = fastnn.datasets.load_fashion_mnist(flatten=True, scale=True)
    except (OSError, ValueError):
        X, y = common.make_data()
    X = fastnn.StandardScaler().fit_transform(X).astype(np.float32)
    return np.ascontiguousarray(X[:54_000]), np.asarray(y[:54_000])


def torch_mlp(widths):
    """A PyTorch ReLU network of the given widths (no output activation), seeded."""
    import torch

    torch.manual_seed(0)
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def implementations(fastnn_run, torch_run, torch_threads):
    """The four runs of a case: fastnn at its default threads and at one, PyTorch at its default and at one."""
    impls = {"fastnn": fastnn_run(None), "fastnn 1 thread": fastnn_run(1)}
    if torch_threads:
        impls["torch"] = torch_run(torch_threads)
        impls["torch 1 thread"] = torch_run(1)
    return impls


def case_cli(torch_threads):
    import fastnn

    X, y = fashion_mnist()
    epochs, batch = 2, 128
    steps = epochs * -(-len(X) // batch)

    def fastnn_run(n_threads):
        def run():
            model = fastnn.Sequential(fastnn.Dense(784, 256, "relu"), fastnn.Dense(256, 128, "relu"),
                                      fastnn.Dense(128, 10, "softmax"), seed=0)
            model.compile("cross_entropy", fastnn.SGD(lr=fastnn.schedules.OneCycle(0.05, steps), momentum=0.9,
                                                      nesterov=True))
            model.fit(X, y, epochs=epochs, batch_size=batch, n_threads=n_threads, verbose=0)
        return run

    def torch_run(n_threads):
        import torch

        def run():
            net = torch_mlp([784, 256, 128, 10])
            opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=steps)
            epoch = common.torch_epoch(net, opt, torch.from_numpy(X), y, batch, n_threads, sched)
            for _ in range(epochs):
                epoch()
        return run

    return implementations(fastnn_run, torch_run, torch_threads)


def case_digits(torch_threads):
    from sklearn.datasets import load_digits

    import fastnn
    from fastnn.sklearn import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X = fastnn.StandardScaler().fit_transform(X).astype(np.float32)
    epochs = []

    def fastnn_run(n_threads):
        def run():
            clf = MLPClassifier(random_state=0, n_threads=n_threads).fit(X, y)
            epochs.append(clf.n_iter_)
        return run

    def torch_run(n_threads):
        import torch

        def run():
            net = torch_mlp([64, 100, 10])
            opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
            epoch = common.torch_epoch(net, opt, torch.from_numpy(X), y, 200, n_threads)
            for _ in range(max(epochs) if epochs else 200):
                epoch()
        return run

    return implementations(fastnn_run, torch_run, torch_threads)


def case_train_on_batch(torch_threads):
    import fastnn

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = rng.normal(size=(64, 2)).astype(np.float32)

    def fastnn_run(n_threads):
        model = fastnn.Sequential(fastnn.Dense(4, 64, "relu"), fastnn.Dense(64, 64, "relu"), fastnn.Dense(64, 2),
                                  seed=0)
        model.compile(loss="huber", optimizer=fastnn.Adam(lr=1e-3))

        def run():
            for _ in range(10):
                model.train_on_batch(x, y, n_threads=n_threads)
        return run

    def torch_run(n_threads):
        import torch

        net = torch_mlp([4, 64, 64, 2])
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        loss_fn = torch.nn.HuberLoss()
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def run():
            torch.set_num_threads(n_threads)
            for _ in range(10):
                opt.zero_grad(set_to_none=True)
                loss_fn(net(xt), yt).backward()
                opt.step()
        return run

    return implementations(fastnn_run, torch_run, torch_threads)


CASES = {"cli": case_cli, "digits": case_digits, "train_on_batch": case_train_on_batch}


# ---------------------------------------------------------------------------------------------------------------
# Load and timing
# ---------------------------------------------------------------------------------------------------------------

class BusyProcesses:
    """``n`` processes spinning ``while True: pass`` for the duration of the block."""

    def __init__(self, n):
        self.n, self.procs = n, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)]
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def run_once(case, name, torch_threads):
    """Seconds of one run of implementation ``name`` of ``case`` in this process (after a warm-up run for the
    case whose runs reuse a model)."""
    run = CASES[case](torch_threads if name.startswith("torch") else 0)[name]  # no PyTorch in fastnn's runs
    if case == "train_on_batch":
        run()
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def time_rounds(case, names, repeats, torch_threads, settle=0.2):
    """Seconds of each implementation's runs, every implementation in turn, ``repeats`` rounds. Each run is a
    process of its own: threads one library leaves behind (PyTorch's OpenMP workers spin after their work)
    would otherwise load the machine for the next one."""
    times = {name: [] for name in names}
    for _ in range(repeats):
        for name in names:
            time.sleep(settle)
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--run", case, name,
                                  "--torch-threads", str(torch_threads)], capture_output=True, text=True, check=True)
            times[name].append(float(out.stdout.strip().splitlines()[-1]))
    return times


def fmt(seconds):
    return f"{seconds * 1e3:.2f} ms" if seconds < 0.1 else f"{seconds:.2f} s"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", type=int, default=1, help="busy processes beside the work under load")
    parser.add_argument("--conditions", nargs="+", choices=["load", "quiet"], default=["load", "quiet"])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when installed")
    parser.add_argument("--json", help="write the records to this file")
    parser.add_argument("--run", nargs=2, metavar=("CASE", "IMPLEMENTATION"), help=argparse.SUPPRESS)
    parser.add_argument("--torch-threads", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:  # one timed run, in a process of its own (see time_rounds)
        print(run_once(*args.run, args.torch_threads))
        return

    import fastnn

    torch_threads = 0
    if not args.no_torch and common.available("torch"):
        import torch

        torch_threads = torch.get_num_threads()
    from fastnn._core.threads import resolve_n_threads

    print(f"machine: {common.machine()}, {os.cpu_count()} cores; fastnn default n_threads: "
          f"{resolve_n_threads(None)}; PyTorch: {torch.__version__ + f' ({torch_threads} threads)' if torch_threads else 'not installed'}")
    print(f"BLAS: {common.blas_library()}")
    records = []
    for condition in args.conditions:
        header = (f"{condition}: " + (f"{args.busy} busy process(es) beside the work" if condition == "load"
                                      else "nothing else running") + f"; minimum (median) of {args.repeats} runs")
        print(f"\n{header}")
        names = ["fastnn", "fastnn 1 thread"] + (["torch", "torch 1 thread"] if torch_threads else [])
        print(f"{'case':<16}" + "".join(f"{n:>22}" for n in names) + f"{'default/1 thread':>18}"
              + (f"{'torch/fastnn':>14}" if torch_threads else ""))
        for case in args.cases:
            with BusyProcesses(args.busy if condition == "load" else 0):
                times = time_rounds(case, names, args.repeats, torch_threads)
            best = {n: min(t) for n, t in times.items()}
            med = {n: statistics.median(t) for n, t in times.items()}
            row = f"{case:<16}" + "".join(f"{fmt(best[n]) + ' (' + fmt(med[n]) + ')':>22}" for n in names)
            row += f"{best['fastnn'] / best['fastnn 1 thread']:>17.2f}x"
            if torch_threads:
                row += f"{best['torch'] / best['fastnn']:>13.2f}x"
            print(row, flush=True)
            records.append({"condition": condition, "case": case, "times": times})
    print("\ndefault/1 thread: fastnn's default over its one-thread time (at most 1.10 is the goal under load); "
          "torch/fastnn: PyTorch's default over fastnn's (above 1: fastnn is faster)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": common.machine(), "busy": args.busy, "records": records}, f, indent=1)


if __name__ == "__main__":
    main()
