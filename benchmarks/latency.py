"""Per-call latency of small work: fastnn beside PyTorch (and NumPy), interleaved, minimum of repeats.

    python benchmarks/latency.py [--threads 2] [--repeats 30] [--json FILE]

Three cases, each timed as blocks of calls (the block's time divided by its calls), the implementations of a
case taking turns block by block so that they see the same machine noise; the table shows each one's minimum
over ``--repeats`` blocks and its ratio to fastnn (above 1: fastnn is faster).

1. ``train_on_batch``: one update of a 4-64-64-2 ReLU network (identity output) with Adam (lr 1e-3) and the
   Huber loss, on 64 float32 rows; PyTorch: ``zero_grad``, forward, ``HuberLoss``, ``backward``, ``step`` on
   the same network.
2. ``predict`` of one float32 row through 784-512-512-10 (ReLU, softmax); PyTorch: ``net(x)`` under
   ``torch.no_grad()`` with a softmax.
3. ``predict`` of 10,000 rows through the same network; NumPy: three products with bias, ReLU and softmax
   (``common.NumpyMLP.predict``), BLAS at ``--threads``; PyTorch as in 2.

All implementations start from the same weights; their results are checked against each other outside the
timed calls. PyTorch runs at ``torch.set_num_threads(--threads)``, fastnn with ``n_threads=--threads`` (the
single-row ``predict`` takes its fast path, ``n_threads=None``, which is every core: 2 on this machine).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402


def time_interleaved(impls, calls, repeats, settle=0.05):
    """Minimum seconds per call of each implementation: ``repeats`` rounds, each timing a block of ``calls``
    calls of every implementation in turn."""
    best = {name: float("inf") for name in impls}
    for fn in impls.values():  # warm up: workspaces, thread pools, caches
        for _ in range(max(3, calls // 10)):
            fn()
    for _ in range(repeats):
        for name, fn in impls.items():
            time.sleep(settle)  # let the previous implementation's spinning threads go idle
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / calls)
    return best


def torch_net(model):
    """A PyTorch copy of a fastnn model's Dense layers (ReLU between them, no output activation)."""
    import torch

    layers = []
    for i, layer in enumerate(model._dense):
        lin = torch.nn.Linear(layer.in_features, layer.out_features)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.array(layer.weight, dtype=np.float32)))
            lin.bias.copy_(torch.from_numpy(np.array(layer.bias, dtype=np.float32)))
        layers.append(lin)
        if i < len(model._dense) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def case_train_on_batch(nt, repeats):
    import torch
    import fastnn

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = rng.normal(size=(64, 2)).astype(np.float32)
    model = fastnn.Sequential(fastnn.Dense(4, 64, "relu"), fastnn.Dense(64, 64, "relu"), fastnn.Dense(64, 2),
                              seed=0)
    model.compile(loss="huber", optimizer=fastnn.Adam(lr=1e-3))
    net = torch_net(model)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.HuberLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def torch_step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xt), yt)
        loss.backward()
        opt.step()
        return loss

    # the same first loss and, after a few steps, the same weights
    for _ in range(5):
        a = model.train_on_batch(x, y, n_threads=nt)
        b = torch_step().item()
        assert abs(a - b) <= 1e-5 * max(1.0, abs(b)), (a, b)
    np.testing.assert_allclose(model._dense[0].weight, net[0].weight.detach().numpy(), rtol=1e-4, atol=1e-5)

    return time_interleaved({"fastnn": lambda: model.train_on_batch(x, y, n_threads=nt), "torch": torch_step},
                            calls=200, repeats=repeats)


def big_model():
    import fastnn

    widths = [784, 512, 512, 10]
    layers = [fastnn.Dense(a, b, "relu") for a, b in zip(widths[:-2], widths[1:-1])]
    layers.append(fastnn.Dense(widths[-2], widths[-1], "softmax"))
    model = fastnn.Sequential(layers, seed=0, dtype="float32").compile("cross_entropy")
    ref = common.NumpyMLP(widths, 128)
    ref.params = model.get_weights()
    return model, ref, torch_net(model)


def case_predict_one(nt, repeats):
    import torch

    model, ref, net = big_model()
    x = np.random.default_rng(1).random((1, 784), dtype=np.float32)
    xt = torch.from_numpy(x)

    def torch_predict():
        with torch.no_grad():
            return torch.softmax(net(xt), dim=1)

    np.testing.assert_allclose(model.predict(x), ref.predict(x), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(torch_predict().numpy(), ref.predict(x), rtol=1e-4, atol=1e-6)
    return time_interleaved({"fastnn": lambda: model.predict(x), "torch": torch_predict}, calls=200,
                            repeats=repeats)


def case_predict_10k(nt, repeats):
    import torch

    model, ref, net = big_model()
    X = np.random.default_rng(2).random((10_000, 784), dtype=np.float32)
    Xt = torch.from_numpy(X)

    def torch_predict():
        with torch.no_grad():
            return torch.softmax(net(Xt), dim=1)

    def numpy_predict():
        with common.blas_threads(nt):
            return ref.predict(X)

    expected = numpy_predict()
    np.testing.assert_allclose(model.predict(X, n_threads=nt), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(torch_predict().numpy(), expected, rtol=1e-4, atol=1e-6)
    return time_interleaved({"fastnn": lambda: model.predict(X, n_threads=nt), "numpy": numpy_predict,
                             "torch": torch_predict}, calls=3, repeats=max(5, repeats // 3), settle=0.3)


CASES = [
    ("train_on_batch 64 x 4-64-64-2, Adam, Huber", case_train_on_batch, ">= 10x faster than torch"),
    ("predict 1 row, 784-512-512-10", case_predict_one, ">= 3x faster than torch"),
    ("predict 10,000 rows, 784-512-512-10", case_predict_10k, "at least as fast as numpy"),
]


def fmt(seconds):
    return f"{seconds * 1e6:,.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:,.2f} ms"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30, help="blocks of calls per implementation")
    parser.add_argument("--json", metavar="FILE", help="also write the records as JSON")
    args = parser.parse_args(argv)

    import torch
    import fastnn

    torch.set_num_threads(args.threads)
    print(f"fastnn {fastnn.__version__}, torch {torch.__version__}, numpy {np.__version__}; {common.machine()}")
    print(f"BLAS: {common.blas_library()}")
    print(f"{args.threads} threads (torch.set_num_threads({args.threads})), float32, minimum of {args.repeats} "
          "interleaved blocks\n")
    header = f"{'case':<44}{'fastnn':>12}{'numpy':>12}{'torch':>12}{'numpy/fastnn':>14}{'torch/fastnn':>14}"
    print(header)
    print("-" * len(header))
    records = []
    for name, case, target in CASES:
        best = case(args.threads, args.repeats)
        cells = "".join(f"{fmt(best[k]) if k in best else '-':>12}" for k in ("fastnn", "numpy", "torch"))
        ratios = "".join(f"{best[k] / best['fastnn']:>13.2f}x" if k in best else f"{'-':>14}"
                         for k in ("numpy", "torch"))
        print(f"{name:<44}{cells}{ratios}", flush=True)
        records.append({"case": name, "target": target, "threads": args.threads, **best})
    print("\nratios above 1: fastnn is faster. Targets: " +
          "; ".join(f"({i + 1}) {r['target']}" for i, r in enumerate(records)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=2)
    return records


if __name__ == "__main__":
    main()
