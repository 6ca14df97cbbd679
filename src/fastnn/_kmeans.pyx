# cython: language_level=3
"""Compiled Lloyd iterations for k-means: assignment through gemm distances, center sums in a fixed order.

Every sum is taken in one order whatever the thread count, so results are bit-identical for any ``n_threads``:
rows are assigned in fixed chunks (each chunk's products are the same BLAS calls on any thread), and the
centers' sums run over the samples in order, split across threads by feature columns (no reduction across
threads). The Python layer (``fastnn.cluster``) validates everything first; these functions trust their inputs.
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
# Feature columns per block of the center sums.
cdef Py_ssize_t COLUMNS = 32


cdef void _assign_chunk(const floating *X, const floating *C, const floating *c_norm, Py_ssize_t r0,
                        Py_ssize_t r1, Py_ssize_t k, Py_ssize_t d, floating *dots, int32_t *labels,
                        floating *dist) noexcept nogil:
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
        x = X + (r0 + r) * d
        c = C + best * d
        s = 0
        for f in range(d):
            t = x[f] - c[f]
            s += t * t
        dist[r0 + r] = s


cdef void _sum_columns(const floating *X, const floating *w, const int32_t *labels, Py_ssize_t n, Py_ssize_t d,
                       Py_ssize_t f0, Py_ssize_t f1, double *sums) noexcept nogil:
    """``sums[label_i, f0:f1] += w_i * X[i, f0:f1]`` over the samples in order (``w`` NULL: weight 1)."""
    cdef Py_ssize_t i, f
    cdef double wi
    cdef double *row
    cdef const floating *x
    for i in range(n):
        wi = w[i] if w != NULL else 1.0
        row = sums + labels[i] * d
        x = X + i * d
        for f in range(f0, f1):
            row[f] += wi * x[f]


@cython.boundscheck(False)
@cython.wraparound(False)
def lloyd_step(const floating[:, ::1] X not None, sample_weight, const floating[:, ::1] centers not None,
               int32_t[::1] labels not None, floating[::1] dist not None, double[:, ::1] sums not None,
               int n_threads):
    """One assignment step and the centers' weighted sums: writes ``labels`` (n), ``dist`` (the squared
    distance of each sample to its center) and ``sums`` (k x d, float64; each center's weighted sum of its
    samples). Returns nothing; the caller divides the sums by the cluster weights."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], k = centers.shape[0]
    cdef Py_ssize_t n_chunks = (n + CHUNK - 1) // CHUNK, n_blocks = (d + COLUMNS - 1) // COLUMNS, c, b
    cdef const floating[::1] w = sample_weight
    cdef const floating *wp = &w[0] if w is not None else NULL
    cdef floating[::1] c_norm = np.einsum("ij,ij->i", centers, centers).astype(np.asarray(centers).dtype)
    dots_array = np.empty((max(1, min(n_threads, n_chunks)), CHUNK * k), dtype=np.asarray(centers).dtype)
    cdef floating[:, ::1] dots = dots_array
    cdef int nt = max(1, min(n_threads, n_chunks))
    cdef int tid
    memset(&sums[0, 0], 0, k * d * sizeof(double))
    with nogil:
        if nt <= 1:
            for c in range(n_chunks):
                _assign_chunk(&X[0, 0], &centers[0, 0], &c_norm[0], c * CHUNK, min(n, (c + 1) * CHUNK), k, d,
                              &dots[0, 0], &labels[0], &dist[0])
        else:
            for c in prange(n_chunks, num_threads=nt, schedule='static', chunksize=1):
                _assign_chunk(&X[0, 0], &centers[0, 0], &c_norm[0], c * CHUNK, min(n, (c + 1) * CHUNK), k, d,
                              &dots[_thread_id(), 0], &labels[0], &dist[0])
        if n_threads <= 1 or n_blocks <= 1:
            for b in range(n_blocks):
                _sum_columns(&X[0, 0], wp, &labels[0], n, d, b * COLUMNS, min(d, (b + 1) * COLUMNS), &sums[0, 0])
        else:
            for b in prange(n_blocks, num_threads=min(n_threads, n_blocks), schedule='static'):
                _sum_columns(&X[0, 0], wp, &labels[0], n, d, b * COLUMNS, min(d, (b + 1) * COLUMNS), &sums[0, 0])
