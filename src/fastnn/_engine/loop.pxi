# Included by _kernels.pyx: The batch loop of training, and blocks of forward passes for predict and evaluate.

cdef void _gather_batch(Net *net, const floating *X, const int64_t *rows, Py_ssize_t B, Py_ssize_t offset,
                        int64_t step, int nt) noexcept nogil:
    """The rows ``X[rows[0 .. B]]`` into ``A[0]``, and the dropout keys of update ``step`` for rows at ``offset,
    offset + 1, ...`` in their batch."""
    cdef int c
    cdef Job gather = _job(JOB_GATHER, net, net.params, 0)
    gather.inp = X
    gather.out_a = net.ws.A[0]
    gather.rows = rows
    gather.n_rows = B
    gather.n_chunks = _row_chunks(B, nt)
    _run(&gather, gather.n_chunks, nt, B * net.width[0] * GATHER_WORK_FACTOR)
    for c in range(net.n_layers):
        if net.ws.Ad[c] != NULL:  # a mask element's counter is its place in the whole batch's buffer
            net.ws.drop_key[c] = _dropout_key(net.seed, step, c) + <uint64_t> offset * <uint64_t> net.width[c]


cdef double _batch_front(Net *net, const floating *X, const int64_t *rows, Py_ssize_t B, Py_ssize_t offset,
                         const Data *data, double wsum, int64_t step, int nt, floating *sample_loss,
                         floating *sample_correct, double *hits) noexcept nogil:
    """The front half of a training step on the ``B`` rows ``X[rows[0 .. B]]``: gather them, run the forward pass
    with dropout (masks keyed by the update ``step`` and each row's place ``offset + r`` in its batch) and the
    loss, whose gradient is scaled by ``1 / wsum`` (the batch's size, or the sum of its sample weights). Returns
    the sum of the rows' losses (weighted by the sample weights when there are any) and adds their accuracies to
    ``hits``."""
    cdef Py_ssize_t r
    cdef double loss_sum = 0
    cdef const floating *weights = <const floating *> data.weights
    _gather_batch(net, X, rows, B, offset, step, nt)
    _forward(net, <floating *> net.ws.A[0], B, nt, _on_output(net.loss))
    _loss(net, B, data, rows, 0, <floating> (1.0 / wsum if wsum > 0 else 0.0), sample_loss, sample_correct, True,
          nt)
    for r in range(B):
        loss_sum += sample_loss[r] if weights == NULL else sample_loss[r] * weights[rows[r]]
        hits[0] += sample_correct[r]
    return loss_sum


cdef Py_ssize_t _train_batches(Net *net, const floating *X, const int64_t *perm, Py_ssize_t n_samples,
                               Py_ssize_t batch_size, Py_ssize_t first_batch, Py_ssize_t last_batch,
                               const Data *data, Step *h, int64_t *step, int n_threads, floating *sample_loss,
                               floating *sample_correct, double *task_penalty, double *out_sums,
                               bint apply) noexcept nogil:
    """Train on batches ``first_batch .. last_batch`` of the permutation ``perm``.

    ``step`` counts the updates applied over the model's life (the schedule's and Adam's step); each applied
    update adds one. Adds to ``out_sums``: [sum of batch losses times batch sizes, sum of batch penalties times
    batch sizes, sum of per-sample accuracies, samples seen]; a batch's loss is the mean of its per-sample losses
    (its sum is added as it is), or their weighted mean ``sum(w l) / sum(w)`` with sample weights. Returns -1 when every batch ran; the index
    ``bi >= 0`` of the first batch whose loss was not finite (its update is not applied) or whose update left a
    parameter NaN or infinite (the parameters and state are then partly updated: the caller restores them),
    training stopping there; or ``-2 - bi`` when SIGINT arrived and training stopped before batch ``bi``.
    """
    cdef Py_ssize_t bi, start, B, r
    cdef int t, nt = n_threads
    cdef double batch_loss, batch_hits, batch_pen, wsum
    cdef floating *params = <floating *> net.params
    cdef const floating *weights = <const floating *> data.weights
    for bi in range(first_batch, last_batch):
        if fastnn_was_interrupted():
            return -2 - bi
        start = bi * batch_size
        B = min(batch_size, n_samples - start)
        wsum = B
        if weights != NULL:
            wsum = 0
            for r in range(B):
                wsum += weights[perm[start + r]]
        batch_hits = 0
        batch_loss = _batch_front(net, X, perm + start, B, 0, data, wsum, step[0], nt, sample_loss, sample_correct,
                                  &batch_hits)
        if weights != NULL:  # the weighted mean, counted as B samples' worth in the epoch's sums
            batch_loss = batch_loss / wsum * B if wsum > 0 else 0.0
        if not isfinite(batch_loss):
            return bi
        _backward(net, params, B, nt)
        if apply:
            _begin_step(h, step[0])
        _update_tasks(net, params, B, h, apply, nt, task_penalty, h.clipnorm if apply else 0.0)
        batch_pen = 0
        for t in range(net.n_tasks):
            batch_pen += task_penalty[t]
        if not isfinite(batch_pen):  # the update made a parameter NaN or infinite (or the penalty overflowed)
            return bi
        if apply:
            step[0] += 1
        out_sums[0] += batch_loss
        out_sums[1] += batch_pen * B
        out_sums[2] += batch_hits
        out_sums[3] += B
    return -1


cdef void _forward_block(Net *net, const floating *X, Py_ssize_t first, Py_ssize_t n_rows, int n_threads,
                         const Data *data, floating *sample_loss, floating *sample_correct) noexcept nogil:
    """Forward pass of rows ``first .. first + n_rows`` of ``X`` (at most ``cap`` rows), and their losses when
    ``data`` is not NULL."""
    _forward(net, X + first * net.width[0], n_rows, n_threads, data == NULL or _on_output(net.loss))
    if data != NULL:
        _loss(net, n_rows, data, NULL, first, <floating> 1.0, sample_loss, sample_correct, False, n_threads)


cdef Data _data(const int32_t[::1] labels, const floating[:, ::1] targets, const floating[::1] weights):
    """Pointers to one call's labels, targets and weights (NULL where None)."""
    cdef Data data
    data.labels = &labels[0] if labels is not None and labels.shape[0] else NULL
    data.targets = &targets[0, 0] if targets is not None and targets.shape[0] else NULL
    data.weights = &weights[0] if weights is not None and weights.shape[0] else NULL
    return data


cdef Py_ssize_t _engine_train(Net *net, const floating[:, ::1] X, const int64_t[::1] perm,
                              const int32_t[::1] labels, const floating[:, ::1] targets,
                              const floating[::1] weights, floating[::1] sl, floating[::1] sc, double[::1] tp,
                              Py_ssize_t batch_size, Py_ssize_t first_batch, Py_ssize_t last_batch, Step *h,
                              int64_t *step, int n_threads, double *sums, bint apply):
    """Typed entry of ``Engine.train``: unpack the buffers and run ``_train_batches`` without the GIL."""
    cdef Data data = _data(labels, targets, weights)
    cdef Py_ssize_t result
    net.ws.single_row = batch_size == 1 or X.shape[0] == 1
    net.ws.training = True
    net.ws.update_buffers = apply
    with nogil:
        result = _train_batches(net, &X[0, 0], &perm[0], X.shape[0], batch_size, first_batch, last_batch, &data,
                                h, step, n_threads, &sl[0], &sc[0], &tp[0], sums, apply)
    return result


cdef void _engine_gradient(Net *net, const floating[:, ::1] X, const int64_t[::1] rows, const int32_t[::1] labels,
                           const floating[:, ::1] targets, const floating[::1] weights, floating[::1] sl,
                           floating[::1] sc, Py_ssize_t offset, double wsum, int64_t step, int n_threads,
                           double *sums):
    """Typed entry of ``Engine.gradient``: one part of a batch, front half, backward pass and weight gradients,
    without the GIL."""
    cdef Data data = _data(labels, targets, weights)
    cdef Py_ssize_t B = rows.shape[0]
    net.ws.single_row = B == 1
    net.ws.training = True
    net.ws.update_buffers = False
    with nogil:
        sums[0] += _batch_front(net, &X[0, 0], &rows[0], B, offset, &data, wsum, step, n_threads, &sl[0], &sc[0],
                                &sums[1])
        sums[2] += B
        _backward(net, <floating *> net.params, B, n_threads)
        _gradient_tasks(net, <floating *> net.params, B, n_threads)


cdef void _engine_block_pass(Net *net, const floating[:, ::1] X, const int64_t[::1] rows,
                             const int32_t[::1] labels, const floating[:, ::1] targets, const floating[::1] weights,
                             floating[::1] sl, floating[::1] sc, Py_ssize_t offset, double wsum, int64_t step,
                             int n_threads, double *sums, bint whole, bint gradients):
    """Typed entry of ``Engine.block_pass``: the forward pass (to its stop), and when it ran ``whole`` the loss
    and the backward pass (to its stop), then (``gradients``: the last pass, which also moves the running
    statistics) the weight gradients, without the GIL."""
    cdef Data data = _data(labels, targets, weights)
    cdef Py_ssize_t B = rows.shape[0]
    net.ws.single_row = B == 1
    net.ws.training = True
    net.ws.update_buffers = gradients
    with nogil:
        if whole:
            sums[0] += _batch_front(net, &X[0, 0], &rows[0], B, offset, &data, wsum, step, n_threads, &sl[0],
                                    &sc[0], &sums[1])
            sums[2] += B
            _backward(net, <floating *> net.params, B, n_threads)
            if gradients:
                _gradient_tasks(net, <floating *> net.params, B, n_threads)
        else:
            _gather_batch(net, &X[0, 0], &rows[0], B, offset, step, n_threads)
            _forward(net, <floating *> net.ws.A[0], B, n_threads, _on_output(net.loss))


cdef void _engine_train_forward(Net *net, const floating[:, ::1] X, floating[:, ::1] out, int64_t step,
                                int n_threads):
    """Typed entry of ``Engine.train_forward``: the rows copied into the batch buffer, the dropout keys of update
    ``step``, a training forward pass without updating the non-trained state, its output copied out."""
    cdef Py_ssize_t n = X.shape[0]
    cdef int c
    cdef floating *A0 = <floating *> net.ws.A[0]
    net.ws.single_row = n == 1
    net.ws.training = True
    net.ws.update_buffers = False
    with nogil:
        memcpy(A0, &X[0, 0], n * net.width[0] * sizeof(floating))
        for c in range(net.n_layers):
            if net.ws.Ad[c] != NULL:
                net.ws.drop_key[c] = _dropout_key(net.seed, step, c)
        _forward(net, A0, n, n_threads, _on_output(net.loss))
        memcpy(&out[0, 0], net.ws.A[net.n_layers], n * net.width[net.n_layers] * sizeof(floating))


cdef void _engine_forward(Net *net, const floating[:, ::1] X, floating[:, ::1] out, const int32_t[::1] labels,
                          const floating[:, ::1] targets, const floating[::1] weights, floating[::1] sl,
                          floating[::1] sc, int n_threads, Py_ssize_t block, double *sums):
    """Typed entry of ``Engine.forward`` / ``evaluate``: blocks of ``block`` rows (at most ``cap``; the last
    block may be smaller), without the GIL. With
    ``sums`` NULL the outputs go to ``out``; otherwise [sum of (weighted) per-sample losses, sum of accuracies,
    sum of weights] are added to ``sums``."""
    cdef Py_ssize_t first, r, m, n = X.shape[0], K = net.width[net.n_layers]
    cdef bint with_loss = sums != NULL
    cdef const floating *A_out = <floating *> net.ws.A[net.n_layers]
    cdef Data data = _data(labels, targets, weights)
    cdef const floating *w = <const floating *> data.weights
    net.ws.single_row = block == 1 or n == 1
    net.ws.training = False
    net.ws.update_buffers = False
    with nogil:
        first = 0
        while first < n:
            m = min(block, n - first)
            _forward_block(net, &X[0, 0], first, m, n_threads, &data if with_loss else NULL, &sl[0], &sc[0])
            if with_loss:
                for r in range(m):
                    sums[0] += sl[r] if w == NULL else sl[r] * w[first + r]
                    sums[1] += sc[r]
                    sums[2] += 1 if w == NULL else w[first + r]
            else:
                memcpy(&out[first, 0], A_out, m * K * sizeof(floating))
            first += m
