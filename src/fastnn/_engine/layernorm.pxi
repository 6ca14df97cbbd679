# Included by _kernels.pyx: The LAYERNORM kind (PyTorch's LayerNorm over the last dimensions): per-row statistics,
# tasks by row tiles as the ACTIVATION kind's; weight gradients by blocks of features; its row of KINDS.

# ---------------------------------------------------------------------------------------------------------------
# A row holds ``steps`` groups of ``c`` values (one group: a sample after a dense layer; one per step after a
# recurrent layer with return_sequences). Each group is normalised by its own mean and (biased) variance, ``y =
# gamma (x - mean) / sqrt(var + eps) + beta`` (``affine`` 1: the pairs ``(gamma_j, beta_j)`` of each of the c
# features, never decayed; 0: no parameters). Nothing is reduced across rows, so a batch of one row is fine and
# the split into tiles never changes a result; the forward pass keeps each group's mean and 1 / sqrt(var + eps)
# (Workspace.cache) for the backward pass and the weight gradients, whose sums run over rows in order.
# ---------------------------------------------------------------------------------------------------------------

cdef void _ln_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows,
                      Py_ssize_t t, bint activate, int slot) noexcept nogil:
    """Rows of tile ``t``: each group normalised (its statistics kept), scaled and shifted, then the layer's
    activation and the next layer's dropout."""
    cdef const Geom *g = &net.geom[l]
    cdef int w = net.width[l], F = g.c, S = g.steps, s, j
    cdef Py_ssize_t r0, r1, r
    cdef const floating *ab = params + net.b_off[l]
    cdef floating *cache = <floating *> net.ws.cache[l]
    cdef const floating *x
    cdef floating *y
    cdef double mean, var, inv, v
    _act_rows(net, l, n_rows, t, &r0, &r1)
    for r in range(r0, r1):
        for s in range(S):
            x = inp + r * w + <Py_ssize_t> s * F
            y = (<floating *> net.ws.A[l + 1]) + r * w + <Py_ssize_t> s * F
            mean = 0
            for j in range(F):
                mean += x[j]
            mean /= F
            var = 0
            for j in range(F):
                v = x[j] - mean
                var += v * v
            inv = 1.0 / sqrt(var / F + g.eps)
            cache[(r * S + s) * 2] = <floating> mean
            cache[(r * S + s) * 2 + 1] = <floating> inv
            if g.affine:
                for j in range(F):
                    y[j] = <floating> ((x[j] - mean) * inv * ab[2 * j] + ab[2 * j + 1])
            else:
                for j in range(F):
                    y[j] = <floating> ((x[j] - mean) * inv)
    if activate:
        if net.ws.Z[l + 1] != NULL:
            memcpy((<floating *> net.ws.Z[l + 1]) + r0 * w, (<floating *> net.ws.A[l + 1]) + r0 * w,
                   (r1 - r0) * w * sizeof(floating))
        _activation_forward(net.act[l], (<floating *> net.ws.A[l + 1]) + r0 * w, r1 - r0, w, w)
        _dropout_rows(net, l, r0, r1)


cdef void _ln_backward(Net *net, const floating *params, int l, Py_ssize_t n_rows, Py_ssize_t t,
                       int slot) noexcept nogil:
    """Rows of tile ``t`` of ``D[l]``: per group, with ``g = gamma dy`` and ``xhat = (x - mean) inv``,
    ``dx = inv (g - mean(g) - xhat mean(g xhat))``; then the dropout mask and layer ``l - 1``'s activation."""
    cdef const Geom *g = &net.geom[l]
    cdef int w = net.width[l], F = g.c, S = g.steps, s, j
    cdef Py_ssize_t r0, r1, r, at
    cdef const floating *ab = params + net.b_off[l]
    cdef const floating *cache = <floating *> net.ws.cache[l]
    cdef const floating *x = <floating *> _layer_input(net, l)
    cdef const floating *dy = <floating *> net.ws.D[l + 1]
    cdef floating *dx = <floating *> net.ws.D[l]
    cdef double mean, inv, sum_g, sum_gx, gj
    _act_rows(net, l, n_rows, t, &r0, &r1)
    for r in range(r0, r1):
        for s in range(S):
            at = r * w + <Py_ssize_t> s * F
            mean = cache[(r * S + s) * 2]
            inv = cache[(r * S + s) * 2 + 1]
            sum_g = 0
            sum_gx = 0
            for j in range(F):
                gj = dy[at + j] * ab[2 * j] if g.affine else dy[at + j]
                sum_g += gj
                sum_gx += gj * (x[at + j] - mean) * inv
            sum_g /= F
            sum_gx /= F
            for j in range(F):
                gj = dy[at + j] * ab[2 * j] if g.affine else dy[at + j]
                dx[at + j] = <floating> (inv * (gj - sum_g - (x[at + j] - mean) * inv * sum_gx))
    _input_gradient_rows(net, l, dx, r0, r1)


cdef void _ln_gradient(Net *net, floating *params, const GradTask *task, Py_ssize_t B, int slot) noexcept nogil:
    """``d gamma_j = sum dy xhat`` and ``d beta_j = sum dy`` of features j0..j1 over every row and group, in
    order."""
    cdef int l = task.layer, F = net.geom[l].c, S = net.geom[l].steps, w = net.width[l], s, j
    cdef floating *gb = (<floating *> net.ws.grads) + net.b_off[l]
    cdef const floating *cache = <floating *> net.ws.cache[l]
    cdef const floating *x = <floating *> _layer_input(net, l)
    cdef const floating *dy = <floating *> net.ws.D[l + 1]
    cdef Py_ssize_t r, at
    cdef floating mean, inv
    for j in range(task.j0, task.j1):
        gb[2 * j] = 0
        gb[2 * j + 1] = 0
    for r in range(B):
        for s in range(S):
            at = r * w + <Py_ssize_t> s * F
            mean = cache[(r * S + s) * 2]
            inv = cache[(r * S + s) * 2 + 1]
            for j in range(task.j0, task.j1):
                gb[2 * j] += dy[at + j] * ((x[at + j] - mean) * inv)
                gb[2 * j + 1] += dy[at + j]


cdef int _ln_gradient_tasks(const Geom *g, int n_in, int n_out, int split, GradTask *out) noexcept nogil:
    """Blocks of features, their ``(gamma, beta)`` pairs (none without the affine parameters)."""
    cdef int nb = max(1, min(g.c, 4 * split)), j
    if not g.affine:
        return 0
    if out != NULL:
        for j in range(nb):
            out[j].j0 = j * g.c // nb
            out[j].j1 = (j + 1) * g.c // nb
            out[j].i0 = out[j].i1 = out[j].ld = 0
            out[j].b0 = 2 * out[j].j0
            out[j].b1 = 2 * out[j].j1
            out[j].work = <Py_ssize_t> (out[j].j1 - out[j].j0) * g.steps * 4
    return nb


cdef const char *_ln_fits(const Geom *g, int n_in, int n_out) noexcept nogil:
    if g.c < 1 or g.steps < 1:
        return b"sizes must be positive"
    if <Py_ssize_t> g.c * g.steps != n_in or n_in != n_out:
        return b"shapes do not match the widths"
    if not (g.eps > 0):
        return b"eps must be positive"
    return NULL


cdef Py_ssize_t _ln_pairs(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 2 * g.c if g.affine else 0


cdef Py_ssize_t _ln_cache(const Geom *g, int n_in, int n_out) noexcept nogil:
    """Per row: each group's mean and 1 / sqrt(var + eps)."""
    return 2 * g.steps


cdef Py_ssize_t _ln_row_work(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 8 * <Py_ssize_t> n_in


cdef Py_ssize_t _ln_task_work(Net *net, int l, Py_ssize_t n_rows, Py_ssize_t t, bint backward) noexcept nogil:
    return 8 * _act_task_work(net, l, n_rows, t, backward)


cdef Py_ssize_t _ln_pass_work(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    return n_rows * net.width[l] * 8


KINDS[LAYERNORM].name = b"layernorm"
KINDS[LAYERNORM].check = _ln_fits
KINDS[LAYERNORM].n_weights = _no_values
KINDS[LAYERNORM].n_bias = _ln_pairs
KINDS[LAYERNORM].n_buffers = _no_values
KINDS[LAYERNORM].workspace = _no_values
KINDS[LAYERNORM].row_work = _ln_row_work
KINDS[LAYERNORM].cache = _ln_cache
KINDS[LAYERNORM].fixed = _no_values
KINDS[LAYERNORM].kept = _no_values
KINDS[LAYERNORM].forward_tasks = _act_tasks
KINDS[LAYERNORM].backward_tasks = _act_tasks
KINDS[LAYERNORM].task_work = _ln_task_work
KINDS[LAYERNORM].pass_work = _ln_pass_work
KINDS[LAYERNORM].forward_f = _ln_forward[float]
KINDS[LAYERNORM].forward_d = _ln_forward[double]
KINDS[LAYERNORM].backward_f = _ln_backward[float]
KINDS[LAYERNORM].backward_d = _ln_backward[double]
KINDS[LAYERNORM].gradient_tasks = _ln_gradient_tasks
KINDS[LAYERNORM].gradient_f = _ln_gradient[float]
KINDS[LAYERNORM].gradient_d = _ln_gradient[double]
KINDS[LAYERNORM].splits_columns = False
KINDS[LAYERNORM].backward_first = False
