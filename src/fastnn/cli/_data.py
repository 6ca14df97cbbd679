"""What the commands share about data: reading a built-in dataset or a file, the test split, class labels and
regression targets, and inputs prepared for a model."""
import hashlib

import numpy as np


def read_builtin(name, verbose):
    """``(X_train, y_train), (X_test, y_test), class names`` of a built-in dataset, pixels as rows."""
    from ..data import datasets

    loader = datasets.load_mnist if name == "mnist" else datasets.load_fashion_mnist
    train, test = loader(verbose=verbose, flatten=True)
    names = list(datasets.FASHION_MNIST_CLASSES) if name == "fashion-mnist" else None
    return train, test, names


def read_file(path, label_column):
    """Features ``(n_rows, n_features)`` and labels of a user's file, checked to match."""
    from ..data import datasets

    X, y = datasets.load_file(path, label_column=label_column)
    if X.ndim != 2:
        raise ValueError(f"{path}: features must form a 2-d table, got shape {X.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{path}: {X.shape[0]} samples but {y.shape[0]} labels")
    return X, y


def split_rows(n_rows, test_split, seed, what):
    """Row indices ``(train, test)`` holding out ``test_split`` of ``n_rows``: the same three numbers always give
    the same rows; also a fingerprint of the test rows, to check that a later run drew the same ones."""
    n_test = int(round(n_rows * test_split))
    if n_test < 1 or n_test >= n_rows:
        raise ValueError(f"{what}: --test-split {test_split} leaves no training or no test samples of {n_rows}")
    perm = np.random.default_rng(seed).permutation(n_rows)
    test = perm[:n_test]
    return perm[n_test:], test, hashlib.sha256(test.astype("<i8").tobytes()).hexdigest()[:16]


def rows_fingerprint(X, y):
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


def class_values(y, what):
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


def encode(values, classes, what):
    """Index in ``classes`` (the labels by output unit) of every label in ``values``."""
    found, inverse = np.unique(values, return_inverse=True)
    index = {c: i for i, c in enumerate(classes)}
    unknown = [v for v in found.tolist() if v not in index]
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
        raise ValueError(f"{what} holds labels the model was not trained on ({shown}); its classes are "
                         f"{listing(classes)}")
    return np.array([index[v] for v in found.tolist()], dtype=np.int64)[inverse.reshape(-1)]


def listing(values, limit=12):
    values = [str(v) for v in values]
    return ", ".join(values[:limit]) + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def targets(y, n_outputs, what):
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


def is_regression(model):
    return model.loss is not None and model.loss.name == "mse"


def prepared(X, scaler, dtype, what, shape=None):
    """``X`` scaled and converted to the model's dtype, once (no float64 copy of integer data); its rows shaped as
    samples of ``shape`` (a model's ``input_shape``: sequences for a recurrent model) when given."""
    from .._core.validation import check_features

    X = check_features(X if scaler is None else scaler.transform(X, dtype=dtype), what, dtype)
    return X if shape is None or len(shape) < 2 else X.reshape((X.shape[0],) + tuple(shape))
