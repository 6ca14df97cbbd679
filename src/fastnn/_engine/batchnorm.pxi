# Included by _kernels.pyx: The BATCHNORM kind (PyTorch's BatchNorm1d/2d): per-channel statistics of the batch,
# reduced in a fixed order by the task that owns the channel; running statistics as non-trained buffers; its row
# of KINDS.

# ---------------------------------------------------------------------------------------------------------------
# A row holds ``c`` channels of ``P = h * w`` positions (P = 1 after a dense layer). While training, channel c's
# mean and (biased) variance over the batch's rows and positions normalise it, ``y = gamma (x - mean) / sqrt(var +
# eps) + beta``, and an update moves the running statistics (buffers: the mean, then the unbiased variance) by
# ``momentum``; at inference the running statistics normalise. Tasks are blocks of channels: a channel's sums are
# computed by one task, in row and position order, so results never depend on the split or the threads. The
# parameters are pairs ``(gamma_c, beta_c)``, never decayed.
# ---------------------------------------------------------------------------------------------------------------

# A batch too large for the buffers is computed in blocks of rows with its whole statistics, in passes over the
# blocks that Python drives (fastnn.training.blocks): per BatchNorm layer, the sum of its inputs (BN_MEAN), then
# of their squared deviations from the batch's mean (BN_VAR); then passes normalising by the batch's statistics
# (BN_GIVEN) that sum the gradients' terms over the blocks (BN_SUMS, the pass stopping there), from the last such
# layer down; then a last pass with every sum given (BN_GIVEN_SUMS). ``fixed`` holds, beyond the four values a
# channel the layer keeps between its passes, six a channel for these: the sums of x and of (x - mean)^2, the
# batch's variance, the sums of dy and of dy * xhat, and one spare.
cdef enum:
    BN_MEAN = 1             # forward: add each channel's sum of the block's inputs (and stop)
    BN_VAR = 2              # forward: add each channel's sum of (x - the batch's mean)^2 (and stop)
    BN_GIVEN = 4            # forward: normalise by the batch's mean and variance, as given; running stats untouched
    BN_SUMS = 8             # backward: add each channel's sums of dy and dy * xhat (and stop)
    BN_GIVEN_SUMS = 16      # backward: use the batch's sums, as given (the first block's gamma and beta gradients)


# The modes, for Python's driver of batches in blocks.
BATCHNORM_MEAN, BATCHNORM_VAR, BATCHNORM_GIVEN = BN_MEAN, BN_VAR, BN_GIVEN
BATCHNORM_SUMS, BATCHNORM_GIVEN_SUMS = BN_SUMS, BN_GIVEN_SUMS


cdef extern from *:
    """
    /* BatchNorm's loops over a channel's rows (ld apart) of P positions, built for x86-64-v4 and v3 as well as the
       baseline without contracting a multiply and an add into one: the same bits on every build. Sums keep eight
       double lanes over each row's positions (the rest apart), rows in order. */
    #define FASTNN_BN_LOOPS(S, T)                                                                               \\
    FASTNN_EXACT_CLONES static double fastnn_bn_sum_##S(const T *x, Py_ssize_t ld, Py_ssize_t n_rows, int P,     \\
                                                      double shift, int square) {                             \\
        double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0}, rest = 0, total = 0;                                      \\
        const Py_ssize_t P8 = P - P % 8;                                                                      \\
        for (Py_ssize_t r = 0; r < n_rows; r++) {                                                             \\
            const T *row = x + r * ld;                                                                        \\
            if (square) {                                                                                     \\
                for (Py_ssize_t p = 0; p < P8; p += 8)                                                        \\
                    for (int k = 0; k < 8; k++) { double v = row[p + k] - shift; lanes[k] += v * v; }         \\
                for (Py_ssize_t p = P8; p < P; p++) { double v = row[p] - shift; rest += v * v; }             \\
            } else {                                                                                          \\
                for (Py_ssize_t p = 0; p < P8; p += 8)                                                        \\
                    for (int k = 0; k < 8; k++) { double v = row[p + k] - shift; lanes[k] += v; }             \\
                for (Py_ssize_t p = P8; p < P; p++) { double v = row[p] - shift; rest += v; }                 \\
            }                                                                                                 \\
        }                                                                                                     \\
        for (int k = 0; k < 8; k++) total += lanes[k];                                                        \\
        return total + rest;                                                                                  \\
    }                                                                                                         \\
    FASTNN_EXACT_CLONES static void fastnn_bn_dsums_##S(const T *x, const T *dy, Py_ssize_t ld,                 \\
                                                      Py_ssize_t n_rows, int P, double mean, double *sums) {  \\
        double s[8] = {0, 0, 0, 0, 0, 0, 0, 0}, q[8] = {0, 0, 0, 0, 0, 0, 0, 0};                             \\
        double s_rest = 0, q_rest = 0, s_total = 0, q_total = 0;                                              \\
        const Py_ssize_t P8 = P - P % 8;                                                                      \\
        for (Py_ssize_t r = 0; r < n_rows; r++) {                                                             \\
            const T *d = dy + r * ld, *v = x + r * ld;                                                        \\
            for (Py_ssize_t p = 0; p < P8; p += 8)                                                            \\
                for (int k = 0; k < 8; k++) { s[k] += d[p + k]; q[k] += d[p + k] * (v[p + k] - mean); }       \\
            for (Py_ssize_t p = P8; p < P; p++) { s_rest += d[p]; q_rest += d[p] * (v[p] - mean); }           \\
        }                                                                                                     \\
        for (int k = 0; k < 8; k++) { s_total += s[k]; q_total += q[k]; }                                     \\
        sums[0] = s_total + s_rest;                                                                           \\
        sums[1] = q_total + q_rest;                                                                           \\
    }                                                                                                         \\
    FASTNN_EXACT_CLONES static void fastnn_bn_affine_##S(const T *src, T *dst, Py_ssize_t ld, Py_ssize_t n_rows, \\
                                                       int P, T a, T b) {                                     \\
        for (Py_ssize_t r = 0; r < n_rows; r++)                                                               \\
            for (Py_ssize_t p = 0; p < P; p++) dst[r * ld + p] = src[r * ld + p] * a + b;                     \\
    }                                                                                                         \\
    FASTNN_EXACT_CLONES static void fastnn_bn_dx_##S(const T *x, const T *dy, T *dx, Py_ssize_t ld,             \\
                                                   Py_ssize_t n_rows, int P, T k, T shift, T mean, T slope) { \\
        for (Py_ssize_t r = 0; r < n_rows; r++)                                                               \\
            for (Py_ssize_t p = 0; p < P; p++) {                                                              \\
                Py_ssize_t i = r * ld + p;                                                                    \\
                dx[i] = k * (dy[i] - shift - (x[i] - mean) * slope);                                          \\
            }                                                                                                 \\
    }
    FASTNN_BN_LOOPS(f, float)
    FASTNN_BN_LOOPS(d, double)
    """
    double fastnn_bn_sum_f(const float *x, Py_ssize_t ld, Py_ssize_t n_rows, int P, double shift,
                           int square) noexcept nogil
    double fastnn_bn_sum_d(const double *x, Py_ssize_t ld, Py_ssize_t n_rows, int P, double shift,
                           int square) noexcept nogil
    void fastnn_bn_dsums_f(const float *x, const float *dy, Py_ssize_t ld, Py_ssize_t n_rows, int P, double mean,
                           double *sums) noexcept nogil
    void fastnn_bn_dsums_d(const double *x, const double *dy, Py_ssize_t ld, Py_ssize_t n_rows, int P, double mean,
                           double *sums) noexcept nogil
    void fastnn_bn_affine_f(const float *src, float *dst, Py_ssize_t ld, Py_ssize_t n_rows, int P, float a,
                            float b) noexcept nogil
    void fastnn_bn_affine_d(const double *src, double *dst, Py_ssize_t ld, Py_ssize_t n_rows, int P, double a,
                            double b) noexcept nogil
    void fastnn_bn_dx_f(const float *x, const float *dy, float *dx, Py_ssize_t ld, Py_ssize_t n_rows, int P, float k,
                        float shift, float mean, float slope) noexcept nogil
    void fastnn_bn_dx_d(const double *x, const double *dy, double *dx, Py_ssize_t ld, Py_ssize_t n_rows, int P,
                        double k, double shift, double mean, double slope) noexcept nogil


cdef inline int _bn_mode(Net *net, int l) noexcept nogil:
    return net.ws.bn_mode[l] if net.ws.bn_mode != NULL and net.ws.training else 0


cdef inline double *_bn_block_sums(Net *net, int l, int c) noexcept nogil:
    """Channel ``c``'s six values for batches computed in blocks (see above)."""
    return net.ws.fixed[l] + 4 * net.geom[l].c + 6 * c


cdef inline int _bn_blocks(Net *net, int l) noexcept nogil:
    return max(1, min(net.geom[l].c, 2 * net.cores))


cdef Py_ssize_t _bn_tasks(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    return _bn_blocks(net, l)


cdef double _bn_sum(Net *net, int l, const floating *x, Py_ssize_t n_rows, int c, double shift,
                    bint square) noexcept nogil:
    """Channel ``c``'s sum of ``x - shift`` (``square``: of its squares) over ``n_rows`` rows of ``x``: eight
    double lanes over each row's positions, rows in order (vectorised, and one fixed order)."""
    cdef const Geom *g = &net.geom[l]
    cdef int P = g.h * g.w
    if floating is float:
        return fastnn_bn_sum_f(x + <Py_ssize_t> c * P, net.width[l], n_rows, P, shift, square)
    else:
        return fastnn_bn_sum_d(x + <Py_ssize_t> c * P, net.width[l], n_rows, P, shift, square)


cdef void _bn_stats(Net *net, int l, const floating *x, Py_ssize_t n_rows, int c, double *mean,
                    double *var) noexcept nogil:
    """Channel ``c``'s batch mean and (biased) variance over ``n_rows`` rows of ``x``: two passes."""
    cdef Py_ssize_t N = n_rows * net.geom[l].h * net.geom[l].w
    mean[0] = _bn_sum(net, l, x, n_rows, c, 0.0, False) / N
    var[0] = _bn_sum(net, l, x, n_rows, c, mean[0], True) / N


cdef inline void _bn_move_running(floating *buf, int C, int c, double m, double mean, double var,
                                  Py_ssize_t N) noexcept nogil:
    """Channel ``c``'s running mean and (unbiased) variance moved by ``momentum`` towards a batch's statistics over
    ``N`` values."""
    buf[c] = <floating> ((1 - m) * buf[c] + m * mean)
    buf[C + c] = <floating> ((1 - m) * buf[C + c] + m * (var * N / (N - 1) if N > 1 else var))


cdef void _bn_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows,
                      Py_ssize_t t, bint activate, int slot) noexcept nogil:
    """Channels of block ``t``: normalised (batch statistics while training, kept in the workspace for the
    backward pass; running ones at inference), scaled, shifted, then the layer's activation and the next layer's
    dropout on their columns."""
    cdef const Geom *g = &net.geom[l]
    cdef int C = g.c, P = g.h * g.w, width = net.width[l], nb = _bn_blocks(net, l), c
    cdef int c0 = <int> (t * C // nb), c1 = <int> ((t + 1) * C // nb)
    cdef const floating *ab = params + net.b_off[l]
    cdef floating *buf = (<floating *> net.buffers) + net.buf_off[l] if net.buffers != NULL else NULL
    cdef double *stats = net.ws.fixed[l]    # per channel: mean, 1 / sqrt(var + eps), sum dy, sum dy * xhat
    cdef floating *out = <floating *> net.ws.A[l + 1]
    cdef Py_ssize_t r, N = n_rows * P
    cdef double mean, var, m = g.momentum
    cdef floating a, b
    cdef int mode = _bn_mode(net, l)
    if mode & (BN_MEAN | BN_VAR):  # a pass that sums the batch's statistics block by block: nothing further
        for c in range(c0, c1):
            if mode & BN_MEAN:
                _bn_block_sums(net, l, c)[0] += _bn_sum(net, l, inp, n_rows, c, 0.0, False)
            else:
                _bn_block_sums(net, l, c)[1] += _bn_sum(net, l, inp, n_rows, c, stats[4 * c], True)
        return
    for c in range(c0, c1):
        if mode & BN_GIVEN:  # the whole batch's statistics, from the passes before; its first block moves the
            mean = stats[4 * c]  # running statistics in the last pass (the one that updates)
            var = _bn_block_sums(net, l, c)[2]
            if net.ws.update_buffers and net.ws.bn_offset == 0:
                _bn_move_running(buf, C, c, m, mean, var, net.ws.bn_rows * P)
        elif net.ws.training:
            _bn_stats(net, l, inp, n_rows, c, &mean, &var)
            stats[4 * c] = mean
            stats[4 * c + 1] = 1.0 / sqrt(var + g.eps)
            if net.ws.update_buffers:
                _bn_move_running(buf, C, c, m, mean, var, N)
        else:
            mean = buf[c]
            var = buf[C + c]
        a = <floating> (ab[2 * c] / sqrt(var + g.eps))
        b = <floating> (ab[2 * c + 1] - mean * ab[2 * c] / sqrt(var + g.eps))
        if floating is float:
            fastnn_bn_affine_f(inp + <Py_ssize_t> c * P, out + <Py_ssize_t> c * P, width, n_rows, P, a, b)
        else:
            fastnn_bn_affine_d(inp + <Py_ssize_t> c * P, out + <Py_ssize_t> c * P, width, n_rows, P, a, b)
    if activate:
        if net.ws.Z[l + 1] != NULL:
            for r in range(n_rows):
                memcpy((<floating *> net.ws.Z[l + 1]) + r * width + c0 * P, out + r * width + c0 * P,
                       (c1 - c0) * P * sizeof(floating))
        _activation_forward(net.act[l], out + c0 * P, n_rows, (c1 - c0) * P, width)
        if net.ws.training and net.ws.Ad[l + 1] != NULL:
            _dropout_columns(net, l + 1, 0, n_rows, c0 * P, c1 * P, width)


cdef void _bn_sums(Net *net, int l, const floating *x, const floating *dy, Py_ssize_t n_rows, int c) noexcept nogil:
    """``sum dy`` and ``sum dy * xhat`` of channel ``c`` over the batch (eight double lanes, rows in order), from
    the statistics the forward pass kept, into the workspace beside them."""
    cdef int P = net.geom[l].h * net.geom[l].w
    cdef double *stats = net.ws.fixed[l]
    cdef double sums[2]
    cdef Py_ssize_t at = <Py_ssize_t> c * P
    if floating is float:
        fastnn_bn_dsums_f(x + at, dy + at, net.width[l], n_rows, P, stats[4 * c], sums)
    else:
        fastnn_bn_dsums_d(x + at, dy + at, net.width[l], n_rows, P, stats[4 * c], sums)
    stats[4 * c + 2] = sums[0]
    stats[4 * c + 3] = sums[1] * stats[4 * c + 1]


cdef void _bn_backward(Net *net, const floating *params, int l, Py_ssize_t n_rows, Py_ssize_t t,
                       int slot) noexcept nogil:
    """Channels of block ``t`` of ``D[l]``: ``gamma / sigma * (dy - mean(dy) - xhat * mean(dy * xhat))``, then the
    dropout mask and layer ``l - 1``'s activation on their columns; the sums stay for the weight gradient."""
    cdef const Geom *g = &net.geom[l]
    cdef int C = g.c, P = g.h * g.w, width = net.width[l], nb = _bn_blocks(net, l), c
    cdef int c0 = <int> (t * C // nb), c1 = <int> ((t + 1) * C // nb)
    cdef const floating *x = <floating *> _layer_input(net, l)
    cdef const floating *dy = <floating *> net.ws.D[l + 1]
    cdef floating *dx = <floating *> net.ws.D[l]
    cdef double *stats = net.ws.fixed[l]
    cdef Py_ssize_t at, N = n_rows * P
    cdef floating k, shift, mean, slope
    cdef int mode = _bn_mode(net, l)
    cdef double *sums
    if mode & BN_SUMS:  # a pass that sums the gradients' terms block by block: nothing further
        for c in range(c0, c1):
            _bn_sums(net, l, x, dy, n_rows, c)
            sums = _bn_block_sums(net, l, c)
            sums[3] += stats[4 * c + 2]
            sums[4] += stats[4 * c + 3]
        return
    if mode & BN_GIVEN_SUMS:  # the whole batch's sums, from the passes before
        N = net.ws.bn_rows * P
    for c in range(c0, c1):
        if not mode & BN_GIVEN_SUMS:
            _bn_sums(net, l, x, dy, n_rows, c)
        # dx = k (dy - shift - (x - mean) slope): k = gamma inv_std, shift = sum(dy) / N, and
        # slope = inv_std sum(dy xhat) / N (xhat = (x - mean) inv_std)
        k = <floating> (params[net.b_off[l] + 2 * c] * stats[4 * c + 1])
        shift = <floating> (stats[4 * c + 2] / N)
        slope = <floating> (stats[4 * c + 1] * stats[4 * c + 3] / N)
        mean = <floating> stats[4 * c]
        at = <Py_ssize_t> c * P
        if floating is float:
            fastnn_bn_dx_f(x + at, dy + at, dx + at, width, n_rows, P, k, shift, mean, slope)
        else:
            fastnn_bn_dx_d(x + at, dy + at, dx + at, width, n_rows, P, k, shift, mean, slope)
    if net.ws.Ad[l] != NULL:
        _mask_columns(dx + c0 * P, net.ws.mask[l] + c0 * P, n_rows, (c1 - c0) * P, width,
                      <floating> (1.0 / (1.0 - net.drop[l])))
    if net.act[l - 1] != SOFTMAX:
        _activation_backward(net.act[l - 1], (<floating *> net.ws.A[l]) + c0 * P,
                             _offset(<floating *> net.ws.Z[l], c0 * P), dx + c0 * P, n_rows, (c1 - c0) * P, width)


cdef void _bn_gradient(Net *net, floating *params, const GradTask *task, Py_ssize_t B, int slot) noexcept nogil:
    """``d gamma = sum dy * xhat`` and ``d beta = sum dy`` of channels j0..j1: the backward pass's sums, or (a
    first layer, which has no backward pass) computed here."""
    cdef int l = task.layer, c
    cdef floating *gb = (<floating *> net.ws.grads) + net.b_off[l]
    cdef double *stats = net.ws.fixed[l]
    for c in range(task.j0, task.j1):
        if _bn_mode(net, l) & BN_GIVEN_SUMS and net.ws.bn_offset > 0:  # a later block of a batch computed in
            gb[2 * c] = 0                                                  # blocks: the first gave the batch's
            gb[2 * c + 1] = 0                                              # sums, which the blocks' add up to
            continue
        if l == 0:
            _bn_sums(net, l, <floating *> _layer_input(net, l), <floating *> net.ws.D[l + 1], B, c)
        gb[2 * c] = <floating> stats[4 * c + 3]
        gb[2 * c + 1] = <floating> stats[4 * c + 2]


cdef int _bn_gradient_tasks(const Geom *g, int n_in, int n_out, int split, GradTask *out) noexcept nogil:
    """Blocks of channels, their ``(gamma, beta)`` pairs (no weight matrix)."""
    cdef int nb = max(1, min(g.c, 4 * split)), j
    if out != NULL:
        for j in range(nb):
            out[j].j0 = j * g.c // nb
            out[j].j1 = (j + 1) * g.c // nb
            out[j].i0 = out[j].i1 = out[j].ld = 0
            out[j].b0 = 2 * out[j].j0
            out[j].b1 = 2 * out[j].j1
            out[j].work = <Py_ssize_t> (out[j].j1 - out[j].j0) * g.h * g.w * 4
    return nb


cdef const char *_bn_fits(const Geom *g, int n_in, int n_out) noexcept nogil:
    if min(g.c, g.h, g.w) < 1:
        return b"sizes must be positive"
    if <Py_ssize_t> g.c * g.h * g.w != n_in or n_in != n_out:
        return b"shapes do not match the widths"
    if not (g.eps > 0) or not (0 <= g.momentum <= 1):
        return b"eps must be positive and momentum in [0, 1]"
    return NULL


cdef Py_ssize_t _bn_fixed(const Geom *g, int n_in, int n_out) noexcept nogil:
    """Per channel: the batch's mean and 1 / sqrt(var + eps), sum dy and sum dy * xhat; then six a channel for
    batches computed in blocks (see above)."""
    return 10 * g.c


cdef Py_ssize_t _bn_pairs(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 2 * g.c


cdef Py_ssize_t _bn_row_work(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 4 * <Py_ssize_t> g.c * g.h * g.w


cdef Py_ssize_t _bn_task_work(Net *net, int l, Py_ssize_t n_rows, Py_ssize_t t, bint backward) noexcept nogil:
    cdef int nb = _bn_blocks(net, l), C = net.geom[l].c
    return n_rows * ((t + 1) * C // nb - t * C // nb) * net.geom[l].h * net.geom[l].w * 4


cdef Py_ssize_t _bn_pass_work(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    return n_rows * _bn_row_work(&net.geom[l], 0, 0)


KINDS[BATCHNORM].name = b"batchnorm"
KINDS[BATCHNORM].check = _bn_fits
KINDS[BATCHNORM].n_weights = _no_values
KINDS[BATCHNORM].n_bias = _bn_pairs
KINDS[BATCHNORM].n_buffers = _bn_pairs
KINDS[BATCHNORM].workspace = _no_values
KINDS[BATCHNORM].row_work = _bn_row_work
KINDS[BATCHNORM].cache = _no_values
KINDS[BATCHNORM].fixed = _bn_fixed
KINDS[BATCHNORM].batch_stats = True
KINDS[BATCHNORM].kept = _no_values
KINDS[BATCHNORM].forward_tasks = _bn_tasks
KINDS[BATCHNORM].backward_tasks = _bn_tasks
KINDS[BATCHNORM].task_work = _bn_task_work
KINDS[BATCHNORM].pass_work = _bn_pass_work
KINDS[BATCHNORM].forward_f = _bn_forward[float]
KINDS[BATCHNORM].forward_d = _bn_forward[double]
KINDS[BATCHNORM].backward_f = _bn_backward[float]
KINDS[BATCHNORM].backward_d = _bn_backward[double]
KINDS[BATCHNORM].gradient_tasks = _bn_gradient_tasks
KINDS[BATCHNORM].gradient_f = _bn_gradient[float]
KINDS[BATCHNORM].gradient_d = _bn_gradient[double]
KINDS[BATCHNORM].splits_columns = True
KINDS[BATCHNORM].backward_first = False
