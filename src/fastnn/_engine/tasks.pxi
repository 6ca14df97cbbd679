# Included by _kernels.pyx: Weight-gradient tasks and their updates, tied weights, gradient-norm clipping.

cdef inline bint _kept_columns(Net *net, int l, Py_ssize_t rows) noexcept nogil:
    """Whether convolution ``l``'s columns of a training batch of ``rows`` rows are kept in ``columns[l]``."""
    return net.training and net.columns != NULL and net.columns[l] != NULL and rows <= net.cols_rows


cdef void _conv_gradient(Net *net, floating *params, int t, Py_ssize_t B, int slot) noexcept nogil:
    """Weight and bias gradients of output channels j0..j1 of a convolution, summed over the batch's groups of
    images in order (``dW += dY_group @ im2col(x_group).T``), from the columns the forward pass kept (or formed
    again)."""
    cdef int l = net.task_layer[t], j0 = net.task_j0[t], j1 = net.task_j1[t]
    cdef const Geom *g = &net.geom[l]
    cdef int w_in = net.width[l], w_out = net.width[l + 1], P = g.ho * g.wo, K = g.c * g.kh * g.kw, j
    cdef Py_ssize_t r
    cdef floating *grads = <floating *> net.grads
    cdef const floating *D = <floating *> net.D[l + 1]
    cdef const floating *inp = <floating *> _layer_input(net, l)
    cdef floating *cols = <floating *> _slot(net, slot)
    cdef floating *dys
    cdef Py_ssize_t wo = net.w_off[l] + <Py_ssize_t> j0 * K, N, grp
    cdef double s
    cdef int n
    cdef bint kept = _kept_columns(net, l, B)
    for grp in range(_groups(B)):
        r = grp * IMAGE_GROUP
        n = <int> min(<Py_ssize_t> IMAGE_GROUP, B - r)
        N = <Py_ssize_t> n * P
        if kept:
            dys = <floating *> _slot(net, slot)
            cols = (<floating *> net.columns[l]) + r * K * P
        else:
            dys = cols + K * N
            _gather_columns(inp + r * w_in, w_in, g, n, cols)
        _gather_channels(D + r * w_out, w_out, P, j0, j1, n, dys)
        gemm(NoTrans, Trans, j1 - j0, K, <int> N, <floating> 1.0, dys, <int> N, cols, <int> N,
             <floating> (1.0 if r > 0 else 0.0), grads + wo, K)
    for j in range(j0, j1):
        s = 0
        for r in range(B):
            s += _lane_sum(D + r * w_out + <Py_ssize_t> j * P, P, False)
        grads[net.b_off[l] + j] = <floating> s


cdef void _task_gradient(Net *net, floating *params, int t, Py_ssize_t B, int slot) noexcept nogil:
    """The data term of the weight gradients of one tile (output features j0..j1 x input features i0..i1) of one
    layer; the tile holding input feature 0 does the biases of its output features too. (A convolution's tasks
    are blocks of its output channels: ``_conv_gradient``.)"""
    cdef int l = net.task_layer[t], j0 = net.task_j0[t], j1 = net.task_j1[t]
    cdef int i0 = net.task_i0[t], i1 = net.task_i1[t]
    cdef int w_in = net.width[l], w_out = net.width[l + 1]
    cdef Py_ssize_t r, j
    cdef floating *grads = <floating *> net.grads
    cdef const floating *D = <floating *> net.D[l + 1]
    cdef floating *gb = grads + net.b_off[l]
    if net.kind[l] == CONV2D:
        _conv_gradient(net, params, t, B, slot)
        return
    gemm(Trans, NoTrans, j1 - j0, i1 - i0, <int> B, <floating> 1.0, D + j0, w_out,
         (<floating *> _layer_input(net, l)) + i0, w_in, <floating> 0.0, grads + net.w_off[l] + j0 * w_in + i0,
         w_in)
    if i0 == 0:
        for j in range(j0, j1):
            gb[j] = 0
        for r in range(B):
            for j in range(j0, j1):
                gb[j] += D[r * w_out + j]


cdef double _task_update(Net *net, floating *params, int t, Hyper *h, bint apply) noexcept nogil:
    """The update of one tile's weights (and biases) from their gradients; returns its penalty."""
    cdef int l = net.task_layer[t], j0 = net.task_j0[t], j1 = net.task_j1[t]
    cdef int i0 = net.task_i0[t], i1 = net.task_i1[t]
    cdef int w_in = net.width[l] if net.kind[l] != CONV2D else i1  # a convolution's tasks: whole kernels
    cdef Py_ssize_t j, wj
    cdef floating *grads = <floating *> net.grads
    cdef floating *state = <floating *> net.state
    cdef Py_ssize_t wo = net.w_off[l] + <Py_ssize_t> j0 * w_in + i0, bo = net.b_off[l] + j0
    cdef double penalty = 0
    if i1 - i0 == w_in:  # whole rows: one contiguous range
        penalty = _update_range(params + wo, grads + wo, state + wo, <Py_ssize_t> (j1 - j0) * w_in, h, True,
                                apply)
    else:
        for j in range(j1 - j0):
            wj = wo + j * w_in
            penalty += _update_range(params + wj, grads + wj, state + wj, i1 - i0, h, True, apply)
    if i0 == 0:
        penalty += _update_range(params + bo, grads + bo, state + bo, j1 - j0, h, False, apply)
    return penalty


cdef double _feature_task(Net *net, floating *params, int t, Py_ssize_t B, Hyper *h, bint apply,
                          int slot) noexcept nogil:
    """Weight gradients of one tile, then their update while they are in cache; returns the tile's penalty."""
    _task_gradient(net, params, t, B, slot)
    return _task_update(net, params, t, h, apply)


cdef void _tie_gradients(Net *net, floating *grads) noexcept nogil:
    """A tied layer's weights are its source's, stored a second time as their transpose: the matrix's gradient is
    the sum of both copies' gradients, written to both, so that both copies take the same steps (the same
    arithmetic on the same numbers) and stay exact transposes."""
    cdef int l, s, i, j, n_in, n_out
    cdef floating *gs
    cdef floating *gl
    cdef floating v
    for l in range(net.n_layers):
        s = net.tie[l]
        if s < 0:
            continue
        n_out = net.width[s + 1]  # the source's W is n_out x n_in; the tied copy n_in x n_out
        n_in = net.width[s]
        gs = grads + net.w_off[s]
        gl = grads + net.w_off[l]
        for j in range(n_out):
            for i in range(n_in):
                v = gs[j * n_in + i] + gl[i * n_out + j]
                gs[j * n_in + i] = v
                gl[i * n_out + j] = v


cdef void _clip_gradients(Net *net, floating *grads, double max_norm) noexcept nogil:
    """Scale every gradient by ``min(1, max_norm / (norm + 1e-6))``, ``norm`` the 2-norm of all of them together
    (``torch.nn.utils.clip_grad_norm_``)."""
    cdef Py_ssize_t i, n = net.n_params
    cdef double coef = max_norm / (sqrt(_sum_sq(grads, n)) + 1e-6)
    cdef floating c = <floating> coef
    if coef < 1:
        for i in range(n):
            grads[i] = grads[i] * c


cdef void _update_tasks(Net *net, floating *params, Py_ssize_t B, Hyper *h, bint apply, int nt,
                        double *task_penalty, double max_norm=0) noexcept nogil:
    """Every weight gradient and its update: tile by tile, each tile updated while its gradient is in cache.
    With tied layers or a gradient norm to clip to (``max_norm > 0``), every gradient first, then the tied ones
    summed and the norm clipped, then the updates (a tied copy's penalty is its source's, counted once)."""
    cdef int t
    cdef Job job = _job(JOB_GRADIENT_UPDATE, net, params, 0)
    job.n_rows = B
    job.h = h
    job.apply = apply
    job.task_penalty = task_penalty
    if net.tie == NULL and max_norm <= 0:
        _run(&job, net.n_tasks, nt, net.task_work * B)
        return
    job.kind = JOB_GRADIENT
    _run(&job, net.n_tasks, nt, net.task_work * B)
    if net.tie != NULL:
        _tie_gradients(net, <floating *> net.grads)
    if max_norm > 0:
        _clip_gradients(net, <floating *> net.grads, max_norm)
    job.kind = JOB_UPDATE
    _run(&job, net.n_tasks, nt, net.n_params * 4)  # a few operations a parameter
    if net.tie != NULL:
        for t in range(net.n_tasks):
            if net.tie[net.task_layer[t]] >= 0 and task_penalty[t] == task_penalty[t]:  # keep NaN: divergence
                task_penalty[t] = 0
