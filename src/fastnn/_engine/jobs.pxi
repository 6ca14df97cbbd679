# Included by _kernels.pyx: Jobs: the tasks of one phase of a step, run by the thread pool (_pool.pxd).

# ---------------------------------------------------------------------------------------------------------------
# Jobs: each phase of a step (a layer's forward or backward pass, the loss, the batch gather, the weight
# gradients and updates) is a set of independent tasks fixed by the shapes, run by the thread pool (_pool.pxd).
# A job kind is a row of _job_step; a task's ``slot`` only picks its thread's scratch space.
# ---------------------------------------------------------------------------------------------------------------

cdef enum:
    JOB_FORWARD = 0         # task: one of layer l's forward tasks (its kind's forward_tasks)
    JOB_BACKWARD = 1        # task: one of layer l's input-gradient tasks
    JOB_LOSS = 2            # task: a chunk of rows of the output layer's loss and gradient
    JOB_GATHER = 3          # task: a chunk of the batch's rows copied into A[0]
    JOB_GRADIENT_UPDATE = 4 # task: one weight-gradient task, then its update
    JOB_GRADIENT = 5        # task: one weight-gradient task
    JOB_UPDATE = 6          # task: one task's update


cdef struct Job:
    int kind
    Net *net
    void *params
    int l               # the layer
    const void *inp     # the layer's input (row 0), or the data X (gather)
    Py_ssize_t n_rows   # rows of the batch or block
    Py_ssize_t n_chunks # row chunks (loss, gather)
    bint activate
    const Data *data    # loss: labels/targets/weights; rows: the batch's sample indices (or NULL); first: the
    const int64_t *rows # index of row 0 in data; scale: the loss's scale
    Py_ssize_t first
    double scale
    void *out_a         # loss: per-sample losses; gather: A[0]
    void *out_b         # loss: per-sample accuracies
    bint apply          # loss: want the gradient; updates: apply them
    Step *h
    double *task_penalty


cdef inline Job _job(int kind, Net *net, const void *params, int l) noexcept nogil:
    cdef Job job
    memset(&job, 0, sizeof(Job))
    job.kind = kind
    job.net = net
    job.params = <void *> params
    job.l = l
    return job


cdef inline Py_ssize_t _row_chunks(Py_ssize_t B, int nt) noexcept nogil:
    """How many chunks of rows an elementwise pass over ``B`` rows splits into (its results do not depend on it)."""
    return min(<Py_ssize_t> nt, max(<Py_ssize_t> 1, B // MIN_ROWS_PER_THREAD))


cdef void _job_step(Job *job, Py_ssize_t t, int slot, floating *params) noexcept nogil:
    """Task ``t`` of ``job``; a layer's tasks go to the row of its kind."""
    cdef Net *net = job.net
    cdef int l = job.l
    cdef Py_ssize_t n = job.n_rows
    cdef const KindRow *row = &KINDS[net.kind[l]]
    if job.kind == JOB_FORWARD:
        if floating is float:
            row.forward_f(net, params, l, <const float *> job.inp, n, t, job.activate, slot)
        else:
            row.forward_d(net, params, l, <const double *> job.inp, n, t, job.activate, slot)
    elif job.kind == JOB_BACKWARD:
        if floating is float:
            row.backward_f(net, params, l, n, t, slot)
        else:
            row.backward_d(net, params, l, n, t, slot)
    elif job.kind == JOB_LOSS:
        _loss_rows(net, t * n // job.n_chunks, (t + 1) * n // job.n_chunks, job.data, job.rows, job.first,
                   <floating> job.scale, <floating *> job.out_a, <floating *> job.out_b, job.apply)
    elif job.kind == JOB_GATHER:
        _gather_rows(<floating *> job.out_a, <const floating *> job.inp, job.rows, t * n // job.n_chunks,
                     (t + 1) * n // job.n_chunks, net.width[0])
    elif job.kind == JOB_GRADIENT_UPDATE:
        _task_gradient(net, params, <int> t, n, slot)
        job.task_penalty[t] = _task_update(net, params, <int> t, job.h, job.apply)
    elif job.kind == JOB_GRADIENT:
        _task_gradient(net, params, <int> t, n, slot)
    elif job.kind == JOB_UPDATE:
        job.task_penalty[t] = _task_update(net, params, <int> t, job.h, job.apply)


cdef void _job_task(void *ctx, Py_ssize_t t, int slot) noexcept nogil:
    cdef Job *job = <Job *> ctx
    if job.net.is_double:
        _job_step(job, t, slot, <double *> job.params)
    else:
        _job_step(job, t, slot, <float *> job.params)


cdef void _run(Job *job, Py_ssize_t n_tasks, int nt, Py_ssize_t work) noexcept nogil:
    """Every task of ``job``: on up to ``nt`` threads, or in the calling thread when there is one task, one
    thread, or less than PARALLEL_MIN_WORK of work (the same tasks either way, so the same results)."""
    cdef Py_ssize_t t
    if nt <= 1 or n_tasks <= 1 or work < PARALLEL_MIN_WORK:
        for t in range(n_tasks):
            _job_task(job, t, 0)
    else:
        fastnn_run(_job_task, job, n_tasks, nt)
