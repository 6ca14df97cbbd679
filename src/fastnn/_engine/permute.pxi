# Included by _kernels.pyx: The PERMUTE kind: each row's values, read as an ``h x w`` matrix, transposed to ``w x h``
# (Geom ``h``, ``w``); its row of KINDS. The model puts one where channels-last images meet the engine's NCHW
# layout: ``(H*W) x C`` to ``C x (H*W)`` on the way in, ``C x (H*W)`` to ``(H*W) x C`` before a Flatten (Keras's
# ``(h, w, c)`` order) or at the output. No parameters; tasks by row tiles as the Activation kind's; the
# activation it applies is identity, or the activation of the layer before it moved past it (an elementwise
# function commutes with a permutation).

cdef inline void _transpose(const floating *src, int h, int w, floating *dst) noexcept nogil:
    """``dst`` (``w x h``) = the transpose of ``src`` (``h x w``), both row-major."""
    cdef int i, j
    for j in range(w):
        for i in range(h):
            dst[<Py_ssize_t> j * h + i] = src[<Py_ssize_t> i * w + j]


cdef void _permute_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows,
                           Py_ssize_t t, bint activate, int slot) noexcept nogil:
    """Rows of tile ``t``: transposed, then (``activate``) the activation and the next layer's dropout."""
    cdef const Geom *g = &net.geom[l]
    cdef int n = net.width[l]
    cdef Py_ssize_t r0, r1, r
    cdef floating *out = <floating *> net.ws.A[l + 1]
    _act_rows(net, l, n_rows, t, &r0, &r1)
    for r in range(r0, r1):
        _transpose(inp + r * n, g.h, g.w, out + r * n)
    if activate:
        _activate_rows(net, l, out, r0, r1)


cdef void _permute_backward(Net *net, const floating *params, int l, Py_ssize_t n_rows, Py_ssize_t t,
                            int slot) noexcept nogil:
    """Rows of tile ``t`` of ``D[l]``: ``D[l + 1]`` transposed back (``w x h`` to ``h x w``), then the dropout
    mask and layer ``l - 1``'s activation."""
    cdef const Geom *g = &net.geom[l]
    cdef int n = net.width[l]
    cdef Py_ssize_t r0, r1, r
    _act_rows(net, l, n_rows, t, &r0, &r1)
    for r in range(r0, r1):
        _transpose((<floating *> net.ws.D[l + 1]) + r * n, g.w, g.h, (<floating *> net.ws.D[l]) + r * n)
    _input_gradient_rows(net, l, <floating *> net.ws.D[l], r0, r1)


cdef const char *_permute_fits(const Geom *g, int n_in, int n_out) noexcept nogil:
    if g.h < 1 or g.w < 1 or n_in != n_out or <Py_ssize_t> g.h * g.w != n_in:
        return b"a permutation keeps its input's width, h x w values"
    return NULL


KINDS[PERMUTE].name = b"permute"
KINDS[PERMUTE].check = _permute_fits
KINDS[PERMUTE].n_weights = _no_values
KINDS[PERMUTE].n_bias = _no_values
KINDS[PERMUTE].n_buffers = _no_values
KINDS[PERMUTE].workspace = _no_values
KINDS[PERMUTE].row_work = _act_row_work
KINDS[PERMUTE].cache = _no_values
KINDS[PERMUTE].fixed = _no_values
KINDS[PERMUTE].kept = _no_values
KINDS[PERMUTE].forward_tasks = _act_tasks
KINDS[PERMUTE].backward_tasks = _act_tasks
KINDS[PERMUTE].task_work = _act_task_work
KINDS[PERMUTE].pass_work = _act_pass_work
KINDS[PERMUTE].forward_f = _permute_forward[float]
KINDS[PERMUTE].forward_d = _permute_forward[double]
KINDS[PERMUTE].backward_f = _permute_backward[float]
KINDS[PERMUTE].backward_d = _permute_backward[double]
KINDS[PERMUTE].gradient_tasks = _no_gradient_tasks
KINDS[PERMUTE].splits_columns = False
KINDS[PERMUTE].backward_first = False
