"""Scores of predictions and clusterings: accuracy, confusion matrix, clustering accuracy and normalized mutual
information (the two measures clustering papers report, as scikit-learn defines NMI).

Labels may be of any type numpy compares (integers, strings); arrays of shape (n_samples,).
"""
import numpy as np

__all__ = ["accuracy", "confusion_matrix", "clustering_accuracy", "normalized_mutual_info"]


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
