"""Inference beyond the model's own forward pass: a layer's output (``predict(X, layer=k)``), class indices, and
the size of the blocks ``predict`` and ``evaluate`` work in so that memory stays bounded."""
import numpy as np

from .. import _kernels
from .._core import threads as _threads
from .._core.threads import blas_single_thread, resolve_n_threads
from .._core.validation import check_int
from ..nn.base import ACTIVATIONS, _Weighted
__all__ = ["predict_layer", "forward_range", "class_indices", "block_rows", "INFERENCE_MEMORY", "PREDICT_BLOCK"]

#: Rows of one block in predict/evaluate by default (bounded memory whatever the number of samples).
PREDICT_BLOCK = 1024
#: Bytes an inference block's buffers may take (``predict``, ``evaluate``): blocks hold fewer rows than asked when
#: a sample's layers are wide (a convolutional network's feature maps).
INFERENCE_MEMORY = 256 << 20


def block_rows(model):
    """The most rows an inference block may hold so that the engine's buffers for it (each layer's output and
    gradient, a recurrent layer's per-step cache) stay within INFERENCE_MEMORY bytes: ``predict`` and ``evaluate``
    work in blocks of at most this many rows whatever ``batch_size`` asks."""
    per_row = 2 * sum(model.widths) + sum(12 * row["steps"] * row["hidden"] for row in model._layout
                                          if isinstance(row, dict) and row.get("hidden"))
    return max(1, INFERENCE_MEMORY // (per_row * model.dtype.itemsize))


def predict_layer(model, X, layer, batch_size, n_threads):
    """The output of ``model.layers[layer]``, shaped ``(n_samples, *its output shape)``: a forward pass through
    the engine's layers up to it."""
    n_layers = len(model.layers)
    layer = check_int(layer, "layer", minimum=-n_layers, maximum=n_layers - 1) % n_layers
    block = min(PREDICT_BLOCK if batch_size is None else check_int(batch_size, "batch_size", minimum=1),
                block_rows(model))
    nt = resolve_n_threads(n_threads)
    X = model._inputs(X)
    m = model._ends[layer]
    if m == 0:
        out = X.copy()
    elif m == len(model._engine_layers):
        out = model._forward(X, min(block, X.shape[0]), n_threads)
    else:
        out = forward_range(model, X, 0, m, block, nt)
    return out.reshape((X.shape[0],) + model._shapes[layer])


def forward_range(model, X, first, end, block, nt):
    """Outputs of the engine's layers ``first .. end - 1`` for ``X`` (validated, of layer ``first``'s input width):
    an engine over that stretch of the flat buffers (each layer's parameters lie together in it)."""
    layers = model._engine_layers
    start = sum(l.n_params for l in layers[:first] if isinstance(l, _Weighted))
    stop = start + sum(l.n_params for l in layers[first:end] if isinstance(l, _Weighted))
    engine = _kernels.Engine(model._params[start:stop], model._grads[start:stop],
                             np.empty((1, stop - start), model.dtype), model.widths[first:end + 1],
                             [ACTIVATIONS[l._engine_activation] for l in layers[first:end]],
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
