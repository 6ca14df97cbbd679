# cython: language_level=3
"""Compiled Lloyd iterations for k-means: assignment by ``||c||^2 - 2 x.c`` (dot products computed row by row
for up to ``FEW_CENTERS`` centers, through gemm in chunks beyond), center sums in a fixed order.

Every sum is taken in one order whatever the thread count, so results are bit-identical for any ``n_threads``:
rows are assigned in fixed chunks (each chunk's products are the same BLAS calls on any thread), and the
centers' sums are taken over parts of the rows fixed by the number of rows, then added part by part in order. The Python layer (``fastnn.cluster``) validates everything first; these functions trust their inputs.
"""
cimport cython
from cython cimport floating
from libc.stdint cimport int32_t
from libc.string cimport memset

import numpy as np

from ._blas cimport gemm, NoTrans, Trans
from ._pool cimport fastnn_run

cdef extern from *:
    """
    /* Assignment of rows to at most a few dozen centers without BLAS: for each row, its dot products with the
       centers (four centers at a time share each load of the row, each dot product summed in fixed 32-byte
       vector lanes), the arg-min of ||c||^2 - 2 x.c (lowest index on ties), then the row added to its center's
       float64 sum while it is in L1 cache. With few centers a gemm spends more time packing the rows than
       multiplying them; this reads each row once. Built for x86-64-v3 (AVX2, FMA) and the baseline, chosen once
       per process by the CPU: the same machine always runs the same code, whatever the thread count. Rows go in
       pairs (a row's dot products do not depend on its partner), and while one pair is multiplied the next is
       prefetched: the rows stream from memory once per iteration, so hiding that latency matters most. */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 11
    #define FASTNN_KM_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
    #else
    #define FASTNN_KM_CLONES
    #endif
    #pragma GCC push_options
    #pragma GCC optimize("fp-contract=fast")
    /* Rows added to the centers' running sums in the data's own precision before those go into float64. */
    #define FASTNN_KM_FLUSH 64
    #define FASTNN_ASSIGN(NAME, T, V, L)                                                                    \
    typedef T V __attribute__((vector_size(32)));                                                           \
    static inline __attribute__((always_inline)) V NAME##_load(const T *p) { V v; __builtin_memcpy(&v, p, sizeof(V)); return v; } \
    static inline __attribute__((always_inline)) T NAME##_sum(V v) { T t = 0; for (int k = 0; k < L; k++) t += v[k]; return t; } \
    /* x0.c and x1.c for four centers (repeated when fewer remain): eight independent vector sums. */       \
    static inline __attribute__((always_inline)) void NAME##_dots4(const T *x0, const T *x1, const T *c0,   \
            const T *c1, const T *c2, const T *c3, Py_ssize_t d, Py_ssize_t nv, T *t0, T *t1) {             \
        V a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};                   \
        Py_ssize_t i;                                                                                       \
        for (i = 0; i < nv; i += L) {                                                                       \
            V u = NAME##_load(x0 + i), v = NAME##_load(x1 + i), c;                                          \
            __builtin_prefetch(x0 + 2 * d + i); __builtin_prefetch(x1 + 2 * d + i);  /* the next pair */    \
            c = NAME##_load(c0 + i); a0 += c * u; b0 += c * v;                                              \
            c = NAME##_load(c1 + i); a1 += c * u; b1 += c * v;                                              \
            c = NAME##_load(c2 + i); a2 += c * u; b2 += c * v;                                              \
            c = NAME##_load(c3 + i); a3 += c * u; b3 += c * v;                                              \
        }                                                                                                   \
        T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                                  \
        for (i = nv; i < d; i++) {                                                                          \
            s[0] += c0[i] * x0[i]; s[1] += c1[i] * x0[i]; s[2] += c2[i] * x0[i]; s[3] += c3[i] * x0[i];     \
            s[4] += c0[i] * x1[i]; s[5] += c1[i] * x1[i]; s[6] += c2[i] * x1[i]; s[7] += c3[i] * x1[i];     \
        }                                                                                                   \
        t0[0] = s[0] + NAME##_sum(a0); t0[1] = s[1] + NAME##_sum(a1);                                       \
        t0[2] = s[2] + NAME##_sum(a2); t0[3] = s[3] + NAME##_sum(a3);                                       \
        t1[0] = s[4] + NAME##_sum(b0); t1[1] = s[5] + NAME##_sum(b1);                                       \
        t1[2] = s[6] + NAME##_sum(b2); t1[3] = s[7] + NAME##_sum(b3);                                       \
    }                                                                                                       \
    /* The same for two centers (the last one or two), each sum split over two accumulators in fixed lanes. */ \
    static inline __attribute__((always_inline)) void NAME##_dots2(const T *x0, const T *x1, const T *c0,   \
            const T *c1, Py_ssize_t d, Py_ssize_t nv, T *t0, T *t1) {                                       \
        V a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0};                                                           \
        Py_ssize_t i;                                                                                       \
        for (i = 0; i < nv; i += L) {                                                                       \
            V u = NAME##_load(x0 + i), v = NAME##_load(x1 + i), c;                                          \
            __builtin_prefetch(x0 + 2 * d + i); __builtin_prefetch(x1 + 2 * d + i);  /* the next pair */    \
            c = NAME##_load(c0 + i); a0 += c * u; b0 += c * v;                                              \
            c = NAME##_load(c1 + i); a1 += c * u; b1 += c * v;                                              \
        }                                                                                                   \
        T s[4] = {0, 0, 0, 0};                                                                              \
        for (i = nv; i < d; i++) {                                                                          \
            s[0] += c0[i] * x0[i]; s[1] += c1[i] * x0[i]; s[2] += c0[i] * x1[i]; s[3] += c1[i] * x1[i];     \
        }                                                                                                   \
        t0[0] = s[0] + NAME##_sum(a0); t0[1] = s[1] + NAME##_sum(a1);                                       \
        t1[0] = s[2] + NAME##_sum(b0); t1[1] = s[3] + NAME##_sum(b1);                                       \
    }                                                                                                       \
    /* Row x's center: the arg-min over the four dots t of center j.. (m of them) against lowest/best. */   \
    static inline __attribute__((always_inline)) void NAME##_pick(const T *c_norm, const T *t, Py_ssize_t j, Py_ssize_t m, T *lowest,      \
                                   Py_ssize_t *best) {                                                      \
        for (Py_ssize_t q = 0; q < m; q++) {                                                                \
            T v = c_norm[j + q] - 2 * t[q];                                                                 \
            if (j + q == 0 || v < *lowest) { *lowest = v; *best = j + q; }                                  \
        }                                                                                                   \
    }                                                                                                       \
    /* Row r's label, optional squared distance, and its (weighted) add to its center's running sum in acc. */\
    static inline __attribute__((always_inline)) void NAME##_add(const T *X, const T *w, const T *C,    \
            Py_ssize_t r, Py_ssize_t best, Py_ssize_t d, int32_t *labels, T *dist, T *acc) {            \
        const T *x = X + r * d, *c = C + best * d;                                                      \
        Py_ssize_t i;                                                                                   \
        labels[r] = (int32_t) best;                                                                     \
        if (dist) {                                                                                     \
            T s = 0;                                                                                    \
            for (i = 0; i < d; i++) { T e = x[i] - c[i]; s += e * e; }                                  \
            dist[r] = s;                                                                                \
        }                                                                                               \
        T wi = w ? w[r] : (T) 1, *row = acc + best * d;                                                 \
        for (i = 0; i < d; i++) row[i] += wi * x[i];                                                    \
    }                                                                                                   \
    /* The running sums of the centers rows went to (touched) added to their float64 sums, then cleared. */\
    static inline __attribute__((always_inline)) void NAME##_flush(T *acc, double *sums, Py_ssize_t k,  \
            Py_ssize_t d, unsigned char *touched) {                                                     \
        for (Py_ssize_t c = 0; c < k; c++) {                                                            \
            if (!touched[c]) continue;                                                                  \
            T *a = acc + c * d;                                                                         \
            double *s = sums + c * d;                                                                   \
            for (Py_ssize_t i = 0; i < d; i++) { s[i] += (double) a[i]; a[i] = 0; }                     \
            touched[c] = 0;                                                                             \
        }                                                                                               \
    }                                                                                                   \
    FASTNN_KM_CLONES static void NAME(const T *X, const T *w, const T *C, const T *c_norm, Py_ssize_t r0,\
                                      Py_ssize_t r1, Py_ssize_t k, Py_ssize_t d, int32_t *labels, T *dist,\
                                      double *sums, T *acc) {                                           \
        Py_ssize_t nv = d - d % L;                                                                      \
        unsigned char touched[64] = {0};                                                                \
        __builtin_memset(acc, 0, (size_t) (k * d) * sizeof(T));                                         \
        for (Py_ssize_t r = r0; r < r1; r += 2) {                                                       \
            int pair = r + 1 < r1;                                                                      \
            const T *x0 = X + r * d, *x1 = x0 + pair * d;                                               \
            Py_ssize_t best0 = 0, best1 = 0;                                                            \
            T low0 = 0, low1 = 0, t0[4], t1[4];                                                         \
            for (Py_ssize_t j = 0; j < k; j += 4) {                                                     \
                Py_ssize_t m = k - j < 4 ? k - j : 4;                                                   \
                const T *c0 = C + j * d;                                                                \
                if (m > 2)                                                                              \
                    NAME##_dots4(x0, x1, c0, c0 + d, c0 + 2 * d, c0 + (m > 3) * 3 * d, d, nv, t0, t1);  \
                else                                                                                    \
                    NAME##_dots2(x0, x1, c0, c0 + (m > 1) * d, d, nv, t0, t1);                          \
                NAME##_pick(c_norm, t0, j, m, &low0, &best0);                                           \
                NAME##_pick(c_norm, t1, j, m, &low1, &best1);                                           \
            }                                                                                           \
            NAME##_add(X, w, C, r, best0, d, labels, dist, acc);                                        \
            touched[best0] = 1;                                                                         \
            if (pair) { NAME##_add(X, w, C, r + 1, best1, d, labels, dist, acc); touched[best1] = 1; }  \
            if ((r - r0) % FASTNN_KM_FLUSH == FASTNN_KM_FLUSH - 2 || r + 2 >= r1)                       \
                NAME##_flush(acc, sums, k, d, touched);                                                 \
        }                                                                                               \
    }
    FASTNN_ASSIGN(fastnn_sassign, float, fastnn_km_v8sf, 8)
    FASTNN_ASSIGN(fastnn_dassign, double, fastnn_km_v4df, 4)
    #pragma GCC pop_options
    """
    void fastnn_sassign(const float *X, const float *w, const float *C, const float *c_norm, Py_ssize_t r0,
                        Py_ssize_t r1, Py_ssize_t k, Py_ssize_t d, int32_t *labels, float *dist,
                        double *sums, float *acc) noexcept nogil
    void fastnn_dassign(const double *X, const double *w, const double *C, const double *c_norm, Py_ssize_t r0,
                        Py_ssize_t r1, Py_ssize_t k, Py_ssize_t d, int32_t *labels, double *dist,
                        double *sums, double *acc) noexcept nogil

# Up to this many centers (at most 64), rows are assigned by fastnn_sassign/fastnn_dassign; beyond, through gemm.
cdef Py_ssize_t FEW_CENTERS = 32
# Rows assigned per chunk (the shape of every distance product, whatever the thread count).
cdef Py_ssize_t CHUNK = 256
# The center sums run over at most this many parts of the rows (each at least SUM_ROWS rows), added in order:
# the parts are fixed by the number of rows alone.
cdef Py_ssize_t SUM_PARTS = 64
cdef Py_ssize_t SUM_ROWS = 2048


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
    if k <= FEW_CENTERS:
        if floating is float:
            fastnn_sassign(X, w, C, c_norm, r0, r1, k, d, labels, dist if exact else NULL, sums, dots)
        else:
            fastnn_dassign(X, w, C, c_norm, r0, r1, k, d, labels, dist if exact else NULL, sums, dots)
        return
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


cdef struct Parts:
    # One assignment step's parts, for the thread pool: part p is rows p * n // parts .. (p + 1) * n // parts.
    const void *X
    const void *w
    const void *C
    const void *c_norm
    Py_ssize_t n, k, d, parts
    void *dots          # per slot: scratch of dots_stride values
    Py_ssize_t dots_stride
    int32_t *labels
    void *dist
    bint exact
    bint is_double
    double *partial     # per part: k x d sums


cdef void _run_part(const Parts *j, Py_ssize_t p, int slot, const floating *X) noexcept nogil:
    _part(X, <const floating *> j.w, <const floating *> j.C, <const floating *> j.c_norm, p * j.n // j.parts,
          (p + 1) * j.n // j.parts, j.k, j.d, (<floating *> j.dots) + slot * j.dots_stride, j.labels,
          <floating *> j.dist, j.exact, j.partial + p * j.k * j.d)


cdef void _part_task(void *ctx, Py_ssize_t p, int slot) noexcept nogil:
    cdef const Parts *j = <const Parts *> ctx
    if j.is_double:
        _run_part(j, p, slot, <const double *> j.X)
    else:
        _run_part(j, p, slot, <const float *> j.X)


def lloyd_step(const floating[:, ::1] X not None, sample_weight, const floating[:, ::1] centers not None,
               int32_t[::1] labels not None, floating[::1] dist not None, double[:, ::1] sums not None,
               int n_threads, bint exact=True):
    """One assignment step and the centers' weighted sums: writes ``labels`` (n), ``dist`` (with ``exact``, the
    squared distance of each sample to its center; untouched otherwise) and ``sums`` (k x d, float64; each
    center's weighted sum of its samples). The rows are split into parts fixed by their number (at most
    ``SUM_PARTS``, each at least ``SUM_ROWS`` rows); each part is assigned in chunks of ``CHUNK`` rows and summed
    in row order, and the parts' sums are added in order, so nothing depends on ``n_threads``. (With up to
    ``FEW_CENTERS`` centers, rows are summed in the data's precision 64 at a time, then into float64.)"""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], k = centers.shape[0], p, j
    cdef Py_ssize_t parts = max(1, min(SUM_PARTS, (n + SUM_ROWS - 1) // SUM_ROWS))
    partial_array = np.empty((parts, k * d), dtype=np.float64)
    cdef double[:, ::1] partial = partial_array
    cdef const floating[::1] w = sample_weight
    cdef const floating *wp = &w[0] if w is not None else NULL
    cdef floating[::1] c_norm = np.einsum("ij,ij->i", centers, centers).astype(np.asarray(centers).dtype)
    cdef int nt = max(1, min(<Py_ssize_t> n_threads, parts))
    # per thread: the distance products of a chunk, or (few centers) the centers' running sums
    dots_array = np.empty((nt, CHUNK * k if k > FEW_CENTERS else k * d), dtype=np.asarray(centers).dtype)
    cdef floating[:, ::1] dots = dots_array
    memset(&sums[0, 0], 0, k * d * sizeof(double))
    cdef Parts job
    job.X, job.w, job.C, job.c_norm = &X[0, 0], wp, &centers[0, 0], &c_norm[0]
    job.n, job.k, job.d, job.parts = n, k, d, parts
    job.dots, job.dots_stride = &dots[0, 0], dots.shape[1]
    job.labels, job.dist, job.exact, job.partial = &labels[0], &dist[0], exact, &partial[0, 0]
    job.is_double = floating is double
    with nogil:
        fastnn_run(_part_task, &job, parts, nt)
        for p in range(parts):  # the parts' sums, added in order
            for j in range(k * d):
                (&sums[0, 0])[j] += partial[p, j]
