"""Scores and their display: the confusion matrix as text, the regression scores, and the report of a model's
scores that ``train`` and ``evaluate`` write."""
import time

import numpy as np

from ..metrics import confusion_matrix
from ..training.inference import class_indices
from ._data import is_regression

__all__ = ["format_confusion_matrix", "regression_scores", "report"]

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


def report(model, X, y, labels, names, threads, out, prefix):
    """Write the scores of ``model`` on prepared inputs ``X`` and class indices or targets ``y``."""
    t0 = time.perf_counter()
    if is_regression(model):
        scores = regression_scores(y, model.predict(X, n_threads=threads))
        out.write(f"{prefix}mse: {scores['mse']:.6g}  R^2: {scores['r2']:.4f}  MAE: {scores['mae']:.6g}  "
                  f"({len(y):,} samples, {time.perf_counter() - t0:.2f}s)\n")
        return scores
    scores = model.evaluate(X, y, n_threads=threads)
    pred = class_indices(model, X, n_threads=threads)
    out.write(f"{prefix}accuracy: {scores['accuracy']:.4f}  ({prefix}loss {scores['loss']:.4f}, {len(y):,} "
              f"samples, {time.perf_counter() - t0:.2f}s)\n")
    cm = confusion_matrix(y, pred, labels=np.arange(len(labels)))
    out.write(format_confusion_matrix(cm, names, labels) + "\n")
    return scores
