# Included by _kernels.pyx: Weight-gradient tasks (through the rows of their layers' kinds) and their updates, tied
# weights, gradient-norm clipping.

cdef inline void _task_gradient(Net *net, floating *params, int t, Py_ssize_t B, int slot) noexcept nogil:
    """The data term of the weight gradients of task ``t``, by the row of its layer's kind."""
    cdef const GradTask *task = &net.tasks[t]
    if floating is float:
        KINDS[net.kind[task.layer]].gradient_f(net, params, task, B, slot)
    else:
        KINDS[net.kind[task.layer]].gradient_d(net, params, task, B, slot)


cdef double _task_update(Net *net, floating *params, int t, Step *h, bint apply) noexcept nogil:
    """The update of one task's weights (rows j0..j1, columns i0..i1 of a tile whose rows lie ``ld`` apart) and
    biases (b0..b1) from their gradients; returns its penalty."""
    cdef const GradTask *task = &net.tasks[t]
    cdef int l = task.layer, j0 = task.j0, j1 = task.j1, i0 = task.i0, i1 = task.i1, ld = task.ld
    cdef Py_ssize_t j, wj
    cdef floating *grads = <floating *> net.ws.grads
    cdef floating *state = <floating *> net.state
    cdef Py_ssize_t wo = net.w_off[l] + <Py_ssize_t> j0 * ld + i0, bo = net.b_off[l] + task.b0
    cdef double penalty = 0
    if i1 - i0 == ld:  # whole rows: one contiguous range
        penalty = _update_range(params + wo, grads + wo, state + wo, <Py_ssize_t> (j1 - j0) * ld, h, True, apply)
    else:
        for j in range(j1 - j0):
            wj = wo + j * ld
            penalty += _update_range(params + wj, grads + wj, state + wj, i1 - i0, h, True, apply)
    if task.b1 > task.b0:
        penalty += _update_range(params + bo, grads + bo, state + bo, task.b1 - task.b0, h, False, apply)
    return penalty


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


cdef void _gradient_tasks(Net *net, floating *params, Py_ssize_t B, int nt) noexcept nogil:
    """The data term of every weight gradient, into the gradient buffer (no update)."""
    cdef Job job = _job(JOB_GRADIENT, net, params, 0)
    job.n_rows = B
    _run(&job, net.n_tasks, nt, net.task_work * B)


cdef void _apply_gradients(Net *net, floating *params, Step *h, bint apply, int nt, double *task_penalty,
                           double max_norm) noexcept nogil:
    """Every task's update from the data terms in the gradient buffer: the tied ones summed and the norm clipped
    first (``max_norm > 0``), then the updates (a tied copy's penalty is its source's, counted once)."""
    cdef int t
    cdef Job job = _job(JOB_UPDATE, net, params, 0)
    job.h = h
    job.apply = apply
    job.task_penalty = task_penalty
    if net.tie != NULL:
        _tie_gradients(net, <floating *> net.ws.grads)
    if max_norm > 0:
        _clip_gradients(net, <floating *> net.ws.grads, max_norm)
    _run(&job, net.n_tasks, nt, net.n_params * 4)  # a few operations a parameter
    if net.tie != NULL:
        for t in range(net.n_tasks):
            if net.tie[net.tasks[t].layer] >= 0 and task_penalty[t] == task_penalty[t]:  # keep NaN: divergence
                task_penalty[t] = 0


cdef void _update_tasks(Net *net, floating *params, Py_ssize_t B, Step *h, bint apply, int nt,
                        double *task_penalty, double max_norm=0) noexcept nogil:
    """Every weight gradient and its update: tile by tile, each tile updated while its gradient is in cache.
    With tied layers or a gradient norm to clip to (``max_norm > 0``), every gradient first, then
    ``_apply_gradients``."""
    cdef Job job = _job(JOB_GRADIENT_UPDATE, net, params, 0)
    job.n_rows = B
    job.h = h
    job.apply = apply
    job.task_penalty = task_penalty
    if net.tie == NULL and max_norm <= 0:
        _run(&job, net.n_tasks, nt, net.task_work * B)
        return
    _gradient_tasks(net, params, B, nt)
    _apply_gradients(net, params, h, apply, nt, task_penalty, max_norm)
