# Included by _kernels.pyx: The recurrent cells' elementwise steps (PyTorch's RNN, LSTM and GRU) on one row of units,
# in C built for x86-64-v4, x86-64-v3 and the baseline (FASTNN_WIDE_CLONES), with a branch-free exponential so the
# loops vectorise.

cdef extern from *:
    """
    #include <math.h>
    #include <stdint.h>
    /* The cells' loops are elementwise (no sum whose order a vector width could change), so they are also built
       for x86-64-v4 (AVX-512, FASTNN_WIDE_CLONES): the same results, twice the width. */
    /* e^x for float x <= 0, branch-free so that loops over it vectorise (no floating-point comparison, whose
       select the compiler will not make without -fno-trapping-math): x clamped to -87 by its bits (for x <= 0
       they grow with |x|), x = n ln2 + r with |r| <= ln2 / 2, e^r by Cephes's polynomial for expf (about 1 ulp),
       2^n from the exponent bits. */
    static inline float fastnn_expnegf(float x) {
        union { float f; uint32_t u; } v;
        v.f = x;
        v.u = v.u > 0xC2AE0000u ? 0xC2AE0000u : v.u;
        x = v.f;
        float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
        float r = x - n * 0.693359375f;
        r = r + n * 2.12194440e-4f;
        float p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        p = p * r * r + r + 1.0f;
        union { int32_t i; float f; } u;
        u.i = ((int32_t) n + 127) << 23;
        return p * u.f;
    }
    /* 1 / (1 + e^-x) as s = 1 / (1 + e^-|x|), or e^-|x| s for x < 0 (chosen by the sign bit). */
    static inline float fastnn_sigf(float x) {
        float e = fastnn_expnegf(-fabsf(x)), s = 1.0f / (1.0f + e), t = e * s;
        union { float f; int32_t i; } vx, vs, vt;
        vx.f = x; vs.f = s; vt.f = t;
        int32_t negative = vx.i >> 31;
        vs.i = (vs.i & ~negative) | (vt.i & negative);
        return vs.f;
    }
    /* tanh x = sign(x) (1 - e) / (1 + e), e = e^-2|x| */
    static inline float fastnn_tanhf(float x) {
        float e = fastnn_expnegf(-2.0f * fabsf(x));
        return copysignf((1.0f - e) / (1.0f + e), x);
    }
    /* double: the C library's exp and tanh (double networks are for checking; float ones for speed) */
    static inline double fastnn_sigd(double x) { return 1.0 / (1.0 + exp(-x)); }

    #define FASTNN_CELLS(S, T, SIG, TANH)                                                                   \\
    /* LSTM: g holds the pre-activations of gates i, f, g, o and receives them activated; c the new cell  \\
       state (c_prev: the last one, or NULL), h the new state. */                                         \\
    FASTNN_WIDE_CLONES static void fastnn_lstm_forward_##S(T *g, T *c, const T *c_prev, T *h, int H) {         \\
        if (c_prev) _Pragma("GCC ivdep") for (int j = 0; j < H; j++) {                                 \\
            T i = SIG(g[j]), f = SIG(g[H + j]), u = TANH(g[2 * H + j]), o = SIG(g[3 * H + j]);             \\
            T v = i * u + f * c_prev[j];                                                                  \\
            g[j] = i; g[H + j] = f; g[2 * H + j] = u; g[3 * H + j] = o;                                   \\
            c[j] = v;                                                                                     \\
            h[j] = o * TANH(v);                                                                           \\
        } else _Pragma("GCC ivdep") for (int j = 0; j < H; j++) {                                      \\
            T i = SIG(g[j]), f = SIG(g[H + j]), u = TANH(g[2 * H + j]), o = SIG(g[3 * H + j]);             \\
            T v = i * u;                                                                                  \\
            g[j] = i; g[H + j] = f; g[2 * H + j] = u; g[3 * H + j] = o;                                   \\
            c[j] = v;                                                                                     \\
            h[j] = o * TANH(v);                                                                           \\
        }                                                                                                 \\
    }                                                                                                     \\
    /* From dh (the state's gradient) and dc (the cell state's, replaced by its part for the step before): \\
       the gates' pre-activation gradients in dg. */                                                      \\
    FASTNN_WIDE_CLONES static void fastnn_lstm_backward_##S(const T *g, const T *c, const T *c_prev, const T *dh,  \\
                                                       T *dc, T *dg, int H) {                              \\
        _Pragma("GCC ivdep") for (int j = 0; j < H; j++) {                                            \\
            T i = g[j], f = g[H + j], u = g[2 * H + j], o = g[3 * H + j], t = TANH(c[j]), d = dh[j];       \\
            T v = dc[j] + d * o * (1 - t * t);                                                            \\
            dg[j] = v * u * i * (1 - i);                                                                  \\
            dg[H + j] = v * c_prev[j] * f * (1 - f);                                                      \\
            dg[2 * H + j] = v * i * (1 - u * u);                                                          \\
            dg[3 * H + j] = d * t * o * (1 - o);                                                          \\
            dc[j] = v * f;                                                                                \\
        }                                                                                                 \\
    }                                                                                                     \\
    /* GRU: g holds the input's part of the pre-activations of r, z, n (with b_ih) and receives the gates; \\
       gh the state's part (W_hh h + b_hh); hn receives W_hn h + b_hn; h the new state from h_prev. */     \\
    FASTNN_WIDE_CLONES static void fastnn_gru_forward_##S(T *g, const T *gh, T *hn, const T *h_prev, T *h, int H) { \\
        _Pragma("GCC ivdep") for (int j = 0; j < H; j++) {                                            \\
            T r = SIG(g[j] + gh[j]), z = SIG(g[H + j] + gh[H + j]);                                       \\
            T n = TANH(g[2 * H + j] + r * gh[2 * H + j]);                                                 \\
            g[j] = r; g[H + j] = z; g[2 * H + j] = n;                                                     \\
            hn[j] = gh[2 * H + j];                                                                        \\
            h[j] = (1 - z) * n + z * h_prev[j];                                                           \\
        }                                                                                                 \\
    }                                                                                                     \\
    /* dgi: the gradients for W_ih and b_ih; dgh for W_hh and b_hh; dh receives the part of the state's   \\
       gradient that bypasses the gates (dh * z). */                                                      \\
    FASTNN_WIDE_CLONES static void fastnn_gru_backward_##S(const T *g, const T *hn, const T *h_prev, T *dh, T *dgi, \\
                                                      T *dgh, int H) {                                    \\
        _Pragma("GCC ivdep") for (int j = 0; j < H; j++) {                                            \\
            T r = g[j], z = g[H + j], n = g[2 * H + j], d = dh[j];                                        \\
            T dn = d * (1 - z) * (1 - n * n), dr = dn * hn[j] * r * (1 - r);                              \\
            T dz = d * (h_prev[j] - n) * z * (1 - z);                                                     \\
            dgi[j] = dr; dgi[H + j] = dz; dgi[2 * H + j] = dn;                                            \\
            dgh[j] = dr; dgh[H + j] = dz; dgh[2 * H + j] = dn * r;                                        \\
            dh[j] = d * z;                                                                                \\
        }                                                                                                 \\
    }                                                                                                     \\
    /* A simple RNN: g holds the pre-activations and receives the new state (also written to h). */     \\
    FASTNN_WIDE_CLONES static void fastnn_rnn_forward_##S(T *g, T *h, int H, int relu) {                       \\
        if (relu) _Pragma("GCC ivdep") for (int j = 0; j < H; j++) { T v = g[j] > 0 ? g[j] : (T) 0; g[j] = v; h[j] = v; }      \\
        else _Pragma("GCC ivdep") for (int j = 0; j < H; j++) { T v = TANH(g[j]); g[j] = v; h[j] = v; }                        \\
    }                                                                                                     \\
    FASTNN_WIDE_CLONES static void fastnn_rnn_backward_##S(const T *g, const T *dh, T *dg, int H, int relu) {  \\
        if (relu) _Pragma("GCC ivdep") for (int j = 0; j < H; j++) dg[j] = g[j] > 0 ? dh[j] : (T) 0;                           \\
        else _Pragma("GCC ivdep") for (int j = 0; j < H; j++) dg[j] = dh[j] * (1 - g[j] * g[j]);                               \\
    }                                                                                                     \\
    /* s += x elementwise, in double (a bias gradient's running sums). */                                 \\
    FASTNN_WIDE_CLONES static void fastnn_add_row_##S(double *s, const T *x, int n) {                      \\
        for (int j = 0; j < n; j++) s[j] += (double) x[j];                                                \\
    }
    FASTNN_CELLS(f, float, fastnn_sigf, fastnn_tanhf)
    FASTNN_CELLS(d, double, fastnn_sigd, tanh)
    """
    void fastnn_lstm_forward_f(float *g, float *c, const float *c_prev, float *h, int H) noexcept nogil
    void fastnn_add_row_f(double *s, const float *x, int n) noexcept nogil
    void fastnn_add_row_d(double *s, const double *x, int n) noexcept nogil
    void fastnn_lstm_forward_d(double *g, double *c, const double *c_prev, double *h, int H) noexcept nogil
    void fastnn_lstm_backward_f(const float *g, const float *c, const float *c_prev, const float *dh, float *dc,
                                float *dg, int H) noexcept nogil
    void fastnn_lstm_backward_d(const double *g, const double *c, const double *c_prev, const double *dh, double *dc,
                                double *dg, int H) noexcept nogil
    void fastnn_gru_forward_f(float *g, const float *gh, float *hn, const float *h_prev, float *h, int H) noexcept nogil
    void fastnn_gru_forward_d(double *g, const double *gh, double *hn, const double *h_prev, double *h,
                              int H) noexcept nogil
    void fastnn_gru_backward_f(const float *g, const float *hn, const float *h_prev, float *dh, float *dgi, float *dgh,
                               int H) noexcept nogil
    void fastnn_gru_backward_d(const double *g, const double *hn, const double *h_prev, double *dh, double *dgi,
                               double *dgh, int H) noexcept nogil
    void fastnn_rnn_forward_f(float *g, float *h, int H, int relu) noexcept nogil
    void fastnn_rnn_forward_d(double *g, double *h, int H, int relu) noexcept nogil
    void fastnn_rnn_backward_f(const float *g, const float *dh, float *dg, int H, int relu) noexcept nogil
    void fastnn_rnn_backward_d(const double *g, const double *dh, double *dg, int H, int relu) noexcept nogil
    float fastnn_sigf(float x) noexcept nogil
    float fastnn_tanhf(float x) noexcept nogil


def cell_functions(const float[::1] x not None):
    """The float32 sigmoid and tanh of the recurrent cells at ``x`` (two arrays), for tests."""
    sig = np.empty(x.shape[0], dtype=np.float32)
    tanh_ = np.empty(x.shape[0], dtype=np.float32)
    cdef float[::1] s = sig, t = tanh_
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        s[i] = fastnn_sigf(x[i])
        t[i] = fastnn_tanhf(x[i])
    return sig, tanh_


cdef void _cell_forward(int kind, int cell_act, floating *gates, floating *extra, const floating *c_prev,
                        const floating *h_prev, const floating *gh, floating *h, int H) noexcept nogil:
    """One row's step: ``gates`` holds the pre-activations (GRU: of the input's part only, ``gh`` the state's
    part with its bias) and receives the activated gates; ``h`` receives the new state. LSTM: ``extra`` receives
    the cell state (``c_prev`` the last one, or NULL); GRU: ``extra`` receives ``W_hn h + b_hn``."""
    if kind == LSTM:
        if floating is float:
            fastnn_lstm_forward_f(gates, extra, c_prev, h, H)
        else:
            fastnn_lstm_forward_d(gates, extra, c_prev, h, H)
    elif kind == GRU:
        if floating is float:
            fastnn_gru_forward_f(gates, gh, extra, h_prev, h, H)
        else:
            fastnn_gru_forward_d(gates, gh, extra, h_prev, h, H)
    elif floating is float:
        fastnn_rnn_forward_f(gates, h, H, cell_act == RELU)
    else:
        fastnn_rnn_forward_d(gates, h, H, cell_act == RELU)


cdef void _cell_backward(int kind, int cell_act, const floating *gates, const floating *extra,
                         const floating *c_prev, const floating *h_prev, floating *dh, floating *dc, floating *dgi,
                         floating *dgh, int H) noexcept nogil:
    """One row's step backwards from ``dh`` (the state's gradient; LSTM: ``dc`` the cell state's, carried to the
    step before): the gates' pre-activation gradients into ``dgi`` (GRU: ``dgh`` for the state's part). GRU
    leaves in ``dh`` the part of the last state's gradient that bypasses the gates (``dh * z``)."""
    if kind == LSTM:
        if floating is float:
            fastnn_lstm_backward_f(gates, extra, c_prev, dh, dc, dgi, H)
        else:
            fastnn_lstm_backward_d(gates, extra, c_prev, dh, dc, dgi, H)
    elif kind == GRU:
        if floating is float:
            fastnn_gru_backward_f(gates, extra, h_prev, dh, dgi, dgh, H)
        else:
            fastnn_gru_backward_d(gates, extra, h_prev, dh, dgi, dgh, H)
    elif floating is float:
        fastnn_rnn_backward_f(gates, dh, dgi, H, cell_act == RELU)
    else:
        fastnn_rnn_backward_d(gates, dh, dgi, H, cell_act == RELU)
