"""Inference beyond the model's own forward pass: a layer's output (``predict(X, layer=k)``), class indices, and
the size of the blocks ``predict`` and ``evaluate`` work in so that memory stays bounded."""
import sys
import time

import numpy as np

from .. import _kernels
from .._core import threads as _threads
from .._core.threads import blas_single_thread, resolve_n_threads
from .._core.progress import format_metrics
from .._core.validation import check_int, check_verbose
from ..nn.base import _Weighted
from ..nn.reshaping import engine_activations
__all__ = ["predict_layer", "forward_range", "class_indices", "block_rows", "inference_block", "metric_scores",
           "check_metric", "reported", "INFERENCE_MEMORY", "INFERENCE_CACHE", "PREDICT_BLOCK"]

#: Rows of one block in predict/evaluate by default (bounded memory whatever the number of samples).
PREDICT_BLOCK = 1024
#: Bytes an inference block's buffers may take (``predict``, ``evaluate``): blocks hold fewer rows than asked when
#: a sample's layers are wide (a convolutional network's feature maps).
INFERENCE_MEMORY = 256 << 20
#: Bytes the buffers of a default inference block (no ``batch_size`` given) should take, so that each layer's
#: output is still in the processor's caches when the next layer reads it; never fewer than CACHE_MIN_ROWS rows.
#: Only wide samples (a convolutional network's feature maps) make blocks smaller than PREDICT_BLOCK for it.
INFERENCE_CACHE = 32 << 20
CACHE_MIN_ROWS = 64


def _row_bytes(model):
    """Bytes of the engine's buffers for one row (each layer's output and gradient, a recurrent layer's per-step
    cache)."""
    per_row = 2 * sum(model.widths) + sum(12 * row["steps"] * row["hidden"] for row in model._layout
                                          if isinstance(row, dict) and row.get("hidden"))
    return per_row * model.dtype.itemsize


def block_rows(model):
    """The most rows an inference block may hold so that the engine's buffers for it stay within INFERENCE_MEMORY
    bytes: ``predict`` and ``evaluate`` work in blocks of at most this many rows whatever ``batch_size`` asks."""
    return max(1, INFERENCE_MEMORY // _row_bytes(model))


def inference_block(model, batch_size=None):
    """Rows of the blocks ``predict`` and ``evaluate`` work in: ``batch_size`` (checked), or by default
    PREDICT_BLOCK, fewer for wide samples (INFERENCE_CACHE, at least CACHE_MIN_ROWS); at most ``block_rows``."""
    if batch_size is not None:
        return min(check_int(batch_size, "batch_size", minimum=1), block_rows(model))
    return min(PREDICT_BLOCK, max(CACHE_MIN_ROWS, INFERENCE_CACHE // _row_bytes(model)), block_rows(model))


def predict_layer(model, X, layer, batch_size, n_threads):
    """The output of ``model.layers[layer]``, shaped ``(n_samples, *its output shape)``: a forward pass through
    the engine's layers up to it."""
    n_layers = len(model.layers)
    layer = check_int(layer, "layer", minimum=-n_layers, maximum=n_layers - 1) % n_layers
    block = inference_block(model, batch_size)
    nt = resolve_n_threads(n_threads)
    X = model._inputs(X)
    model._screen_inputs(X, "outputs")
    m = model._ends[layer]
    if m == 0:
        out = X.copy()
    elif m == len(model._engine_layers):
        out = model._forward(X, min(block, X.shape[0]), n_threads)
    else:
        out = forward_range(model, X, 0, m, block, nt)
    shape = model._shapes[layer]
    if model._transposed[layer]:  # channels-last images, held (C, H, W) by the engine
        return np.ascontiguousarray(out.reshape((X.shape[0], shape[2]) + shape[:2]).transpose(0, 2, 3, 1))
    return out.reshape((X.shape[0],) + shape)


def forward_range(model, X, first, end, block, nt):
    """Outputs of the engine's layers ``first .. end - 1`` for ``X`` (validated, of layer ``first``'s input width):
    an engine over that stretch of the flat buffers (each layer's parameters lie together in it)."""
    layers = model._engine_layers
    start = sum(l.n_params for l in layers[:first] if isinstance(l, _Weighted))
    stop = start + sum(l.n_params for l in layers[first:end] if isinstance(l, _Weighted))
    engine = _kernels.Engine(model._params[start:stop], model._grads[start:stop],
                             np.empty((1, stop - start), model.dtype), model.widths[first:end + 1],
                             engine_activations(layers[first:end]),
                             _kernels.LOSS_MSE, min(block, X.shape[0]), 1.0, model._dropout[first:end],
                             model._dropout_seed, _threads.machine_cores(), model._layout[first:end], None,
                             model._buffers[slice(*model._buffer_range(first, end))])
    out = np.empty((X.shape[0], model.widths[end]), dtype=model.dtype)
    with blas_single_thread():
        engine.forward(X, out, nt)
    return out


def class_indices(model, X, batch_size=None, n_threads=None):
    """The index of each sample's predicted output unit (``output > 0.5`` for a single unit), int64; a class a
    step, ``(n_samples, steps)``, for an output with a value a step."""
    proba = model.predict(X, batch_size=batch_size, n_threads=n_threads)
    if model._output_steps > 1:
        return (proba[..., 0] > 0.5).astype(np.int64) if proba.shape[-1] == 1 else proba.argmax(axis=-1)
    if proba.shape[1] == 1:
        return (proba[:, 0] > 0.5).astype(np.int64)
    return proba.argmax(axis=1)


def _classes(model, K, labels, targets):
    """The true class of each row: the label, the arg-max of a probability row, or a target >= 0.5 (one unit)."""
    if labels is not None:
        return labels.astype(np.int64)
    return targets.argmax(axis=1) if K > 1 else (targets[:, 0] >= 0.5).astype(np.int64)


def _forms(model, outputs, labels, targets):
    """The data of each form a :class:`~fastnn.metrics.Metric` takes (``needs``), from a model's outputs and its
    prepared targets; an output with a value a step counts every step as a row."""
    K = model.n_outputs // model._output_steps
    out = outputs.reshape(-1, K).astype(np.float64)
    rows = None if targets is None else targets.reshape(-1, K).astype(np.float64)
    cross_entropy = model.loss.name == "cross_entropy"

    def rows_form():
        return (rows if rows is not None else np.eye(K)[labels.astype(np.int64)]), out

    def scores_form():
        return _classes(model, K, labels, rows), out

    def classes_form():
        if cross_entropy:
            return _classes(model, K, labels, rows), out.argmax(axis=1), "binary" if K == 2 else "macro"
        if K == 1:
            return (rows[:, 0] >= 0.5).astype(np.int64), (out[:, 0] > 0.5).astype(np.int64), "binary"
        return (rows >= 0.5).astype(np.int64), (out > 0.5).astype(np.int64), "macro"  # multilabel

    def binary_form():
        return _classes(model, K, labels, rows), out[:, 1] if cross_entropy else out[:, 0]

    return {"rows": rows_form, "scores": scores_form, "classes": classes_form, "binary": binary_form}


def check_metric(metric, loss, units):
    """Refuse a metric that a model of ``units`` output units (a step) trained with ``loss`` cannot give."""
    needs = metric.needs
    if needs != "rows" and not loss.has_accuracy:
        raise ValueError(f"metric {metric.name!r} needs a classification loss, not {loss.name or type(loss).__name__!r}")
    if needs == "scores" and (loss.name != "cross_entropy" or units < 2):
        raise ValueError(f"metric {metric.name!r} ranks the classes of a softmax output (cross_entropy), which this "
                         "model does not have")
    if needs == "binary" and units != (2 if loss.name == "cross_entropy" else 1):
        raise ValueError(f"metric {metric.name!r} is for two classes (one sigmoid unit, or two softmax units); this "
                         f"model has {units} output units")


def metric_scores(model, metrics, outputs, labels, targets):
    """``{name: value}`` of each compiled metric beyond accuracy, from the model's outputs and the prepared
    targets."""
    forms, cache = _forms(model, outputs, labels, targets), {}
    scores = {}
    for metric in metrics:
        if metric.needs not in cache:
            cache[metric.needs] = forms[metric.needs]()
        data = cache[metric.needs]
        if metric.needs == "classes":
            scores[metric.name] = metric(data[0], data[1], average=data[2])
        else:
            scores[metric.name] = metric(*data)
    return scores


def reported(model, what, verbose, call):
    """``call()`` (a silent ``predict`` or ``evaluate``), then, as Keras's ``verbose``, one line on standard output:
    the samples, the seconds and, for ``evaluate``, the scores."""
    check_verbose(verbose)
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    n = result.shape[0] if isinstance(result, np.ndarray) else None
    parts = [what] + ([f"{n:,} samples"] if n is not None else []) + [f"{seconds:.2f}s"]
    if isinstance(result, dict):
        parts.append(format_metrics(result))
    sys.stdout.write(" - ".join(parts) + "\n")
    sys.stdout.flush()
    return result
