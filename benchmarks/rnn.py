"""Recurrent networks: fastnn's LSTM and GRU beside PyTorch's and the GEMM floor, interleaved in one run.

    python benchmarks/rnn.py [--threads 1 2] [--repeats 3] [--samples 10000] [--json FILE]
    python benchmarks/rnn.py --learn 5 [--threads 2]   the LSTM on all of Fashion-MNIST, beside PyTorch

Row-sequential Fashion-MNIST (each image read as 28 steps of 28 pixels; random MNIST-shaped data when the dataset
is not installed): ``LSTM(28, 128)`` (or ``GRU``) then ``Dense(128, 10)`` softmax, cross-entropy, Adam (lr 1e-3),
batch 128, float32. The table shows seconds per epoch of ``--samples`` images (the minimum over ``--repeats``
rounds, the implementations taking turns each round), at each thread count:

* fastnn: ``model.fit(X, y, epochs=1, batch_size=128, n_threads=n)``;
* PyTorch: ``nn.LSTM``/``nn.GRU`` (batch first) and ``nn.Linear``, ``zero_grad``, forward, ``cross_entropy``,
  ``backward``, ``step``, at ``torch.set_num_threads(n)``;
* floor: the matrix products a training step needs, timed alone through NumPy's OpenBLAS at n threads - the
  input's product for every step, one product with ``W_hh`` a step forward and one a step backward, the two
  weight-gradient products over every row and step (and the output layer's three) - with nothing else.

Ratios: ``torch/fastnn`` above 1 means fastnn is faster; ``fastnn/floor`` is how far fastnn stays from the
products alone.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

T = F = 28
H, K, BATCH = 128, 10, 128
GATES = {"LSTM": 4, "GRU": 3}


def load(n):
    import fastnn

    try:
        (X, y), _ = fastnn.datasets.load_fashion_mnist(scale=True)
        source = "Fashion-MNIST"
    except Exception:  # not installed: the same shapes at random
        X, y = common.make_data(n)
        X = X.reshape(-1, T, F)
        source = "random MNIST-shaped data"
    return np.ascontiguousarray(X[:n], dtype=np.float32).reshape(n, T, F), np.asarray(y[:n]), source


def fastnn_epoch(cell, X, y):
    import fastnn

    model = fastnn.Sequential([getattr(fastnn, cell)(F, H), fastnn.Dense(H, K, "softmax")], input_shape=(T, F),
                              seed=0)
    model.compile("cross_entropy", fastnn.Adam(1e-3))

    def run(n_threads):
        model.fit(X, y, epochs=1, batch_size=BATCH, shuffle=False, n_threads=n_threads, verbose=0)
    return run


def torch_epoch(cell, X, y):
    import torch

    rnn = getattr(torch.nn, cell)(F, H, batch_first=True)
    head = torch.nn.Linear(H, K)
    opt = torch.optim.Adam(list(rnn.parameters()) + list(head.parameters()), 1e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))

    def run(n_threads):
        torch.set_num_threads(n_threads)
        for i in range(0, len(Xt), BATCH):
            opt.zero_grad()
            out, _ = rnn(Xt[i:i + BATCH])
            loss = torch.nn.functional.cross_entropy(head(out[:, -1]), yt[i:i + BATCH])
            loss.backward()
            opt.step()
    return run


def floor_epoch(cell, n):
    """The products of one epoch, alone, through NumPy (the caller sets BLAS's thread count)."""
    G = GATES[cell] * H
    rng = np.random.default_rng(0)
    f32 = np.float32
    x = rng.random((BATCH * T, F), dtype=f32)
    W_ih, W_hh, W_o = rng.random((G, F), dtype=f32), rng.random((G, H), dtype=f32), rng.random((K, H), dtype=f32)
    gates, gates_t = np.empty((BATCH * T, G), f32), np.empty((BATCH, G), f32)
    h, dh, dg = rng.random((BATCH, H), dtype=f32), np.empty((BATCH, H), f32), rng.random((BATCH * T, G), dtype=f32)
    hs = rng.random((BATCH * T, H), dtype=f32)
    d_ih, d_hh = np.empty((G, F), f32), np.empty((G, H), f32)
    out, d_out, d_wo = np.empty((BATCH, K), f32), rng.random((BATCH, K), dtype=f32), np.empty((K, H), f32)

    def run(n_threads):
        for _ in range(-(-n // BATCH)):
            np.matmul(x, W_ih.T, out=gates)
            for _ in range(T):
                np.matmul(h, W_hh.T, out=gates_t)
            np.matmul(h, W_o.T, out=out)
            np.matmul(d_out, W_o, out=dh)
            np.matmul(d_out.T, h, out=d_wo)
            for _ in range(T - 1):
                np.matmul(gates_t, W_hh, out=dh)
            np.matmul(dg.T, x, out=d_ih)
            np.matmul(dg.T, hs, out=d_hh)
    return run


def learn(epochs, n_threads):
    import fastnn

    model = fastnn.Sequential([fastnn.LSTM(F, H), fastnn.Dense(H, K, "softmax")], input_shape=(T, F), seed=0)
    model.compile("cross_entropy", fastnn.Adam(1e-3, clipnorm=1.0))
    torch_model = None
    if common.available("torch"):
        import torch

        class Last(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn, self.head = torch.nn.LSTM(F, H, batch_first=True), torch.nn.Linear(H, K)

            def forward(self, x):
                return self.head(self.rnn(x)[0][:, -1])

        torch.manual_seed(0)
        torch_model = Last()
    print(f"LSTM({F}, {H}) -> Dense({H}, {K}) on Fashion-MNIST, {n_threads} thread{'s' if n_threads > 1 else ''}")
    common.learn_fashion_mnist(model, torch_model, epochs, n_threads, clipnorm=1.0, shape=(-1, T, F))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--cells", nargs="+", default=["LSTM", "GRU"], choices=list(GATES))
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--learn", type=int, metavar="EPOCHS",
                        help="instead: train LSTM(28, 128) (Adam 1e-3, clipnorm 1) on all of Fashion-MNIST for "
                             "EPOCHS epochs, beside PyTorch, and report test accuracy and training time")
    args = parser.parse_args(argv)
    if args.learn:
        return learn(args.learn, args.threads[-1])
    X, y, source = load(args.samples)
    has_torch = common.available("torch")
    print(f"machine: {common.machine()}; data: {source}, {args.samples:,} images as {T} steps of {F} pixels")
    print(f"BLAS: {common.blas_library()}")
    if has_torch:
        import torch
        print(f"PyTorch {torch.__version__}")
    rows, results = [], {}
    for cell in args.cells:
        impls = {"fastnn": fastnn_epoch(cell, X, y), "floor": floor_epoch(cell, args.samples)}
        if has_torch:
            impls["torch"] = torch_epoch(cell, X, y)
        for nt in args.threads:
            best = dict.fromkeys(impls, float("inf"))
            for name, run in impls.items():  # warm-up: workspaces, thread pools
                with common.blas_threads(nt if name == "floor" else 1):
                    run(nt)
            for _ in range(args.repeats):
                for name, run in impls.items():
                    time.sleep(0.2)
                    with common.blas_threads(nt if name == "floor" else 1):
                        t0 = time.perf_counter()
                        run(nt)
                        best[name] = min(best[name], time.perf_counter() - t0)
            results[f"{cell}/{nt}"] = best
            torch_ratio = f"{best['torch'] / best['fastnn']:.2f}x" if has_torch else "-"
            rows.append((f"{cell}(28, 128), {nt} thread{'s' if nt > 1 else ''}", f"{best['fastnn']:.2f} s",
                         f"{best['torch']:.2f} s" if has_torch else "-", f"{best['floor']:.2f} s", torch_ratio,
                         f"{best['fastnn'] / best['floor']:.2f}x"))
    header = ("network", "fastnn", "torch", "floor", "torch/fastnn", "fastnn/floor")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    print(f"seconds per epoch of {args.samples:,} images, batch {BATCH}, Adam, float32; minimum of {args.repeats} "
          "interleaved rounds")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
