"""Seconds per training epoch: fastnn, pure NumPy, the GEMM floor, and PyTorch / scikit-learn when importable.

    python benchmarks/compare.py [--threads 1 2] [--epochs 3] [--json FILE] [--no-others]

For each configuration (784-128-10 at batch 64 and 784-512-512-10 at batch 128, float32, 60,000 MNIST-shaped
samples) and thread count, every implementation trains for ``--epochs`` epochs. One table per thread count shows,
per configuration, the minimum seconds per epoch of each implementation and its ratio to the GEMM floor (the same
matrix products timed alone through numpy/OpenBLAS at the same thread count) and, for fastnn, the speed-up over
NumPy; the tables fit in 100 columns. All figures come from one run; compare ratios, not absolute times, across
machines.
"""
import argparse
import json
import os
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

WIDTH = 100  # columns of the output


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per implementation (minimum is reported)")
    parser.add_argument("--configs", nargs="+", default=list(common.CONFIGS), choices=list(common.CONFIGS))
    parser.add_argument("--samples", type=int, default=common.N_SAMPLES)
    parser.add_argument("--json", metavar="FILE", help="also write the records as JSON")
    parser.add_argument("--no-others", action="store_true", help="skip PyTorch and scikit-learn")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")

    X, y = common.make_data(args.samples)
    impls = ["fastnn", "numpy"]
    if not args.no_others:
        impls += [name for name, module in (("torch", "torch"), ("sklearn", "sklearn")) if common.available(module)]
    import fastnn

    print(f"fastnn {fastnn.__version__}; {common.machine()}")
    print(textwrap.fill(f"BLAS: {common.blas_library()}", WIDTH, subsequent_indent="  "))
    print(f"{args.samples} samples, float32, minimum of {args.epochs} epochs, implementations interleaved")
    records = []
    for nt in args.threads:
        print(f"\n{nt} thread{'s' if nt > 1 else ''}")
        header = f"{'config':<20}{'floor':>8}" + "".join(f"{name:>14}" for name in impls) + f"{'vs numpy':>10}"
        print(header)
        print("-" * len(header))
        for name in args.configs:
            widths, batch = common.CONFIGS[name]
            trainers = {impl: common.TRAINERS[impl](widths, batch, X, y, nt) for impl in impls}
            best = common.time_interleaved(
                trainers, args.epochs, floor=lambda: common.floor_epoch(widths, batch, nt, n_samples=args.samples))
            floor = best["floor"]
            row = {"config": name, "threads": nt, "samples": args.samples, "blas": common.blas_library(), **best}
            records.append(row)
            cells = "".join(f"{row[impl]:>7.3f}s{row[impl] / floor:>5.2f}x" for impl in impls)
            print(f"{name:<20}{floor:>7.3f}s{cells}{row['numpy'] / row['fastnn']:>9.2f}x", flush=True)
    print("each cell: seconds per epoch and ratio to the GEMM floor (lower is better)\n"
          "vs numpy: fastnn's speed-up over NumPy")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=2)
    return records


if __name__ == "__main__":
    main()
