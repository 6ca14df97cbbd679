"""Row-major general matrix multiply through scipy's BLAS.

``gemm`` computes ``C = alpha * op(A) @ op(B) + beta * C`` for row-major (C-ordered) matrices, where ``op(X)``
is ``X`` or ``X.T``, ``C`` is ``m x n`` and the inner dimension is ``k``. BLAS is column-major, so the row-major
product is computed as the column-major product ``C.T = op(B).T @ op(A).T`` by swapping the operands.
Sizes of zero return at once (BLAS rejects leading dimensions below one).
"""
from libc.stdint cimport int64_t
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv

# Optional ILP64 (64-bit integer) gemm entry points of another loaded BLAS, chosen by fastnn._core.blas_select;
# NULL means scipy's cython_blas.
ctypedef void (*sgemm64_t)(const char *, const char *, const int64_t *, const int64_t *, const int64_t *,
                           const float *, const float *, const int64_t *, const float *, const int64_t *,
                           const float *, float *, const int64_t *) noexcept nogil
ctypedef void (*dgemm64_t)(const char *, const char *, const int64_t *, const int64_t *, const int64_t *,
                           const double *, const double *, const int64_t *, const double *, const int64_t *,
                           const double *, double *, const int64_t *) noexcept nogil
ctypedef void (*sgemv64_t)(const char *, const int64_t *, const int64_t *, const float *, const float *,
                           const int64_t *, const float *, const int64_t *, const float *, float *,
                           const int64_t *) noexcept nogil
ctypedef void (*dgemv64_t)(const char *, const int64_t *, const int64_t *, const double *, const double *,
                           const int64_t *, const double *, const int64_t *, const double *, double *,
                           const int64_t *) noexcept nogil
cdef sgemm64_t _sgemm64 = NULL
cdef dgemm64_t _dgemm64 = NULL
cdef sgemv64_t _sgemv64 = NULL
cdef dgemv64_t _dgemv64 = NULL


def _set_ilp64_gemm(size_t sgemm_address, size_t dgemm_address, size_t sgemv_address=0, size_t dgemv_address=0):
    """Route gemm (and gemv) through these ILP64 function addresses of one library (all 0 restores scipy's
    BLAS). Both products must come from the same library, so gemv addresses are required with gemm's."""
    global _sgemm64, _dgemm64, _sgemv64, _dgemv64
    if len({sgemm_address == 0, dgemm_address == 0, sgemv_address == 0, dgemv_address == 0}) != 1:
        raise ValueError("give all four addresses or none")
    _sgemm64 = <sgemm64_t> sgemm_address
    _dgemm64 = <dgemm64_t> dgemm_address
    _sgemv64 = <sgemv64_t> sgemv_address
    _dgemv64 = <dgemv64_t> dgemv_address


def _using_ilp64_gemm():
    return _sgemm64 != NULL


cdef void gemm(BlasTrans ta, BlasTrans tb, int m, int n, int k,
               floating alpha, const floating *A, int lda,
               const floating *B, int ldb,
               floating beta, floating *C, int ldc) noexcept nogil:
    cdef char ta_ = ta
    cdef char tb_ = tb
    if m <= 0 or n <= 0:
        return
    if k <= 0:
        k = 0
    if lda < 1:
        lda = 1
    if ldb < 1:
        ldb = 1
    cdef int64_t m64 = m, n64 = n, k64 = k, lda64 = lda, ldb64 = ldb, ldc64 = ldc
    if floating is float:
        if _sgemm64 != NULL:
            _sgemm64(&tb_, &ta_, &n64, &m64, &k64, &alpha, B, &ldb64, A, &lda64, &beta, C, &ldc64)
        else:
            sgemm(&tb_, &ta_, &n, &m, &k, &alpha, <float *> B, &ldb, <float *> A, &lda, &beta, C, &ldc)
    else:
        if _dgemm64 != NULL:
            _dgemm64(&tb_, &ta_, &n64, &m64, &k64, &alpha, B, &ldb64, A, &lda64, &beta, C, &ldc64)
        else:
            dgemm(&tb_, &ta_, &n, &m, &k, &alpha, <double *> B, &ldb, <double *> A, &lda, &beta, C, &ldc)


def _gemm_check(A, B, transpose_a=False, transpose_b=False):
    """Return ``op(A) @ op(B)`` computed by :func:`gemm` (a test helper; arrays must be C-contiguous)."""
    import numpy as np
    A = np.ascontiguousarray(A)
    B = np.ascontiguousarray(B, dtype=A.dtype)
    if A.dtype not in (np.float32, np.float64):
        raise TypeError("A must be float32 or float64")
    m = A.shape[1] if transpose_a else A.shape[0]
    k = A.shape[0] if transpose_a else A.shape[1]
    n = B.shape[0] if transpose_b else B.shape[1]
    kb = B.shape[1] if transpose_b else B.shape[0]
    if kb != k:
        raise ValueError(f"inner dimensions differ: {k} and {kb}")
    C = np.zeros((m, n), dtype=A.dtype)
    if A.dtype == np.float32:
        _gemm_typed[float](A, B, C, transpose_a, transpose_b)
    else:
        _gemm_typed[double](A, B, C, transpose_a, transpose_b)
    return C


cdef _gemm_typed(floating[:, ::1] A, floating[:, ::1] B, floating[:, ::1] C, bint ta, bint tb):
    cdef int m = C.shape[0], n = C.shape[1]
    cdef int k = A.shape[0] if ta else A.shape[1]
    cdef const floating *pa = &A[0, 0] if A.shape[0] * A.shape[1] > 0 else NULL
    cdef const floating *pb = &B[0, 0] if B.shape[0] * B.shape[1] > 0 else NULL
    if m == 0 or n == 0:
        return
    if k == 0:
        C[...] = 0
        return
    gemm(Trans if ta else NoTrans, Trans if tb else NoTrans, m, n, k, <floating> 1.0,
         pa, A.shape[1], pb, B.shape[1], <floating> 0.0, &C[0, 0], n)


cdef void gemv(BlasTrans trans, int m, int n, floating alpha, const floating *A, int lda,
               const floating *x, floating beta, floating *y) noexcept nogil:
    """Row-major matrix-vector product: ``y = alpha * op(A) @ x + beta * y`` for ``A`` of ``m x n`` (rows
    ``lda`` apart); ``op`` is ``A`` (``y`` has ``m`` values) or ``A.T`` (``n`` values). One row of a batch
    goes through this instead of gemm: BLAS's gemm packs the whole matrix for a single row."""
    # row-major A is the column-major n x m matrix A.T: swap the transposition
    cdef char t = b't' if trans == NoTrans else b'n'
    cdef int one = 1
    cdef int64_t m64 = n, n64 = m, lda64 = lda, one64 = 1
    if m <= 0 or n <= 0:
        return
    if lda < 1:
        lda = 1
        lda64 = 1
    if floating is float:
        if _sgemv64 != NULL:
            _sgemv64(&t, &m64, &n64, &alpha, A, &lda64, x, &one64, &beta, y, &one64)
        else:
            sgemv(&t, &n, &m, &alpha, <float *> A, &lda, <float *> x, &one, &beta, y, &one)
    else:
        if _dgemv64 != NULL:
            _dgemv64(&t, &m64, &n64, &alpha, A, &lda64, x, &one64, &beta, y, &one64)
        else:
            dgemv(&t, &n, &m, &alpha, <double *> A, &lda, <double *> x, &one, &beta, y, &one)
