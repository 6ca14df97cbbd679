"""``fastnn train``: train a classifier or a regression network on a built-in dataset or a file, report its test
scores, and save it."""
import argparse
import contextlib
import io
import math
import os
import time

import numpy as np

from ._args import add_data_args, epilog, float_in, non_negative_int, positive_int
from ._data import (class_values, encode, listing, prepared, read_builtin, read_file, rows_fingerprint, split_rows,
                    targets)
from ._report import report

EXAMPLES = """\
  fastnn train --dataset fashion-mnist                  train with the defaults (about 0.89 test accuracy)
  fastnn train --dataset mnist --hidden 512 256 --epochs 15 --save mnist.fnn
  fastnn train --data points.csv --label-column 0 --test-split 0.25 --save points.fnn
  fastnn train --data iris.csv --label-column species   the label column by its name in the header
  fastnn train --data houses.csv --task regression      numeric targets: reports mse, R^2 and MAE
  fastnn train --dataset mnist --plot curves.png        also draw the learning curves (needs matplotlib)
  fastnn train --dataset mnist --optimizer adam --schedule cosine --early-stopping 3
  fastnn train --dataset fashion-mnist --model cnn --epochs 15   a convolutional network
  fastnn train --dataset fashion-mnist --model lstm              each image as 28 steps of 28 pixels
  mpiexec -n 2 fastnn train --dataset fashion-mnist --distributed  2 processes share each batch (over MPI)
"""
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


def add_parser(sub):
    t = sub.add_parser("train", help="train a classifier (or a regression network) and report its test scores",
                       description="Train a network: hidden layers with --activation, then a softmax output with "
                                   "cross-entropy loss (--task classification) or an identity output with mean "
                                   "squared error (--task regression), trained by --optimizer (default: SGD with "
                                   "Nesterov momentum 0.9) under a --schedule (default: onecycle), optionally "
                                   "with --early-stopping. Shows a "
                                   "progress bar within each epoch and a line per epoch, then the test scores "
                                   "(accuracy and confusion matrix, or mse, R^2 and MAE).",
                       epilog=epilog(EXAMPLES), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(t, "train")
    t.add_argument("--task", choices=["classification", "regression"], default="classification",
                   help="classification (default): the labels are classes, numbers or text, mapped in sorted "
                        "order to output units; regression: numeric targets, standardized for training and "
                        "reported in their own units")
    t.add_argument("--model", choices=["mlp", "cnn", "lstm"], default="mlp",
                   help="mlp (default): dense hidden layers (--hidden, --activation); cnn: the convolutional "
                        "network Reshape, Conv2D 32 3x3 relu, MaxPool2D 2, Conv2D 64 3x3 relu, MaxPool2D 2, "
                        "Flatten, Dropout (--dropout, default 0.5), then the output layer, for one-channel square "
                        "images given as rows of pixels (MNIST, Fashion-MNIST); lstm: each such image read as a "
                        "sequence of its rows (28 steps of 28 pixels) by LSTM 128, then the output layer (Adam with "
                        "clipnorm 1 unless --optimizer says otherwise)")
    t.add_argument("--hidden", type=positive_int, nargs="*", default=[256, 128], metavar="N",
                   help="sizes of the hidden layers (default: 256 128; none for a linear model)")
    t.add_argument("--activation", choices=["relu", "tanh", "sigmoid"], default="relu",
                   help="hidden-layer activation (default: relu)")
    t.add_argument("--dropout", type=float_in(0, 1, high_open=True), default=None, metavar="P",
                   help="dropout rate in [0, 1) after every hidden layer: while training, each hidden unit is "
                        "zeroed with probability P (fastnn.Dropout); 0 adds no dropout (default: 0; --model "
                        "cnn: 0.5 before the output layer)")
    t.add_argument("--epochs", type=positive_int, default=None,
                   help="passes over the data (default: 6; on small data more, enough for at least 1,000 updates, "
                        "at most 200 epochs)")
    t.add_argument("--batch-size", type=positive_int, default=None,
                   help="samples per update (default: 128; 32 for fewer than 4,096 training samples)")
    t.add_argument("--optimizer", choices=list(_DEFAULT_LR), default=None,
                   help="the update rule, with PyTorch's formulas (default: sgd; adam for --model lstm)")
    t.add_argument("--lr", type=float_in(0, float("inf"), low_open=True), default=None,
                   help="learning rate; the initial rate with --schedule cosine, the peak with onecycle "
                        "(default: 0.01 for sgd, 0.001 for adam, adamw and rmsprop; with onecycle 5 times that: "
                        "0.05 for sgd, 0.005 for the others)")
    t.add_argument("--momentum", type=float_in(0, 1, high_open=True), default=None,
                   help="momentum in [0, 1), for sgd (default: 0.9) and rmsprop (default: 0)")
    t.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None,
                   help="Nesterov momentum, for sgd with momentum above 0 (default: on for sgd with momentum "
                        "above 0; --no-nesterov for the classical momentum)")
    t.add_argument("--weight-decay", type=float_in(0, float("inf")), default=None, metavar="W",
                   help="weight decay of the optimizer, on the weights only: added to the gradient (sgd, adam, "
                        "rmsprop) or decoupled (adamw) (default: 0.01 for adamw, else 0)")
    t.add_argument("--schedule", choices=["none", "cosine", "onecycle"], default=None,
                   help="learning-rate schedule over the whole run, updated every batch: cosine decays from --lr "
                        "to 0, onecycle rises to --lr over the first 30%% of the updates and then anneals, none "
                        "keeps --lr constant (default: onecycle; none for a run of fewer than 4 updates)")
    t.add_argument("--early-stopping", type=positive_int, default=None, metavar="PATIENCE",
                   help="stop when the validation loss has not improved for PATIENCE epochs, and keep the "
                        "weights of the epoch with the lowest validation loss (needs --val-split above 0)")
    t.add_argument("--l1", type=float_in(0, float("inf")), default=0.0, help="L1 penalty (default: 0)")
    t.add_argument("--l2", type=float_in(0, float("inf")), default=5e-4,
                   help="L2 penalty alpha/2*sum(w^2) on the weights (default: 0.0005)")
    t.add_argument("--scale", choices=["standard", "minmax", "log", "none"], default="standard",
                   help="feature scaling fitted on the training data (default: standard)")
    t.add_argument("--val-split", type=float_in(0, 1, high_open=True), default=0.1, metavar="F",
                   help="fraction of the training data held out for validation each epoch (default: 0.1)")
    t.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    t.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    t.add_argument("--save", metavar="PATH", help="save the trained model (with its scaling, class labels and "
                                                  "test split) to PATH")
    t.add_argument("--plot", metavar="FILE", help="after training, draw the loss and accuracy of each epoch "
                                                  "(training and validation) to FILE: .png, .svg, .pdf, ... "
                                                  "(needs matplotlib: pip install matplotlib)")
    t.add_argument("--quiet", action="store_true", help="no progress bar, only the epoch lines and results")
    t.add_argument("--distributed", action="store_true",
                   help="run under mpiexec: the processes (ranks) share each batch, summing their gradients, and "
                        "end with the same model; rank 0 writes the output, the model and the plot (needs "
                        "pip install mpi4py mpich; see fastnn.distributed)")
    return t


def optimizer_name(args):
    """--optimizer, or its default: sgd (adam for --model lstm)."""
    return args.optimizer or ("adam" if getattr(args, "model", "mlp") == "lstm" else "sgd")


def check_recipe(parser, args):
    """Refuse (exit status 2) settings of ``train`` that contradict each other."""
    name = args.optimizer = optimizer_name(args)
    if args.nesterov is not None and name != "sgd":
        flag = "--nesterov" if args.nesterov else "--no-nesterov"
        parser.error(f"{flag} goes with --optimizer sgd, not {name}")
    if args.momentum is not None and name not in _DEFAULT_MOMENTUM:
        parser.error(f"--momentum goes with --optimizer sgd or rmsprop; {name} has no momentum setting")
    if args.nesterov and args.momentum == 0:
        parser.error("--nesterov needs --momentum above 0")
    if args.early_stopping is not None and args.val_split == 0:
        parser.error("--early-stopping needs a validation split: --val-split above 0")


def run_length(args, n_samples):
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

    name = args.optimizer = optimizer_name(args)
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
    if args.model == "lstm":  # recurrent networks want their gradients' norm clipped
        settings["clipnorm"] = 1.0
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


def _training_data(args):
    """``(X_train, X_test, labels_train, labels_test, names, metadata)`` for ``train``."""
    if args.dataset:
        (Xtr, ytr), (Xte, yte), names = read_builtin(args.dataset, verbose=not args.quiet)
        return Xtr, Xte, ytr, yte, names, {"data": args.dataset}
    X, y = read_file(args.data, args.label_column)
    train, test, fingerprint = split_rows(X.shape[0], args.test_split, args.seed, args.data)
    metadata = {"data": os.path.basename(args.data),
                "split": {"test_split": args.test_split, "seed": args.seed, "n_rows": int(X.shape[0]),
                          "test_rows_sha256": fingerprint, "test_data_sha256": rows_fingerprint(X[test], y[test])}}
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


def _lstm_layers(n_features, n_outputs, output, dropout, what):
    """The layers of ``--model lstm`` for one-channel square images of ``n_features`` pixels (each read as a
    sequence of its rows), the model's input shape and their description."""
    import fastnn

    side = math.isqrt(n_features)
    if side * side != n_features or side < 2:
        raise ValueError(f"{what}: --model lstm reads one-channel square images given as rows of pixels as sequences "
                         f"of their rows, but the samples hold {n_features} features")
    tail = ([fastnn.Dropout(dropout)] if dropout else []) + [fastnn.Dense(128, n_outputs, output)]
    description = (f"lstm {side} steps of {side} pixels -> 128 -> {n_outputs} ({output}"
                   f"{f', dropout {dropout:g}' if dropout else ''})")
    return [fastnn.LSTM(side, 128)] + tail, (side, side), description


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


def run(args, out, on_epoch_end=None):
    import fastnn

    t_start = time.perf_counter()
    dp = None
    if args.distributed:
        from ..distributed import DataParallel

        dp = DataParallel()
        if dp.rank != 0:  # rank 0 reports; the others train beside it
            out, args.save, args.plot = io.StringIO(), None, None
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
        ytr, yte = targets(ytr, None, what), targets(yte, None, what)
        y_mean, y_std = ytr.mean(axis=0), ytr.std(axis=0)
        y_std[y_std == 0] = 1.0
        n_outputs, classes = ytr.shape[1], None
        fit_targets = ((ytr - y_mean) / y_std).astype(args.dtype)
    else:
        ytr, yte = class_values(ytr, what), class_values(yte, what)
        classes = np.unique(np.concatenate([ytr, yte])).tolist()
        if len(classes) < 2:
            raise ValueError(f"{what}: the data holds a single class ({classes[0]}): nothing to classify")
        _check_class_count(ytr, len(classes), len(ytr) + len(yte), what)
        ytr, yte = encode(ytr, classes, what), encode(yte, classes, what)
        n_outputs, fit_targets = len(classes), ytr
        if names is not None:
            names = [names[c] for c in classes]
    output = "identity" if regression else "softmax"
    input_shape = None
    if args.model == "cnn":
        layers, description = _cnn_layers(n_features, n_outputs, output, args.dropout, what)
    elif args.model == "lstm":
        layers, input_shape, description = _lstm_layers(n_features, n_outputs, output, args.dropout, what)
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
    model = fastnn.Sequential(layers, seed=args.seed, dtype=args.dtype, input_shape=input_shape)
    reg = fastnn.L1L2(l1=args.l1, l2=args.l2) if (args.l1 or args.l2) else None
    args.epochs, args.batch_size, small_data = run_length(args, Xtr.shape[0])
    optimizer, recipe = _optimizer(args, _iterations_per_epoch(Xtr.shape[0], args.val_split, args.batch_size))
    model.compile("mse" if regression else "cross_entropy", optimizer, regularizer=reg)
    scaler = fastnn.preprocessing.get_scaler(args.scale)
    if scaler is not None:
        scaler.fit(Xtr)
    # Each part is scaled and converted to the model's dtype once; the raw arrays are then let go.
    Xtr = prepared(Xtr, scaler, model.dtype, f"{what} features", model.input_shape)
    Xte = prepared(Xte, scaler, model.dtype, f"{what} features", model.input_shape)
    if regression:
        out.write(f"data: {Xtr.shape[0]:,} training and {Xte.shape[0]:,} test samples, {n_features} features, "
                  f"{n_outputs} target{'s' if n_outputs > 1 else ''} (mean {listing(f'{v:.4g}' for v in y_mean)}, "
                  f"std {listing(f'{v:.4g}' for v in y_std)}; trained standardized, reported in their units); "
                  f"scaling: {args.scale}\n")
    else:
        shown = f" ({listing(classes)})" if args.data else ""
        out.write(f"data: {Xtr.shape[0]:,} training and {Xte.shape[0]:,} test samples, {n_features} features, "
                  f"{n_outputs} classes{shown}; scaling: {args.scale}\n")
    out.write(f"model: {description}, {model.n_params:,} parameters, {args.dtype}; optimizer: {recipe}{small_data}\n")
    if dp is not None and dp.size > 1:
        out.write(f"distributed: {dp.size} processes (MPI ranks) share each batch of {args.batch_size}\n")
    elif dp is not None:
        out.write("distributed: a single process (start it with mpiexec -n N fastnn train ... --distributed to "
                  "share the batches between N processes)\n")
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
                            callbacks=callbacks, distribute=dp)
    train_seconds = sum(history.history.get("seconds", []))
    out.write(f"trained {len(history)} epochs in {train_seconds:.1f}s\n")
    if stopper is not None and len(history):
        out.write(_early_stopping_note(stopper, history, args) + "\n")
    if regression:  # the output layer now predicts the targets in their own units
        last = model.layers[-1]
        last.weight *= y_std[:, None]
        last.bias *= y_std
        last.bias += y_mean
    report(model, Xte, yte, classes, names, args.threads, out, "test ")
    if args.save:
        model.scaler, model.classes, model.metadata = scaler, classes, metadata
        model.save(args.save)
        out.write(f"saved model to {args.save}\n")
    if args.plot:
        history.plot(args.plot)
        out.write(f"saved learning curves to {args.plot}\n")
    out.write(f"total time {time.perf_counter() - t_start:.1f}s\n")
    return 0
