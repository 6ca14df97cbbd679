# cython: language_level=3
"""Compiled Lloyd iterations for k-means: assignment through gemm distances, center sums in a fixed order.

Every sum is taken in one order whatever the thread count, so results are bit-identical for any ``n_threads``:
rows are assigned in fixed chunks (each chunk's products are the same BLAS calls on any thread), and the
centers' sums are taken over parts of the rows fixed by the number of rows, then added part by part in order. The Python layer (``fastnn.cluster``) validates everything first; these functions trust their inputs.
"""
cimport cython
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int32_t
from libc.string cimport memset

import numpy as np

from ._blas cimport gemm, NoTrans, Trans

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int fastnn_thread_id(void) { return omp_get_thread_num(); }
    #else
    static int fastnn_thread_id(void) { return 0; }
    #endif
    """
    int _thread_id "fastnn_thread_id"() noexcept nogil

# Rows assigned per chunk (the shape of every distance product, whatever the thread count).
cdef Py_ssize_t CHUNK = 256
# The center sums run over at most this many parts of the rows (each at least SUM_ROWS rows), added in order:
# the parts are fixed by the number of rows alone.
cdef Py_ssize_t SUM_PARTS = 64
cdef Py_ssize_t SUM_ROWS = 4096


cdef void _assign_chunk(const floating *X, const floating *C, const floating *c_norm, Py_ssize_t r0,
                        Py_ssize_t r1, Py_ssize_t k, Py_ssize_t d, floating *dots, int32_t *labels,
                        floating *dist, bint exact) noexcept nogil:
    """Labels and exact squared distances of rows ``r0 .. r1``: the arg-min (lowest index on ties) of
    ``||c||^2 - 2 x.c`` over the centers, then ``||x - c||^2`` to the chosen one."""
    cdef Py_ssize_t r, j, f, best
    cdef floating v, lowest, s, t
    cdef const floating *x
    cdef const floating *c
    gemm(NoTrans, Trans, <int> (r1 - r0), <int> k, <int> d, <floating> 1.0, X + r0 * d, <int> d, C, <int> d,
         <floating> 0.0, dots, <int> k)
    for r in range(r1 - r0):
        best = 0
        lowest = c_norm[0] - 2 * dots[r * k]
        for j in range(1, k):
            v = c_norm[j] - 2 * dots[r * k + j]
            if v < lowest:
                lowest = v
                best = j
        labels[r0 + r] = <int32_t> best
        if not exact:
            continue
        x = X + (r0 + r) * d
        c = C + best * d
        s = 0
        for f in range(d):
            t = x[f] - c[f]
            s += t * t
        dist[r0 + r] = s


@cython.boundscheck(False)
@cython.wraparound(False)
cdef void _part(const floating *X, const floating *w, const floating *C, const floating *c_norm, Py_ssize_t r0,
                Py_ssize_t r1, Py_ssize_t k, Py_ssize_t d, floating *dots, int32_t *labels, floating *dist,
                bint exact, double *sums) noexcept nogil:
    """Rows ``r0 .. r1``: assigned chunk by chunk (``CHUNK`` rows from ``r0``), each chunk's rows then added to
    ``sums`` (k x d, zeroed here) while they are still in cache."""
    cdef Py_ssize_t c, c1, i, f
    cdef double wi
    cdef double *row
    cdef const floating *x
    memset(sums, 0, k * d * sizeof(double))
    c = r0
    while c < r1:
        c1 = min(r1, c + CHUNK)
        _assign_chunk(X, C, c_norm, c, c1, k, d, dots, labels, dist, exact)
        for i in range(c, c1):
            wi = w[i] if w != NULL else 1.0
            row = sums + labels[i] * d
            x = X + i * d
            for f in range(d):
                row[f] += wi * x[f]
        c = c1


def lloyd_step(const floating[:, ::1] X not None, sample_weight, const floating[:, ::1] centers not None,
               int32_t[::1] labels not None, floating[::1] dist not None, double[:, ::1] sums not None,
               int n_threads, bint exact=True):
    """One assignment step and the centers' weighted sums: writes ``labels`` (n), ``dist`` (with ``exact``, the
    squared distance of each sample to its center; untouched otherwise) and ``sums`` (k x d, float64; each
    center's weighted sum of its samples). The rows are split into parts fixed by their number (at most
    ``SUM_PARTS``, each at least ``SUM_ROWS`` rows); each part is assigned in chunks of ``CHUNK`` rows and summed
    in row order, and the parts' sums are added in order, so nothing depends on ``n_threads``."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], k = centers.shape[0], p, j
    cdef Py_ssize_t parts = max(1, min(SUM_PARTS, (n + SUM_ROWS - 1) // SUM_ROWS))
    partial_array = np.empty((parts, k * d), dtype=np.float64)
    cdef double[:, ::1] partial = partial_array
    cdef const floating[::1] w = sample_weight
    cdef const floating *wp = &w[0] if w is not None else NULL
    cdef floating[::1] c_norm = np.einsum("ij,ij->i", centers, centers).astype(np.asarray(centers).dtype)
    cdef int nt = max(1, min(<Py_ssize_t> n_threads, parts))
    dots_array = np.empty((nt, CHUNK * k), dtype=np.asarray(centers).dtype)
    cdef floating[:, ::1] dots = dots_array
    memset(&sums[0, 0], 0, k * d * sizeof(double))
    with nogil:
        if nt <= 1:
            for p in range(parts):
                _part(&X[0, 0], wp, &centers[0, 0], &c_norm[0], p * n // parts, (p + 1) * n // parts, k, d,
                      &dots[0, 0], &labels[0], &dist[0], exact, &partial[p, 0])
        else:
            for p in prange(parts, num_threads=nt, schedule='static', chunksize=1):
                _part(&X[0, 0], wp, &centers[0, 0], &c_norm[0], p * n // parts, (p + 1) * n // parts, k, d,
                      &dots[_thread_id(), 0], &labels[0], &dist[0], exact, &partial[p, 0])
        for p in range(parts):  # the parts' sums, added in order
            for j in range(k * d):
                (&sums[0, 0])[j] += partial[p, j]
