"""``fastnn evaluate``: the scores of a saved model on a built-in dataset's test set or on a file (all of its rows,
or the rows training held out)."""
import argparse

from ._args import add_data_args, epilog
from ._data import (class_values, encode, is_regression, prepared, read_builtin, read_file, rows_fingerprint,
                    split_rows, targets)
from ._report import report

EXAMPLES = """\
  fastnn evaluate mnist.fnn --dataset mnist             test accuracy and confusion matrix of a saved model
  fastnn evaluate points.fnn --data points.csv          scores every row of the file
  fastnn evaluate points.fnn --data points.csv --test-split   only the rows training held out
"""


def add_parser(sub):
    e = sub.add_parser("evaluate", help="scores of a saved model on a dataset or a file",
                       description="Evaluate a model saved by 'fastnn train --save' (its scaling and class labels "
                                   "are applied): accuracy and confusion matrix of a classifier, mse, R^2 and MAE "
                                   "of a regression network. --data scores every row of the file unless "
                                   "--test-split asks for the rows training held out; --dataset scores its "
                                   "test set.",
                       epilog=epilog(EXAMPLES), formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("model", metavar="MODEL", help="a saved model file")
    add_data_args(e, "evaluate")
    return e


def agent_file_note(path):
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
    _, test, check = split_rows(n_rows, fraction, seed, data_path)
    if fingerprint is not None and check != fingerprint:
        raise ValueError(f"cannot reproduce the test split recorded in {model_path} (this NumPy draws different "
                         "random numbers): evaluate the whole file without --test-split")
    contents = split.get("test_data_sha256")  # absent from models saved before it was recorded
    if contents is not None and rows_fingerprint(X[test], y[test]) != contents:
        raise ValueError(f"the rows of {data_path} at the recorded test split are not the rows that training held "
                         "out (a different, reordered or edited file): --test-split needs the file the model was "
                         "trained on; evaluate the whole file without --test-split")
    return test, f"{len(test):,} test rows held out in training (test split {fraction} of {rows:,} rows, seed {seed})"


def _model_classes(model):
    """The labels a classifier's output units stand for (``0 .. K-1`` when the model records none)."""
    if model.classes is not None:
        return list(model.classes)
    return list(range(2 if model.n_outputs == 1 else model.n_outputs))


def run(args, out):
    from ..saving.format import ModelFileError, load_model

    try:
        model = load_model(args.model)
    except ModelFileError:
        note = agent_file_note(args.model)
        if note is None:
            raise
        raise ModelFileError(note) from None
    if model.loss is None:
        model.compile("cross_entropy" if model.layers[-1].activation == "softmax" else "mse")
    if args.dataset:
        _, (X, y), names = read_builtin(args.dataset, verbose=True)
        what, scope, prefix = args.dataset, f"the {args.dataset} test set", "test "
    else:
        X, y = read_file(args.data, args.label_column)
        what, names = args.data, None
        if args.test_split:
            rows, scope = _recorded_split(model, args.model, X, y, args.data)
            X, y, prefix = X[rows], y[rows], "test "
        else:
            scope, prefix = f"all {X.shape[0]:,} rows of {args.data}", ""
    if X.shape[1] != model.n_features:
        raise ValueError(f"the data has {X.shape[1]} features but the model takes {model.n_features}")
    classes = None
    if is_regression(model):
        y = targets(y, model.n_outputs, what)
    else:
        classes = _model_classes(model)
        y = encode(class_values(y, what), classes, what)
        if names is not None:
            names = [names[c] if isinstance(c, int) and 0 <= c < len(names) else "" for c in classes]
    scaler, model.scaler = model.scaler, None  # applied here, once
    X = prepared(X, scaler, model.dtype, f"{what} features", model.input_shape)
    out.write(f"evaluating {args.model} on {scope}\n")
    report(model, X, y, classes, names, args.threads, out, prefix)
    return 0
