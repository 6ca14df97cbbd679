# Included by _kernels.pyx: Activations on a block of rows (in place), and their derivatives from the output.

# ---------------------------------------------------------------------------------------------------------------
# Activations on a block of rows (in place), and their derivatives from the output
# ---------------------------------------------------------------------------------------------------------------

cdef void _activation_forward(int act, floating *z, Py_ssize_t n_rows, Py_ssize_t width,
                              Py_ssize_t ld) noexcept nogil:
    """Apply activation ``act`` in place to ``n_rows`` rows of ``width`` values, rows ``ld`` apart.

    Softmax normalises each row over its ``width`` values.
    """
    cdef Py_ssize_t r, k
    cdef floating v, m, s
    cdef floating *row
    for r in range(n_rows):
        row = z + r * ld
        if act == RELU:
            _relu(row, width)
        elif act == SIGMOID:
            for k in range(width):
                row[k] = 1 / (1 + _exp(-row[k]))
        elif act == TANH:
            for k in range(width):
                row[k] = _tanh(row[k])
        elif act == LEAKY_RELU:
            for k in range(width):
                v = row[k]
                row[k] = v if v > 0 else <floating> LEAKY_SLOPE_C * v
        elif act == ELU:
            for k in range(width):
                v = row[k]
                row[k] = v if v > 0 else <floating> ELU_ALPHA_C * _expm1(v if v < 0 else 0)
        elif act == SOFTPLUS:  # log(1 + e^v), without overflow
            for k in range(width):
                v = row[k]
                row[k] = (v if v > 0 else 0) + _log1p(_exp(-_abs(v)))
        elif act == GELU:  # exact (erf) form, PyTorch's default
            for k in range(width):
                v = row[k]
                row[k] = <floating> 0.5 * v * (1 + _erf(v * <floating> M_SQRT1_2_C))
        elif act == SOFTMAX:
            m = row[0]
            for k in range(1, width):
                m = row[k] if row[k] > m else m
            s = 0
            for k in range(width):
                v = _exp(row[k] - m)
                row[k] = v
                s += v
            s = 1 / s
            for k in range(width):
                row[k] *= s


cdef void _activation_backward(int act, const floating *a, const floating *z, floating *d, Py_ssize_t n_rows,
                               Py_ssize_t width, Py_ssize_t ld) noexcept nogil:
    """Multiply the gradient ``d`` in place by the derivative of ``act``, computed from its output ``a`` (and,
    for GELU alone, from its input ``z``; NULL for every other activation).

    All hold ``n_rows`` rows of ``width`` values, rows ``ld`` apart. Softmax needs whole rows.
    """
    cdef Py_ssize_t r, k
    cdef floating v, s
    cdef const floating *ar
    cdef const floating *zr
    cdef floating *dr
    for r in range(n_rows):
        ar = a + r * ld
        dr = d + r * ld
        if act == GELU:  # Phi(z) + z phi(z)
            zr = z + r * ld
            for k in range(width):
                v = zr[k]
                dr[k] *= (<floating> 0.5 * (1 + _erf(v * <floating> M_SQRT1_2_C))
                          + v * _exp(<floating> -0.5 * v * v) * <floating> INV_SQRT_2PI_C)
        elif act == RELU:
            _relu_grad(ar, dr, width)
        elif act == SIGMOID:
            for k in range(width):
                v = ar[k]
                dr[k] *= v * (1 - v)
        elif act == TANH:
            for k in range(width):
                v = ar[k]
                dr[k] *= 1 - v * v
        elif act == LEAKY_RELU:
            for k in range(width):
                dr[k] *= 1 if ar[k] > 0 else <floating> LEAKY_SLOPE_C
        elif act == ELU:  # a + alpha where a = alpha (e^z - 1) <= 0
            for k in range(width):
                v = ar[k]
                dr[k] *= 1 if v > 0 else v + <floating> ELU_ALPHA_C
        elif act == SOFTPLUS:  # sigmoid(z) = 1 - e^-a
            for k in range(width):
                dr[k] *= -_expm1(-ar[k])
        elif act == SOFTMAX:
            s = 0
            for k in range(width):
                s += dr[k] * ar[k]
            for k in range(width):
                dr[k] = ar[k] * (dr[k] - s)
