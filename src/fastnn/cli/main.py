"""The ``fastnn`` command line: train a classifier or a regression network on MNIST, Fashion-MNIST or your own
data, and evaluate it.

    fastnn train --dataset fashion-mnist
    fastnn train --data mydata.csv --hidden 128 64 --epochs 20 --save model.fnn
    fastnn train --data prices.csv --task regression --save prices.fnn
    fastnn train --dataset mnist --epochs 10 --plot curves.png
    fastnn evaluate model.fnn --data mydata.csv --test-split
"""
import argparse
import contextlib
import hashlib
import math
import os
import sys
import time

import numpy as np

from ..metrics import confusion_matrix

__all__ = ["main", "build_parser", "format_confusion_matrix", "regression_scores"]

# Each command's examples, shown by its --help; 'fastnn --help' shows them all.
TRAIN_EXAMPLES = """\
  fastnn train --dataset fashion-mnist                  train with the defaults (about 0.89 test accuracy)
  fastnn train --dataset mnist --hidden 512 256 --epochs 15 --save mnist.fnn
  fastnn train --data points.csv --label-column 0 --test-split 0.25 --save points.fnn
  fastnn train --data iris.csv --label-column species   the label column by its name in the header
  fastnn train --data houses.csv --task regression      numeric targets: reports mse, R^2 and MAE
  fastnn train --dataset mnist --plot curves.png        also draw the learning curves (needs matplotlib)
  fastnn train --dataset mnist --optimizer adam --schedule cosine --early-stopping 3
  fastnn train --dataset fashion-mnist --model cnn --epochs 15   a convolutional network
"""
EVALUATE_EXAMPLES = """\
  fastnn evaluate mnist.fnn --dataset mnist             test accuracy and confusion matrix of a saved model
  fastnn evaluate points.fnn --data points.csv          scores every row of the file
  fastnn evaluate points.fnn --data points.csv --test-split   only the rows training held out
"""
DATA_FILES = """\
data files: .npz with arrays X and y, or .csv with one sample a row (a header row is allowed),
values separated by commas, semicolons, tabs or spaces (found from the first lines), numeric
features and the label in --label-column (an index or a header name; default: the last
column). Class labels may be any integers or text: they are mapped, in sorted order, to the
network's outputs and the mapping is saved with the model.
"""


def _epilog(examples, data_files=True):
    return "examples:\n" + examples + ("\n" + DATA_FILES if data_files else "")


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

# --lr when it is not given, by --optimizer: the constant rate, and cosine's initial rate.
_DEFAULT_LR = {"sgd": 0.01, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3}
# onecycle's default peak: this many times the rate above (its rate stays below the peak most of the run).
_ONECYCLE_PEAK_FACTOR = 5
# The default --schedule; too short a run for it trains at a constant rate instead.
_DEFAULT_SCHEDULE = "onecycle"
# --momentum when it is not given, for the optimizers that take it.
_DEFAULT_MOMENTUM = {"sgd": 0.9, "rmsprop": 0.0}
# --epochs and --batch-size when they are not given. Tuned for 60,000 rows (Fashion-MNIST: 6 epochs of 422 updates);
# small data would get few updates from them (iris: 6), so fewer than _SMALL_DATA_ROWS training samples train in
# batches of _SMALL_DATA_BATCH, and a run of fewer than _MIN_DEFAULT_UPDATES updates gets more epochs: as many as
# make that many updates, at most _MAX_DEFAULT_EPOCHS.
_DEFAULT_EPOCHS = 6
_DEFAULT_BATCH = 128
_SMALL_DATA_ROWS = 4096
_SMALL_DATA_BATCH = 32
_MIN_DEFAULT_UPDATES = 1000
_MAX_DEFAULT_EPOCHS = 200


def _column(text):
    """A column index (an integer) or a header name (any other text)."""
    try:
        return int(text)
    except ValueError:
        if not text.strip():
            raise argparse.ArgumentTypeError("expected a column index or a header name, got an empty name") from None
        return text


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


def _add_data_args(p, command):
    # evaluate checks for one after parsing: a model file that is an agent file is named as such first
    src = p.add_mutually_exclusive_group(required=command != "evaluate")
    src.add_argument("--dataset", choices=["mnist", "fashion-mnist"], help="a built-in dataset (found locally "
                     "or downloaded, see fastnn.datasets)")
    src.add_argument("--data", metavar="FILE", help="your own .npz or .csv file")
    p.add_argument("--label-column", type=_column, default=-1, metavar="N|NAME",
                   help="CSV column holding the label or target: its index, negative from the end, or its name in "
                        "the header row (default: -1, the last)")
    if command == "cluster":
        pass
    elif command == "train":
        p.add_argument("--test-split", type=_float_in(0, 1, True, True), default=0.2, metavar="F",
                       help="with --data: fraction of the rows held out as the test set, drawn with --seed and "
                            "recorded in the saved model (default: 0.2)")
    else:
        p.add_argument("--test-split", action="store_true",
                       help="with --data: score only the rows that 'fastnn train' held out as its test set (the "
                            "split recorded in the model); by default every row of the file is scored")
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="threads to use (default: every core this process may use, at most OMP_NUM_THREADS when it is "
                        "set)")


def build_parser():
    from . import cluster, rl

    everything = TRAIN_EXAMPLES + EVALUATE_EXAMPLES + cluster.EXAMPLES + rl.EXAMPLES
    parser = _Parser(prog="fastnn", description="Train and evaluate multilayer perceptrons on "
                                     "the CPU with fastnn.", epilog=_epilog(everything),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    t = sub.add_parser("train", help="train a classifier (or a regression network) and report its test scores",
                       description="Train a network: hidden layers with --activation, then a softmax output with "
                                   "cross-entropy loss (--task classification) or an identity output with mean "
                                   "squared error (--task regression), trained by --optimizer (default: SGD with "
                                   "Nesterov momentum 0.9) under a --schedule (default: onecycle), optionally "
                                   "with --early-stopping. Shows a "
                                   "progress bar within each epoch and a line per epoch, then the test scores "
                                   "(accuracy and confusion matrix, or mse, R^2 and MAE).",
                       epilog=_epilog(TRAIN_EXAMPLES), formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_data_args(t, "train")
    t.add_argument("--task", choices=["classification", "regression"], default="classification",
                   help="classification (default): the labels are classes, numbers or text, mapped in sorted "
                        "order to output units; regression: numeric targets, standardized for training and "
                        "reported in their own units")
    t.add_argument("--model", choices=["mlp", "cnn"], default="mlp",
                   help="mlp (default): dense hidden layers (--hidden, --activation); cnn: the convolutional "
                        "network Reshape, Conv2D 32 3x3 relu, MaxPool2D 2, Conv2D 64 3x3 relu, MaxPool2D 2, "
                        "Flatten, Dropout (--dropout, default 0.5), then the output layer, for one-channel square "
                        "images given as rows of pixels (MNIST, Fashion-MNIST)")
    t.add_argument("--hidden", type=_positive_int, nargs="*", default=[256, 128], metavar="N",
                   help="sizes of the hidden layers (default: 256 128; none for a linear model)")
    t.add_argument("--activation", choices=["relu", "tanh", "sigmoid"], default="relu",
                   help="hidden-layer activation (default: relu)")
    t.add_argument("--dropout", type=_float_in(0, 1, high_open=True), default=None, metavar="P",
                   help="dropout rate in [0, 1) after every hidden layer: while training, each hidden unit is "
                        "zeroed with probability P (fastnn.Dropout); 0 adds no dropout (default: 0; --model "
                        "cnn: 0.5 before the output layer)")
    t.add_argument("--epochs", type=_positive_int, default=None,
                   help="passes over the data (default: 6; on small data more, enough for at least 1,000 updates, "
                        "at most 200 epochs)")
    t.add_argument("--batch-size", type=_positive_int, default=None,
                   help="samples per update (default: 128; 32 for fewer than 4,096 training samples)")
    t.add_argument("--optimizer", choices=list(_DEFAULT_LR), default="sgd",
                   help="the update rule, with PyTorch's formulas (default: sgd)")
    t.add_argument("--lr", type=_float_in(0, float("inf"), low_open=True), default=None,
                   help="learning rate; the initial rate with --schedule cosine, the peak with onecycle "
                        "(default: 0.01 for sgd, 0.001 for adam, adamw and rmsprop; with onecycle 5 times that: "
                        "0.05 for sgd, 0.005 for the others)")
    t.add_argument("--momentum", type=_float_in(0, 1, high_open=True), default=None,
                   help="momentum in [0, 1), for sgd (default: 0.9) and rmsprop (default: 0)")
    t.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None,
                   help="Nesterov momentum, for sgd with momentum above 0 (default: on for sgd with momentum "
                        "above 0; --no-nesterov for the classical momentum)")
    t.add_argument("--weight-decay", type=_float_in(0, float("inf")), default=None, metavar="W",
                   help="weight decay of the optimizer, on the weights only: added to the gradient (sgd, adam, "
                        "rmsprop) or decoupled (adamw) (default: 0.01 for adamw, else 0)")
    t.add_argument("--schedule", choices=["none", "cosine", "onecycle"], default=None,
                   help="learning-rate schedule over the whole run, updated every batch: cosine decays from --lr "
                        "to 0, onecycle rises to --lr over the first 30%% of the updates and then anneals, none "
                        "keeps --lr constant (default: onecycle; none for a run of fewer than 4 updates)")
    t.add_argument("--early-stopping", type=_positive_int, default=None, metavar="PATIENCE",
                   help="stop when the validation loss has not improved for PATIENCE epochs, and keep the "
                        "weights of the epoch with the lowest validation loss (needs --val-split above 0)")
    t.add_argument("--l1", type=_float_in(0, float("inf")), default=0.0, help="L1 penalty (default: 0)")
    t.add_argument("--l2", type=_float_in(0, float("inf")), default=5e-4,
                   help="L2 penalty alpha/2*sum(w^2) on the weights (default: 0.0005)")
    t.add_argument("--scale", choices=["standard", "minmax", "log", "none"], default="standard",
                   help="feature scaling fitted on the training data (default: standard)")
    t.add_argument("--val-split", type=_float_in(0, 1, high_open=True), default=0.1, metavar="F",
                   help="fraction of the training data held out for validation each epoch (default: 0.1)")
    t.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default: 0)")
    t.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    t.add_argument("--save", metavar="PATH", help="save the trained model (with its scaling, class labels and "
                                                  "test split) to PATH")
    t.add_argument("--plot", metavar="FILE", help="after training, draw the loss and accuracy of each epoch "
                                                  "(training and validation) to FILE: .png, .svg, .pdf, ... "
                                                  "(needs matplotlib: pip install matplotlib)")
    t.add_argument("--quiet", action="store_true", help="no progress bar, only the epoch lines and results")

    e = sub.add_parser("evaluate", help="scores of a saved model on a dataset or a file",
                       description="Evaluate a model saved by 'fastnn train --save' (its scaling and class labels "
                                   "are applied): accuracy and confusion matrix of a classifier, mse, R^2 and MAE "
                                   "of a regression network. --data scores every row of the file unless "
                                   "--test-split asks for the rows training held out; --dataset scores its "
                                   "test set.",
                       epilog=_epilog(EVALUATE_EXAMPLES), formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("model", metavar="MODEL", help="a saved model file")
    _add_data_args(e, "evaluate")
    cluster.add_parser(sub, _add_data_args, _positive_int, _non_negative_int, _epilog(cluster.EXAMPLES),
                       argparse.RawDescriptionHelpFormatter)
    rl.add_parser(sub, _positive_int, _non_negative_int, _epilog(rl.EXAMPLES, data_files=False),
                  argparse.RawDescriptionHelpFormatter)
    parser.commands = dict(sub.choices)  # each subcommand's parser, for checks made after parsing
    return parser


# ---------------------------------------------------------------------------------------------------------------
# Scores and their display
# ---------------------------------------------------------------------------------------------------------------

_HEADING_CHARS = 10


def format_confusion_matrix(cm, names=None, labels=None):
    """The confusion matrix as text, rows and columns headed by the class labels.

    Parameters
    ----------
    cm : ndarray of shape (n_classes, n_classes)
    names : list of str, optional
        Descriptions shown at the end of each row (Fashion-MNIST's class names).
    labels : list, optional
        The class labels by index (default ``0 .. n_classes - 1``); column headings are cut to 10 characters.
    """
    n = cm.shape[0]
    labels = [str(v) for v in (range(n) if labels is None else labels)]
    heads = [v if len(v) <= _HEADING_CHARS else v[:_HEADING_CHARS - 1] + "~" for v in labels]
    width = max([5, len(str(int(cm.max(initial=0)))) + 1] + [len(h) + 1 for h in heads])
    first = max([5] + [len(v) for v in labels])
    lines = ["confusion matrix (rows: true class, columns: predicted class)",
             " " * (first + 1) + "".join(f"{h:>{width}}" for h in heads)]
    for i in range(n):
        lines.append(f"{labels[i]:>{first}} " + "".join(f"{int(v):>{width}}" for v in cm[i]) +
                     (f"   {names[i]}" if names else ""))
    return "\n".join(lines)


def regression_scores(y_true, y_pred):
    """Mean squared error, R^2 and mean absolute error, averaged over outputs (as scikit-learn's
    ``uniform_average``).

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_samples, n_outputs)

    Returns
    -------
    dict
        ``{'mse': float, 'r2': float, 'mae': float}``. An output whose true values are constant scores R^2 1 when
        predicted exactly and 0 otherwise (scikit-learn's ``force_finite``).
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape or y_true.ndim != 2 or y_true.shape[0] == 0:
        raise ValueError(f"y_true and y_pred must have the same shape (n_samples, n_outputs) with n_samples >= 1, "
                         f"got {y_true.shape} and {y_pred.shape}")
    err = y_pred - y_true
    ss_res = (err ** 2).sum(axis=0)
    ss_tot = ((y_true - y_true.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.where(ss_res == 0, 1.0, 0.0))
    return {"mse": float((err ** 2).mean()), "r2": float(r2.mean()), "mae": float(np.abs(err).mean())}


def _report(model, X, y, labels, names, threads, out, prefix):
    """Write the scores of ``model`` on prepared inputs ``X`` and class indices or targets ``y``."""
    t0 = time.perf_counter()
    if _is_regression(model):
        scores = regression_scores(y, model.predict(X, n_threads=threads))
        out.write(f"{prefix}mse: {scores['mse']:.6g}  R^2: {scores['r2']:.4f}  MAE: {scores['mae']:.6g}  "
                  f"({len(y):,} samples, {time.perf_counter() - t0:.2f}s)\n")
        return scores
    scores = model.evaluate(X, y, n_threads=threads)
    pred = model._class_indices(X, n_threads=threads)
    out.write(f"{prefix}accuracy: {scores['accuracy']:.4f}  ({prefix}loss {scores['loss']:.4f}, {len(y):,} "
              f"samples, {time.perf_counter() - t0:.2f}s)\n")
    cm = confusion_matrix(y, pred, labels=np.arange(len(labels)))
    out.write(format_confusion_matrix(cm, names, labels) + "\n")
    return scores


# ---------------------------------------------------------------------------------------------------------------
# Data: reading, splitting, labels and targets
# ---------------------------------------------------------------------------------------------------------------

def _read_builtin(name, verbose):
    """``(X_train, y_train), (X_test, y_test), class names`` of a built-in dataset, pixels as rows."""
    from ..data import datasets

    loader = datasets.load_mnist if name == "mnist" else datasets.load_fashion_mnist
    train, test = loader(verbose=verbose, flatten=True)
    names = list(datasets.FASHION_MNIST_CLASSES) if name == "fashion-mnist" else None
    return train, test, names


def _read_file(path, label_column):
    """Features ``(n_rows, n_features)`` and labels of a user's file, checked to match."""
    from ..data import datasets

    X, y = datasets.load_file(path, label_column=label_column)
    if X.ndim != 2:
        raise ValueError(f"{path}: features must form a 2-d table, got shape {X.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{path}: {X.shape[0]} samples but {y.shape[0]} labels")
    return X, y


def _split(n_rows, test_split, seed, what):
    """Row indices ``(train, test)`` holding out ``test_split`` of ``n_rows``: the same three numbers always give
    the same rows; also a fingerprint of the test rows, to check that a later run drew the same ones."""
    n_test = int(round(n_rows * test_split))
    if n_test < 1 or n_test >= n_rows:
        raise ValueError(f"{what}: --test-split {test_split} leaves no training or no test samples of {n_rows}")
    perm = np.random.default_rng(seed).permutation(n_rows)
    test = perm[:n_test]
    return perm[n_test:], test, hashlib.sha256(test.astype("<i8").tobytes()).hexdigest()[:16]


def _rows_fingerprint(X, y):
    """A fingerprint of the contents of some rows: their features as float32 and their labels (numbers as float32,
    text as UTF-8), so that the same rows read from a .csv or an .npz file give the same value (a float32 array
    written as text in the shortest form that reads back to it reads back as other float64 numbers, but as the
    same float32 ones)."""
    h = hashlib.sha256()
    X = np.ascontiguousarray(X, dtype="<f4") + np.float32(0.0)  # -0.0 and 0.0 alike
    h.update(repr(X.shape).encode())
    h.update(X.tobytes())
    y = np.asarray(y)
    if y.dtype.kind in "US":
        h.update(b"text:" + "\x1f".join(y.reshape(-1).astype(str).tolist()).encode("utf-8"))
    else:
        h.update(b"numbers:" + (np.ascontiguousarray(y, dtype="<f4") + np.float32(0.0)).tobytes())
    return h.hexdigest()[:32]


def _recorded_split(model, model_path, X, y, data_path):
    """The test rows of the file ``data_path`` (features ``X``, labels ``y``) that training held out, from the
    split recorded in the model; refused when those rows do not hold what training held out."""
    n_rows = X.shape[0]
    split = model.metadata.get("split") if isinstance(model.metadata, dict) else None
    try:
        fraction, seed, rows, fingerprint = (split["test_split"], split["seed"], split["n_rows"],
                                             split.get("test_rows_sha256"))
    except (TypeError, KeyError):
        raise ValueError(f"{model_path} records no test split (it was not trained by 'fastnn train --data'): "
                         "evaluate the whole file without --test-split") from None
    if rows != n_rows:
        raise ValueError(f"{data_path} has {n_rows:,} rows but the model was trained on a file of {rows:,}: "
                         "--test-split can only pick the held-out rows of that same file")
    _, test, check = _split(n_rows, fraction, seed, data_path)
    if fingerprint is not None and check != fingerprint:
        raise ValueError(f"cannot reproduce the test split recorded in {model_path} (this NumPy draws different "
                         "random numbers): evaluate the whole file without --test-split")
    contents = split.get("test_data_sha256")  # absent from models saved before it was recorded
    if contents is not None and _rows_fingerprint(X[test], y[test]) != contents:
        raise ValueError(f"the rows of {data_path} at the recorded test split are not the rows that training held "
                         "out (a different, reordered or edited file): --test-split needs the file the model was "
                         "trained on; evaluate the whole file without --test-split")
    return test, f"{len(test):,} test rows held out in training (test split {fraction} of {rows:,} rows, seed {seed})"


def _class_values(y, what):
    """Class labels as comparable values: int64 for integer numbers, str for text."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{what}: class labels must be one column, got shape {y.shape}")
    if y.dtype.kind in "US":
        return y.astype(str)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(f"{what}: class labels must be integers or text, found non-integer numbers (for "
                             "numeric targets use --task regression)")
    elif y.dtype.kind not in "iub":
        raise ValueError(f"{what}: class labels must be integers or text, got dtype {y.dtype}")
    return y.astype(np.int64)


# Numeric labels with more distinct values than this, and fewer than _MIN_ROWS_PER_CLASS rows a value on average,
# are taken for a continuous target and refused for classification (text labels are taken as classes however many).
_MANY_CLASSES = 20
_MIN_ROWS_PER_CLASS = 5


def _check_class_count(values, n_classes, n_rows, what):
    """Refuse numeric labels that look like a continuous target: many distinct values, few rows each."""
    if values.dtype.kind in "iub" and n_classes > _MANY_CLASSES and n_rows < _MIN_ROWS_PER_CLASS * n_classes:
        raise ValueError(f"{what}: the labels are {n_classes:,} different numbers in {n_rows:,} rows (about "
                         f"{n_rows / n_classes:.1f} rows a class), which looks like a continuous target: use --task "
                         "regression (class labels written as text are taken as classes however many there are)")


def _encode(values, classes, what):
    """Index in ``classes`` (the labels by output unit) of every label in ``values``."""
    found, inverse = np.unique(values, return_inverse=True)
    index = {c: i for i, c in enumerate(classes)}
    unknown = [v for v in found.tolist() if v not in index]
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
        raise ValueError(f"{what} holds labels the model was not trained on ({shown}); its classes are "
                         f"{_listing(classes)}")
    return np.array([index[v] for v in found.tolist()], dtype=np.int64)[inverse.reshape(-1)]


def _listing(values, limit=12):
    values = [str(v) for v in values]
    return ", ".join(values[:limit]) + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _targets(y, n_outputs, what):
    """Regression targets as float64 ``(n_samples, n_outputs)``."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{what}: regression targets must be numbers, got dtype {y.dtype}")
    y = y.astype(np.float64).reshape(len(y), -1)
    if n_outputs is not None and y.shape[1] != n_outputs:
        raise ValueError(f"{what} has {y.shape[1]} target columns but the model has {n_outputs} outputs")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{what}: regression targets contain NaN or infinity")
    return y


def _is_regression(model):
    return model.loss is not None and model.loss.name == "mse"


def _model_classes(model):
    """The labels a classifier's output units stand for (``0 .. K-1`` when the model records none)."""
    if model.classes is not None:
        return list(model.classes)
    return list(range(2 if model.n_outputs == 1 else model.n_outputs))


def _prepared(X, scaler, dtype, what):
    """``X`` scaled and converted to the model's dtype, once (no float64 copy of integer data)."""
    from .._core.validation import check_features

    return check_features(X if scaler is None else scaler.transform(X, dtype=dtype), what, dtype)


# ---------------------------------------------------------------------------------------------------------------
# Training recipe: optimizer, schedule, early stopping
# ---------------------------------------------------------------------------------------------------------------

def _check_recipe(parser, args):
    """Refuse (exit status 2) settings of ``train`` that contradict each other."""
    name = args.optimizer
    if args.nesterov is not None and name != "sgd":
        flag = "--nesterov" if args.nesterov else "--no-nesterov"
        parser.error(f"{flag} goes with --optimizer sgd, not {name}")
    if args.momentum is not None and name not in _DEFAULT_MOMENTUM:
        parser.error(f"--momentum goes with --optimizer sgd or rmsprop; {name} has no momentum setting")
    if args.nesterov and args.momentum == 0:
        parser.error("--nesterov needs --momentum above 0")
    if args.early_stopping is not None and args.val_split == 0:
        parser.error("--early-stopping needs a validation split: --val-split above 0")


def _run_length(args, n_samples):
    """``(epochs, batch_size, note)`` of a run on ``n_samples`` training rows: --epochs and --batch-size, or their
    defaults for that many rows; ``note`` tells, for the log, which defaults small data changed ("" if none)."""
    notes = []
    batch = args.batch_size
    if batch is None:
        batch = _DEFAULT_BATCH
        if n_samples < _SMALL_DATA_ROWS:
            batch = _SMALL_DATA_BATCH
            notes.append(f"batch {batch} (fewer than {_SMALL_DATA_ROWS:,} training samples)")
    epochs = args.epochs
    if epochs is None:
        iterations = max(_iterations_per_epoch(n_samples, args.val_split, batch), 1)
        epochs = max(_DEFAULT_EPOCHS, min(_MAX_DEFAULT_EPOCHS, -(-_MIN_DEFAULT_UPDATES // iterations)))
        if epochs != _DEFAULT_EPOCHS:
            notes.append(f"{epochs} epochs (for at least {_MIN_DEFAULT_UPDATES:,} updates, at most "
                         f"{_MAX_DEFAULT_EPOCHS} epochs)")
    return epochs, batch, f"; defaults for small data: {', '.join(notes)}" if notes else ""


def _iterations_per_epoch(n_samples, val_split, batch_size):
    """Updates per epoch of ``fit(..., validation_split=val_split)`` on ``n_samples`` rows (the split as fit
    makes it: the first ``int(n * (1 - val_split))`` rows train)."""
    n_train = int(n_samples * (1.0 - val_split)) if val_split else n_samples
    return -(-n_train // batch_size)


def _optimizer(args, iterations):
    """The optimizer ``train`` compiles with (its ``lr`` a schedule over ``iterations`` updates per epoch when
    --schedule asks for one) and a description of it and of the schedule for the log."""
    from ..optim import OPTIMIZERS
    from ..optim.schedules import CosineDecay, OneCycle

    name = args.optimizer
    total = args.epochs * iterations
    kind = args.schedule
    if kind is None:  # the default: onecycle, unless the run is too short for a cycle
        try:
            OneCycle(max_lr=1.0, total_steps=total)
            kind = _DEFAULT_SCHEDULE
        except ValueError:
            kind = "none"
    lr = args.lr
    if lr is None:
        lr = _DEFAULT_LR[name] * (_ONECYCLE_PEAK_FACTOR if kind == "onecycle" else 1)
    if kind == "cosine":
        rate, schedule = CosineDecay(lr, decay_steps=total), f"cosine to 0 over {total:,} updates"
    elif kind == "onecycle":
        try:
            rate = OneCycle(max_lr=lr, total_steps=total)
        except ValueError:
            raise ValueError(f"--schedule onecycle needs at least 4 updates, but {args.epochs} "
                             f"epoch{'s' if args.epochs > 1 else ''} of {iterations} iteration"
                             f"{'s' if iterations > 1 else ''} make {total}: train more epochs or use a smaller "
                             "--batch-size") from None
        schedule = f"onecycle over {total:,} updates"
    else:
        rate, schedule = lr, "none"
    settings = {"lr": rate}
    if name in _DEFAULT_MOMENTUM:
        settings["momentum"] = _DEFAULT_MOMENTUM[name] if args.momentum is None else args.momentum
    if name == "sgd":  # Nesterov's momentum unless asked otherwise (or there is no momentum)
        settings["nesterov"] = settings["momentum"] > 0 if args.nesterov is None else args.nesterov
    if args.weight_decay is not None:
        settings["weight_decay"] = args.weight_decay
    optimizer = OPTIMIZERS[name](**settings)
    shown = [f"lr {lr:g}"]
    if name in _DEFAULT_MOMENTUM:
        shown.append(f"{'nesterov ' if getattr(optimizer, 'nesterov', False) else ''}momentum "
                     f"{optimizer.momentum:g}")
    shown.append(f"weight decay {optimizer.weight_decay:g}")
    return optimizer, f"{name} ({', '.join(shown)}), schedule: {schedule}"


def _early_stopping_note(stopper, history, args):
    """What early stopping did, for the log (epochs counted from 1, as the epoch lines)."""
    if stopper.best_epoch is None:
        return "early stopping: no finite validation loss was recorded"
    best = f"epoch {stopper.best_epoch + 1} (val_loss {stopper.best:.4f})"
    if stopper.stopped_epoch is not None:
        patience = args.early_stopping
        return (f"early stopping: val_loss did not improve for {patience} epoch{'s' if patience > 1 else ''}, "
                f"stopped after epoch {stopper.stopped_epoch + 1}; kept the weights of {best}")
    if stopper.best_epoch != history.epoch[-1]:
        return f"early stopping: did not stop; kept the weights of {best}"
    return f"early stopping: did not stop; the last epoch was the best, {best}"


# ---------------------------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------------------------

def _training_data(args):
    """``(X_train, X_test, labels_train, labels_test, names, metadata)`` for ``train``."""
    if args.dataset:
        (Xtr, ytr), (Xte, yte), names = _read_builtin(args.dataset, verbose=not args.quiet)
        return Xtr, Xte, ytr, yte, names, {"data": args.dataset}
    X, y = _read_file(args.data, args.label_column)
    train, test, fingerprint = _split(X.shape[0], args.test_split, args.seed, args.data)
    metadata = {"data": os.path.basename(args.data),
                "split": {"test_split": args.test_split, "seed": args.seed, "n_rows": int(X.shape[0]),
                          "test_rows_sha256": fingerprint, "test_data_sha256": _rows_fingerprint(X[test], y[test])}}
    return X[train], X[test], y[train], y[test], None, metadata


class _EpochEnd:
    """Calls ``fn(model, epoch, logs, X_test, y_test)`` after every epoch, outside the epoch's timed seconds
    (benchmarks/time_to_accuracy.py scores the test set there)."""

    def __init__(self, fn, X_test, y_test):
        self.fn, self.X_test, self.y_test = fn, X_test, y_test

    def on_epoch_end(self, model, epoch, logs):
        self.fn(model, epoch, logs, self.X_test, self.y_test)


def _cnn_layers(n_features, n_outputs, output, dropout, what):
    """The layers of ``--model cnn`` for one-channel square images of ``n_features`` pixels, and their
    description."""
    import fastnn

    side = math.isqrt(n_features)
    if side * side != n_features or side < 10:
        raise ValueError(f"{what}: --model cnn needs one-channel square images of at least 10x10 pixels given as "
                         f"rows, but the samples hold {n_features} features")
    dropout = 0.5 if dropout is None else dropout
    last = ((side - 2) // 2 - 2) // 2  # the side of the second pooling layer's output
    flat = 64 * last * last
    body = [fastnn.Reshape((1, side, side)), fastnn.Conv2D(1, 32, 3, activation="relu"), fastnn.MaxPool2D(2),
            fastnn.Conv2D(32, 64, 3, activation="relu"), fastnn.MaxPool2D(2), fastnn.Flatten()]
    tail = ([fastnn.Dropout(dropout)] if dropout else []) + [fastnn.Dense(flat, n_outputs, output)]
    description = (f"cnn {side}x{side} -> conv 32 3x3 relu -> max-pool 2 -> conv 64 3x3 relu -> max-pool 2 -> "
                   f"{flat} -> {n_outputs} ({output}{f', dropout {dropout:g}' if dropout else ''})")
    return body + tail, description


def _train(args, out, on_epoch_end=None):
    import fastnn

    t_start = time.perf_counter()
    # before the data is read and the network trained: a bad destination wastes no run
    if args.save:
        from .._core.validation import check_output_path

        check_output_path(args.save)
    if args.plot:
        from ..plotting import check_destination

        check_destination(args.plot)
    Xtr, Xte, ytr, yte, names, metadata = _training_data(args)
    what = args.data or args.dataset
    n_features = Xtr.shape[1]
    regression = args.task == "regression"
    if regression:
        ytr, yte = _targets(ytr, None, what), _targets(yte, None, what)
        y_mean, y_std = ytr.mean(axis=0), ytr.std(axis=0)
        y_std[y_std == 0] = 1.0
        n_outputs, classes = ytr.shape[1], None
        fit_targets = ((ytr - y_mean) / y_std).astype(args.dtype)
    else:
        ytr, yte = _class_values(ytr, what), _class_values(yte, what)
        classes = np.unique(np.concatenate([ytr, yte])).tolist()
        if len(classes) < 2:
            raise ValueError(f"{what}: the data holds a single class ({classes[0]}): nothing to classify")
        _check_class_count(ytr, len(classes), len(ytr) + len(yte), what)
        ytr, yte = _encode(ytr, classes, what), _encode(yte, classes, what)
        n_outputs, fit_targets = len(classes), ytr
        if names is not None:
            names = [names[c] for c in classes]
    output = "identity" if regression else "softmax"
    if args.model == "cnn":
        layers, description = _cnn_layers(n_features, n_outputs, output, args.dropout, what)
    else:
        widths = [n_features] + list(args.hidden)
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers.append(fastnn.Dense(a, b, args.activation))
            if args.dropout:
                layers.append(fastnn.Dropout(args.dropout))
        layers.append(fastnn.Dense(widths[-1], n_outputs, output))
        dropout = f", dropout {args.dropout:g}" if args.dropout and args.hidden else ""
        description = f"{' -> '.join(map(str, widths + [n_outputs]))} ({args.activation}, {output}{dropout})"
    model = fastnn.Sequential(layers, seed=args.seed, dtype=args.dtype)
    reg = fastnn.L1L2(l1=args.l1, l2=args.l2) if (args.l1 or args.l2) else None
    args.epochs, args.batch_size, small_data = _run_length(args, Xtr.shape[0])
    optimizer, recipe = _optimizer(args, _iterations_per_epoch(Xtr.shape[0], args.val_split, args.batch_size))
    model.compile("mse" if regression else "cross_entropy", optimizer, regularizer=reg)
    scaler = fastnn.preprocessing.get_scaler(args.scale)
    if scaler is not None:
        scaler.fit(Xtr)
    # Each part is scaled and converted to the model's dtype once; the raw arrays are then let go.
    Xtr = _prepared(Xtr, scaler, model.dtype, f"{what} features")
    Xte = _prepared(Xte, scaler, model.dtype, f"{what} features")
    if regression:
        out.write(f"data: {Xtr.shape[0]:,} training and {Xte.shape[0]:,} test samples, {n_features} features, "
                  f"{n_outputs} target{'s' if n_outputs > 1 else ''} (mean {_listing(f'{v:.4g}' for v in y_mean)}, "
                  f"std {_listing(f'{v:.4g}' for v in y_std)}; trained standardized, reported in their units); "
                  f"scaling: {args.scale}\n")
    else:
        shown = f" ({_listing(classes)})" if args.data else ""
        out.write(f"data: {Xtr.shape[0]:,} training and {Xte.shape[0]:,} test samples, {n_features} features, "
                  f"{n_outputs} classes{shown}; scaling: {args.scale}\n")
    out.write(f"model: {description}, {model.n_params:,} parameters, {args.dtype}; optimizer: {recipe}{small_data}\n")
    out.flush()
    callbacks, stopper = [], None
    if args.early_stopping is not None:
        stopper = fastnn.callbacks.EarlyStopping(monitor="val_loss", patience=args.early_stopping,
                                                 restore_best_weights=True)
        callbacks.append(stopper)
    if on_epoch_end is not None:
        callbacks.append(_EpochEnd(on_epoch_end, Xte, yte))
    with contextlib.redirect_stdout(out):  # progress output goes where the report goes
        history = model.fit(Xtr, fit_targets, epochs=args.epochs, batch_size=args.batch_size,
                            validation_split=args.val_split, n_threads=args.threads, verbose=2 if args.quiet else 1,
                            callbacks=callbacks)
    train_seconds = sum(history.history.get("seconds", []))
    out.write(f"trained {len(history)} epochs in {train_seconds:.1f}s\n")
    if stopper is not None and len(history):
        out.write(_early_stopping_note(stopper, history, args) + "\n")
    if regression:  # the output layer now predicts the targets in their own units
        last = model.layers[-1]
        last.weight *= y_std[:, None]
        last.bias *= y_std
        last.bias += y_mean
    _report(model, Xte, yte, classes, names, args.threads, out, "test ")
    if args.save:
        model.scaler, model.classes, model.metadata = scaler, classes, metadata
        model.save(args.save)
        out.write(f"saved model to {args.save}\n")
    if args.plot:
        history.plot(args.plot)
        out.write(f"saved learning curves to {args.plot}\n")
    out.write(f"total time {time.perf_counter() - t_start:.1f}s\n")
    return 0


def _agent_file_note(path):
    """What to do with ``path`` when it is a reinforcement-learning agent file rather than a model (None when it is
    not one)."""
    from ..saving.format import ModelFileError, guarded, open_archive, read_header

    try:
        with open_archive(path) as z:
            header = guarded(path, lambda: read_header(z, path))
    except ModelFileError:  # not an agent file either: the model loader's error stands
        return None
    if header.get("format") != "fastnn-rl":
        return None
    use = {"DQN": "fastnn.rl.DQN.load(path, env=gymnasium.make(ENV_ID)).evaluate(n_episodes=100)",
           "QLearning": "fastnn.rl.QLearning.load(path).evaluate(gymnasium.make(ENV_ID), episodes=1000)"}
    algo = header.get("algo")
    how = use.get(algo, "fastnn.rl.DQN.load or fastnn.rl.QLearning.load")
    return (f"{path} is a reinforcement-learning agent file ({algo if isinstance(algo, str) else 'unknown algorithm'}"
            f", saved by 'fastnn rl --save'), not a model that 'fastnn evaluate' scores: evaluate it in Python with "
            f"{how}, or train and evaluate one with 'fastnn rl'")


def _evaluate(args, out):
    from ..saving.format import ModelFileError, load_model

    try:
        model = load_model(args.model)
    except ModelFileError:
        note = _agent_file_note(args.model)
        if note is None:
            raise
        raise ModelFileError(note) from None
    if model.loss is None:
        model.compile("cross_entropy" if model.layers[-1].activation == "softmax" else "mse")
    if args.dataset:
        _, (X, y), names = _read_builtin(args.dataset, verbose=True)
        what, scope, prefix = args.dataset, f"the {args.dataset} test set", "test "
    else:
        X, y = _read_file(args.data, args.label_column)
        what, names = args.data, None
        if args.test_split:
            rows, scope = _recorded_split(model, args.model, X, y, args.data)
            X, y, prefix = X[rows], y[rows], "test "
        else:
            scope, prefix = f"all {X.shape[0]:,} rows of {args.data}", ""
    if X.shape[1] != model.n_features:
        raise ValueError(f"the data has {X.shape[1]} features but the model takes {model.n_features}")
    classes = None
    if _is_regression(model):
        y = _targets(y, model.n_outputs, what)
    else:
        classes = _model_classes(model)
        y = _encode(_class_values(y, what), classes, what)
        if names is not None:
            names = [names[c] if isinstance(c, int) and 0 <= c < len(names) else "" for c in classes]
    scaler, model.scaler = model.scaler, None  # applied here, once
    X = _prepared(X, scaler, model.dtype, f"{what} features")
    out.write(f"evaluating {args.model} on {scope}\n")
    _report(model, X, y, classes, names, args.threads, out, prefix)
    return 0


def _quiet_stdout():
    """Point the standard output at /dev/null, so that the interpreter's last flush does not fail again after
    the reader of a pipe went away (Python's recipe for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file behind stdout
        pass


def main(argv=None, out=None):
    """Run the command line; returns the exit status (0 success, 1 error, 2 bad arguments, 130 Ctrl-C, 141 the
    output's reader went away, as with SIGPIPE)."""
    out = out if out is not None else sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    command = parser.commands[args.command]  # its errors point at 'fastnn COMMAND --help'
    if args.dataset and args.command == "train" and args.task == "regression":
        command.error("--task regression needs --data FILE (the built-in datasets are classification tasks)")
    if args.command == "evaluate" and not (args.dataset or args.data):
        note = _agent_file_note(args.model) if os.path.isfile(args.model) else None
        if note is not None:
            sys.stderr.write(f"fastnn: error: {note}\n")
            return 1
        command.error("one of the arguments --dataset --data is required")
    if args.dataset and args.command == "evaluate" and args.test_split:
        command.error("--test-split goes with --data; a built-in dataset is scored on its own test set")
    from .._core.threads import available_cores

    if args.threads is not None and args.threads > available_cores():
        sys.stderr.write(f"fastnn: note: --threads {args.threads} is more than the {available_cores()} cores this "
                         f"process may use; using {available_cores()}\n")
        args.threads = available_cores()
    if args.command == "train":
        _check_recipe(command, args)
    from ..data.datasets import DatasetError
    from ..saving.format import ModelFileError

    try:
        if args.command == "cluster":
            from . import cluster

            code = cluster.run(args, out, _read_builtin, _read_file)
        elif args.command == "rl":
            from . import rl

            code = rl.run(args, out)
        else:
            code = _train(args, out) if args.command == "train" else _evaluate(args, out)
        out.flush()  # inside the try: a closed pipe shows up here
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except KeyboardInterrupt:
        sys.stderr.write("fastnn: interrupted\n")
        return 130
    except (ValueError, TypeError, DatasetError, ModelFileError, FloatingPointError, OSError, RuntimeError,
            ImportError) as exc:
        message = str(exc).strip().replace("\n", " ") if not isinstance(exc, DatasetError) else str(exc).strip()
        sys.stderr.write(f"fastnn: error: {message}\n")
        return 1
