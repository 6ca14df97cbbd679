# Included by _kernels.pyx: What the kinds with a spatial layout share (Conv2D, pooling): per-thread scratch, groups of
# images as tasks, and the per-row work after a group's output or input gradient.

# ---------------------------------------------------------------------------------------------------------------
# Image layers work on one image (batch row, C x H x W values) at a time, in tasks of IMAGE_GROUP images fixed by
# the batch's shape, each by the same calls whatever the thread that runs it, so results do not depend on the
# number of threads. The kernels on one image live in _conv.pxd.
# ---------------------------------------------------------------------------------------------------------------

cdef inline void *_slot(Net *net, int slot) noexcept nogil:
    """Thread ``slot``'s workspace (``net.slot_size`` values of the engine's dtype)."""
    return (<char *> net.ws.scratch) + <Py_ssize_t> slot * net.slot_size * (8 if net.is_double else 4)


cdef inline Py_ssize_t _groups(Py_ssize_t n_rows) noexcept nogil:
    return (n_rows + IMAGE_GROUP - 1) // IMAGE_GROUP


cdef Py_ssize_t _image_tasks(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    """Groups of IMAGE_GROUP images (the last may be smaller)."""
    return _groups(n_rows)


cdef void _image_rows(Py_ssize_t n_rows, Py_ssize_t t, Py_ssize_t *r0, Py_ssize_t *r1) noexcept nogil:
    """The rows of group ``t``."""
    r0[0] = t * IMAGE_GROUP
    r1[0] = min((t + 1) * IMAGE_GROUP, n_rows)


cdef Py_ssize_t _image_task_work(Net *net, int l, Py_ssize_t n_rows, Py_ssize_t t, bint backward) noexcept nogil:
    cdef Py_ssize_t r0, r1
    _image_rows(n_rows, t, &r0, &r1)
    return (r1 - r0) * KINDS[net.kind[l]].row_work(&net.geom[l], net.width[l], net.width[l + 1])


cdef Py_ssize_t _image_pass_work(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    return n_rows * KINDS[net.kind[l]].row_work(&net.geom[l], net.width[l], net.width[l + 1])


cdef void _dropout_rows(Net *net, int l, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Dropout on rows ``r0 .. r1`` of layer ``l``'s output while training (when the next layer has any)."""
    cdef Py_ssize_t r
    if net.ws.training and net.ws.Ad[l + 1] != NULL:
        for r in range(r0, r1):
            _dropout_columns(net, l + 1, r, r + 1, 0, net.width[l + 1], net.width[l + 1])


cdef void _input_gradient_rows(Net *net, int l, floating *D, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Rows ``r0 .. r1`` of ``D`` (``D[l]``), which hold the gradient of layer ``l``'s input: through the dropout
    mask and the derivative of layer ``l - 1``'s activation, row by row."""
    cdef int w_in = net.width[l]
    cdef Py_ssize_t r, at
    cdef floating *d
    for r in range(r0, r1):
        at = r * w_in
        d = D + at
        if net.ws.Ad[l] != NULL:
            _mask_columns(d, net.ws.mask[l] + at, 1, w_in, w_in, <floating> (1.0 / (1.0 - net.drop[l])))
        _activation_backward(net.act[l - 1], (<floating *> net.ws.A[l]) + at, _offset(<floating *> net.ws.Z[l], at),
                             d, 1, w_in, w_in)


cdef const char *_image_fits(const Geom *g, int n_in, int n_out) noexcept nogil:
    """What is wrong with an image layer's shapes, or NULL."""
    if min(g.c, g.h, g.w, g.co, g.ho, g.wo, g.kh, g.kw, g.sh, g.sw) < 1 or min(g.ph, g.pw) < 0:
        return b"sizes must be positive"
    if <Py_ssize_t> g.c * g.h * g.w != n_in or <Py_ssize_t> g.co * g.ho * g.wo != n_out:
        return b"shapes do not match the widths"
    return NULL
