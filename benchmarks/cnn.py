"""Seconds per training epoch of a small convolutional network: fastnn beside PyTorch (CPU) when importable.

    python benchmarks/cnn.py [--network keras batchnorm] [--threads 1 2] [--epochs 2] [--samples 60000] [--json FILE]

The networks: ``keras``, Reshape (1, 28, 28), Conv2D 1->32 3x3 ReLU, MaxPool2D 2, Conv2D 32->64 3x3 ReLU,
MaxPool2D 2, Flatten, Dropout 0.5, Dense 1600->10 softmax; ``batchnorm``, Conv2D 1->32 3x3, BatchNorm2d ReLU,
MaxPool2D 2, Conv2D 32->64 3x3, BatchNorm2d ReLU, MaxPool2D 2, Flatten, Dense 1600->10 softmax. Cross-entropy,
Adam(1e-3), batch 128, float32, on MNIST-shaped random data. For each thread count every implementation trains ``--epochs`` epochs, interleaved (one epoch of
each in turn, so that all see the same machine noise); the table shows the minimum seconds per epoch, the
seconds per 10,000 images and fastnn's speed-up over PyTorch at that thread count.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

BATCH = 128


def fastnn_layers(network):
    """The fastnn layers of ``network`` (the first a Reshape to one-channel 28 x 28 images)."""
    import fastnn

    if network == "keras":
        layers = [fastnn.Reshape((1, 28, 28)),
                  fastnn.Conv2D(1, 32, kernel_size=3, activation="relu"), fastnn.MaxPool2D(2),
                  fastnn.Conv2D(32, 64, kernel_size=3, activation="relu"), fastnn.MaxPool2D(2),
                  fastnn.Flatten(), fastnn.Dropout(0.5), fastnn.Dense(1600, 10, activation="softmax")]
    else:
        layers = [fastnn.Reshape((1, 28, 28)),
                  fastnn.Conv2D(1, 32, kernel_size=3), fastnn.BatchNorm2d(32, activation="relu"), fastnn.MaxPool2D(2),
                  fastnn.Conv2D(32, 64, kernel_size=3), fastnn.BatchNorm2d(64, activation="relu"), fastnn.MaxPool2D(2),
                  fastnn.Flatten(), fastnn.Dense(1600, 10, activation="softmax")]
    return layers


def fastnn_trainer(X, y, n_threads, network="keras"):
    import fastnn

    model = fastnn.Sequential(fastnn_layers(network), seed=0)
    model.compile("cross_entropy", fastnn.Adam(1e-3))

    def epoch():
        model.fit(X, y, epochs=1, batch_size=BATCH, n_threads=n_threads, verbose=0)
    return epoch


def torch_network(network):
    import torch
    nn = torch.nn

    if network == "keras":
        model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))
    else:
        model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(1600, 10))
    return model


def torch_trainer(X, y, n_threads, network="keras"):
    import torch

    torch.manual_seed(0)
    model = torch_network(network)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return common.torch_epoch(model, opt, torch.from_numpy(X).reshape(-1, 1, 28, 28), y, BATCH, n_threads)


def _models(network):
    """The fastnn model (compiled, declared input) and, when PyTorch is importable, its PyTorch twin."""
    import fastnn

    layers = fastnn_layers(network)
    model = fastnn.Sequential(layers[1:], input_shape=(1, 28, 28), seed=0)
    model.compile("cross_entropy", fastnn.Adam(1e-3))
    torch_model = None
    if common.available("torch"):
        import torch

        torch.manual_seed(0)
        torch_model = torch_network(network)
    return model, torch_model


def learn_or_measure(args):
    network = args.network[0]
    model, torch_model = _models(network)
    if args.predict_memory:
        import tracemalloc

        import numpy as np

        import fastnn.training.blocks as blocks

        rng = np.random.default_rng(0)
        X = rng.random((4096, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, 4096)
        tracemalloc.start()
        model.predict(X, batch_size=4096)
        print(f"{network}: predict of 4,096 images, batch_size=4096: traced peak "
              f"{tracemalloc.get_traced_memory()[1] / 2 ** 20:.0f} MB")
        tracemalloc.stop()
        for budget, label in ((blocks.TRAINING_MEMORY, "in blocks"), (1 << 40, "in one piece")):
            blocks.TRAINING_MEMORY = budget
            model, _ = _models(network)
            rows = blocks.training_block(model, 4096) or 4096
            tracemalloc.start()
            model.fit(X, y, batch_size=4096, epochs=1, verbose=0)
            print(f"{network}: fit on 4,096 images, batch_size=4096, {label} ({rows} rows): traced peak "
                  f"{tracemalloc.get_traced_memory()[1] / 2 ** 20:.0f} MB")
            tracemalloc.stop()
        return
    print(f"{network} network on Fashion-MNIST, {args.threads[-1]} thread{'s' if args.threads[-1] > 1 else ''}")
    common.learn_fashion_mnist(model, torch_model, args.learn, args.threads[-1], shape=(-1, 1, 28, 28))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--network", nargs="+", default=["keras"], choices=["keras", "batchnorm"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=2, help="epochs per implementation (minimum is reported)")
    parser.add_argument("--samples", type=int, default=common.N_SAMPLES)
    parser.add_argument("--json", metavar="FILE", help="also write the records as JSON")
    parser.add_argument("--no-others", action="store_true", help="skip PyTorch")
    parser.add_argument("--learn", type=int, metavar="EPOCHS",
                        help="instead: train the first --network on all of Fashion-MNIST for EPOCHS epochs, beside "
                             "PyTorch, at the last --threads, and report test accuracy and training time")
    parser.add_argument("--predict-memory", action="store_true",
                        help="instead: the traced peak memory of predicting 4,096 images with the first --network, "
                             "and of fitting them at batch_size=4096 (in blocks of rows, and in one piece)")
    args = parser.parse_args(argv)
    if args.learn or args.predict_memory:
        return learn_or_measure(args)
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    import fastnn

    X, y = common.make_data(args.samples)
    impls = {"fastnn": fastnn_trainer}
    if not args.no_others and common.available("torch"):
        impls["torch"] = torch_trainer
    print(f"fastnn {fastnn.__version__}; {common.machine()}")
    print(f"BLAS: {common.blas_library()}")
    print(f"batch {BATCH}, Adam, {args.samples} samples, float32, minimum of {args.epochs} epochs, implementations "
          "interleaved")
    header = f"{'network':<11}{'threads':<9}" + "".join(f"{name + ' s/epoch':>16}{'s/10k':>8}" for name in impls)
    header += f"{'fastnn vs torch':>17}" if "torch" in impls else ""
    print(header)
    print("-" * len(header))
    records = []
    for network in args.network:
        for nt in args.threads:
            best = common.time_interleaved({name: make(X, y, nt, network) for name, make in impls.items()},
                                           args.epochs)
            row = {"network": network, "threads": nt, "samples": args.samples, "blas": common.blas_library(), **best}
            records.append(row)
            line = f"{network:<11}{nt:<9}" + "".join(f"{best[name]:>16.2f}{best[name] * 1e4 / args.samples:>8.2f}"
                                                     for name in impls)
            if "torch" in impls:
                line += f"{best['torch'] / best['fastnn']:>16.2f}x"
            print(line, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()
