# Included by _kernels.pyx: The ACTIVATION kind (Keras's ``Activation`` layer): the input copied through the layer's
# activation; its row of KINDS. The simplest kind: no parameters, tasks by row tiles as a dense layer's.

cdef Py_ssize_t _act_tasks(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    return _row_chunks(n_rows, 2 * net.cores)


cdef inline void _act_rows(Net *net, int l, Py_ssize_t n_rows, Py_ssize_t t, Py_ssize_t *r0,
                           Py_ssize_t *r1) noexcept nogil:
    cdef Py_ssize_t n = _act_tasks(net, l, n_rows)
    r0[0] = t * n_rows // n
    r1[0] = (t + 1) * n_rows // n


cdef void _act_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows,
                       Py_ssize_t t, bint activate, int slot) noexcept nogil:
    """Rows of tile ``t``: copied, then (``activate``) the activation and the next layer's dropout."""
    cdef int w = net.width[l]
    cdef Py_ssize_t r0, r1
    _act_rows(net, l, n_rows, t, &r0, &r1)
    memcpy((<floating *> net.ws.A[l + 1]) + r0 * w, inp + r0 * w, (r1 - r0) * w * sizeof(floating))
    if activate:
        _activate_rows(net, l, <floating *> net.ws.A[l + 1], r0, r1)


cdef void _activate_rows(Net *net, int l, floating *A, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Rows ``r0 .. r1`` of ``A`` (``A[l + 1]``, the output of a layer of its input's width) through the layer's
    activation (kept before it in ``Z[l + 1]`` where the derivative needs it), then the next layer's dropout."""
    cdef int w = net.width[l]
    cdef floating *out = A + r0 * w
    if net.ws.Z[l + 1] != NULL:
        memcpy((<floating *> net.ws.Z[l + 1]) + r0 * w, out, (r1 - r0) * w * sizeof(floating))
    _activation_forward(net.act[l], out, r1 - r0, w, w)
    _dropout_rows(net, l, r0, r1)


cdef void _act_backward(Net *net, const floating *params, int l, Py_ssize_t n_rows, Py_ssize_t t,
                        int slot) noexcept nogil:
    """Rows of tile ``t`` of ``D[l]``: ``D[l + 1]`` (which holds the activation's derivative already), then the
    dropout mask and layer ``l - 1``'s activation."""
    cdef int w = net.width[l]
    cdef Py_ssize_t r0, r1
    _act_rows(net, l, n_rows, t, &r0, &r1)
    memcpy((<floating *> net.ws.D[l]) + r0 * w, (<floating *> net.ws.D[l + 1]) + r0 * w,
           (r1 - r0) * w * sizeof(floating))
    _input_gradient_rows(net, l, <floating *> net.ws.D[l], r0, r1)


cdef Py_ssize_t _act_task_work(Net *net, int l, Py_ssize_t n_rows, Py_ssize_t t, bint backward) noexcept nogil:
    cdef Py_ssize_t r0, r1
    _act_rows(net, l, n_rows, t, &r0, &r1)
    return (r1 - r0) * net.width[l]


cdef Py_ssize_t _act_pass_work(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    return n_rows * net.width[l] * 4


cdef const char *_act_fits(const Geom *g, int n_in, int n_out) noexcept nogil:
    if n_in != n_out:
        return b"an activation keeps its input's width"
    return NULL


cdef Py_ssize_t _act_row_work(const Geom *g, int n_in, int n_out) noexcept nogil:
    return n_in


KINDS[ACTIVATION].name = b"activation"
KINDS[ACTIVATION].check = _act_fits
KINDS[ACTIVATION].n_weights = _no_values
KINDS[ACTIVATION].n_bias = _no_values
KINDS[ACTIVATION].n_buffers = _no_values
KINDS[ACTIVATION].workspace = _no_values
KINDS[ACTIVATION].row_work = _act_row_work
KINDS[ACTIVATION].cache = _no_values
KINDS[ACTIVATION].fixed = _no_values
KINDS[ACTIVATION].kept = _no_values
KINDS[ACTIVATION].forward_tasks = _act_tasks
KINDS[ACTIVATION].backward_tasks = _act_tasks
KINDS[ACTIVATION].task_work = _act_task_work
KINDS[ACTIVATION].pass_work = _act_pass_work
KINDS[ACTIVATION].forward_f = _act_forward[float]
KINDS[ACTIVATION].forward_d = _act_forward[double]
KINDS[ACTIVATION].backward_f = _act_backward[float]
KINDS[ACTIVATION].backward_d = _act_backward[double]
KINDS[ACTIVATION].gradient_tasks = _no_gradient_tasks
KINDS[ACTIVATION].splits_columns = False
KINDS[ACTIVATION].backward_first = False
