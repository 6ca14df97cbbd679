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
    /* A row of dropout: keep flags into m, kept values scaled into out, the rest zero. Elementwise, so also built
       for x86-64-v4 (FASTNN_WIDE_CLONES), whose 64-bit vector multiplies run the mix a vector at a time: the same
       bits on every build. */
    FASTNN_WIDE_CLONES
    static void fastnn_dropout_f(const float *a, float *out, uint8_t *m, Py_ssize_t n, uint64_t key,
                                 uint64_t threshold, float scale) {
        for (Py_ssize_t j = 0; j < n; j++) {
            uint8_t keep = (fastnn_mix64(key + (uint64_t) j) >> 32) >= threshold;
            m[j] = keep;
            out[j] = keep ? a[j] * scale : 0.0f;
        }
    }
    FASTNN_WIDE_CLONES
    static void fastnn_dropout_d(const double *a, double *out, uint8_t *m, Py_ssize_t n, uint64_t key,
                                 uint64_t threshold, double scale) {
        for (Py_ssize_t j = 0; j < n; j++) {
            uint8_t keep = (fastnn_mix64(key + (uint64_t) j) >> 32) >= threshold;
            m[j] = keep;
            out[j] = keep ? a[j] * scale : 0.0;
        }
    }
    """
    uint64_t fastnn_mix64(uint64_t z) noexcept nogil
    void fastnn_dropout_f(const float *a, float *out, uint8_t *m, Py_ssize_t n, uint64_t key, uint64_t threshold,
                          float scale) noexcept nogil
    void fastnn_dropout_d(const double *a, double *out, uint8_t *m, Py_ssize_t n, uint64_t key, uint64_t threshold,
                          double scale) noexcept nogil


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
    cdef Py_ssize_t r, idx
    cdef uint64_t key = net.ws.drop_key[i]
    cdef uint64_t threshold = _keep_threshold(net.drop[i])
    cdef double scale = 1.0 / (1.0 - net.drop[i])
    cdef uint8_t *m = net.ws.mask[i]
    for r in range(r0, r1):
        idx = r * w + j0
        if net.is_double:
            fastnn_dropout_d((<double *> net.ws.A[i]) + idx, (<double *> net.ws.Ad[i]) + idx, m + idx, j1 - j0,
                             key + <uint64_t> idx, threshold, scale)
        else:
            fastnn_dropout_f((<float *> net.ws.A[i]) + idx, (<float *> net.ws.Ad[i]) + idx, m + idx, j1 - j0,
                             key + <uint64_t> idx, threshold, <float> scale)
