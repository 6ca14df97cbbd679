# Included by _kernels.pyx: The walk over the layer table: forward, backward, the batch gather and the loss of a batch.

cdef void _images_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows, int nt,
                          bint activate) noexcept nogil:
    """Image layer ``l`` on ``n_rows`` rows, in groups of IMAGE_GROUP images (the last may be smaller)."""
    cdef Job job = _job(JOB_IMAGES_FORWARD, net, params, l)
    job.inp = inp
    job.n_rows = n_rows
    job.activate = activate
    _run(&job, _groups(n_rows), nt, n_rows * _image_work(net, l))


cdef void _images_backward(Net *net, const floating *params, int l, Py_ssize_t n_rows, int nt) noexcept nogil:
    cdef Job job = _job(JOB_IMAGES_BACKWARD, net, params, l)
    job.n_rows = n_rows
    _run(&job, _groups(n_rows), nt, n_rows * _image_work(net, l))


cdef inline Py_ssize_t _product_work(Net *net, Py_ssize_t n_rows, int l) noexcept nogil:
    """The work of dense layer ``l``'s product over ``n_rows`` rows, as PARALLEL_MIN_WORK counts it."""
    return n_rows * net.width[l] * net.width[l + 1] * (MATVEC_WORK_FACTOR if net.single_row else 1)


cdef void _forward(Net *net, const floating *x, Py_ssize_t n_rows, int nt, bint last_activation) noexcept nogil:
    """Forward pass of ``n_rows`` rows starting at ``x`` (rows ``width[0]`` apart) into ``A[1..L]``, in tiles
    of (row tile, column block) fixed by the shapes and the machine (not by ``nt``)."""
    cdef const floating *params = <floating *> net.params
    cdef const floating *inp = x
    cdef int l, nb, L = net.n_layers
    cdef Py_ssize_t rt = _row_tiles(net, n_rows)
    cdef bint activate
    cdef Job job
    if net.training and net.Ad[0] != NULL:  # dropout on the inputs (A[0] holds the gathered batch)
        _dropout_columns(net, 0, 0, n_rows, 0, net.width[0])
        inp = <floating *> net.Ad[0]
    for l in range(L):
        nb = net.blocks[l + 1]
        activate = l < L - 1 or last_activation
        if net.kind[l] != DENSE:
            _images_forward(net, params, l, inp, n_rows, nt, activate)
            inp = <floating *> _layer_input(net, l + 1)
            continue
        job = _job(JOB_DENSE_FORWARD, net, params, l)
        job.inp = inp
        job.n_rows = n_rows
        job.rt = rt
        job.activate = activate
        _run(&job, nb * rt, nt, _product_work(net, n_rows, l))
        if activate and net.act[l] == SOFTMAX:
            _activation_forward(SOFTMAX, <floating *> net.A[l + 1], n_rows, net.width[l + 1], net.width[l + 1])
            if net.training and net.Ad[l + 1] != NULL:
                _dropout_columns(net, l + 1, 0, n_rows, 0, net.width[l + 1])
        inp = <floating *> _layer_input(net, l + 1)


cdef void _backward(Net *net, const floating *params, Py_ssize_t n_rows, int nt) noexcept nogil:
    """Propagate ``D[L]`` back to ``D[1]`` (the input gradient ``D[0]`` is never needed), in the same kind of
    tiles as the forward pass."""
    cdef int l, nb
    cdef Py_ssize_t rt = _row_tiles(net, n_rows)
    cdef Job job
    for l in range(net.n_layers - 1, 0, -1):
        nb = net.blocks[l]
        if net.kind[l] != DENSE:
            _images_backward(net, params, l, n_rows, nt)
            continue
        job = _job(JOB_DENSE_BACKWARD, net, params, l)
        job.n_rows = n_rows
        job.rt = rt
        _run(&job, nb * rt, nt, _product_work(net, n_rows, l))
        if net.act[l - 1] == SOFTMAX:
            _activation_backward(SOFTMAX, <floating *> net.A[l], NULL, <floating *> net.D[l], n_rows, net.width[l],
                                 net.width[l])


cdef void _gather_rows(floating *dst, const floating *X, const int64_t *rows, Py_ssize_t r0, Py_ssize_t r1,
                       Py_ssize_t n_in) noexcept nogil:
    cdef Py_ssize_t r
    for r in range(r0, r1):
        memcpy(dst + r * n_in, X + rows[r] * n_in, n_in * sizeof(floating))


cdef void _loss_rows(Net *net, Py_ssize_t r0, Py_ssize_t r1, const Data *data, const int64_t *rows,
                     Py_ssize_t first, floating scale, floating *sample_loss, floating *sample_correct,
                     bint want_grad) noexcept nogil:
    cdef int L = net.n_layers, K = net.width[L]
    cdef floating *a = (<floating *> net.A[L]) + r0 * K
    cdef floating *d = (<floating *> net.D[L]) + r0 * K
    _output_rows(net.loss, net.act[L - 1], a, d, r1 - r0, K, data, rows + r0 if rows != NULL else NULL,
                 first + r0, scale, net.loss_param, sample_loss + r0, sample_correct + r0, want_grad)
    if _on_output(net.loss) and want_grad:
        _activation_backward(net.act[L - 1], a, _offset(<floating *> net.Z[L], r0 * K), d, r1 - r0, K, K)


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
