# Row-major BLAS wrappers over scipy.linalg.cython_blas, fused over float and double.
# This is the only module that cimports cython_blas.
from cython cimport floating

cpdef enum BlasTrans:
    NoTrans = 110  # ord('n')
    Trans = 116    # ord('t')

cdef void gemm(BlasTrans ta, BlasTrans tb, int m, int n, int k,
               floating alpha, const floating *A, int lda,
               const floating *B, int ldb,
               floating beta, floating *C, int ldc) noexcept nogil

cdef void gemv(BlasTrans trans, int m, int n, floating alpha, const floating *A, int lda,
               const floating *x, floating beta, floating *y) noexcept nogil
