# Included by _kernels.pyx: The network's tables (Net, Geom), the optimizer's settings (Hyper) and dropout's counter-based randomness.

# ---------------------------------------------------------------------------------------------------------------
# The network: pointer tables into buffers owned by Python objects
# ---------------------------------------------------------------------------------------------------------------

cdef struct Geom:
    # The shapes of an image layer (CONV2D, MAXPOOL2D, AVGPOOL2D): input c x h x w, output co x ho x wo, kernel
    # (or pooling window) kh x kw, stride sh, sw, padding ph, pw (top and left). Unused by DENSE.
    int c, h, w, co, ho, wo, kh, kw, sh, sw, ph, pw


cdef struct Net:
    int n_layers
    int *kind           # kind of layer l: DENSE, CONV2D, MAXPOOL2D, AVGPOOL2D
    Geom *geom          # shapes of layer l (image kinds)
    int32_t **arg       # arg[l + 1]: the arg-max indices of max-pooling layer l (cap x width[l + 1]), else NULL
    void *scratch       # per-thread workspaces of slot_size values (im2col columns), n_slots of them
    void **columns      # columns[l]: convolution l's im2col columns of the whole batch, kept from the forward
                        # pass for the weight gradient while training (cols_rows x K x P), else NULL; or NULL
    Py_ssize_t cols_rows
    Py_ssize_t slot_size
    int n_slots
    int loss
    double loss_param   # the Huber loss's delta
    int *width          # width[0] = inputs, width[l + 1] = outputs of layer l
    int *blocks         # blocks[i]: number of column blocks width[i] is split into (fixed by the width alone)
    int *act            # activation of layer l
    Py_ssize_t *w_off   # offset of W_l in the flat parameter buffer
    Py_ssize_t *b_off   # offset of b_l
    void *params        # flat parameters [W_0, b_0, W_1, b_1, ...]
    void *grads         # same layout
    void *state         # optimizer state: rows of n_params values (momentum; Adam's moments; ...)
    Py_ssize_t n_params # stride between the rows of state
    void **A            # A[0]: batch input (cap x width[0]); A[l + 1]: output of layer l (cap x width[l + 1])
    void **D            # D[l + 1]: gradient w.r.t. the pre-activation of layer l (cap x width[l + 1])
    void **Z            # Z[l + 1]: pre-activation of layer l when its derivative needs it (GELU), else NULL
    double *drop        # drop[i]: dropout rate applied to A[i] (the input of layer i) in training, or 0
    void **Ad           # Ad[i]: A[i] after dropout, the input layer i trains on (NULL without dropout)
    uint8_t **mask      # mask[i]: which units of A[i] dropout kept, per row (NULL without dropout)
    uint64_t *drop_key  # drop_key[i]: the current batch's random key for the mask of A[i]
    uint64_t seed       # the model's dropout seed
    bint training       # this call trains (dropout active), set per call
    int row_tiles       # products split their rows into this many tiles (fixed by the machine's core count)
    bint is_double
    Py_ssize_t cap      # rows the buffers hold
    bint single_row     # this call works on one row at a time (matrix-vector products): set per call, so
                        # that the kind of product depends on the call's shape alone, never on a last block
    int *tie            # tie[l] >= 0: layer l's weights are layer tie[l]'s, transposed (tied autoencoders), or -1;
                        # NULL when no layer is tied
    int n_tasks         # weight-gradient/update tasks: (layer, output features j0..j1, input features i0..i1)
    Py_ssize_t task_work  # multiply-adds of all the weight-gradient tasks, per batch row
    int *task_layer
    int *task_j0
    int *task_j1
    int *task_i0
    int *task_i1


cdef struct Hyper:
    int kind            # optimizer: OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP
    double lr           # learning rate of the current step (from the schedule)
    double momentum     # SGD and RMSprop
    bint nesterov
    double weight_decay # SGD, Adam, RMSprop: added to the weights' gradient; AdamW: decoupled
    double l1           # the model's regularizer, added to the weights' gradient
    double l2
    double beta1        # Adam(W)
    double beta2
    double eps          # Adam(W), RMSprop
    double alpha        # RMSprop's smoothing constant
    bint amsgrad
    double bc1          # Adam's bias corrections of the current step: 1 - beta1^t and sqrt(1 - beta2^t)
    double bc2_sqrt
    Py_ssize_t stride   # distance between the optimizer's state rows (n_params)
    int sched_kind      # learning-rate schedule: SCHED_CONSTANT, SCHED_COSINE, SCHED_EXPONENTIAL, SCHED_ONECYCLE
    double sched[6]


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


cdef void _dropout_columns(Net *net, int i, Py_ssize_t r0, Py_ssize_t r1, int j0, int j1) noexcept nogil:
    """Dropout of units ``j0 .. j1`` of ``A[i]`` into ``Ad[i]``: a unit is kept when the top 32 bits of
    ``mix(key + row * width + unit)`` reach ``rate * 2**32``, and kept units are scaled by ``1 / (1 - rate)``
    (inverted dropout: inference needs no scaling)."""
    cdef int w = net.width[i]
    cdef Py_ssize_t r, j, idx
    cdef uint64_t key = net.drop_key[i]
    cdef uint64_t threshold = _keep_threshold(net.drop[i])
    cdef double scale = 1.0 / (1.0 - net.drop[i])
    cdef uint8_t keep
    cdef uint8_t *m = net.mask[i]
    if net.is_double:
        for r in range(r0, r1):
            for j in range(j0, j1):
                idx = r * w + j
                keep = _kept(key, idx, threshold)
                m[idx] = keep
                (<double *> net.Ad[i])[idx] = (<double *> net.A[i])[idx] * scale if keep else 0.0
    else:
        for r in range(r0, r1):
            for j in range(j0, j1):
                idx = r * w + j
                keep = _kept(key, idx, threshold)
                m[idx] = keep
                (<float *> net.Ad[i])[idx] = (<float *> net.A[i])[idx] * <float> scale if keep else 0.0


cdef inline void *_layer_input(Net *net, int l) noexcept nogil:
    """What layer ``l`` reads: ``A[l]``, or its dropped-out copy while training."""
    return net.Ad[l] if net.training and net.Ad[l] != NULL else net.A[l]


cdef inline floating *_offset(floating *p, Py_ssize_t k) noexcept nogil:
    """``p + k``, or NULL when ``p`` is NULL."""
    return p + k if p != NULL else NULL
