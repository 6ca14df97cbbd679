# Included by _kernels.pyx: The walk over the layer table (forward, backward: each layer's tasks through the row of
# its kind), the batch gather and the loss of a batch.

cdef void _forward(Net *net, const floating *x, Py_ssize_t n_rows, int nt, bint last_activation) noexcept nogil:
    """Forward pass of ``n_rows`` rows starting at ``x`` (rows ``width[0]`` apart) into ``A[1..L]``: each layer's
    tasks, as its kind splits them (fixed by the shapes and the machine, not by ``nt``)."""
    cdef const floating *params = <floating *> net.params
    cdef const floating *inp = x
    cdef int l, L = net.n_layers
    cdef const KindRow *row
    cdef bint activate
    cdef int s
    cdef Job job
    if net.ws.training and net.ws.Ad[0] != NULL:  # dropout on the inputs (A[0] holds the gathered batch)
        _dropout_columns(net, 0, 0, n_rows, 0, net.width[0], net.width[0])
        inp = <floating *> net.ws.Ad[0]
    for l in range(L):
        row = &KINDS[net.kind[l]]
        activate = l < L - 1 or last_activation
        job = _job(JOB_FORWARD, net, params, l)
        job.inp = inp
        job.n_rows = n_rows
        job.activate = activate
        if row.prepare != NULL:
            row.prepare(net, l, n_rows)
        _run(&job, row.forward_tasks(net, l, n_rows), nt, row.pass_work(net, l, n_rows))
        if row.splits_columns and activate and net.act[l] == SOFTMAX:  # softmax needs whole rows (or steps)
            s = _unit_steps(net, l + 1)
            _activation_forward(SOFTMAX, <floating *> net.ws.A[l + 1], n_rows * s, net.width[l + 1] // s,
                                net.width[l + 1] // s)
            if net.ws.training and net.ws.Ad[l + 1] != NULL:
                _dropout_columns(net, l + 1, 0, n_rows, 0, net.width[l + 1], net.width[l + 1])
        if net.ws.stop_forward == l + 1:  # a pass that gathers a BatchNorm layer's sums ends there
            return
        inp = <floating *> _layer_input(net, l + 1)


cdef void _backward(Net *net, const floating *params, Py_ssize_t n_rows, int nt) noexcept nogil:
    """Propagate ``D[L]`` back to ``D[1]`` (the input gradient ``D[0]`` is never needed; a first layer whose weight
    gradient needs its backward pass runs it without one), each layer's tasks as its kind splits them."""
    cdef int l, s
    cdef const KindRow *row
    cdef Job job
    for l in range(net.n_layers - 1, -1, -1):
        row = &KINDS[net.kind[l]]
        if l == 0 and not row.backward_first:  # the input's gradient is never needed
            break
        job = _job(JOB_BACKWARD, net, params, l)
        job.n_rows = n_rows
        _run(&job, row.backward_tasks(net, l, n_rows), nt, row.pass_work(net, l, n_rows))
        if row.splits_columns and l > 0 and net.act[l - 1] == SOFTMAX:  # softmax's derivative needs whole rows
            s = _unit_steps(net, l)
            _activation_backward(SOFTMAX, <floating *> net.ws.A[l], NULL, <floating *> net.ws.D[l], n_rows * s,
                                 net.width[l] // s, net.width[l] // s)
        if net.ws.stop_backward == l + 1:
            break


cdef void _gather_rows(floating *dst, const floating *X, const int64_t *rows, Py_ssize_t r0, Py_ssize_t r1,
                       Py_ssize_t n_in) noexcept nogil:
    cdef Py_ssize_t r
    for r in range(r0, r1):
        memcpy(dst + r * n_in, X + rows[r] * n_in, n_in * sizeof(floating))


cdef void _loss_rows(Net *net, Py_ssize_t r0, Py_ssize_t r1, const Data *data, const int64_t *rows,
                     Py_ssize_t first, floating scale, floating *sample_loss, floating *sample_correct,
                     bint want_grad) noexcept nogil:
    """Loss, accuracy and output gradient of rows ``r0 .. r1``. An output of ``S > 1`` steps (a dense layer
    applied to every step of a sequence) has ``K / S`` values a step and targets a step (labels or targets of
    sample ``i`` at ``i * S + t``): a sample's loss and accuracy are its steps' means, and each step's gradient
    carries ``1 / S`` of the sample's scale (PyTorch's mean over samples and steps)."""
    cdef int L = net.n_layers, K = net.width[L], S = _unit_steps(net, L), t
    cdef floating *a = (<floating *> net.ws.A[L]) + r0 * K
    cdef floating *d = (<floating *> net.ws.D[L]) + r0 * K
    cdef Py_ssize_t r
    cdef int64_t i
    cdef Data step_data
    cdef floating sl, sc, ls, cs, w
    cdef const floating *weights = <const floating *> data.weights
    if S == 1:
        _output_rows(net.loss, net.act[L - 1], a, d, r1 - r0, K, data, rows + r0 if rows != NULL else NULL,
                     first + r0, scale, net.loss_param, sample_loss + r0, sample_correct + r0, want_grad)
    else:
        step_data = data[0]
        step_data.weights = NULL  # a sample's weight scales all its steps: applied here
        for r in range(r1 - r0):
            w = weights[rows[r0 + r] if rows != NULL else first + r0 + r] if weights != NULL else 1
            ls = 0
            cs = 0
            for t in range(S):
                i = (rows[r0 + r] if rows != NULL else first + r0 + r) * S + t
                _output_rows(net.loss, net.act[L - 1], a + (r * S + t) * (K // S), d + (r * S + t) * (K // S), 1,
                             K // S, &step_data, &i, 0, scale * w / S, net.loss_param, &sl, &sc, want_grad)
                ls += sl
                cs += sc
            sample_loss[r0 + r] = ls / S
            sample_correct[r0 + r] = cs / S
    if _on_output(net.loss) and want_grad:
        _activation_backward(net.act[L - 1], a, _offset(<floating *> net.ws.Z[L], r0 * K), d, (r1 - r0) * S, K // S,
                             K // S)


cdef void _loss(Net *net, Py_ssize_t B, const Data *data, const int64_t *rows, Py_ssize_t first, floating scale,
                floating *sample_loss, floating *sample_correct, bint want_grad, int nt) noexcept nogil:
    """Output activation, per-sample loss and accuracy, and (``want_grad``) ``D[L]``, split by rows."""
    cdef Job job = _job(JOB_LOSS, net, <floating *> net.params, 0)
    job.n_rows = B
    job.n_chunks = _row_chunks(B, nt)
    job.data = data
    job.rows = rows
    job.first = first
    job.scale = scale
    job.out_a = sample_loss
    job.out_b = sample_correct
    job.apply = want_grad
    _run(&job, job.n_chunks, nt, B * net.width[net.n_layers] * 16)  # ~16 flops an element
