# Included by _kernels.pyx: Scalar helpers, one definition for float and double.

# ---------------------------------------------------------------------------------------------------------------
# Scalar helpers
# ---------------------------------------------------------------------------------------------------------------

cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating _tanh(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating _abs(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline floating _expm1(floating x) noexcept nogil:
    if floating is float:
        return expm1f(x)
    else:
        return expm1(x)


cdef inline floating _erf(floating x) noexcept nogil:
    if floating is float:
        return erff(x)
    else:
        return erf(x)


cdef inline bint _needs_input(int act) noexcept nogil:
    """Whether the derivative of ``act`` needs the activation's input (not only its output)."""
    return act == GELU


cdef extern from *:
    """
    /* Hot loops built twice, for x86-64-v3 (AVX2 and FMA) and the baseline, one chosen once per process by the
       CPU it runs on: the same machine always takes the same code. */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 11
    #define FASTNN_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
    #else
    #define FASTNN_CLONES
    #endif
    """


cdef extern from *:
    """
    /* Elementwise loops and sums in fixed lanes, whose results do not depend on the vector width: also built for
       x86-64-v4 (AVX-512), the same bits on every build. */
    #ifndef FASTNN_WIDE_CLONES
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 11
    #define FASTNN_WIDE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
    #else
    #define FASTNN_WIDE_CLONES
    #endif
    #endif
    #define FASTNN_WIDE_LOOPS(S, T)                                                                             \\
    FASTNN_WIDE_CLONES static void fastnn_relu_##S(T *z, Py_ssize_t n) {                                      \\
        for (Py_ssize_t i = 0; i < n; i++) { T v = z[i]; z[i] = v > 0 ? v : (T) 0; }                         \\
    }                                                                                                         \\
    FASTNN_WIDE_CLONES static void fastnn_relu_grad_##S(const T *a, T *d, Py_ssize_t n) {                     \\
        for (Py_ssize_t i = 0; i < n; i++) d[i] = a[i] > 0 ? d[i] : (T) 0;                                     \\
    }                                                                                                         \\
    FASTNN_WIDE_CLONES static void fastnn_add_scalar_##S(T *out, const T *src, Py_ssize_t n, T b) {           \\
        for (Py_ssize_t i = 0; i < n; i++) out[i] = src[i] + b;                                               \\
    }                                                                                                         \\
    /* sum p (or |p|) in double: eight lanes over whole groups of eight, the rest, then the lanes in order. */  \\
    FASTNN_WIDE_CLONES static double fastnn_lane_sum_##S(const T *p, Py_ssize_t n, int absolute) {           \\
        double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0}, total = 0;                                                \\
        Py_ssize_t n8 = n - n % 8;                                                                            \\
        if (absolute) {                                                                                       \\
            for (Py_ssize_t i = 0; i < n8; i += 8)                                                            \\
                for (int k = 0; k < 8; k++) lanes[k] += __builtin_fabs((double) p[i + k]);                 \\
            for (Py_ssize_t i = n8; i < n; i++) total += __builtin_fabs((double) p[i]);                    \\
        } else {                                                                                              \\
            for (Py_ssize_t i = 0; i < n8; i += 8)                                                            \\
                for (int k = 0; k < 8; k++) lanes[k] += (double) p[i + k];                                    \\
            for (Py_ssize_t i = n8; i < n; i++) total += (double) p[i];                                       \\
        }                                                                                                     \\
        for (int k = 0; k < 8; k++) total += lanes[k];                                                        \\
        return total;                                                                                         \\
    }
    FASTNN_WIDE_LOOPS(f, float)
    FASTNN_WIDE_LOOPS(d, double)
    """
    void fastnn_relu_f(float *z, Py_ssize_t n) noexcept nogil
    void fastnn_relu_d(double *z, Py_ssize_t n) noexcept nogil
    void fastnn_relu_grad_f(const float *a, float *d, Py_ssize_t n) noexcept nogil
    void fastnn_relu_grad_d(const double *a, double *d, Py_ssize_t n) noexcept nogil
    void fastnn_add_scalar_f(float *out, const float *src, Py_ssize_t n, float b) noexcept nogil
    void fastnn_add_scalar_d(double *out, const double *src, Py_ssize_t n, double b) noexcept nogil
    double fastnn_lane_sum_f(const float *p, Py_ssize_t n, int absolute) noexcept nogil
    double fastnn_lane_sum_d(const double *p, Py_ssize_t n, int absolute) noexcept nogil


cdef inline void _relu(floating *z, Py_ssize_t n) noexcept nogil:
    if floating is float:
        fastnn_relu_f(z, n)
    else:
        fastnn_relu_d(z, n)


cdef inline void _relu_grad(const floating *a, floating *d, Py_ssize_t n) noexcept nogil:
    if floating is float:
        fastnn_relu_grad_f(a, d, n)
    else:
        fastnn_relu_grad_d(a, d, n)


cdef inline void _add_scalar(floating *out, const floating *src, Py_ssize_t n, floating b) noexcept nogil:
    if floating is float:
        fastnn_add_scalar_f(out, src, n, b)
    else:
        fastnn_add_scalar_d(out, src, n, b)
