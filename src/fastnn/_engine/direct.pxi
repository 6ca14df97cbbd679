# Included by _kernels.pyx: direct float32 convolution kernels (AVX-512) for stride-1 convolutions. They read the
# images where they lie, with no im2col matrix for BLAS to pack again: the forward pass as a sum of shifted image
# rows, the weight gradient with the image values broadcast against the output gradient's channels.

cdef extern from *:
    """
    /* Direct convolution, float32, stride 1, on one image of C x H x W values (a padded copy when the layer pads).

       Forward. Output pixel (oy, ox) is read, for every tap (c, i, j), at x[c H W + (oy + i) W + ox + j]: along
       q = oy W + ox these reads are the image itself shifted by c H W + i W + j. So y[co, q] for q < nq =
       (Ho - 1) W + Wo is a sum of shifted image rows weighted by one scalar each: 8 output channels x 48 values of
       q at a time, each value summed over the taps in order (fused multiply-adds). The values of q with
       ox >= Wo are computed and not used (a fifth of them for a 3 x 3 kernel on 13 x 13 images).
       The weights are packed once a pass: Wp[o][k][r] = W[8 o + r, k] (zero beyond CO), K = C kh kw taps.

       Weight gradient. dW[co, k] = sum over images and output pixels p = (oy, ox) of
       x[c H W + (oy + i) W + ox + j] dY[co, p]: 8 taps x 32 output channels at a time, the image values broadcast
       against dT[p] (the output gradient's channels of pixel p, contiguous), summed over the pixels in order
       into G (K x 32), which holds the images before. */
    #if defined(__GNUC__) && defined(__x86_64__) && (__GNUC__ >= 8 || defined(__clang__))
    #include <immintrin.h>
    static int fastnn_direct_ok = -1;
    static int fastnn_has_direct(void) {
        if (fastnn_direct_ok < 0) {
            __builtin_cpu_init();
            fastnn_direct_ok = __builtin_cpu_supports("avx512f") ? 1 : 0;
        }
        return fastnn_direct_ok;
    }
    static void fastnn_allow_direct(int on) { fastnn_direct_ok = -1; if (!on || !fastnn_has_direct()) fastnn_direct_ok = 0; }
    static __mmask16 fastnn_lanes(int n) { return n >= 16 ? (__mmask16) 0xFFFF : n <= 0 ? 0 : (__mmask16) ((1u << n) - 1); }

    #define FASTNN_DC_FMA(r) { __m512 a_ = _mm512_set1_ps(w[r]); \\
        c##r##0 = _mm512_fmadd_ps(a_, b0, c##r##0); c##r##1 = _mm512_fmadd_ps(a_, b1, c##r##1); \\
        c##r##2 = _mm512_fmadd_ps(a_, b2, c##r##2); }
    #define FASTNN_DC_OUT(r) if (o + (r) < CO) { float *y_ = y + (Py_ssize_t) (o + (r)) * ldy + q0; \\
        _mm512_mask_storeu_ps(y_, m0, c##r##0); _mm512_mask_storeu_ps(y_ + 16, m1, c##r##1); \\
        _mm512_mask_storeu_ps(y_ + 32, m2, c##r##2); }
    __attribute__((target("avx512f,fma")))
    static void fastnn_conv_direct(const float *x, int C, int H, int W, int kh, int kw, const float *Wp, int CO,
                                   int nq, float *y, Py_ssize_t ldy) {
        const Py_ssize_t HW = (Py_ssize_t) H * W;
        const int K = C * kh * kw;
        for (int o = 0; o < CO; o += 8) {
            for (int q0 = 0; q0 < nq; q0 += 48) {
                __mmask16 m0 = fastnn_lanes(nq - q0), m1 = fastnn_lanes(nq - q0 - 16), m2 = fastnn_lanes(nq - q0 - 32);
                __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00,
                       c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00, c40 = c00, c41 = c00,
                       c42 = c00, c50 = c00, c51 = c00, c52 = c00, c60 = c00, c61 = c00, c62 = c00, c70 = c00,
                       c71 = c00, c72 = c00;
                const float *w = Wp + (Py_ssize_t) (o / 8) * K * 8;
                for (int c = 0; c < C; c++) {
                    for (int i = 0; i < kh; i++) {
                        const float *xr = x + c * HW + (Py_ssize_t) i * W + q0;
                        for (int j = 0; j < kw; j++, w += 8) {
                            __m512 b0 = _mm512_maskz_loadu_ps(m0, xr + j), b1 = _mm512_maskz_loadu_ps(m1, xr + j + 16),
                                   b2 = _mm512_maskz_loadu_ps(m2, xr + j + 32);
                            FASTNN_DC_FMA(0) FASTNN_DC_FMA(1) FASTNN_DC_FMA(2) FASTNN_DC_FMA(3)
                            FASTNN_DC_FMA(4) FASTNN_DC_FMA(5) FASTNN_DC_FMA(6) FASTNN_DC_FMA(7)
                        }
                    }
                }
                FASTNN_DC_OUT(0) FASTNN_DC_OUT(1) FASTNN_DC_OUT(2) FASTNN_DC_OUT(3)
                FASTNN_DC_OUT(4) FASTNN_DC_OUT(5) FASTNN_DC_OUT(6) FASTNN_DC_OUT(7)
            }
        }
    }

    #define FASTNN_DG_FMA(r) { __m512 a_ = _mm512_set1_ps(x##r[idx]); \\
        g##r##0 = _mm512_fmadd_ps(a_, b0, g##r##0); g##r##1 = _mm512_fmadd_ps(a_, b1, g##r##1); }
    #define FASTNN_DG_LOAD(r) __m512 g##r##0 = _mm512_loadu_ps(G + (Py_ssize_t) (k + (r)) * 32), \\
        g##r##1 = _mm512_loadu_ps(G + (Py_ssize_t) (k + (r)) * 32 + 16);
    #define FASTNN_DG_STORE(r) _mm512_storeu_ps(G + (Py_ssize_t) (k + (r)) * 32, g##r##0); \\
        _mm512_storeu_ps(G + (Py_ssize_t) (k + (r)) * 32 + 16, g##r##1);
    #define FASTNN_DG_TAP(r) const float *x##r = x + fastnn_tap(k + (r), kh, kw, H, W);
    static inline Py_ssize_t fastnn_tap(int k, int kh, int kw, int H, int W) {
        int c = k / (kh * kw), i = (k / kw) % kh, j = k % kw;
        return (Py_ssize_t) c * H * W + (Py_ssize_t) i * W + j;
    }
    __attribute__((target("avx512f,fma")))
    static void fastnn_conv_direct_grad(const float *x, int H, int W, int kh, int kw, int k0, int k1, int Ho,
                                        int Wo, const float *dT, float *G) {
        int k = k0;
        G -= (Py_ssize_t) k0 * 32;
        for (; k + 8 <= k1; k += 8) {
            FASTNN_DG_TAP(0) FASTNN_DG_TAP(1) FASTNN_DG_TAP(2) FASTNN_DG_TAP(3)
            FASTNN_DG_TAP(4) FASTNN_DG_TAP(5) FASTNN_DG_TAP(6) FASTNN_DG_TAP(7)
            FASTNN_DG_LOAD(0) FASTNN_DG_LOAD(1) FASTNN_DG_LOAD(2) FASTNN_DG_LOAD(3)
            FASTNN_DG_LOAD(4) FASTNN_DG_LOAD(5) FASTNN_DG_LOAD(6) FASTNN_DG_LOAD(7)
            const float *d = dT;
            for (int oy = 0; oy < Ho; oy++) {
                Py_ssize_t idx = (Py_ssize_t) oy * W, end = idx + Wo;
                for (; idx < end; idx++, d += 32) {
                    __m512 b0 = _mm512_loadu_ps(d), b1 = _mm512_loadu_ps(d + 16);
                    FASTNN_DG_FMA(0) FASTNN_DG_FMA(1) FASTNN_DG_FMA(2) FASTNN_DG_FMA(3)
                    FASTNN_DG_FMA(4) FASTNN_DG_FMA(5) FASTNN_DG_FMA(6) FASTNN_DG_FMA(7)
                }
            }
            FASTNN_DG_STORE(0) FASTNN_DG_STORE(1) FASTNN_DG_STORE(2) FASTNN_DG_STORE(3)
            FASTNN_DG_STORE(4) FASTNN_DG_STORE(5) FASTNN_DG_STORE(6) FASTNN_DG_STORE(7)
        }
        for (; k < k1; k++) {  /* the taps left: one at a time, the same sums */
            FASTNN_DG_TAP(0)
            FASTNN_DG_LOAD(0)
            const float *d = dT;
            for (int oy = 0; oy < Ho; oy++) {
                Py_ssize_t idx = (Py_ssize_t) oy * W, end = idx + Wo;
                for (; idx < end; idx++, d += 32) {
                    __m512 b0 = _mm512_loadu_ps(d), b1 = _mm512_loadu_ps(d + 16);
                    FASTNN_DG_FMA(0)
                }
            }
            FASTNN_DG_STORE(0)
        }
    }
    /* out[co, oy, ox] = y[co, oy W + ox] + b[co] (b NULL: + 0), the image's Ho x Wo outputs from the direct
       kernel's rows (ldy apart). */
    __attribute__((target("avx512f")))
    static void fastnn_direct_out(const float *y, Py_ssize_t ldy, int CO, int Ho, int Wo, int W, const float *b,
                                  float *out) {
        for (int co = 0; co < CO; co++) {
            const __m512 bc = _mm512_set1_ps(b != NULL ? b[co] : 0.0f);
            for (int oy = 0; oy < Ho; oy++) {
                const float *s = y + co * ldy + (Py_ssize_t) oy * W;
                float *o = out + ((Py_ssize_t) co * Ho + oy) * Wo;
                for (int ox = 0; ox < Wo; ox += 16) {
                    __mmask16 m = fastnn_lanes(Wo - ox);
                    _mm512_mask_storeu_ps(o + ox, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, s + ox), bc));
                }
            }
        }
    }
    /* A 16 x 16 transpose in registers: r[i] holds row i, then column i. */
    __attribute__((target("avx512f")))
    static inline void fastnn_transpose16(__m512 r[16]) {
        __m512 t[16];
        for (int i = 0; i < 8; i++) {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        for (int i = 0; i < 4; i++) {
            r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[4 * i]), _mm512_castps_pd(t[4 * i + 2])));
            r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[4 * i]), _mm512_castps_pd(t[4 * i + 2])));
            r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[4 * i + 1]), _mm512_castps_pd(t[4 * i + 3])));
            r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[4 * i + 1]), _mm512_castps_pd(t[4 * i + 3])));
        }
        for (int i = 0; i < 4; i++) {
            t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
            t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
            t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
            t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
        }
        for (int i = 0; i < 4; i++) {
            r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
            r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
            r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
            r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
        }
    }

    /* dT[p, j] = d[j P + p] for channels j < nj (of the P-pixel channels of d), zero for nj <= j < 32; and the
       sum of each channel over the pixels, in pixel order, into s[j] (32 values). */
    __attribute__((target("avx512f")))
    static void fastnn_direct_channels(const float *d, int P, int nj, float *dT, float *s) {
        for (int jb = 0; jb < 32; jb += 16) {
            __m512 acc = _mm512_setzero_ps();
            for (int p0 = 0; p0 < P; p0 += 16) {
                const __mmask16 m = fastnn_lanes(P - p0);
                const int n = P - p0 < 16 ? P - p0 : 16;
                __m512 r[16];
                for (int i = 0; i < 16; i++)
                    r[i] = jb + i < nj ? _mm512_maskz_loadu_ps(m, d + (Py_ssize_t) (jb + i) * P + p0) : _mm512_setzero_ps();
                fastnn_transpose16(r);
                for (int q = 0; q < n; q++) {
                    acc = _mm512_add_ps(acc, r[q]);
                    _mm512_storeu_ps(dT + (Py_ssize_t) (p0 + q) * 32 + jb, r[q]);
                }
            }
            _mm512_storeu_ps(s + jb, acc);
        }
    }
    #else
    static int fastnn_has_direct(void) { return 0; }
    static void fastnn_allow_direct(int on) {}
    static void fastnn_conv_direct(const float *x, int C, int H, int W, int kh, int kw, const float *Wp, int CO,
                                   int nq, float *y, Py_ssize_t ldy) {}
    static void fastnn_conv_direct_grad(const float *x, int H, int W, int kh, int kw, int k0, int k1, int Ho,
                                        int Wo, const float *dT, float *G) {}
    static void fastnn_direct_out(const float *y, Py_ssize_t ldy, int CO, int Ho, int Wo, int W, const float *b,
                                  float *out) {}
    static void fastnn_direct_channels(const float *d, int P, int nj, float *dT, float *s) {}
    #endif

    /* Wp[o][k][r] = W[8 o + r, k] for the CO x K weights W, zero beyond CO (see above). */
    static void fastnn_pack_direct(const float *W, int CO, int K, float *Wp) {
        for (int o = 0; o < CO; o += 8)
            for (int k = 0; k < K; k++)
                for (int r = 0; r < 8; r++)
                    Wp[((Py_ssize_t) (o / 8) * K + k) * 8 + r] = o + r < CO ? W[(Py_ssize_t) (o + r) * K + k] : 0.0f;
    }

    """
    int fastnn_has_direct() noexcept nogil
    void fastnn_allow_direct(int on) noexcept nogil
    void fastnn_conv_direct(const float *x, int C, int H, int W, int kh, int kw, const float *Wp, int CO, int nq,
                            float *y, Py_ssize_t ldy) noexcept nogil
    void fastnn_conv_direct_grad(const float *x, int H, int W, int kh, int kw, int k0, int k1, int Ho, int Wo,
                                 const float *dT, float *G) noexcept nogil
    void fastnn_pack_direct(const float *W, int CO, int K, float *Wp) noexcept nogil
    void fastnn_direct_out(const float *y, Py_ssize_t ldy, int CO, int Ho, int Wo, int W, const float *b,
                           float *out) noexcept nogil
    void fastnn_direct_channels(const float *d, int P, int nj, float *dT, float *s) noexcept nogil


def direct_conv(on=None):
    """Whether float32 stride-1 convolutions run the direct kernels (AVX-512 machines) rather than im2col and BLAS;
    ``on=False`` makes them use im2col and BLAS (``True`` restores the machine's choice), for tests and
    benchmarks. Returns the setting in force."""
    if on is not None:
        fastnn_allow_direct(1 if on else 0)
    return bool(fastnn_has_direct())
