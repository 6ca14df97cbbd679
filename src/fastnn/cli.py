"""The ``fastnn`` command line: train a classifier on MNIST, Fashion-MNIST or your own data, and evaluate it.

    fastnn train --dataset fashion-mnist
    fastnn train --data mydata.csv --hidden 128 64 --epochs 20 --save model.fnn
    fastnn evaluate model.fnn --dataset fashion-mnist
"""
import argparse
import contextlib
import sys
import time

import numpy as np

__all__ = ["main", "build_parser", "confusion_matrix", "format_confusion_matrix"]

EPILOG = """\
examples:
  fastnn train --dataset fashion-mnist                  train with the defaults (about 0.89 test accuracy)
  fastnn train --dataset mnist --hidden 512 256 --epochs 15 --save mnist.fnn
  fastnn train --data points.csv --label-column 0 --scale standard --test-split 0.25
  fastnn evaluate mnist.fnn --dataset mnist             test accuracy and confusion matrix of a saved model

data files: .npz with arrays X and y, or .csv with one sample a row (a header row is allowed) and the
integer class label in --label-column (default: the last column).
"""


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line, with a pointer to --help, and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _int_at_least(minimum, what):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {value}")
        return value
    return parse


_positive_int = _int_at_least(1, "positive")
_non_negative_int = _int_at_least(0, "non-negative")


def _float_in(low, high, low_open=False, high_open=False):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not np.isfinite(value) or value < low or value > high or (low_open and value == low) or \
                (high_open and value == high):
            lo = "(" if low_open else "["
            hi = ")" if high_open else "]"
            raise argparse.ArgumentTypeError(f"expected a number in {lo}{low}, {high}{hi}, got {text}")
        return value
    return parse


def _add_data_args(p, with_split):
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", choices=["mnist", "fashion-mnist"], help="a built-in dataset (found locally "
                     "or downloaded, see fastnn.datasets)")
    src.add_argument("--data", metavar="FILE", help="your own .npz or .csv file")
    p.add_argument("--label-column", type=int, default=-1, metavar="N",
                   help="CSV column holding the class label (default: -1, the last)")
    if with_split:
        p.add_argument("--test-split", type=_float_in(0, 1, True, True), default=0.2, metavar="F",
                       help="with --data: fraction held out as the test set (default: 0.2)")
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="threads to use (default: all cores)")


def build_parser():
    parser = _Parser(prog="fastnn", description="Train and evaluate multilayer perceptrons on "
                                     "the CPU with fastnn.", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import __version__

    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    t = sub.add_parser("train", help="train a classifier and report its test accuracy",
                       description="Train a classifier: hidden layers with --activation, a softmax output, "
                                   "cross-entropy loss and SGD with momentum. Shows a progress bar within each "
                                   "epoch and a line per epoch, then the test accuracy and confusion matrix.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_data_args(t, with_split=True)
    t.add_argument("--hidden", type=_positive_int, nargs="*", default=[512, 256], metavar="N",
                   help="sizes of the hidden layers (default: 512 256; none for a linear softmax model)")
    t.add_argument("--activation", choices=["relu", "tanh", "sigmoid"], default="relu",
                   help="hidden-layer activation (default: relu)")
    t.add_argument("--epochs", type=_non_negative_int, default=15, help="passes over the data (default: 15)")
    t.add_argument("--batch-size", type=_positive_int, default=64, help="samples per update (default: 64)")
    t.add_argument("--lr", type=_float_in(0, float("inf"), low_open=True), default=0.01,
                   help="learning rate (default: 0.01)")
    t.add_argument("--momentum", type=_float_in(0, 1, high_open=True), default=0.9,
                   help="momentum in [0, 1) (default: 0.9)")
    t.add_argument("--nesterov", action="store_true", help="use Nesterov momentum")
    t.add_argument("--l1", type=_float_in(0, float("inf")), default=0.0, help="L1 penalty (default: 0)")
    t.add_argument("--l2", type=_float_in(0, float("inf")), default=5e-4,
                   help="L2 penalty alpha/2*sum(w^2) on the weights (default: 0.0005)")
    t.add_argument("--scale", choices=["standard", "minmax", "log", "none"], default="standard",
                   help="feature scaling fitted on the training data (default: standard)")
    t.add_argument("--val-split", type=_float_in(0, 1, high_open=True), default=0.1, metavar="F",
                   help="fraction of the training data held out for validation each epoch (default: 0.1)")
    t.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default: 0)")
    t.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    t.add_argument("--save", metavar="PATH", help="save the trained model (with its scaling) to PATH")
    t.add_argument("--quiet", action="store_true", help="no progress bar, only the epoch lines and results")

    e = sub.add_parser("evaluate", help="test accuracy and confusion matrix of a saved model",
                       description="Evaluate a model saved by 'fastnn train --save' (its scaling is applied).")
    e.add_argument("model", metavar="MODEL", help="a saved model file")
    _add_data_args(e, with_split=True)
    return parser


# ---------------------------------------------------------------------------------------------------------------

def confusion_matrix(y_true, y_pred, n_classes):
    """Counts ``C[i, j]`` of samples of class ``i`` predicted as ``j``."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def format_confusion_matrix(cm, names=None):
    n = cm.shape[0]
    width = max(5, len(str(int(cm.max()))) + 1)
    lines = ["confusion matrix (rows: true class, columns: predicted class)",
             " " * 6 + "".join(f"{j:>{width}}" for j in range(n))]
    for i in range(n):
        lines.append(f"{i:>5} " + "".join(f"{int(v):>{width}}" for v in cm[i]) +
                     (f"   {names[i]}" if names else ""))
    return "\n".join(lines)


def _integer_labels(y, what):
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{what}: labels must be one column, got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(f"{what}: class labels must be integers")
    elif y.dtype.kind not in "iub":
        raise ValueError(f"{what}: class labels must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"{what}: class labels must be >= 0, found {y.min()}")
    return y


def _load_data(args, verbose=True):
    """``(X_train, y_train), (X_test, y_test), class names``."""
    from . import datasets

    if args.dataset:
        loader = datasets.load_mnist if args.dataset == "mnist" else datasets.load_fashion_mnist
        (Xtr, ytr), (Xte, yte) = loader(verbose=verbose)
        names = list(datasets.FASHION_MNIST_CLASSES) if args.dataset == "fashion-mnist" else None
        return ((Xtr.reshape(len(Xtr), -1), ytr.astype(np.int64)),
                (Xte.reshape(len(Xte), -1), yte.astype(np.int64)), names)
    X, y = datasets.load_file(args.data, label_column=args.label_column)
    if X.ndim != 2:
        raise ValueError(f"{args.data}: features must form a 2-d table, got shape {X.shape}")
    y = _integer_labels(y, args.data)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{args.data}: {X.shape[0]} samples but {y.shape[0]} labels")
    n_test = int(round(X.shape[0] * args.test_split))
    if n_test < 1 or n_test >= X.shape[0]:
        raise ValueError(f"{args.data}: --test-split {args.test_split} leaves no training or no test samples "
                         f"of {X.shape[0]}")
    perm = np.random.default_rng(getattr(args, "seed", 0)).permutation(X.shape[0])
    test, train = perm[:n_test], perm[n_test:]
    return (X[train], y[train]), (X[test], y[test]), None


def _report(model, Xte, yte, names, threads, out):
    n_classes = model.n_outputs
    t0 = time.perf_counter()
    scores = model.evaluate(Xte, yte, n_threads=threads)
    pred = model.predict_classes(Xte, n_threads=threads)
    out.write(f"test accuracy: {scores['accuracy']:.4f}  (test loss {scores['loss']:.4f}, {len(yte):,} samples, "
              f"{time.perf_counter() - t0:.2f}s)\n")
    out.write(format_confusion_matrix(confusion_matrix(yte, pred, n_classes), names) + "\n")
    return scores


def _train(args, out):
    import fastnn

    t_start = time.perf_counter()
    (Xtr, ytr), (Xte, yte), names = _load_data(args, verbose=not args.quiet)
    n_classes = int(max(ytr.max(), yte.max())) + 1
    if n_classes < 2:
        raise ValueError("the data holds a single class: nothing to classify")
    n_features = Xtr.shape[1]
    widths = [n_features] + list(args.hidden)
    layers = [fastnn.Dense(a, b, args.activation) for a, b in zip(widths[:-1], widths[1:])]
    layers.append(fastnn.Dense(widths[-1], n_classes, "softmax"))
    model = fastnn.Sequential(layers, seed=args.seed, dtype=args.dtype)
    reg = fastnn.L1L2(l1=args.l1, l2=args.l2) if (args.l1 or args.l2) else None
    model.compile("cross_entropy", fastnn.SGD(lr=args.lr, momentum=args.momentum, nesterov=args.nesterov
                                              and args.momentum > 0), regularizer=reg)
    scaler = fastnn.preprocessing.get_scaler(args.scale)
    if scaler is not None:
        scaler.fit(Xtr)
        model.scaler = scaler
    out.write(f"data: {Xtr.shape[0]:,} training and {Xte.shape[0]:,} test samples, {n_features} features, "
              f"{n_classes} classes; scaling: {args.scale}\n")
    out.write(f"model: {' -> '.join(map(str, widths + [n_classes]))} ({args.activation}, softmax), "
              f"{model.n_params:,} parameters, {args.dtype}\n")
    out.flush()
    with contextlib.redirect_stdout(out):  # progress output goes where the report goes
        history = model.fit(Xtr, ytr, epochs=args.epochs, batch_size=args.batch_size,
                            validation_split=args.val_split, n_threads=args.threads, verbose=2 if args.quiet else 1)
    train_seconds = sum(history.history.get("seconds", []))
    out.write(f"trained {args.epochs} epochs in {train_seconds:.1f}s\n")
    _report(model, Xte, yte, names, args.threads, out)
    if args.save:
        model.save(args.save)
        out.write(f"saved model to {args.save}\n")
    out.write(f"total time {time.perf_counter() - t_start:.1f}s\n")
    return 0


def _evaluate(args, out):
    import fastnn

    model = fastnn.load(args.model)
    if model.loss is None:
        model.compile("cross_entropy")
    (_, _), (Xte, yte), names = _load_data(args, verbose=True)
    if Xte.shape[1] != model.n_features:
        raise ValueError(f"the data has {Xte.shape[1]} features but the model takes {model.n_features}")
    if yte.size and yte.max() >= model.n_outputs:
        raise ValueError(f"the data holds class {yte.max()} but the model has {model.n_outputs} outputs")
    _report(model, Xte, yte, names, args.threads, out)
    return 0


def main(argv=None, out=None):
    """Run the command line; returns the exit status (0 success, 1 error, 2 bad arguments, 130 Ctrl-C)."""
    out = out if out is not None else sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    from .datasets import DatasetError
    from .io import ModelFileError

    try:
        if args.command == "train":
            return _train(args, out)
        return _evaluate(args, out)
    except KeyboardInterrupt:
        sys.stderr.write("fastnn: interrupted\n")
        return 130
    except (ValueError, TypeError, DatasetError, ModelFileError, FloatingPointError, OSError, RuntimeError) as exc:
        message = str(exc).strip().replace("\n", " ") if not isinstance(exc, DatasetError) else str(exc).strip()
        sys.stderr.write(f"fastnn: error: {message}\n")
        return 1
