"""Training batches larger than memory allows in one piece: a batch's gradient summed from blocks of rows.

The engine holds, for every row of the batch it trains on, each layer's output and gradient (and a convolution's
im2col columns, where it forms them): a convolutional network's rows take a third of a megabyte to half a
megabyte each, so a batch of 4,096 images would need 1.3 to 2 GB. When a batch's buffers would exceed
:data:`TRAINING_MEMORY`, ``fit`` and ``train_on_batch`` compute its gradient in consecutive blocks of rows - each block's data term scaled by the whole batch's size, its
dropout masks those of its rows' places in the whole batch - add the blocks' gradients in order, and apply one
update: the same step as the whole batch at once, up to rounding, in memory bounded by the block. The blocks
depend on the network's shapes alone, so results stay the same for any ``n_threads``.

A network with BatchNorm normalises by the statistics of the whole batch, as it does in one piece: they and the
sums its gradient needs are summed block by block in passes over the blocks, each stopping at the layer it sums
for (two passes a BatchNorm layer for its mean and variance, one for its gradient's sums), before the last pass;
such a batch costs more passes, never more memory. A BatchNorm as the first layer, and a loss written in Python,
train each batch in one piece.
"""
import numpy as np

from .. import _kernels
from .data import batch_part

__all__ = ["TRAINING_MEMORY", "training_block", "train_batch", "train_parts"]

#: Bytes the engine's buffers for one training block may take; batches that would need more train in blocks.
TRAINING_MEMORY = 192 << 20


def training_block(model, rows):
    """The most rows of a block when a training batch of ``rows`` rows needs blocks (its buffers would take more
    than :data:`TRAINING_MEMORY`), else None: the batch trains in one piece (as it always does when the first
    layer is a BatchNorm or the loss is computed in Python)."""
    if rows <= 1:
        return None
    engine = model._kept_engine
    if engine is not None:
        return _block(engine, rows)
    with model._borrow_engine(1) as engine:
        return _block(engine, rows)


def _block(engine, rows):
    if engine.whole_batches:
        return None
    block = max(1, TRAINING_MEMORY // engine.training_row_bytes)
    return block if rows > block else None


def part_gradient(engine, grads, data, rows, offset, wsum, step, nt, sums, block, total=None, model=None):
    """The data term of the gradient of the rows ``rows`` of ``data`` (at ``offset`` in their batch, whose size or
    weight sum is ``wsum``) into ``grads``: in one engine call, or with ``block`` in blocks of at most that many
    rows whose gradients are added in order (into ``total``, a buffer like ``grads``, when given). Adds [loss
    sum, accuracy sum, rows] to ``sums``. A network with BatchNorm (``model`` given, the rows a whole batch) is
    computed in blocks with the whole batch's statistics (:func:`_statistics_passes`), moving its running
    statistics - a batch of one block too (the epoch's last, short one), which ``Engine.gradient`` would not
    move."""
    B = len(rows)
    if block is None or (B <= block and not engine.statistics_layers):
        engine.gradient(*batch_part(data, rows), offset, wsum, step, nt, sums)
        return
    if total is None:
        total = np.empty_like(grads)
    parts = [(lo, batch_part(data, rows[lo:lo + block])) for lo in range(0, B, block)]
    if engine.statistics_layers:
        modes = _statistics_passes(model, engine, parts, B, wsum, step, nt)

        def gradient(part, at, out):
            engine.block_pass(*part, at, wsum, step, nt, out, modes, -1, -1, True, B)
    else:
        def gradient(part, at, out):
            engine.gradient(*part, at, wsum, step, nt, out)
    for lo, part in parts:
        gradient(part, offset + lo, sums)
        if lo == 0:
            total[...] = grads
        else:
            total += grads
    grads[...] = total


def _statistics_passes(model, engine, parts, B, wsum, step, nt):
    """Before the last pass over the blocks ``parts`` of a batch of ``B`` rows: its BatchNorm layers' statistics
    and their gradients' sums over the whole batch, each summed block by block in passes that stop at the layer
    (the statistics from the first layer up, each normalising by those before it, the mean then the variance;
    the sums from the last layer down, each through the sums after it). Returns the layers' modes for the last
    pass (every statistic and sum given), whose first block moves the running statistics."""
    K = _kernels
    layers = engine.statistics_layers
    modes = np.zeros(len(model._layout), np.int32)
    scratch = np.zeros(3)

    def run(stop_forward, stop_backward):
        for lo, part in parts:
            engine.block_pass(*part, lo, wsum, step, nt, scratch, modes, stop_forward, stop_backward, False, B)

    for l in layers:  # statistics, first layer up: each normalised by those before it
        layer, row = model._engine_layers[l], model._layout[l]
        values, sums = engine.batchnorm_values(l)
        n = B * row["h"] * row["w"]
        modes[l] = K.BATCHNORM_MEAN
        sums[:, 0] = 0
        run(l, -1)
        values[:, 0] = sums[:, 0] / n
        modes[l] = K.BATCHNORM_VAR
        sums[:, 1] = 0
        run(l, -1)
        sums[:, 2] = var = sums[:, 1] / n
        values[:, 1] = 1.0 / np.sqrt(var + layer.eps)
        modes[l] = K.BATCHNORM_GIVEN
    for l in reversed(layers):  # the gradients' sums, last layer down: each through the sums after it
        values, sums = engine.batchnorm_values(l)
        modes[l] = K.BATCHNORM_GIVEN | K.BATCHNORM_SUMS
        sums[:, 3:5] = 0
        run(-1, l)
        values[:, 2:4] = sums[:, 3:5]
        modes[l] = K.BATCHNORM_GIVEN | K.BATCHNORM_GIVEN_SUMS
    return modes


def train_parts(model, engine, data, perm, batch_size, first, last, hyper, nt, sums, block=None, split=None):
    """Batches ``first .. last`` of the permutation ``perm`` as ``Engine.train`` runs them, each batch's gradient
    summed from parts - blocks of at most ``block`` rows, and with ``split`` (a
    :class:`fastnn.distributed.DataParallel`) the ranks' parts - then one update. Adds the batches' [loss sum,
    penalty sum, accuracy sum, rows] to ``sums``. Returns ``(0, last)``, ``(1, b)`` when batch ``b`` diverged
    (its update is not applied, or left a parameter NaN: the caller restores the model), or ``(2, b)`` when
    Ctrl-C arrived before batch ``b``."""
    X, labels, targets, weights = data
    n = X.shape[0]
    grads = model._grads
    total = np.empty_like(grads) if block is not None else None
    local = np.zeros(3)
    for bi in range(first, last):
        if split is None:
            if _kernels.was_interrupted():
                return 2, bi
            lo, B = bi * batch_size, min(batch_size, n - bi * batch_size)
            hi, offset = lo + B, 0
        else:
            lo, hi, offset, B = split._parts(batch_size, n, bi)
        rows = perm[lo:hi]
        if weights is None:
            wsum = float(B)
        elif split is not None and split.local_data:  # the ranks' own weights: summed over the ranks
            wsum = float(split.sum([np.sum(weights[rows], dtype=np.float64)])[0])
        else:
            wsum = float(np.sum(weights[perm[bi * batch_size:bi * batch_size + B]], dtype=np.float64))
        local[:] = 0
        part_gradient(engine, grads, data, rows, offset, wsum, int(model._step[0]), nt, local, block, total, model)
        if split is not None:
            split.allreduce_(grads)
            local[:] = split.sum(local)
        loss_sum, hits = local[0], local[1]
        batch_loss = loss_sum if weights is None else (loss_sum / wsum * B if wsum > 0 else 0.0)
        if not np.isfinite(batch_loss):
            return 1, bi
        penalty = engine.apply_gradients(hyper, model._step, nt)
        if not np.isfinite(penalty):
            return 1, bi
        sums += (batch_loss, penalty * B, hits, B)
    return 0, last


def train_batch(model, engine, data, n, hyper, nt, sums, block):
    """One batch of ``n`` rows (``data``: ``(X, labels, targets, weights)``), in one piece or (``block``) in blocks
    of rows: ``Engine.train``'s ``(status, stop)``."""
    if block is None:
        X, labels, targets, weights = data
        return engine.train(X, model._rows(n), labels, targets, weights, n, 0, 1, hyper, model._step, nt, sums)
    return train_parts(model, engine, data, model._rows(n), n, 0, 1, hyper, nt, sums, block)
