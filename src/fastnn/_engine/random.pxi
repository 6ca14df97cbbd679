# Included by _kernels.pyx: Dropout's counter-based randomness: keys, masks and the masked copy of a buffer.

cdef extern from *:
    """
    /* SplitMix64's finaliser: a strong 64-bit mix, the counter-based source of dropout's randomness. */
    static inline uint64_t fastnn_mix64(uint64_t z) {
        z += 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    """
    uint64_t fastnn_mix64(uint64_t z) noexcept nogil


def mix64(uint64_t z):
    """SplitMix64's finaliser of ``z`` (the mix behind the counter-based random streams)."""
    return fastnn_mix64(z)


cdef inline uint64_t _dropout_key(uint64_t seed, int64_t step, int i) noexcept nogil:
    """The key of the dropout mask of buffer ``i`` at update ``step``: a mask depends on (seed, step, buffer,
    row, unit) alone, never on threads or on how batches were grouped into calls."""
    return fastnn_mix64(fastnn_mix64(seed) ^ fastnn_mix64(<uint64_t> step * 1024 + <uint64_t> i))


cdef inline uint64_t _keep_threshold(double rate) noexcept nogil:
    return <uint64_t> (rate * 4294967296.0)


cdef inline uint8_t _kept(uint64_t key, Py_ssize_t idx, uint64_t threshold) noexcept nogil:
    """Whether dropout keeps element ``idx`` (row * width + unit) of a buffer whose mask key is ``key``."""
    return (fastnn_mix64(key + <uint64_t> idx) >> 32) >= threshold


def dropout_mask(uint64_t seed, int64_t step, int buffer, Py_ssize_t n_rows, Py_ssize_t width, double rate):
    """The mask (uint8, ``n_rows x width``) dropout draws for ``buffer`` at update ``step``: 1 where kept."""
    cdef uint64_t key = _dropout_key(seed, step, buffer), threshold = _keep_threshold(rate)
    cdef Py_ssize_t idx
    out = np.empty((n_rows, width), dtype=np.uint8)
    cdef uint8_t[:, ::1] o = out
    for idx in range(n_rows * width):
        o[idx // width, idx % width] = _kept(key, idx, threshold)
    return out


cdef void _dropout_columns(Net *net, int i, Py_ssize_t r0, Py_ssize_t r1, int j0, int j1, int w) noexcept nogil:
    """Dropout of units ``j0 .. j1`` of rows ``r0 .. r1`` of ``A[i]`` (rows of ``w`` units: a whole row, or one
    step of it) into ``Ad[i]``: a unit is kept when the top 32 bits of ``mix(key + row * w + unit)`` (its place in
    the buffer) reach ``rate * 2**32``, and kept units are scaled by ``1 / (1 - rate)``
    (inverted dropout: inference needs no scaling)."""
    cdef Py_ssize_t r, j, idx
    cdef uint64_t key = net.ws.drop_key[i]
    cdef uint64_t threshold = _keep_threshold(net.drop[i])
    cdef double scale = 1.0 / (1.0 - net.drop[i])
    cdef uint8_t keep
    cdef uint8_t *m = net.ws.mask[i]
    if net.is_double:
        for r in range(r0, r1):
            for j in range(j0, j1):
                idx = r * w + j
                keep = _kept(key, idx, threshold)
                m[idx] = keep
                (<double *> net.ws.Ad[i])[idx] = (<double *> net.ws.A[i])[idx] * scale if keep else 0.0
    else:
        for r in range(r0, r1):
            for j in range(j0, j1):
                idx = r * w + j
                keep = _kept(key, idx, threshold)
                m[idx] = keep
                (<float *> net.ws.Ad[i])[idx] = (<float *> net.ws.A[i])[idx] * <float> scale if keep else 0.0

