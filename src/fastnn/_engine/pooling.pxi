# Included by _kernels.pyx: The pooling kinds (MAXPOOL2D, AVGPOOL2D): one image at a time in groups; no parameters;
# their rows of KINDS.

cdef extern from *:
    """
    /* 2 x 2 max-pooling at stride 2 of a float32 image, 16 outputs of a row at a time (AVX-512) or 8 (AVX2), as
       direct_conv() allows (direct.pxi): the same comparisons as max_pool_2x2 (_conv.pxd), taps in row-major
       order, a tap replacing the maximum only when greater (so the first maximum is kept, and NaN never replaces
       one). Returns 0 where neither is allowed, having done nothing. */
    #if defined(__GNUC__) && defined(__x86_64__) && (__GNUC__ >= 8 || defined(__clang__))
    #include <immintrin.h>
    __attribute__((target("avx512f")))
    static void fastnn_maxpool2x2_512(const float *x, int C, int H, int W, int Ho, int Wo, float *out,
                                      int32_t *arg) {
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
        for (int c = 0; c < C; c++) {
            for (int oy = 0; oy < Ho; oy++) {
                const int base = (c * H + 2 * oy) * W;
                const float *r0 = x + base, *r1 = r0 + W;
                float *o = out + ((Py_ssize_t) c * Ho + oy) * Wo;
                int32_t *a = arg + ((Py_ssize_t) c * Ho + oy) * Wo;
                for (int ox = 0; ox < Wo; ox += 16) {
                    int n = Wo - ox < 16 ? Wo - ox : 16;
                    __mmask16 lo = (__mmask16) (n >= 8 ? 0xFFFF : (1u << (2 * n)) - 1);
                    __mmask16 hi = (__mmask16) (n > 8 ? (1u << (2 * n - 16)) - 1 : 0);
                    __mmask16 keep = (__mmask16) ((1u << n) - 1);
                    __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * ox), a1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * ox + 16);
                    __m512 b0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * ox), b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * ox + 16);
                    __m512 m = _mm512_permutex2var_ps(a0, even, a1), v;
                    const __m512i at = _mm512_add_epi32(_mm512_set1_epi32(base + 2 * ox), even);
                    __m512i idx = at;
                    __mmask16 gt;
                    v = _mm512_permutex2var_ps(a0, odd, a1);
                    gt = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ);
                    m = _mm512_mask_mov_ps(m, gt, v);
                    idx = _mm512_mask_mov_epi32(idx, gt, _mm512_add_epi32(at, _mm512_set1_epi32(1)));
                    v = _mm512_permutex2var_ps(b0, even, b1);
                    gt = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ);
                    m = _mm512_mask_mov_ps(m, gt, v);
                    idx = _mm512_mask_mov_epi32(idx, gt, _mm512_add_epi32(at, _mm512_set1_epi32(W)));
                    v = _mm512_permutex2var_ps(b0, odd, b1);
                    gt = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ);
                    m = _mm512_mask_mov_ps(m, gt, v);
                    idx = _mm512_mask_mov_epi32(idx, gt, _mm512_add_epi32(at, _mm512_set1_epi32(W + 1)));
                    _mm512_mask_storeu_ps(o + ox, keep, m);
                    _mm512_mask_storeu_epi32(a + ox, keep, idx);
                }
            }
        }
    }
    #define FASTNN_EVEN8(a, b) _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8))
    #define FASTNN_ODD8(a, b) _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8))
    #define FASTNN_POOL8_TAP(val, shift) v = (val); gt = _mm256_cmp_ps(v, m, _CMP_GT_OQ); m = _mm256_blendv_ps(m, v, gt); \
        idx = _mm256_blendv_epi8(idx, _mm256_add_epi32(at, _mm256_set1_epi32(shift)), _mm256_castps_si256(gt));
    __attribute__((target("avx2,fma")))
    static void fastnn_maxpool2x2_256(const float *x, int C, int H, int W, int Ho, int Wo, float *out,
                                      int32_t *arg) {
        const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
        for (int c = 0; c < C; c++) {
            for (int oy = 0; oy < Ho; oy++) {
                const int base = (c * H + 2 * oy) * W;
                const float *r0 = x + base, *r1 = r0 + W;
                float *o = out + ((Py_ssize_t) c * Ho + oy) * Wo;
                int32_t *a = arg + ((Py_ssize_t) c * Ho + oy) * Wo;
                for (int ox = 0; ox < Wo; ox += 8) {
                    const __m256i lo = fastnn_lanes8(2 * (Wo - ox)), hi = fastnn_lanes8(2 * (Wo - ox) - 8),
                                  keep = fastnn_lanes8(Wo - ox);
                    __m256 a0 = _mm256_maskload_ps(r0 + 2 * ox, lo), a1 = _mm256_maskload_ps(r0 + 2 * ox + 8, hi);
                    __m256 b0 = _mm256_maskload_ps(r1 + 2 * ox, lo), b1 = _mm256_maskload_ps(r1 + 2 * ox + 8, hi);
                    const __m256i at = _mm256_add_epi32(_mm256_set1_epi32(base + 2 * ox), even);
                    __m256 m = FASTNN_EVEN8(a0, a1), v, gt;
                    __m256i idx = at;
                    FASTNN_POOL8_TAP(FASTNN_ODD8(a0, a1), 1)
                    FASTNN_POOL8_TAP(FASTNN_EVEN8(b0, b1), W)
                    FASTNN_POOL8_TAP(FASTNN_ODD8(b0, b1), W + 1)
                    _mm256_maskstore_ps(o + ox, keep, m);
                    _mm256_maskstore_epi32(a + ox, keep, idx);
                }
            }
        }
    }
    static int fastnn_maxpool2x2_f(const float *x, int C, int H, int W, int Ho, int Wo, float *out, int32_t *arg) {
        int level = fastnn_direct_level();
        if (level == 2)
            fastnn_maxpool2x2_512(x, C, H, W, Ho, Wo, out, arg);
        else if (level == 1)
            fastnn_maxpool2x2_256(x, C, H, W, Ho, Wo, out, arg);
        return level > 0;
    }
    #else
    static int fastnn_maxpool2x2_f(const float *x, int C, int H, int W, int Ho, int Wo, float *out, int32_t *arg) {
        return 0;
    }
    #endif
    """
    int fastnn_maxpool2x2_f(const float *x, int C, int H, int W, int Ho, int Wo, float *out, int32_t *arg) noexcept nogil


cdef void _maxpool_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows,
                           Py_ssize_t t, bint activate, int slot) noexcept nogil:
    """Group ``t`` of max-pooling layer ``l``'s output, keeping each window's arg-max for the backward pass."""
    cdef const Geom *g = &net.geom[l]
    cdef int w_in = net.width[l], w_out = net.width[l + 1]
    cdef Py_ssize_t r0, r1, r
    _image_rows(n_rows, t, &r0, &r1)
    for r in range(r0, r1):
        if (floating is float and g.kh == 2 and g.kw == 2 and g.sh == 2 and g.sw == 2
                and fastnn_maxpool2x2_f(inp + r * w_in, g.c, g.h, g.w, g.ho, g.wo,
                                        (<floating *> net.ws.A[l + 1]) + r * w_out, net.ws.arg[l + 1] + r * w_out)):
            continue
        max_pool(inp + r * w_in, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ho, g.wo,
                 (<floating *> net.ws.A[l + 1]) + r * w_out, net.ws.arg[l + 1] + r * w_out)
    if activate:
        _dropout_rows(net, l, r0, r1)


cdef void _maxpool_backward(Net *net, const floating *params, int l, Py_ssize_t n_rows, Py_ssize_t t,
                            int slot) noexcept nogil:
    cdef int w_in = net.width[l], w_out = net.width[l + 1]
    cdef Py_ssize_t r0, r1, r
    _image_rows(n_rows, t, &r0, &r1)
    for r in range(r0, r1):
        max_pool_backward((<floating *> net.ws.D[l + 1]) + r * w_out, net.ws.arg[l + 1] + r * w_out, w_out, w_in,
                          (<floating *> net.ws.D[l]) + r * w_in)
    _input_gradient_rows(net, l, <floating *> net.ws.D[l], r0, r1)


cdef void _avgpool_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows,
                           Py_ssize_t t, bint activate, int slot) noexcept nogil:
    cdef const Geom *g = &net.geom[l]
    cdef int w_in = net.width[l], w_out = net.width[l + 1]
    cdef Py_ssize_t r0, r1, r
    _image_rows(n_rows, t, &r0, &r1)
    for r in range(r0, r1):
        avg_pool(inp + r * w_in, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ho, g.wo,
                 (<floating *> net.ws.A[l + 1]) + r * w_out)
    if activate:
        _dropout_rows(net, l, r0, r1)


cdef void _avgpool_backward(Net *net, const floating *params, int l, Py_ssize_t n_rows, Py_ssize_t t,
                            int slot) noexcept nogil:
    cdef const Geom *g = &net.geom[l]
    cdef int w_in = net.width[l], w_out = net.width[l + 1]
    cdef Py_ssize_t r0, r1, r
    _image_rows(n_rows, t, &r0, &r1)
    for r in range(r0, r1):
        avg_pool_backward((<floating *> net.ws.D[l + 1]) + r * w_out, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ho,
                          g.wo, (<floating *> net.ws.D[l]) + r * w_in)
    _input_gradient_rows(net, l, <floating *> net.ws.D[l], r0, r1)


cdef const char *_pool_fits(const Geom *g, int n_in, int n_out) noexcept nogil:
    """A pooling layer keeps its channels, has no padding, and its windows lie inside the input."""
    cdef const char *wrong = _image_fits(g, n_in, n_out)
    if wrong != NULL:
        return wrong
    if g.co != g.c or g.ph or g.pw or (g.ho - 1) * g.sh + g.kh > g.h or (g.wo - 1) * g.sw + g.kw > g.w:
        return b"the pooling windows do not fit the input"
    return NULL


cdef Py_ssize_t _pool_row_work(const Geom *g, int n_in, int n_out) noexcept nogil:
    """Values read per image."""
    return <Py_ssize_t> g.co * g.ho * g.wo * g.kh * g.kw


cdef int _no_gradient_tasks(const Geom *g, int n_in, int n_out, int split, GradTask *out) noexcept nogil:
    return 0


cdef void _fill_pool_row(KindRow *row, const char *name) noexcept:
    row.name = name
    row.check = _pool_fits
    row.n_weights = _no_values
    row.n_bias = _no_values
    row.n_buffers = _no_values
    row.workspace = _no_values
    row.row_work = _pool_row_work
    row.kept = _no_values
    row.cache = _no_values
    row.fixed = _no_values
    row.backward_first = False
    row.pass_work = _image_pass_work
    row.forward_tasks = _image_tasks
    row.backward_tasks = _image_tasks
    row.task_work = _image_task_work
    row.gradient_tasks = _no_gradient_tasks
    row.splits_columns = False


_fill_pool_row(&KINDS[MAXPOOL2D], b"maxpool2d")
KINDS[MAXPOOL2D].forward_f = _maxpool_forward[float]
KINDS[MAXPOOL2D].forward_d = _maxpool_forward[double]
KINDS[MAXPOOL2D].backward_f = _maxpool_backward[float]
KINDS[MAXPOOL2D].backward_d = _maxpool_backward[double]
_fill_pool_row(&KINDS[AVGPOOL2D], b"avgpool2d")
KINDS[AVGPOOL2D].forward_f = _avgpool_forward[float]
KINDS[AVGPOOL2D].forward_d = _avgpool_forward[double]
KINDS[AVGPOOL2D].backward_f = _avgpool_backward[float]
KINDS[AVGPOOL2D].backward_d = _avgpool_backward[double]
