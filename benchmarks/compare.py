"""Seconds per training epoch: fastnn, pure NumPy, the GEMM floor, and PyTorch / scikit-learn when importable.

    python benchmarks/compare.py [--threads 1 2] [--epochs 3] [--json FILE] [--no-others]

For each configuration (784-128-10 at batch 64 and 784-512-512-10 at batch 128, float32, 60,000 MNIST-shaped
samples) and thread count, every implementation trains for ``--epochs`` epochs and the table shows the minimum
seconds per epoch, its ratio to the GEMM floor (the same matrix products timed alone through numpy/OpenBLAS at
the same thread count) and, for fastnn, the speed-up over NumPy. All figures come from one run; compare ratios,
not absolute times, across machines.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402


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

    print(f"fastnn {fastnn.__version__}; BLAS: {common.blas_library()}; {common.machine()}; "
          f"{args.samples} samples, float32, min of {args.epochs} epochs, implementations interleaved")
    records = []
    header = f"{'config':<22}{'thr':>4}{'floor':>8}" + "".join(f"{name:>16}" for name in impls) + \
             f"{'fastnn vs numpy':>17}"
    print(header)
    print("-" * len(header))
    for name in args.configs:
        widths, batch = common.CONFIGS[name]
        for nt in args.threads:
            trainers = {impl: common.TRAINERS[impl](widths, batch, X, y, nt) for impl in impls}
            best = common.time_interleaved(
                trainers, args.epochs, floor=lambda: common.floor_epoch(widths, batch, nt, n_samples=args.samples))
            floor = best["floor"]
            row = {"config": name, "threads": nt, "samples": args.samples, "blas": common.blas_library(), **best}
            records.append(row)
            cells = "".join(f"{row[impl]:>8.3f}s {row[impl] / floor:>5.2f}x" for impl in impls)
            print(f"{name:<22}{nt:>4}{floor:>7.3f}s{cells}{row['numpy'] / row['fastnn']:>16.2f}x", flush=True)
    print("each cell: seconds per epoch and ratio to the GEMM floor (lower is better)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=2)
    return records


if __name__ == "__main__":
    main()
