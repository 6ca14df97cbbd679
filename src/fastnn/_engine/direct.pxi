# Included by _kernels.pyx: direct float32 convolution kernels (AVX-512 and AVX2) for stride-1 convolutions. They
# read the images where they lie, with no im2col matrix for BLAS to pack again: the forward pass as a sum of shifted
# image rows, the weight gradient with the image values broadcast against the output gradient's channels.

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
       into G (K x 32), which holds the images before.

       Input gradient. The forward kernel again, with the taps as its output channels and a 1 x 1 kernel, on the
       output gradient spread on the input's rows (dYw[co, oy W + ox], zero for ox >= Wo): its row k is im2col's
       column product of tap k, which fastnn_direct_gather adds to dx shifted by the tap's offset - col2im along
       whole rows, each pixel's terms in tap order. */
    #if defined(__GNUC__) && defined(__x86_64__) && (__GNUC__ >= 8 || defined(__clang__))
    #include <immintrin.h>
    static int fastnn_direct_best = -1;  /* what the machine has: 2 AVX-512, 1 AVX2 and FMA, 0 neither */
    static int fastnn_direct_ok = -1;    /* what runs: 2 the AVX-512 kernels, 1 the AVX2 ones, 0 im2col and BLAS */
    static int fastnn_direct_machine(void) {
        if (fastnn_direct_best < 0) {
            __builtin_cpu_init();
            fastnn_direct_best = __builtin_cpu_supports("avx512f") ? 2
                               : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
        }
        return fastnn_direct_best;
    }
    static int fastnn_direct_level(void) {
        if (fastnn_direct_ok < 0)
            fastnn_direct_ok = fastnn_direct_machine();
        return fastnn_direct_ok;
    }
    static void fastnn_allow_direct(int level) {  /* one store: a pass running meanwhile sees either setting */
        int best = fastnn_direct_machine();
        fastnn_direct_ok = level < best ? level : best;
    }
    static __mmask16 fastnn_lanes(int n) {  /* lane i on when i < n */
        return n >= 16 ? (__mmask16) 0xFFFF : n <= 0 ? 0 : (__mmask16) ((1u << n) - 1);
    }

    #define FASTNN_DC_FMA(r) { __m512 a_ = _mm512_set1_ps(w[r]); \\
        c##r##0 = _mm512_fmadd_ps(a_, b0, c##r##0); c##r##1 = _mm512_fmadd_ps(a_, b1, c##r##1); \\
        c##r##2 = _mm512_fmadd_ps(a_, b2, c##r##2); }
    #define FASTNN_DC_OUT(r) if (o + (r) < CO) { float *y_ = y + (Py_ssize_t) (o + (r)) * ldy + q0; \\
        _mm512_mask_storeu_ps(y_, m0, c##r##0); _mm512_mask_storeu_ps(y_ + 16, m1, c##r##1); \\
        _mm512_mask_storeu_ps(y_ + 32, m2, c##r##2); }
    __attribute__((target("avx512f,fma")))
    static void fastnn_conv_direct_512(const float *x, int C, int H, int W, int kh, int kw, const float *Wp, int CO,
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
    static void fastnn_conv_direct_grad_512(const float *x, int H, int W, int kh, int kw, int k0, int k1, int Ho,
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
       kernel's rows (ldy apart); with relu, ReLU's v > 0 ? v : 0 of it (the activation pass's arithmetic). */
    __attribute__((target("avx512f")))
    static void fastnn_direct_out_512(const float *y, Py_ssize_t ldy, int CO, int Ho, int Wo, int W, const float *b,
                                      int relu, float *out) {
        const __m512 zero = _mm512_setzero_ps();
        for (int co = 0; co < CO; co++) {
            const __m512 bc = _mm512_set1_ps(b != NULL ? b[co] : 0.0f);
            for (int oy = 0; oy < Ho; oy++) {
                const float *s = y + co * ldy + (Py_ssize_t) oy * W;
                float *o = out + ((Py_ssize_t) co * Ho + oy) * Wo;
                for (int ox = 0; ox < Wo; ox += 16) {
                    __mmask16 m = fastnn_lanes(Wo - ox);
                    __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, s + ox), bc);
                    if (relu)
                        v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), v);
                    _mm512_mask_storeu_ps(o + ox, m, v);
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
    static void fastnn_direct_channels_512(const float *d, int P, int nj, float *dT, float *s) {
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

    /* The same kernels for AVX2 machines, 8 lanes a vector: each value the same chain of operations in the same
       order, so the same bits as the AVX-512 kernels. Forward: 4 output channels x 24 values of q at a time;
       weight gradient: 6 taps x 16 output channels. */
    __attribute__((target("avx2,fma")))
    static inline __m256i fastnn_lanes8(int n) {  /* lane i on when i < n */
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    #define FASTNN_DC8_FMA(r) { __m256 a_ = _mm256_broadcast_ss(w + (r)); \\
        c##r##0 = _mm256_fmadd_ps(a_, b0, c##r##0); c##r##1 = _mm256_fmadd_ps(a_, b1, c##r##1); \\
        c##r##2 = _mm256_fmadd_ps(a_, b2, c##r##2); }
    #define FASTNN_DC8_OUT(r) if (o + h + (r) < CO) { float *y_ = y + (Py_ssize_t) (o + h + (r)) * ldy + q0; \\
        _mm256_maskstore_ps(y_, m0, c##r##0); _mm256_maskstore_ps(y_ + 8, m1, c##r##1); \\
        _mm256_maskstore_ps(y_ + 16, m2, c##r##2); }
    __attribute__((target("avx2,fma")))
    static void fastnn_conv_direct_256(const float *x, int C, int H, int W, int kh, int kw, const float *Wp, int CO,
                                       int nq, float *y, Py_ssize_t ldy) {
        const Py_ssize_t HW = (Py_ssize_t) H * W;
        const int K = C * kh * kw;
        for (int o = 0; o < CO; o += 8) {
            for (int h = 0; h < 8 && o + h < CO; h += 4) {
                for (int q0 = 0; q0 < nq; q0 += 24) {
                    __m256i m0 = fastnn_lanes8(nq - q0), m1 = fastnn_lanes8(nq - q0 - 8), m2 = fastnn_lanes8(nq - q0 - 16);
                    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00,
                           c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
                    const float *w = Wp + (Py_ssize_t) (o / 8) * K * 8 + h;
                    for (int c = 0; c < C; c++) {
                        for (int i = 0; i < kh; i++) {
                            const float *xr = x + c * HW + (Py_ssize_t) i * W + q0;
                            for (int j = 0; j < kw; j++, w += 8) {
                                __m256 b0 = _mm256_maskload_ps(xr + j, m0), b1 = _mm256_maskload_ps(xr + j + 8, m1),
                                       b2 = _mm256_maskload_ps(xr + j + 16, m2);
                                FASTNN_DC8_FMA(0) FASTNN_DC8_FMA(1) FASTNN_DC8_FMA(2) FASTNN_DC8_FMA(3)
                            }
                        }
                    }
                    FASTNN_DC8_OUT(0) FASTNN_DC8_OUT(1) FASTNN_DC8_OUT(2) FASTNN_DC8_OUT(3)
                }
            }
        }
    }

    #define FASTNN_DG8_FMA(r) { __m256 a_ = _mm256_broadcast_ss(x##r + idx); \\
        g##r##0 = _mm256_fmadd_ps(a_, b0, g##r##0); g##r##1 = _mm256_fmadd_ps(a_, b1, g##r##1); }
    #define FASTNN_DG8_LOAD(r) __m256 g##r##0 = _mm256_loadu_ps(G + (Py_ssize_t) (k + (r)) * 32 + h), \\
        g##r##1 = _mm256_loadu_ps(G + (Py_ssize_t) (k + (r)) * 32 + h + 8);
    #define FASTNN_DG8_STORE(r) _mm256_storeu_ps(G + (Py_ssize_t) (k + (r)) * 32 + h, g##r##0); \\
        _mm256_storeu_ps(G + (Py_ssize_t) (k + (r)) * 32 + h + 8, g##r##1);
    __attribute__((target("avx2,fma")))
    static void fastnn_conv_direct_grad_256(const float *x, int H, int W, int kh, int kw, int k0, int k1, int Ho,
                                            int Wo, const float *dT, float *G) {
        G -= (Py_ssize_t) k0 * 32;
        for (int h = 0; h < 32; h += 16) {
            int k = k0;
            for (; k + 6 <= k1; k += 6) {
                FASTNN_DG_TAP(0) FASTNN_DG_TAP(1) FASTNN_DG_TAP(2) FASTNN_DG_TAP(3) FASTNN_DG_TAP(4) FASTNN_DG_TAP(5)
                FASTNN_DG8_LOAD(0) FASTNN_DG8_LOAD(1) FASTNN_DG8_LOAD(2) FASTNN_DG8_LOAD(3) FASTNN_DG8_LOAD(4)
                FASTNN_DG8_LOAD(5)
                const float *d = dT + h;
                for (int oy = 0; oy < Ho; oy++) {
                    Py_ssize_t idx = (Py_ssize_t) oy * W, end = idx + Wo;
                    for (; idx < end; idx++, d += 32) {
                        __m256 b0 = _mm256_loadu_ps(d), b1 = _mm256_loadu_ps(d + 8);
                        FASTNN_DG8_FMA(0) FASTNN_DG8_FMA(1) FASTNN_DG8_FMA(2) FASTNN_DG8_FMA(3) FASTNN_DG8_FMA(4)
                        FASTNN_DG8_FMA(5)
                    }
                }
                FASTNN_DG8_STORE(0) FASTNN_DG8_STORE(1) FASTNN_DG8_STORE(2) FASTNN_DG8_STORE(3) FASTNN_DG8_STORE(4)
                FASTNN_DG8_STORE(5)
            }
            for (; k < k1; k++) {
                FASTNN_DG_TAP(0)
                FASTNN_DG8_LOAD(0)
                const float *d = dT + h;
                for (int oy = 0; oy < Ho; oy++) {
                    Py_ssize_t idx = (Py_ssize_t) oy * W, end = idx + Wo;
                    for (; idx < end; idx++, d += 32) {
                        __m256 b0 = _mm256_loadu_ps(d), b1 = _mm256_loadu_ps(d + 8);
                        FASTNN_DG8_FMA(0)
                    }
                }
                FASTNN_DG8_STORE(0)
            }
        }
    }

    __attribute__((target("avx2,fma")))
    static void fastnn_direct_out_256(const float *y, Py_ssize_t ldy, int CO, int Ho, int Wo, int W, const float *b,
                                      int relu, float *out) {
        const __m256 zero = _mm256_setzero_ps();
        for (int co = 0; co < CO; co++) {
            const float bc = b != NULL ? b[co] : 0.0f;
            for (int oy = 0; oy < Ho; oy++) {
                const float *s = y + co * ldy + (Py_ssize_t) oy * W;
                float *o = out + ((Py_ssize_t) co * Ho + oy) * Wo;
                int ox = 0;
                for (; ox + 8 <= Wo; ox += 8) {
                    __m256 v = _mm256_add_ps(_mm256_loadu_ps(s + ox), _mm256_set1_ps(bc));
                    if (relu)
                        v = _mm256_and_ps(v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
                    _mm256_storeu_ps(o + ox, v);
                }
                for (; ox < Wo; ox++) {
                    float v = s[ox] + bc;
                    o[ox] = relu ? (v > 0 ? v : 0.0f) : v;
                }
            }
        }
    }

    /* An 8 x 8 transpose in registers: r[i] holds row i, then column i. */
    __attribute__((target("avx2,fma")))
    static inline void fastnn_transpose8(__m256 r[8]) {
        __m256 t[8], u[8];
        for (int i = 0; i < 4; i++) {
            t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        for (int i = 0; i < 2; i++) {
            u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
            u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
            u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
            u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
        }
        for (int i = 0; i < 4; i++) {
            r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
            r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
        }
    }

    __attribute__((target("avx2,fma")))
    static void fastnn_direct_channels_256(const float *d, int P, int nj, float *dT, float *s) {
        for (int jb = 0; jb < 32; jb += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (int p0 = 0; p0 < P; p0 += 8) {
                const __m256i m = fastnn_lanes8(P - p0);
                const int n = P - p0 < 8 ? P - p0 : 8;
                __m256 r[8];
                for (int i = 0; i < 8; i++)
                    r[i] = jb + i < nj ? _mm256_maskload_ps(d + (Py_ssize_t) (jb + i) * P + p0, m) : _mm256_setzero_ps();
                fastnn_transpose8(r);
                for (int q = 0; q < n; q++) {
                    acc = _mm256_add_ps(acc, r[q]);
                    _mm256_storeu_ps(dT + (Py_ssize_t) (p0 + q) * 32 + jb, r[q]);
                }
            }
            _mm256_storeu_ps(s + jb, acc);
        }
    }

    /* The machine's (or the allowed) kernels. */
    static int fastnn_has_direct(void) { return fastnn_direct_level() > 0; }
    static void fastnn_conv_direct(const float *x, int C, int H, int W, int kh, int kw, const float *Wp, int CO,
                                   int nq, float *y, Py_ssize_t ldy) {
        if (fastnn_direct_ok == 2) fastnn_conv_direct_512(x, C, H, W, kh, kw, Wp, CO, nq, y, ldy);
        else fastnn_conv_direct_256(x, C, H, W, kh, kw, Wp, CO, nq, y, ldy);
    }
    static void fastnn_conv_direct_grad(const float *x, int H, int W, int kh, int kw, int k0, int k1, int Ho,
                                        int Wo, const float *dT, float *G) {
        if (fastnn_direct_ok == 2) fastnn_conv_direct_grad_512(x, H, W, kh, kw, k0, k1, Ho, Wo, dT, G);
        else fastnn_conv_direct_grad_256(x, H, W, kh, kw, k0, k1, Ho, Wo, dT, G);
    }
    static void fastnn_direct_out(const float *y, Py_ssize_t ldy, int CO, int Ho, int Wo, int W, const float *b,
                                  int relu, float *out) {
        if (fastnn_direct_ok == 2) fastnn_direct_out_512(y, ldy, CO, Ho, Wo, W, b, relu, out);
        else fastnn_direct_out_256(y, ldy, CO, Ho, Wo, W, b, relu, out);
    }
    static void fastnn_direct_channels(const float *d, int P, int nj, float *dT, float *s) {
        if (fastnn_direct_ok == 2) fastnn_direct_channels_512(d, P, nj, dT, s);
        else fastnn_direct_channels_256(d, P, nj, dT, s);
    }
    #else
    static int fastnn_has_direct(void) { return 0; }
    static int fastnn_direct_level(void) { return 0; }
    static void fastnn_allow_direct(int level) {}
    static void fastnn_conv_direct(const float *x, int C, int H, int W, int kh, int kw, const float *Wp, int CO,
                                   int nq, float *y, Py_ssize_t ldy) {}
    static void fastnn_conv_direct_grad(const float *x, int H, int W, int kh, int kw, int k0, int k1, int Ho,
                                        int Wo, const float *dT, float *G) {}
    static void fastnn_direct_out(const float *y, Py_ssize_t ldy, int CO, int Ho, int Wo, int W, const float *b,
                                  int relu, float *out) {}
    static void fastnn_direct_channels(const float *d, int P, int nj, float *dT, float *s) {}
    #endif

    /* Wp[o][k][r] = W[8 o + r, k] for the CO x K weights W (rows ``row`` apart, columns ``col`` apart), zero beyond
       CO (see above). */
    static void fastnn_pack_direct(const float *W, Py_ssize_t row, Py_ssize_t col, int CO, int K, float *Wp) {
        for (int o = 0; o < CO; o += 8)
            for (int k = 0; k < K; k++)
                for (int r = 0; r < 8; r++)
                    Wp[((Py_ssize_t) (o / 8) * K + k) * 8 + r] =
                        o + r < CO ? W[(Py_ssize_t) (o + r) * row + k * col] : 0.0f;
    }

    /* dYw[co, oy W + ox] = d[co, oy, ox] for ox < Wo, 0 for Wo <= ox < W and beyond (Ho - 1) W + Wo, rows ldy
       apart: the output gradient laid out on the (padded) input's rows, for the input gradient's product. */
    static void fastnn_direct_spread(const float *d, int CO, int Ho, int Wo, int W, Py_ssize_t ldy, float *dYw) {
        for (int co = 0; co < CO; co++) {
            float *row = dYw + co * ldy;
            memset(row, 0, ldy * sizeof(float));
            for (int oy = 0; oy < Ho; oy++)
                memcpy(row + (Py_ssize_t) oy * W, d + ((Py_ssize_t) co * Ho + oy) * Wo, Wo * sizeof(float));
        }
    }

    /* col2im of the input gradient's product, whose columns lie on the input's rows: dx = 0, then for each tap
       k = (c, i, j) in order, its row of nq values added to dx shifted by c H W + i W + j (the same sum, in the same
       order, for each pixel as col2im's). */
    FASTNN_WIDE_CLONES static void fastnn_direct_gather(const float *cols, Py_ssize_t ldy, int nq, int C, int H,
                                                        int W, int kh, int kw, float *dx) {
        memset(dx, 0, (Py_ssize_t) C * H * W * sizeof(float));
        for (int c = 0; c < C; c++)
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++) {
                    const float *src = cols + (((Py_ssize_t) c * kh + i) * kw + j) * ldy;
                    float *dst = dx + (Py_ssize_t) c * H * W + (Py_ssize_t) i * W + j;
                    for (int q = 0; q < nq; q++)
                        dst[q] += src[q];
                }
    }
    """
    int fastnn_has_direct() noexcept nogil
    int fastnn_direct_level() noexcept nogil
    void fastnn_allow_direct(int level) noexcept nogil
    void fastnn_conv_direct(const float *x, int C, int H, int W, int kh, int kw, const float *Wp, int CO, int nq,
                            float *y, Py_ssize_t ldy) noexcept nogil
    void fastnn_conv_direct_grad(const float *x, int H, int W, int kh, int kw, int k0, int k1, int Ho, int Wo,
                                 const float *dT, float *G) noexcept nogil
    void fastnn_pack_direct(const float *W, Py_ssize_t row, Py_ssize_t col, int CO, int K, float *Wp) noexcept nogil
    void fastnn_direct_spread(const float *d, int CO, int Ho, int Wo, int W, Py_ssize_t ldy, float *dYw) noexcept nogil
    void fastnn_direct_gather(const float *cols, Py_ssize_t ldy, int nq, int C, int H, int W, int kh, int kw,
                              float *dx) noexcept nogil
    void fastnn_direct_out(const float *y, Py_ssize_t ldy, int CO, int Ho, int Wo, int W, const float *b, int relu,
                           float *out) noexcept nogil
    void fastnn_direct_channels(const float *d, int P, int nj, float *dT, float *s) noexcept nogil


def direct_conv(on=None):
    """Which kernels float32 stride-1 convolutions run in this process: ``"avx512"`` or ``"avx2"`` (direct kernels,
    the same bits), or ``False`` (im2col and BLAS, on machines without AVX2 and FMA); float32 2 x 2 max-pooling
    follows it. ``on=False`` makes them use im2col and BLAS, ``"avx2"`` the AVX2 kernels (where the machine has
    them), ``True`` the best kernels the machine has (``"avx512"`` asks for those too, and gets the AVX2 ones on a
    machine without AVX-512); for tests and benchmarks. Returns the setting in force."""
    if on is not None:
        if on not in (True, False, "avx2", "avx512"):
            raise ValueError(f"direct_conv takes on=True, False, 'avx2' or 'avx512', not {on!r}")
        fastnn_allow_direct({"avx512": 2, "avx2": 1}.get(on, 2 if on else 0))
    return {2: "avx512", 1: "avx2"}.get(fastnn_direct_level(), False)
