"""Time to accuracy: the learning curve of a ``fastnn train`` recipe against training seconds.

    python benchmarks/time_to_accuracy.py [--target 0.89] [--threads 2] [--plot FILE] [fastnn train options]

Trains exactly as ``fastnn train --dataset fashion-mnist`` does with the given options (default: the command's
own defaults), scoring the 10,000-image test set after every epoch. The scoring runs outside the epoch's timed
seconds, so the cumulative seconds are the ones the command reports ("trained N epochs in Xs": the sum of the
epoch times, each including its validation pass). Prints a table of epoch, epoch seconds, cumulative training
seconds, validation and test accuracy, then when the test accuracy first reached ``--target``. ``--plot FILE``
also draws test accuracy against cumulative seconds (needs matplotlib).

Examples::

    python benchmarks/time_to_accuracy.py
    python benchmarks/time_to_accuracy.py --seed 1
    python benchmarks/time_to_accuracy.py --plot curve.png
    # the earlier defaults: a constant rate, classical momentum, a wider network, 15 epochs of batch 64
    python benchmarks/time_to_accuracy.py --schedule none --no-nesterov --hidden 512 256 --batch-size 64 --epochs 15

With a --schedule the rate depends on the number of epochs, so the accuracy after epoch k of a 10-epoch run is
not what ``--epochs k`` would give; without one it is.
"""
import argparse
import io
import os
import sys

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.strip().splitlines()[0],
        epilog="Any other option goes to 'fastnn train' (see fastnn train --help); --dataset defaults to "
               "fashion-mnist.")
    parser.add_argument("--target", type=float, default=0.89, help="test accuracy to reach (default: 0.89)")
    parser.add_argument("--threads", type=int, default=2, help="threads to train with (default: 2)")
    parser.add_argument("--plot", metavar="FILE", help="also draw test accuracy against training seconds")
    args, recipe = parser.parse_known_args(argv)
    if not any(a in ("--dataset", "--data") or a.startswith(("--dataset=", "--data=")) for a in recipe):
        recipe = ["--dataset", "fashion-mnist"] + recipe

    import fastnn
    from fastnn import cli
    from fastnn.cli import train

    train_parser = cli.build_parser()
    train_args = train_parser.parse_args(["train", *recipe, "--threads", str(args.threads), "--quiet"])
    train.check_recipe(train_parser, train_args)
    if train_args.task != "classification":
        parser.error("time to accuracy needs a classification task")

    rows = []

    def score(model, epoch, logs, X_test, y_test):
        acc = model.evaluate(X_test, y_test, n_threads=args.threads)["accuracy"]
        total = (rows[-1][2] if rows else 0.0) + logs["seconds"]
        rows.append((epoch + 1, logs["seconds"], total, logs.get("val_accuracy", float("nan")), acc))

    log = io.StringIO()
    code = train.run(train_args, log, on_epoch_end=score)
    if code != 0:
        sys.stderr.write(log.getvalue())
        return code
    text = log.getvalue().splitlines()

    print(f"fastnn {fastnn.__version__}; {args.threads} threads; fastnn train {' '.join(recipe)}")
    for line in text:
        if line.startswith(("data:", "model:", "trained ", "test accuracy:")):
            print(line)
    print()
    print(f"{'epoch':>5} {'seconds':>8} {'cumulative':>11} {'val acc':>8} {'test acc':>9}")
    for epoch, sec, total, val, acc in rows:
        print(f"{epoch:>5} {sec:>7.2f}s {total:>10.2f}s {val:>8.4f} {acc:>9.4f}")
    reached = next((r for r in rows if r[4] >= args.target), None)
    if reached is not None:
        print(f"reached {args.target:g} after {reached[2]:.1f} s (epoch {reached[0]})")
    else:
        best = max(rows, key=lambda r: r[4]) if rows else None
        shown = f" (best {best[4]:.4f} at epoch {best[0]})" if best else ""
        print(f"did not reach {args.target:g} in {len(rows)} epochs{shown}")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([0.0] + [r[2] for r in rows], [np.nan] + [r[4] for r in rows], marker="o", label="test accuracy")
        ax.plot([r[2] for r in rows], [r[3] for r in rows], marker=".", linestyle="--", label="validation accuracy")
        ax.axhline(args.target, color="grey", linewidth=0.8, label=f"target {args.target:g}")
        if reached is not None:
            ax.annotate(f"epoch {reached[0]}, {reached[2]:.1f} s", (reached[2], reached[4]),
                        textcoords="offset points", xytext=(-10, -25), ha="center")
        ax.set_xlabel(f"training seconds ({args.threads} threads)")
        ax.set_ylabel("accuracy")
        ax.set_title("fastnn train " + " ".join(recipe), fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"saved the curve to {args.plot}")
    return rows


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    result = main()
    sys.exit(result if isinstance(result, int) else 0)
