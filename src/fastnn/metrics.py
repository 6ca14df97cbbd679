"""Scores of predictions and clusterings: accuracy, confusion matrix, clustering accuracy and normalized mutual
information (the two measures clustering papers report, as scikit-learn defines NMI); and the metrics
``compile(metrics=[...])`` records every epoch, each equal to scikit-learn's function of the same name:
:func:`mean_absolute_error`, :func:`mean_squared_error`, :func:`top_k_accuracy_score`, :func:`precision_score`,
:func:`recall_score`, :func:`f1_score` and :func:`roc_auc_score`.

Labels may be of any type numpy compares (integers, strings); arrays of shape (n_samples,).

The metrics ``compile`` takes are the entries of :data:`METRICS` (a name, Keras's spelling, or a :class:`Metric`
such as ``TopKAccuracy(k=3)``). Each is computed once per epoch from the model's predictions on the training
data at the epoch's end and on the validation data (``val_<name>``), and by ``evaluate``, without sample weights
(as Keras's ``metrics``, not its ``weighted_metrics``).
"""
import re

import numpy as np

__all__ = ["accuracy", "confusion_matrix", "clustering_accuracy", "normalized_mutual_info", "mean_absolute_error",
           "mean_squared_error", "top_k_accuracy_score", "precision_score", "recall_score", "f1_score",
           "roc_auc_score", "Metric", "TopKAccuracy", "METRICS", "get_metric"]


def _pair(y_true, y_pred, names=("y_true", "y_pred")):
    a, b = np.asarray(y_true), np.asarray(y_pred)
    for arr, name in zip((a, b), names):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-dimensional labels, got shape {arr.shape}")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{names[0]} has {a.shape[0]} labels but {names[1]} has {b.shape[0]}")
    if a.shape[0] == 0:
        raise ValueError(f"{names[0]} is empty")
    return a, b


def accuracy(y_true, y_pred):
    """Fraction of samples whose prediction equals the label."""
    a, b = _pair(y_true, y_pred)
    return float(np.mean(a == b))


def confusion_matrix(y_true, y_pred, labels=None):
    """Counts ``C[i, j]`` of samples of class ``labels[i]`` predicted as ``labels[j]`` (default: the sorted union
    of the labels seen), as scikit-learn's ``confusion_matrix``.

    Examples
    --------
    >>> from fastnn.metrics import confusion_matrix
    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2]).tolist()
    [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    a, b = _pair(y_true, y_pred)
    labels = np.unique(np.concatenate([a, b])) if labels is None else np.asarray(labels)
    n = len(labels)
    order = np.argsort(labels, kind="stable")
    known = labels[order]

    def position(v):  # each value's index in ``labels``, or -1 for a value not among them
        at = np.minimum(np.searchsorted(known, v), max(n - 1, 0))
        return np.where(known[at] == v, order[at], -1) if n else np.full(len(v), -1)

    i, j = position(a), position(b)
    keep = (i >= 0) & (j >= 0)
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (i[keep], j[keep]), 1)
    return cm


def _contingency(a, b):
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1), dtype=np.int64)
    np.add.at(table, (ia, ib), 1)
    return table


def clustering_accuracy(y_true, labels):
    """Accuracy of a clustering under the best one-to-one matching of clusters to classes (the Hungarian method,
    ``scipy.optimize.linear_sum_assignment``); clusters left without a class count as wrong.

    Examples
    --------
    >>> from fastnn.metrics import clustering_accuracy
    >>> clustering_accuracy([0, 0, 1, 1, 2, 2], [5, 5, 3, 3, 3, 4])
    0.8333333333333334
    """
    from scipy.optimize import linear_sum_assignment

    a, b = _pair(y_true, labels, ("y_true", "labels"))
    table = _contingency(a, b)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / a.shape[0])


def _entropy(counts, n):
    p = counts[counts > 0] / n
    return float(-(p * np.log(p)).sum())


def normalized_mutual_info(y_true, labels):
    """Normalized mutual information with the arithmetic mean of the entropies (scikit-learn's default):
    1 for a clustering that matches the classes up to renaming, near 0 for an unrelated one.

    Examples
    --------
    >>> from fastnn.metrics import normalized_mutual_info
    >>> normalized_mutual_info([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    a, b = _pair(y_true, labels, ("y_true", "labels"))
    n = a.shape[0]
    table = _contingency(a, b).astype(np.float64)
    h_a, h_b = _entropy(table.sum(axis=1), n), _entropy(table.sum(axis=0), n)
    if h_a == 0 and h_b == 0:
        return 1.0
    nz = table > 0
    outer = np.outer(table.sum(axis=1), table.sum(axis=0))
    mi = float((table[nz] / n * np.log(table[nz] * n / outer[nz])).sum())
    return max(0.0, mi / max((h_a + h_b) / 2, np.finfo(np.float64).eps))


# -- the metrics compile records --------------------------------------------------------------------------------


def _rows(y_true, y_pred):
    a, b = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if a.shape != b.shape or a.ndim not in (1, 2) or a.shape[0] == 0:
        raise ValueError(f"y_true and y_pred must be non-empty arrays of one shape, (n_samples,) or (n_samples, "
                         f"n_outputs), got {a.shape} and {b.shape}")
    return a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)


def mean_absolute_error(y_true, y_pred):
    """Mean of ``|y_pred - y_true|`` over samples, then over outputs (scikit-learn's ``mean_absolute_error``).

    Examples
    --------
    >>> from fastnn.metrics import mean_absolute_error
    >>> mean_absolute_error([1.0, 2.0, 4.0], [1.5, 2.0, 3.0])
    0.5
    """
    a, b = _rows(y_true, y_pred)
    return float(np.mean(np.mean(np.abs(b - a), axis=0)))


def mean_squared_error(y_true, y_pred):
    """Mean of ``(y_pred - y_true)^2`` over samples, then over outputs (scikit-learn's ``mean_squared_error``).

    Examples
    --------
    >>> from fastnn.metrics import mean_squared_error
    >>> mean_squared_error([1.0, 2.0, 4.0], [1.5, 2.0, 3.0])
    0.4166666666666667
    """
    a, b = _rows(y_true, y_pred)
    return float(np.mean(np.mean((b - a) ** 2, axis=0)))


def top_k_accuracy_score(y_true, y_score, k=5):
    """Fraction of samples whose class is among the ``k`` highest scores.

    As scikit-learn's ``top_k_accuracy_score`` with ``labels`` the score columns ``0, ..., n_classes - 1``; among
    equal scores the later column ranks first, as there.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Class indices.
    y_score : array-like of shape (n_samples, n_classes)
    k : int, default=5

    Examples
    --------
    >>> from fastnn.metrics import top_k_accuracy_score
    >>> top_k_accuracy_score([0, 1, 2], [[0.5, 0.3, 0.2], [0.6, 0.1, 0.3], [0.1, 0.2, 0.7]], k=2)
    0.6666666666666666
    """
    labels = np.asarray(y_true)
    score = np.asarray(y_score, dtype=np.float64)
    if score.ndim != 2 or labels.shape != (score.shape[0],) or labels.shape[0] == 0:
        raise ValueError(f"y_true must be (n_samples,) class indices and y_score (n_samples, n_classes), got shapes "
                         f"{labels.shape} and {score.shape}")
    top = np.argsort(score, axis=1, kind="mergesort")[:, ::-1][:, :k]
    return float(np.mean((top == labels[:, None]).any(axis=1)))


def _counts(y_true, y_pred, average):
    """Per label ``(true positives, predicted positives, actual positives)`` as scikit-learn's
    ``precision_recall_fscore_support`` counts them: for class labels, over the labels present in either array
    (``average='binary'``: label 1 alone); for indicator matrices (multilabel), over the columns."""
    if average not in ("binary", "macro"):
        raise ValueError(f"average must be 'binary' or 'macro', got {average!r}")
    a, b = np.asarray(y_true), np.asarray(y_pred)
    if a.shape != b.shape or a.ndim not in (1, 2) or a.shape[0] == 0:
        raise ValueError(f"y_true and y_pred must be non-empty labels of one shape, got {a.shape} and {b.shape}")
    if a.ndim == 2:  # multilabel indicators
        a, b = a.astype(bool), b.astype(bool)
        return (a & b).sum(axis=0), b.sum(axis=0), a.sum(axis=0)
    labels = np.unique(np.concatenate([a, b]))
    if average == "binary":
        if not np.isin(labels, [0, 1]).all():
            raise ValueError(f"average='binary' needs labels 0 and 1, got {labels.tolist()}: use average='macro'")
        labels = np.array([1])
    hit = (a == b)
    return (np.array([np.sum(hit & (a == c)) for c in labels]), np.array([np.sum(b == c) for c in labels]),
            np.array([np.sum(a == c) for c in labels]))


def _ratio(num, den):
    """``num / den`` per label, 0 where ``den`` is 0 (scikit-learn's ``zero_division`` result, without its
    warning)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def precision_score(y_true, y_pred, average="binary"):
    """Precision ``tp / (tp + fp)`` (scikit-learn's ``precision_score``): of label 1 (``average='binary'``), or the
    unweighted mean over the labels (``'macro'``; multilabel indicator matrices: over the columns). 0 where nothing
    is predicted positive.

    Examples
    --------
    >>> from fastnn.metrics import precision_score
    >>> precision_score([0, 1, 2, 2], [0, 2, 2, 1], average="macro")
    0.5
    """
    tp, predicted, _ = _counts(y_true, y_pred, average)
    return float(np.mean(_ratio(tp, predicted)))


def recall_score(y_true, y_pred, average="binary"):
    """Recall ``tp / (tp + fn)`` (scikit-learn's ``recall_score``), averaged as :func:`precision_score`.

    Examples
    --------
    >>> from fastnn.metrics import recall_score
    >>> recall_score([0, 1, 1, 1], [0, 1, 0, 1])
    0.6666666666666666
    """
    tp, _, actual = _counts(y_true, y_pred, average)
    return float(np.mean(_ratio(tp, actual)))


def f1_score(y_true, y_pred, average="binary"):
    """F1 ``2 tp / (2 tp + fp + fn)`` (scikit-learn's ``f1_score``), averaged as :func:`precision_score` (the
    macro average is the mean of each label's F1).

    Examples
    --------
    >>> from fastnn.metrics import f1_score
    >>> f1_score([0, 1, 1, 1], [0, 1, 0, 1])
    0.8
    """
    tp, predicted, actual = _counts(y_true, y_pred, average)
    return float(np.mean(_ratio(2 * tp, predicted + actual)))


def roc_auc_score(y_true, y_score):
    """Area under the ROC curve of binary labels (scikit-learn's ``roc_auc_score``): the probability that a random
    positive scores above a random negative, ties counting one half (the Mann-Whitney statistic, from the scores'
    average ranks). NaN when ``y_true`` holds one class only (scikit-learn raises there).

    Examples
    --------
    >>> from fastnn.metrics import roc_auc_score
    >>> roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    from scipy.stats import rankdata

    a = np.asarray(y_true)
    score = np.asarray(y_score, dtype=np.float64)
    if a.ndim != 1 or score.shape != a.shape or a.shape[0] == 0:
        raise ValueError(f"y_true and y_score must be non-empty (n_samples,) arrays, got {a.shape} and {score.shape}")
    if not np.isin(a, [0, 1]).all():
        raise ValueError("y_true must hold binary labels 0 and 1")
    positive = a == 1
    n_pos = int(positive.sum())
    n_neg = a.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class Metric:
    """A metric ``compile`` records.

    It holds its ``name`` (the history's key), the function computing it and the form of the data it takes from
    the model: ``'rows'`` (targets and outputs row by row: one-hot rows for class labels),
    ``'scores'`` (class indices and the output's scores), ``'classes'`` (true and predicted classes; the
    ``average`` is ``'binary'`` for a model of two classes, ``'macro'`` otherwise) or ``'binary'`` (labels 0/1 and
    the positive class's score; models of two classes only)."""

    def __init__(self, name, function, needs, **kwargs):
        self.name, self.function, self.needs, self.kwargs = name, function, needs, kwargs

    def __call__(self, y_true, y_pred, **kwargs):
        return self.function(y_true, y_pred, **self.kwargs, **kwargs)

    def __repr__(self):
        return f"Metric({self.name!r})"


class TopKAccuracy(Metric):
    """The fraction of samples whose class is among the ``k`` highest outputs.

    Keras's ``SparseTopKCategoricalAccuracy``, recorded as ``'top_k_accuracy'`` for ``k=5`` and ``'top_<k>_accuracy'``
    otherwise (or ``name``). Given by name, ``compile(metrics=["top_5_accuracy"])`` records the name written.

    Examples
    --------
    >>> import fastnn
    >>> model = fastnn.Sequential([fastnn.Dense(4, 10, activation="softmax")])
    >>> model.compile(metrics=["accuracy", fastnn.metrics.TopKAccuracy(k=3)]).metrics
    ['accuracy', 'top_3_accuracy']
    """

    def __init__(self, k=5, name=None):
        from ._core.validation import check_int

        k = check_int(k, "k", minimum=1)
        super().__init__(name or ("top_k_accuracy" if k == 5 else f"top_{k}_accuracy"), top_k_accuracy_score,
                         "scores", k=k)


#: The metrics ``compile(metrics=[...])`` takes by name (besides ``'accuracy'``, which the engine counts).
METRICS = {
    "mae": Metric("mae", mean_absolute_error, "rows"),
    "mse": Metric("mse", mean_squared_error, "rows"),
    "top_k_accuracy": TopKAccuracy(5),
    "precision": Metric("precision", precision_score, "classes"),
    "recall": Metric("recall", recall_score, "classes"),
    "f1": Metric("f1", f1_score, "classes"),
    "auc": Metric("auc", roc_auc_score, "binary"),
}
#: Keras's and scikit-learn's spellings of those names.
_ALIASES = {"mean_absolute_error": "mae", "mean_squared_error": "mse", "sparse_top_k_categorical_accuracy":
            "top_k_accuracy", "top_k_categorical_accuracy": "top_k_accuracy", "top_k_accuracy_score":
            "top_k_accuracy", "f1_score": "f1", "precision_score": "precision", "recall_score": "recall",
            "roc_auc": "auc", "roc_auc_score": "auc"}


def get_metric(metric):
    """The :class:`Metric` of a name, or the metric itself.

    Names are those of :data:`METRICS`, Keras's spellings, or ``'top_<k>_accuracy'`` (recorded under that name,
    for every ``k``; the other spellings are recorded under the name of :data:`METRICS` they stand for).

    Examples
    --------
    >>> from fastnn.metrics import get_metric
    >>> get_metric("top_5_accuracy").name, get_metric("top_k_categorical_accuracy").name
    ('top_5_accuracy', 'top_k_accuracy')
    """
    if isinstance(metric, Metric):
        return metric
    if not isinstance(metric, str):
        raise TypeError(f"a metric must be a name or a fastnn.metrics.Metric, got {type(metric).__name__}")
    name = _ALIASES.get(metric.lower(), metric.lower())
    top = re.fullmatch(r"top_(\d+)_accuracy", name)
    if top:  # recorded as written, as Keras records a metric given by name
        return TopKAccuracy(int(top.group(1)), name=name)
    if name not in METRICS:
        import difflib

        close = difflib.get_close_matches(name, ["accuracy", *METRICS, *_ALIASES], n=1)
        hint = f" (did you mean {_ALIASES.get(close[0], close[0])!r}?)" if close else ""
        raise ValueError(f"unknown metric {metric!r}{hint}: fastnn records 'accuracy' and {sorted(METRICS)} beside "
                         "the loss")
    return METRICS[name]
