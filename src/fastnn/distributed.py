"""Synchronous data-parallel training and k-means over MPI (``mpi4py``).

Every process (rank) holds the same model. For each batch, every rank computes the gradient of its part of the
batch, the parts' gradients are summed across the ranks, and every rank applies the same update - the design of
Horovod and of PyTorch's DistributedDataParallel, on the MPI that every cluster runs::

    # mpiexec -n 4 python train.py
    import fastnn
    from fastnn.distributed import DataParallel

    dp = DataParallel()                               # MPI.COMM_WORLD
    (X, y), _ = fastnn.datasets.load_fashion_mnist(flatten=True, scale=True)
    model = fastnn.Sequential([fastnn.Dense(784, 256, "relu"), fastnn.Dense(256, 10, "softmax")], seed=0)
    model.compile("cross_entropy", fastnn.Adam(1e-3))
    model.fit(X, y, epochs=5, batch_size=1024, distribute=dp)   # batch_size: the whole batch, over all ranks
    if dp.rank == 0:
        model.save("model.fnn")

Sums across ranks are exact in order: the gradients go round a ring (reduce-scatter, then all-gather, the
bandwidth-optimal all-reduce), so each part of the gradient is added in the ring's order starting at a fixed
rank, never in an order that depends on timing, and every rank receives the same bits. A rerun with the same
number of ranks is bit-identical; with the same data on every rank the result equals one process's ``fit`` up
to the order of those sums (about 1e-16 relative per batch in float64).

Install MPI and its Python bindings with ``pip install mpi4py mpich``.
"""
import sys
import time
import traceback

import numpy as np

from . import _kernels
from ._core.validation import check_bool
from .training.blocks import train_parts

__all__ = ["DataParallel"]

_INSTALL = "pip install mpi4py mpich"
# How long a rank other than 0 interrupted by Ctrl-C waits for rank 0 (which had it too) to report it and end the
# job, before it reports and ends the job itself.
_QUIET_SECONDS = 2.0


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(f"fastnn.distributed runs over MPI through mpi4py, which is not installed: {_INSTALL} "
                          "(mpich brings the MPI library and mpiexec)") from None
    return MPI


def part_bounds(n, size, rank):
    """Rows ``lo .. hi`` of ``n`` that rank ``rank`` of ``size`` takes: contiguous blocks in rank order, the first
    ``n % size`` ranks one row more."""
    q, r = divmod(n, size)
    lo = rank * q + min(rank, r)
    return lo, lo + q + (rank < r)


class DataParallel:
    """Train one model over the processes of an MPI communicator: pass it as ``fit(..., distribute=dp)`` (and
    ``KMeans(...).fit(X, distribute=dp)``).

    Parameters
    ----------
    comm : mpi4py communicator, optional
        Default ``MPI.COMM_WORLD``.
    local_data : bool, default=False
        False: every rank passes the same data (the same arrays, or the same file opened on each node); each
        batch of the seeded shuffle (the same on every rank) is split into contiguous row blocks, one per rank
        in rank order. True: each rank passes its own rows; a batch is the concatenation, in rank order, of the
        ranks' local batches (``batch_size`` split between the ranks as the rows above), and an epoch runs until
        every rank's rows are used (ranks with fewer rows then contribute empty parts). Reproducible bit for bit
        for a given number of ranks.
    abort_on_error : bool, default=True
        An exception (or Ctrl-C) on one rank during a distributed ``fit`` would leave the others waiting for it
        forever: the rank reports it once on its standard error, prefixed with its rank, and ends the whole job
        with ``MPI_Abort``. Only with a single process is the exception raised as usual.

    Notes
    -----
    Without ``n_threads``, the ranks on one machine share its cores (``cores // ranks`` threads each), so that
    ``mpiexec -n 2`` on a 2-core machine runs 2 ranks of 1 thread. At the start of ``fit`` the model's weights, optimizer state, update count and random state are sent from
    rank 0 to the others (as DistributedDataParallel does), so models built without a seed still agree.
    Validation scores are reduced over the ranks, so callbacks (EarlyStopping, ReduceLROnPlateau) decide alike
    everywhere. Progress output, ``checkpoint=`` files and :class:`~fastnn.callbacks.ModelCheckpoint` files come
    from rank 0 only. BatchNorm layers are refused: their batch statistics would need every rank's rows.
    """

    def __init__(self, comm=None, *, local_data=False, abort_on_error=True):
        MPI = _mpi()
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.local_data = check_bool(local_data, "local_data")
        self.abort_on_error = check_bool(abort_on_error, "abort_on_error")
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self._tmp = None
        #: The ranks on this machine: by default each takes ``cores // node_ranks`` threads, never more threads
        #: than cores in all.
        self.node_ranks = 1
        if self.size > 1:
            node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
            self.node_ranks = node.Get_size()
            node.Free()
        self._phase = "before"  # of a run: "before" the ranks' agreement to start, "running", or "refused"

    def __repr__(self):
        return (f"DataParallel(rank {self.rank} of {self.size}"
                f"{', local_data=True' if self.local_data else ''})")

    def threads(self, n_threads, resolved):
        """The threads of this rank: ``n_threads`` as given, else its share of the machine's (``resolved`` is what
        one process would take)."""
        return resolved if n_threads is not None else max(1, resolved // self.node_ranks)

    # -- collective operations, each in a fixed order -------------------------------------------------------------

    def allreduce_(self, buf):
        """Sum the 1-D contiguous array ``buf`` over the ranks, in place: a ring reduce-scatter then a ring
        all-gather (``2 (p - 1) / p`` times its bytes sent per rank). Part ``k`` of the array is summed in ring
        order starting at rank ``k``, then copied to every rank: the same bits everywhere, in the same order on
        every run."""
        p, r = self.size, self.rank
        if p == 1 or buf.size == 0:
            return buf
        if not (buf.ndim == 1 and buf.flags.c_contiguous):
            raise ValueError("allreduce_ sums a 1-D contiguous array")
        n = buf.shape[0]
        bounds = [part_bounds(n, p, k)[0] for k in range(p)] + [n]
        if self._tmp is None or self._tmp.dtype != buf.dtype or self._tmp.shape[0] < -(-n // p):
            self._tmp = np.empty(-(-n // p), dtype=buf.dtype)
        right, left = (r + 1) % p, (r - 1) % p
        for s in range(p - 1):  # reduce-scatter: after it, rank r holds the sum of part r + 1
            send, recv = (r - s) % p, (r - s - 1) % p
            part = buf[bounds[recv]:bounds[recv + 1]]
            tmp = self._tmp[:part.shape[0]]
            self.comm.Sendrecv(buf[bounds[send]:bounds[send + 1]], dest=right, sendtag=s, recvbuf=tmp,
                               source=left, recvtag=s)
            np.add(tmp, part, out=part)
        for s in range(p - 1):  # all-gather of the summed parts
            send, recv = (r + 1 - s) % p, (r - s) % p
            self.comm.Sendrecv(buf[bounds[send]:bounds[send + 1]], dest=right, sendtag=p + s,
                               recvbuf=buf[bounds[recv]:bounds[recv + 1]], source=left, recvtag=p + s)
        return buf

    def sum(self, values):
        """The sum over the ranks of a few float64 values, added in rank order (the same on every rank)."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        if self.size == 1:
            return values.copy()
        rows = np.empty((self.size,) + values.shape, dtype=np.float64)
        self.comm.Allgather(values, rows)
        total = rows[0].copy()
        for row in rows[1:]:
            total += row
        return total

    def gather_sizes(self, n):
        """Every rank's ``n``, in rank order."""
        return [int(v) for v in self.comm.allgather(int(n))]

    def broadcast(self, obj):
        return self.comm.bcast(obj, root=0)

    def broadcast_array_(self, arr):
        """Rank 0's values of the contiguous array ``arr``, in place on every rank."""
        if self.size > 1 and arr.size:
            self.comm.Bcast(arr, root=0)
        return arr

    # -- failure ----------------------------------------------------------------------------------------------------

    def guard(self):
        """``with dp.guard():`` around a distributed run. An exception before the ranks agreed to start (a
        refused argument, bad data on one rank) is sent to the others at that agreement (``_start``): every rank
        raises, none is left waiting. An exception after it ends every rank (see ``abort_on_error``)."""
        return _Guard(self)

    def _start(self, error=None):
        """The ranks' agreement to start: every rank calls it once, ``error`` its exception if it failed before.
        Raises on every rank when one failed."""
        errors = self.comm.allgather(None if error is None else f"{type(error).__name__}: {error}")
        failed = [(r, e) for r, e in enumerate(errors) if e is not None]
        self._phase = "refused" if failed else "running"
        if failed and error is None:
            r, e = failed[0]
            raise RuntimeError(f"rank {r} of {self.size} refused the run ({e}); so do the other ranks")

    def _abort(self, exc):
        if isinstance(exc, KeyboardInterrupt) and self.rank != 0:
            time.sleep(_QUIET_SECONDS)  # Ctrl-C reaches every rank: rank 0 reports it and ends the job meanwhile
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        text = "".join(lines).rstrip("\n").replace("\n", f"\n[rank {self.rank}] ")
        sys.stderr.write(f"[rank {self.rank}] fastnn: rank {self.rank} of {self.size} failed; ending every rank\n"
                         f"[rank {self.rank}] {text}\n")
        sys.stderr.flush()
        self.comm.Abort(130 if isinstance(exc, KeyboardInterrupt) else 1)

    # -- training ---------------------------------------------------------------------------------------------------

    def _check_model(self, model):
        kinds = [row["kind"] if isinstance(row, dict) else row[0] for row in model._layout]
        if self.local_data and getattr(model, "_extra_metrics", None):
            raise ValueError("with local_data=True each rank holds other rows, so metrics computed from predictions "
                             f"({', '.join(map(str, model._extra_metrics))}) would differ between the ranks: "
                             "compile without them (the loss and accuracy are summed over the ranks)")
        if getattr(model.loss, "code", None) == _kernels.LOSS_GIVEN:
            raise ValueError("DataParallel trains with the compiled losses; a loss written in Python "
                             f"({type(model.loss).__name__}) is not supported")
        if _kernels.LAYER_BATCHNORM in kinds:
            raise ValueError("DataParallel cannot train a model with BatchNorm: its batch statistics would need "
                             "every rank's rows of the batch; use Dropout or a regularizer instead")

    def _begin_fit(self, model, n, batch_size):
        """Check that the ranks agree, send rank 0's model state to every rank, and plan the epochs: returns the
        number of rows of the whole data and the iterations per epoch."""
        self._check_model(model)
        self._start()
        sizes = self.gather_sizes(n)
        if self.local_data:
            self._local_sizes = sizes
            self._local_batch = [part_bounds(batch_size, self.size, q) for q in range(self.size)]
            self._local_batch = [hi - lo for lo, hi in self._local_batch]
            if min(self._local_batch) < 1:
                raise ValueError(f"batch_size={batch_size} is smaller than the {self.size} ranks: each rank needs "
                                 "at least one row of every batch")
            if min(sizes) < 1:
                raise ValueError(f"rank {sizes.index(min(sizes))} has no training rows")
            total = sum(sizes)
            iterations = max(-(-m // b) for m, b in zip(sizes, self._local_batch))
        else:
            if len(set(sizes)) != 1:
                raise ValueError(f"the ranks were given different numbers of training rows ({sizes}); pass the "
                                 "same data on every rank, or DataParallel(local_data=True) for each rank's own "
                                 "rows")
            total, iterations = n, -(-n // batch_size)
        for arr in (model._params, model._state, model._step, model._buffers):
            self.broadcast_array_(arr)
        rng_state, seed, epochs = self.broadcast((model._rng.bit_generator.state, model._dropout_seed,
                                                  model.epochs_trained))
        model._rng.bit_generator.state = rng_state
        if seed != model._dropout_seed:
            model._dropout_seed = seed
            model._forget_engine()
        model.epochs_trained = epochs
        return total, iterations

    def _permutation(self, model, n, shuffle):
        if not self.local_data:
            return model._rng.permutation(n) if shuffle else np.arange(n, dtype=np.int64)
        if not shuffle:
            return np.arange(n, dtype=np.int64)
        key = int(model._rng.integers(1 << 62))  # drawn alike on every rank; each rank then shuffles its own rows
        return np.random.default_rng([key, self.rank]).permutation(n)

    def _parts(self, batch_size, n, bi):
        """``(rows of this rank's part as (start, stop) into the permutation, offset of the part in the batch,
        the batch's rows)`` for batch ``bi``."""
        if not self.local_data:
            start = bi * batch_size
            B = min(batch_size, n - start)
            lo, hi = part_bounds(B, self.size, self.rank)
            return start + lo, start + hi, lo, B
        counts = [max(0, min(b, m - bi * b)) for m, b in zip(self._local_sizes, self._local_batch)]
        b = self._local_batch[self.rank]
        start = bi * b
        return start, start + counts[self.rank], sum(counts[:self.rank]), sum(counts)

    def _train_batches(self, model, engine, data, perm, batch_size, first, last, hyper, nt, sums, block=None):
        """Batches ``first .. last`` as ``Engine.train`` runs them, each rank computing its part (in blocks of at
        most ``block`` rows when given): returns ``(0, last)``, or ``(1, b)`` when batch ``b`` diverged (on every
        rank alike)."""
        return train_parts(model, engine, data, perm, batch_size, first, last, hyper, nt, sums, block, split=self)

    def _validation_sums(self, model, engine, val, nt, block):
        """``(loss sum, accuracy sum, weight sum, rows)`` of the validation data over every rank: each rank
        scores its block of the rows (its own rows with ``local_data``)."""
        lo, hi = (0, val[0].shape[0]) if self.local_data else part_bounds(val[0].shape[0], self.size, self.rank)
        part = [None if a is None else a[lo:hi] for a in val]
        sums = model._evaluation_sums(engine, *part, nt, block) if hi > lo else np.zeros(3)
        return tuple(float(v) for v in self.sum(list(sums) + [hi - lo]))


    # -- k-means ----------------------------------------------------------------------------------------------------

    def _kmeans_part(self, X, weights, tol, mean_variance):
        """``((rows, weights) of this rank, index of its first row among all, tol scaled by the data's mean
        variance)``, checked alike on every rank."""
        self._start()
        sizes = self.gather_sizes(X.shape[0])
        if self.local_data:
            if not self.sum([np.sum(weights)])[0] > 0:
                raise ValueError("sample_weight is zero for every sample of every rank: nothing to cluster")
            return (X, weights), sum(sizes[:self.rank]), tol * mean_variance(X, dp=self) if tol else 0.0
        if len(set(sizes)) != 1:
            raise ValueError(f"the ranks were given different numbers of rows ({sizes}); pass the same data on "
                             "every rank, or DataParallel(local_data=True) for each rank's own rows")
        if not weights.sum() > 0:
            raise ValueError("sample_weight is zero for every sample: nothing to cluster")
        lo, hi = part_bounds(X.shape[0], self.size, self.rank)
        return (X[lo:hi], weights[lo:hi]), lo, tol * mean_variance(X) if tol else 0.0

    def _sum_clusters(self, sums, counts, moved):
        """The clusters' sums and counts over every rank, in place; whether a label moved on any rank."""
        k = counts.shape[0]
        buf = np.concatenate([sums.ravel(), counts.astype(np.float64), [1.0 if moved else 0.0]])
        self.allreduce_(buf)
        sums[...] = buf[:sums.size].reshape(sums.shape)
        counts[...] = buf[sums.size:sums.size + k]
        return bool(buf[-1] > 0)

    def _gather_rows(self, values):
        """Every rank's ``values`` (1-D), concatenated in rank order."""
        return np.concatenate(self.comm.allgather(values)) if self.size > 1 else values


class _Guard:
    def __init__(self, dp):
        self.dp = dp

    def __enter__(self):
        return self.dp

    def __exit__(self, kind, exc, tb):
        dp, phase = self.dp, self.dp._phase
        dp._phase = "before"  # for the next run
        if exc is None or dp.size == 1 or isinstance(exc, GeneratorExit):
            return False
        if phase == "before":  # before the ranks' agreement: tell them, and every rank raises
            dp._start(exc)
            dp._phase = "before"
        elif phase == "running" and dp.abort_on_error:
            dp._abort(exc)
        return False

