# Included by _kernels.pyx: The pooling kinds (MAXPOOL2D, AVGPOOL2D): one image at a time in groups; no parameters;
# their rows of KINDS.

cdef void _maxpool_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows,
                           Py_ssize_t t, bint activate, int slot) noexcept nogil:
    """Group ``t`` of max-pooling layer ``l``'s output, keeping each window's arg-max for the backward pass."""
    cdef const Geom *g = &net.geom[l]
    cdef int w_in = net.width[l], w_out = net.width[l + 1]
    cdef Py_ssize_t r0, r1, r
    _image_rows(n_rows, t, &r0, &r1)
    for r in range(r0, r1):
        max_pool(inp + r * w_in, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ho, g.wo,
                 (<floating *> net.ws.A[l + 1]) + r * w_out, net.ws.arg[l + 1] + r * w_out)
    if activate:
        _dropout_rows(net, l, r0, r1)


cdef void _maxpool_backward(Net *net, const floating *params, int l, Py_ssize_t n_rows, Py_ssize_t t,
                            int slot) noexcept nogil:
    cdef int w_in = net.width[l], w_out = net.width[l + 1]
    cdef Py_ssize_t r0, r1, r
    _image_rows(n_rows, t, &r0, &r1)
    for r in range(r0, r1):
        max_pool_backward((<floating *> net.ws.D[l + 1]) + r * w_out, net.ws.arg[l + 1] + r * w_out, w_out, w_in,
                          (<floating *> net.ws.D[l]) + r * w_in)
    _input_gradient_rows(net, l, <floating *> net.ws.D[l], r0, r1)


cdef void _avgpool_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows,
                           Py_ssize_t t, bint activate, int slot) noexcept nogil:
    cdef const Geom *g = &net.geom[l]
    cdef int w_in = net.width[l], w_out = net.width[l + 1]
    cdef Py_ssize_t r0, r1, r
    _image_rows(n_rows, t, &r0, &r1)
    for r in range(r0, r1):
        avg_pool(inp + r * w_in, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ho, g.wo,
                 (<floating *> net.ws.A[l + 1]) + r * w_out)
    if activate:
        _dropout_rows(net, l, r0, r1)


cdef void _avgpool_backward(Net *net, const floating *params, int l, Py_ssize_t n_rows, Py_ssize_t t,
                            int slot) noexcept nogil:
    cdef const Geom *g = &net.geom[l]
    cdef int w_in = net.width[l], w_out = net.width[l + 1]
    cdef Py_ssize_t r0, r1, r
    _image_rows(n_rows, t, &r0, &r1)
    for r in range(r0, r1):
        avg_pool_backward((<floating *> net.ws.D[l + 1]) + r * w_out, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ho,
                          g.wo, (<floating *> net.ws.D[l]) + r * w_in)
    _input_gradient_rows(net, l, <floating *> net.ws.D[l], r0, r1)


cdef const char *_pool_fits(const Geom *g, int n_in, int n_out) noexcept nogil:
    """A pooling layer keeps its channels, has no padding, and its windows lie inside the input."""
    cdef const char *wrong = _image_fits(g, n_in, n_out)
    if wrong != NULL:
        return wrong
    if g.co != g.c or g.ph or g.pw or (g.ho - 1) * g.sh + g.kh > g.h or (g.wo - 1) * g.sw + g.kw > g.w:
        return b"the pooling windows do not fit the input"
    return NULL


cdef Py_ssize_t _pool_row_work(const Geom *g, int n_in, int n_out) noexcept nogil:
    """Values read per image."""
    return <Py_ssize_t> g.co * g.ho * g.wo * g.kh * g.kw


cdef int _no_gradient_tasks(const Geom *g, int n_in, int n_out, int split, GradTask *out) noexcept nogil:
    return 0


cdef void _fill_pool_row(KindRow *row, const char *name) noexcept:
    row.name = name
    row.check = _pool_fits
    row.n_weights = _no_values
    row.n_bias = _no_values
    row.n_buffers = _no_values
    row.workspace = _no_values
    row.row_work = _pool_row_work
    row.kept = _no_values
    row.cache = _no_values
    row.fixed = _no_values
    row.backward_first = False
    row.pass_work = _image_pass_work
    row.forward_tasks = _image_tasks
    row.backward_tasks = _image_tasks
    row.task_work = _image_task_work
    row.gradient_tasks = _no_gradient_tasks
    row.splits_columns = False


_fill_pool_row(&KINDS[MAXPOOL2D], b"maxpool2d")
KINDS[MAXPOOL2D].forward_f = _maxpool_forward[float]
KINDS[MAXPOOL2D].forward_d = _maxpool_forward[double]
KINDS[MAXPOOL2D].backward_f = _maxpool_backward[float]
KINDS[MAXPOOL2D].backward_d = _maxpool_backward[double]
_fill_pool_row(&KINDS[AVGPOOL2D], b"avgpool2d")
KINDS[AVGPOOL2D].forward_f = _avgpool_forward[float]
KINDS[AVGPOOL2D].forward_d = _avgpool_forward[double]
KINDS[AVGPOOL2D].backward_f = _avgpool_backward[float]
KINDS[AVGPOOL2D].backward_d = _avgpool_backward[double]
