"""Peak memory of ``fastnn train --dataset fashion-mnist`` beside the size of its data.

    python benchmarks/cli_memory.py [--dataset fashion-mnist] [--epochs 1] [--hidden 512 256] [--json FILE]

Runs the command line in a child process and reads that child's peak resident set size (``ru_maxrss`` from
``wait4``), and, for reference, the peak of a child that only imports fastnn and loads the dataset. The data is
60,000 + 10,000 images of 784 uint8 pixels (55 MB; 220 MB as float32): a run that converts it once to float32
should peak near the baseline plus the float32 copy, not at several float64 copies.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

MB = 1e6


def peak_rss(argv):
    """Peak resident set size in bytes of a child process running ``argv`` (which must succeed)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed with status {proc.returncode}:\n{err.read().decode()}")
    return usage.ru_maxrss * 1024  # kilobytes on Linux


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--hidden", type=int, nargs="*", default=[512, 256])
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    from fastnn import datasets

    loader = datasets.load_mnist if args.dataset == "mnist" else datasets.load_fashion_mnist
    (Xtr, _), (Xte, _) = loader(verbose=False)
    pixels = Xtr.size + Xte.size
    baseline = peak_rss([sys.executable, "-c", f"import fastnn; fastnn.datasets.{loader.__name__}(verbose=False)"])
    command = [sys.executable, "-m", "fastnn", "train", "--dataset", args.dataset, "--epochs", str(args.epochs),
               "--quiet", "--hidden", *map(str, args.hidden)]
    peak = peak_rss(command)
    record = {"dataset": args.dataset, "epochs": args.epochs, "hidden": args.hidden, "data_uint8_bytes": pixels,
              "data_float32_bytes": pixels * 4, "baseline_peak_rss_bytes": baseline, "cli_peak_rss_bytes": peak}
    print(f"fastnn train --dataset {args.dataset} --epochs {args.epochs} --hidden "
          f"{' '.join(map(str, args.hidden))}")
    print(f"data:                        {pixels / MB:7.1f} MB uint8, {pixels * 4 / MB:7.1f} MB as float32")
    print(f"peak RSS, import + load:     {baseline / MB:7.1f} MB")
    print(f"peak RSS, fastnn train:      {peak / MB:7.1f} MB  ({(peak - baseline) / (pixels * 4):.2f}x the "
          "float32 data above the baseline)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)
    return record


if __name__ == "__main__":
    main()
