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

cdef inline int _bn_blocks(Net *net, int l) noexcept nogil:
    return max(1, min(net.geom[l].c, 2 * net.cores))


cdef Py_ssize_t _bn_tasks(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    return _bn_blocks(net, l)


cdef void _bn_stats(Net *net, int l, const floating *x, Py_ssize_t n_rows, int c, double *mean,
                    double *inv_std) noexcept nogil:
    """Channel ``c``'s batch mean and ``1 / sqrt(var + eps)`` over ``n_rows`` rows of ``x`` (two passes, in
    double)."""
    cdef const Geom *g = &net.geom[l]
    cdef int P = g.h * g.w, width = net.width[l]
    cdef Py_ssize_t r
    cdef double s = 0, q = 0, m
    cdef const floating *row
    for r in range(n_rows):
        s += _lane_sum(x + r * width + <Py_ssize_t> c * P, P, False)
    m = s / (n_rows * P)
    for r in range(n_rows):
        row = x + r * width + <Py_ssize_t> c * P
        for p in range(P):
            q += (row[p] - m) * (row[p] - m)
    mean[0] = m
    inv_std[0] = q / (n_rows * P)  # the variance; made 1 / sqrt(var + eps) by the caller


cdef void _bn_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows,
                      Py_ssize_t t, bint activate, int slot) noexcept nogil:
    """Channels of block ``t``: normalised (batch statistics while training, running ones at inference), scaled,
    shifted, then the layer's activation and the next layer's dropout on their columns."""
    cdef const Geom *g = &net.geom[l]
    cdef int C = g.c, P = g.h * g.w, width = net.width[l], nb = _bn_blocks(net, l), c
    cdef int c0 = <int> (t * C // nb), c1 = <int> ((t + 1) * C // nb)
    cdef const floating *ab = params + net.b_off[l]
    cdef floating *buf = (<floating *> net.buffers) + net.buf_off[l] if net.buffers != NULL else NULL
    cdef floating *out = <floating *> net.ws.A[l + 1]
    cdef Py_ssize_t r, p, N = n_rows * P
    cdef double mean, var, m = g.momentum
    cdef floating a, b
    cdef const floating *src
    cdef floating *dst
    for c in range(c0, c1):
        if net.ws.training:
            _bn_stats(net, l, inp, n_rows, c, &mean, &var)
            if net.ws.update_buffers:
                buf[c] = <floating> ((1 - m) * buf[c] + m * mean)
                buf[C + c] = <floating> ((1 - m) * buf[C + c] + m * (var * N / (N - 1) if N > 1 else var))
        else:
            mean = buf[c]
            var = buf[C + c]
        a = <floating> (ab[2 * c] / sqrt(var + g.eps))
        b = <floating> (ab[2 * c + 1] - mean * ab[2 * c] / sqrt(var + g.eps))
        for r in range(n_rows):
            src = inp + r * width + <Py_ssize_t> c * P
            dst = out + r * width + <Py_ssize_t> c * P
            for p in range(P):
                dst[p] = src[p] * a + b
    if activate:
        if net.ws.Z[l + 1] != NULL:
            for r in range(n_rows):
                memcpy((<floating *> net.ws.Z[l + 1]) + r * width + c0 * P, out + r * width + c0 * P,
                       (c1 - c0) * P * sizeof(floating))
        _activation_forward(net.act[l], out + c0 * P, n_rows, (c1 - c0) * P, width)
        if net.ws.training and net.ws.Ad[l + 1] != NULL:
            _dropout_columns(net, l + 1, 0, n_rows, c0 * P, c1 * P, width)


cdef void _bn_sums(Net *net, int l, const floating *x, const floating *dy, Py_ssize_t n_rows, int c, double mean,
                   double inv_std, double *sum_dy, double *sum_dy_xhat) noexcept nogil:
    """``sum dy`` and ``sum dy * xhat`` of channel ``c`` over the batch, in row and position order."""
    cdef int P = net.geom[l].h * net.geom[l].w, width = net.width[l]
    cdef Py_ssize_t r, p, at
    cdef double s = 0, q = 0
    for r in range(n_rows):
        at = r * width + <Py_ssize_t> c * P
        for p in range(P):
            s += dy[at + p]
            q += dy[at + p] * (x[at + p] - mean) * inv_std
    sum_dy[0] = s
    sum_dy_xhat[0] = q


cdef void _bn_backward(Net *net, const floating *params, int l, Py_ssize_t n_rows, Py_ssize_t t,
                       int slot) noexcept nogil:
    """Channels of block ``t`` of ``D[l]``: ``gamma / sigma * (dy - mean(dy) - xhat * mean(dy * xhat))``, then the
    dropout mask and layer ``l - 1``'s activation on their columns."""
    cdef const Geom *g = &net.geom[l]
    cdef int C = g.c, P = g.h * g.w, width = net.width[l], nb = _bn_blocks(net, l), c
    cdef int c0 = <int> (t * C // nb), c1 = <int> ((t + 1) * C // nb)
    cdef const floating *x = <floating *> _layer_input(net, l)
    cdef const floating *dy = <floating *> net.ws.D[l + 1]
    cdef floating *dx = <floating *> net.ws.D[l]
    cdef Py_ssize_t r, p, at, N = n_rows * P
    cdef double mean, var, inv_std, sdy, sdyx, k
    for c in range(c0, c1):
        _bn_stats(net, l, x, n_rows, c, &mean, &var)
        inv_std = 1.0 / sqrt(var + g.eps)
        _bn_sums(net, l, x, dy, n_rows, c, mean, inv_std, &sdy, &sdyx)
        k = params[net.b_off[l] + 2 * c] * inv_std
        for r in range(n_rows):
            at = r * width + <Py_ssize_t> c * P
            for p in range(P):
                dx[at + p] = <floating> (k * (dy[at + p] - sdy / N - (x[at + p] - mean) * inv_std * sdyx / N))
    if net.ws.Ad[l] != NULL:
        _mask_columns(dx + c0 * P, net.ws.mask[l] + c0 * P, n_rows, (c1 - c0) * P, width,
                      <floating> (1.0 / (1.0 - net.drop[l])))
    if net.act[l - 1] != SOFTMAX:
        _activation_backward(net.act[l - 1], (<floating *> net.ws.A[l]) + c0 * P,
                             _offset(<floating *> net.ws.Z[l], c0 * P), dx + c0 * P, n_rows, (c1 - c0) * P, width)


cdef void _bn_gradient(Net *net, floating *params, const GradTask *task, Py_ssize_t B, int slot) noexcept nogil:
    """``d gamma = sum dy * xhat`` and ``d beta = sum dy`` of channels j0..j1."""
    cdef int l = task.layer, c
    cdef const floating *x = <floating *> _layer_input(net, l)
    cdef floating *gb = (<floating *> net.ws.grads) + net.b_off[l]
    cdef double mean, var, inv_std, sdy, sdyx
    for c in range(task.j0, task.j1):
        _bn_stats(net, l, x, B, c, &mean, &var)
        inv_std = 1.0 / sqrt(var + net.geom[l].eps)
        _bn_sums(net, l, x, <floating *> net.ws.D[l + 1], B, c, mean, inv_std, &sdy, &sdyx)
        gb[2 * c] = <floating> sdyx
        gb[2 * c + 1] = <floating> sdy


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
