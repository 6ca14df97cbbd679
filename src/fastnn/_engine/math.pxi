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
