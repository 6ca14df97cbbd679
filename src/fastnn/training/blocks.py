"""Training batches larger than memory allows in one piece: a batch's gradient summed from blocks of rows.

The engine holds, for every row of the batch it trains on, each layer's output and gradient (and a convolution's
im2col columns): a convolutional network's rows take about half a megabyte each, so a batch of 4,096 images would
need about 2 GB. When a batch's buffers would exceed :data:`TRAINING_MEMORY`, ``fit`` and ``train_on_batch``
compute its gradient in consecutive blocks of rows - each block's data term scaled by the whole batch's size, its
dropout masks those of its rows' places in the whole batch - add the blocks' gradients in order, and apply one
update: the same step as the whole batch at once, up to rounding, in memory bounded by the block. The blocks
depend on the network's shapes alone, so results stay the same for any ``n_threads``.

A network with BatchNorm (whose statistics are the whole batch's) or a loss written in Python trains each batch
in one piece.
"""
import numpy as np

from .. import _kernels
from .data import batch_part

__all__ = ["TRAINING_MEMORY", "training_block", "train_batch", "train_parts"]

#: Bytes the engine's buffers for one training block may take; batches that would need more train in blocks.
TRAINING_MEMORY = 192 << 20


def training_block(model, rows):
    """The most rows of a block when a training batch of ``rows`` rows needs blocks (its buffers would take more
    than :data:`TRAINING_MEMORY`), else None: the batch trains in one piece (as it always does when the network
    keeps statistics of the whole batch, BatchNorm's, or its loss is computed in Python)."""
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


def part_gradient(engine, grads, data, rows, offset, wsum, step, nt, sums, block, total=None):
    """The data term of the gradient of the rows ``rows`` of ``data`` (at ``offset`` in their batch, whose size or
    weight sum is ``wsum``) into ``grads``: in one engine call, or with ``block`` in blocks of at most that many
    rows whose gradients are added in order (into ``total``, a buffer like ``grads``, when given). Adds [loss
    sum, accuracy sum, rows] to ``sums``."""
    B = len(rows)
    if block is None or B <= block:
        engine.gradient(*batch_part(data, rows), offset, wsum, step, nt, sums)
        return
    if total is None:
        total = np.empty_like(grads)
    for lo in range(0, B, block):
        engine.gradient(*batch_part(data, rows[lo:lo + block]), offset + lo, wsum, step, nt, sums)
        if lo == 0:
            total[...] = grads
        else:
            total += grads
    grads[...] = total


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
        part_gradient(engine, grads, data, rows, offset, wsum, int(model._step[0]), nt, local, block, total)
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
