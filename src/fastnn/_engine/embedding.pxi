# Included by _kernels.pyx: The EMBEDDING kind: rows of ``steps`` integer indices (held as values of the engine's
# dtype, checked in Python) to their vectors; weight gradients as sums in row and step order; its row of KINDS.

cdef void _embedding_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows,
                             Py_ssize_t t_task, bint activate, int slot) noexcept nogil:
    """Tile ``t_task`` (as a recurrent layer's): each step's index to its row of the weight ``(feats, hidden)``."""
    cdef const Geom *g = &net.geom[l]
    cdef int T = g.steps, E = g.hidden, t
    cdef Py_ssize_t r0, r1, r
    _rnn_tile(net, n_rows, t_task, &r0, &r1)
    cdef const floating *W = params + net.w_off[l]
    cdef floating *out = <floating *> net.ws.A[l + 1]
    for r in range(r0, r1):
        for t in range(T):
            memcpy(out + (r * T + t) * E, W + <Py_ssize_t> inp[r * T + t] * E, E * sizeof(floating))
    if activate:
        _dropout_rows(net, l, r0, r1)


cdef void _embedding_backward(Net *net, const floating *params, int l, Py_ssize_t n_rows, Py_ssize_t t,
                              int slot) noexcept nogil:
    """Never called: an embedding is a first layer (its input, integer indices, has no gradient)."""
    pass


cdef void _embedding_gradient(Net *net, floating *params, const GradTask *task, Py_ssize_t B,
                              int slot) noexcept nogil:
    """Columns i0..i1 of the weight's gradient: zero, then each row and step's output gradient added to the row
    of its index, in row and step order (the same sums whatever the threads)."""
    cdef int l = task.layer, i0 = task.i0, i1 = task.i1, T = net.geom[l].steps, E = net.geom[l].hidden, t, i
    cdef Py_ssize_t r, j, n = net.geom[l].feats
    cdef floating *gw = (<floating *> net.ws.grads) + net.w_off[l]
    cdef const floating *dy = <floating *> net.ws.D[l + 1]
    cdef const floating *idx = <floating *> _layer_input(net, l)
    cdef floating *dst
    cdef const floating *src
    for j in range(n):
        memset(gw + j * E + i0, 0, (i1 - i0) * sizeof(floating))
    for r in range(B):
        for t in range(T):
            dst = gw + <Py_ssize_t> idx[r * T + t] * E
            src = dy + (r * T + t) * E
            for i in range(i0, i1):
                dst[i] += src[i]


cdef int _embedding_gradient_tasks(const Geom *g, int n_in, int n_out, int split, GradTask *out) noexcept nogil:
    """Blocks of the vectors' columns, every row."""
    cdef int nb = _column_blocks(g.hidden), k
    if out != NULL:
        for k in range(nb):
            out[k].j0 = 0
            out[k].j1 = g.feats
            out[k].i0 = k * g.hidden // nb
            out[k].i1 = (k + 1) * g.hidden // nb
            out[k].ld = g.hidden
            out[k].b0 = out[k].b1 = 0
            out[k].work = <Py_ssize_t> g.steps * (out[k].i1 - out[k].i0)
    return nb


cdef const char *_embedding_fits(const Geom *g, int n_in, int n_out) noexcept nogil:
    if min(g.steps, g.feats, g.hidden) < 1:
        return b"sizes must be positive"
    if g.steps != n_in or <Py_ssize_t> g.steps * g.hidden != n_out:
        return b"shapes do not match the widths"
    return NULL


cdef Py_ssize_t _embedding_weights(const Geom *g, int n_in, int n_out) noexcept nogil:
    return <Py_ssize_t> g.feats * g.hidden


cdef Py_ssize_t _embedding_row_work(const Geom *g, int n_in, int n_out) noexcept nogil:
    """Values copied per row."""
    return <Py_ssize_t> g.steps * g.hidden


KINDS[EMBEDDING].name = b"embedding"
KINDS[EMBEDDING].check = _embedding_fits
KINDS[EMBEDDING].n_weights = _embedding_weights
KINDS[EMBEDDING].n_bias = _no_values
KINDS[EMBEDDING].n_buffers = _no_values
KINDS[EMBEDDING].workspace = _no_values
KINDS[EMBEDDING].row_work = _embedding_row_work
KINDS[EMBEDDING].cache = _no_values
KINDS[EMBEDDING].fixed = _no_values
KINDS[EMBEDDING].kept = _no_values
KINDS[EMBEDDING].forward_tasks = _recurrent_tasks
KINDS[EMBEDDING].backward_tasks = _recurrent_tasks
KINDS[EMBEDDING].task_work = _recurrent_task_work
KINDS[EMBEDDING].pass_work = _recurrent_pass_work
KINDS[EMBEDDING].forward_f = _embedding_forward[float]
KINDS[EMBEDDING].forward_d = _embedding_forward[double]
KINDS[EMBEDDING].backward_f = _embedding_backward[float]
KINDS[EMBEDDING].backward_d = _embedding_backward[double]
KINDS[EMBEDDING].gradient_tasks = _embedding_gradient_tasks
KINDS[EMBEDDING].gradient_f = _embedding_gradient[float]
KINDS[EMBEDDING].gradient_d = _embedding_gradient[double]
KINDS[EMBEDDING].splits_columns = False
KINDS[EMBEDDING].backward_first = False
