# Included by _kernels.pyx: The DENSE kind: column blocks, the one-row matrix-vector product, forward and backward
# tiles, weight-gradient tiles, and its row of KINDS.

cdef inline int _column_blocks(int width) noexcept nogil:
    """How many column blocks a layer of ``width`` units is split into: a function of the width alone, so that
    every product is computed by the same BLAS calls whatever the number of threads."""
    cdef int nb = width // (2 * COLUMN_BLOCK_MIN)
    if width >= COLUMN_BLOCK_MIN and nb < 2:
        nb = 2
    return max(1, min(COLUMN_BLOCKS_MAX, nb))


cdef extern from *:
    """
    /* y += W @ x for row-major W (n_out x n_in): four outputs at a time share each load of x, and every
       dot product is summed in fixed vector lanes (32 bytes), the same order on every call and thread. Built twice, for
       x86-64-v3 (AVX2 and FMA) and the baseline, and chosen once per process by the CPU it runs on: the same
       machine always takes the same code, so results do not depend on the thread count. No BLAS: a single row
       needs no packing, and the work splits across threads without touching BLAS's thread setting. */
    #define FASTNN_MATVEC(NAME, T, V, L)                                                                    \
    typedef T V __attribute__((vector_size(32)));                                                           \
    static inline V NAME##_load(const T *p) { V v; __builtin_memcpy(&v, p, sizeof(V)); return v; }          \
    static inline T NAME##_sum(V v) { T t = 0; for (int k = 0; k < L; k++) t += v[k]; return t; }           \
    FASTNN_CLONES static void NAME(const T *W, const T *x, T *y, Py_ssize_t n_out, Py_ssize_t n_in) {       \
        Py_ssize_t j = 0, i, nv = n_in - n_in % L;                                                          \
        for (; j + 4 <= n_out; j += 4) {                                                                    \
            const T *w0 = W + j * n_in, *w1 = w0 + n_in, *w2 = w1 + n_in, *w3 = w2 + n_in;                  \
            V a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                                                       \
            T t0 = 0, t1 = 0, t2 = 0, t3 = 0;                                                               \
            for (i = 0; i < nv; i += L) {                                                                   \
                V v = NAME##_load(x + i);                                                                   \
                a0 += NAME##_load(w0 + i) * v; a1 += NAME##_load(w1 + i) * v;                               \
                a2 += NAME##_load(w2 + i) * v; a3 += NAME##_load(w3 + i) * v;                               \
            }                                                                                               \
            for (i = nv; i < n_in; i++) {                                                                   \
                t0 += w0[i] * x[i]; t1 += w1[i] * x[i]; t2 += w2[i] * x[i]; t3 += w3[i] * x[i];             \
            }                                                                                               \
            y[j] += t0 + NAME##_sum(a0); y[j + 1] += t1 + NAME##_sum(a1);                                   \
            y[j + 2] += t2 + NAME##_sum(a2); y[j + 3] += t3 + NAME##_sum(a3);                               \
        }                                                                                                   \
        for (; j < n_out; j++) {                                                                            \
            const T *w0 = W + j * n_in;                                                                     \
            V a0 = {0};                                                                                     \
            T t0 = 0;                                                                                       \
            for (i = 0; i < nv; i += L) a0 += NAME##_load(w0 + i) * NAME##_load(x + i);                     \
            for (i = nv; i < n_in; i++) t0 += w0[i] * x[i];                                                 \
            y[j] += t0 + NAME##_sum(a0);                                                                    \
        }                                                                                                   \
    }
    FASTNN_MATVEC(fastnn_smatvec, float, fastnn_v8sf, 8)
    FASTNN_MATVEC(fastnn_dmatvec, double, fastnn_v4df, 4)
    """
    void fastnn_smatvec(const float *W, const float *x, float *y, Py_ssize_t n_out, Py_ssize_t n_in) noexcept nogil
    void fastnn_dmatvec(const double *W, const double *x, double *y, Py_ssize_t n_out,
                        Py_ssize_t n_in) noexcept nogil


cdef inline void _matvec(const floating *W, const floating *x, floating *y, Py_ssize_t n_out,
                         Py_ssize_t n_in) noexcept nogil:
    """``y += W @ x`` for row-major ``W`` (``n_out x n_in``); see fastnn_smatvec."""
    if floating is float:
        fastnn_smatvec(W, x, y, n_out, n_in)
    else:
        fastnn_dmatvec(W, x, y, n_out, n_in)


cdef inline Py_ssize_t _row_tiles(Net *net, Py_ssize_t n_rows) noexcept nogil:
    """How many row tiles a product over ``n_rows`` rows is split into: the engine's ``row_tiles`` (fixed by the
    machine's core count), fewer when the tiles would hold under ``MIN_TILE_ROWS`` rows."""
    return max(<Py_ssize_t> 1, min(<Py_ssize_t> net.row_tiles, n_rows // MIN_TILE_ROWS))


cdef inline int _dense_steps(const Geom *g) noexcept nogil:
    """The steps a dense layer applies to one at a time (a row of its input holds that many steps' features,
    PyTorch's ``Linear`` on the last axis), or 1."""
    return g.steps if g.steps > 1 else 1


cdef inline int _unit_steps(Net *net, int i) noexcept nogil:
    """The steps a row of buffer ``i >= 1`` (layer ``i - 1``'s output) holds, as its activation and loss see
    them: a dense layer's steps, else 1."""
    return _dense_steps(&net.geom[i - 1]) if net.kind[i - 1] == DENSE else 1


cdef void _forward_columns(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t r0,
                           Py_ssize_t r1, int blk, bint activate) noexcept nogil:
    """Rows ``r0 .. r1`` of the output columns of block ``blk`` of layer ``l``:
    ``out[r0:r1, j0:j1] = act(inp[r0:r1] @ W[j0:j1].T + b[j0:j1])`` (``inp`` points at row 0). A layer of ``s``
    steps works on ``s`` rows of a step's features for each row."""
    cdef int s = _dense_steps(&net.geom[l])
    cdef int w_in = net.width[l] // s, w_out = net.width[l + 1] // s, nb = _column_blocks(w_out)
    cdef int j0 = blk * w_out // nb, j1 = (blk + 1) * w_out // nb
    cdef const floating *b = params + net.b_off[l] + j0
    cdef floating *out = (<floating *> net.ws.A[l + 1]) + r0 * w_out + j0
    cdef Py_ssize_t r, n_rows
    r0 *= s
    r1 *= s
    n_rows = r1 - r0
    out = (<floating *> net.ws.A[l + 1]) + r0 * w_out + j0
    inp = inp + r0 * w_in
    for r in range(n_rows):
        if net.geom[l].no_bias:
            memset(out + r * w_out, 0, (j1 - j0) * sizeof(floating))
        else:
            memcpy(out + r * w_out, b, (j1 - j0) * sizeof(floating))
    if net.ws.single_row and s == 1:  # one row: a matrix-vector product (BLAS's gemm would pack the whole weight block for it)
        _matvec(params + net.w_off[l] + j0 * w_in, inp, out, j1 - j0, w_in)
    else:
        gemm(NoTrans, Trans, <int> n_rows, j1 - j0, w_in, <floating> 1.0, inp, w_in,
             params + net.w_off[l] + j0 * w_in, w_in, <floating> 1.0, out, w_out)
    if activate and net.ws.Z[l + 1] != NULL:
        for r in range(n_rows):
            memcpy((<floating *> net.ws.Z[l + 1]) + (r0 + r) * w_out + j0, out + r * w_out,
                   (j1 - j0) * sizeof(floating))
    if activate and net.act[l] != SOFTMAX:
        _activation_forward(net.act[l], out, n_rows, j1 - j0, w_out)
        if net.ws.training and net.ws.Ad[l + 1] != NULL:
            _dropout_columns(net, l + 1, r0, r1, j0, j1, w_out)


cdef void _mask_columns(floating *d, const uint8_t *m, Py_ssize_t n_rows, Py_ssize_t width, Py_ssize_t ld,
                        floating scale) noexcept nogil:
    cdef Py_ssize_t r, j
    for r in range(n_rows):
        for j in range(width):
            d[r * ld + j] = d[r * ld + j] * scale if m[r * ld + j] else 0


cdef void _backward_columns(Net *net, const floating *params, int l, Py_ssize_t r0, Py_ssize_t r1,
                            int blk) noexcept nogil:
    """Rows ``r0 .. r1`` of the columns of block ``blk`` of ``D[l] = (D[l + 1] @ W_l) * act'(A[l])`` (layer
    ``l >= 1``; steps as in ``_forward_columns``)."""
    cdef int s = _dense_steps(&net.geom[l])
    cdef int w_in = net.width[l] // s, w_out = net.width[l + 1] // s, nb = _column_blocks(w_in)
    cdef int j0 = blk * w_in // nb, j1 = (blk + 1) * w_in // nb
    cdef Py_ssize_t n_rows = (r1 - r0) * s, at = r0 * s * w_in + j0
    cdef floating *d = (<floating *> net.ws.D[l]) + at
    cdef const floating *g = (<floating *> net.ws.D[l + 1]) + r0 * s * w_out
    if net.ws.single_row and s == 1:
        gemv(Trans, w_out, j1 - j0, <floating> 1.0, params + net.w_off[l] + j0, w_in, g, <floating> 0.0, d)
    else:
        gemm(NoTrans, NoTrans, <int> n_rows, j1 - j0, w_out, <floating> 1.0, g, w_out,
             params + net.w_off[l] + j0, w_in, <floating> 0.0, d, w_in)
    if net.ws.Ad[l] != NULL:  # through dropout: kept units pass the gradient, scaled as in the forward pass
        _mask_columns(d, net.ws.mask[l] + at, n_rows, j1 - j0, w_in, <floating> (1.0 / (1.0 - net.drop[l])))
    if net.act[l - 1] != SOFTMAX:
        _activation_backward(net.act[l - 1], (<floating *> net.ws.A[l]) + at, _offset(<floating *> net.ws.Z[l], at), d,
                             n_rows, j1 - j0, w_in)


cdef inline Py_ssize_t _product_work(Net *net, Py_ssize_t n_rows, int l) noexcept nogil:
    """The work of dense layer ``l``'s product over ``n_rows`` rows, as PARALLEL_MIN_WORK counts it."""
    return (n_rows * net.width[l] * net.width[l + 1] // _dense_steps(&net.geom[l])
            * (MATVEC_WORK_FACTOR if net.ws.single_row else 1))


cdef Py_ssize_t _dense_forward_tasks(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    """(row tile, column block of the output) tiles."""
    return _column_blocks(net.width[l + 1] // _dense_steps(&net.geom[l])) * _row_tiles(net, n_rows)


cdef Py_ssize_t _dense_backward_tasks(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    """(row tile, column block of the input gradient) tiles."""
    return _column_blocks(net.width[l] // _dense_steps(&net.geom[l])) * _row_tiles(net, n_rows)


cdef Py_ssize_t _dense_task_work(Net *net, int l, Py_ssize_t n_rows, Py_ssize_t t, bint backward) noexcept nogil:
    cdef Py_ssize_t rt = _row_tiles(net, n_rows), k, blk
    cdef int s = _dense_steps(&net.geom[l])
    cdef int width = (net.width[l] if backward else net.width[l + 1]) // s
    cdef int other = (net.width[l + 1] if backward else net.width[l]) // s
    cdef int nb = _column_blocks(width)
    k = t // nb
    blk = t % nb
    return ((k + 1) * n_rows // rt - k * n_rows // rt) * s * ((blk + 1) * width // nb - blk * width // nb) * other


cdef void _dense_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows,
                         Py_ssize_t t, bint activate, int slot) noexcept nogil:
    cdef int nb = _column_blocks(net.width[l + 1] // _dense_steps(&net.geom[l]))
    cdef Py_ssize_t rt = _row_tiles(net, n_rows), k = t // nb
    _forward_columns(net, params, l, inp, k * n_rows // rt, (k + 1) * n_rows // rt, <int> (t % nb), activate)


cdef void _dense_backward(Net *net, const floating *params, int l, Py_ssize_t n_rows, Py_ssize_t t,
                          int slot) noexcept nogil:
    cdef int nb = _column_blocks(net.width[l] // _dense_steps(&net.geom[l]))
    cdef Py_ssize_t rt = _row_tiles(net, n_rows), k = t // nb
    _backward_columns(net, params, l, k * n_rows // rt, (k + 1) * n_rows // rt, <int> (t % nb))


cdef void _dense_gradient(Net *net, floating *params, const GradTask *task, Py_ssize_t B,
                          int slot) noexcept nogil:
    """The data term of the weight gradients of one tile (output features j0..j1 x input features i0..i1) of a
    dense layer (over every row and step); the tile holding input feature 0 does the biases of its output features
    too (unless the layer has none)."""
    cdef int l = task.layer, j0 = task.j0, j1 = task.j1, i0 = task.i0, i1 = task.i1, s = _dense_steps(&net.geom[l])
    cdef int w_in = net.width[l] // s, w_out = net.width[l + 1] // s
    cdef Py_ssize_t r, j
    cdef floating *grads = <floating *> net.ws.grads
    cdef const floating *D = <floating *> net.ws.D[l + 1]
    cdef floating *gb = grads + net.b_off[l]
    B *= s
    gemm(Trans, NoTrans, j1 - j0, i1 - i0, <int> B, <floating> 1.0, D + j0, w_out,
         (<floating *> _layer_input(net, l)) + i0, w_in, <floating> 0.0, grads + net.w_off[l] + j0 * w_in + i0,
         w_in)
    if i0 == 0 and not net.geom[l].no_bias:
        for j in range(j0, j1):
            gb[j] = 0
        for r in range(B):
            for j in range(j0, j1):
                gb[j] += D[r * w_out + j]


cdef int _dense_gradient_tasks(const Geom *g, int n_in, int n_out, int split, GradTask *out) noexcept nogil:
    """Column blocks of the output x tiles of the inputs (as many as the machine's split asks, each of at least
    MIN_TILE_FEATURES inputs)."""
    cdef int nb, ni, j, i, n = 0
    n_in //= _dense_steps(g)
    n_out //= _dense_steps(g)
    nb = _column_blocks(n_out)
    ni = max(1, min(split, n_in // MIN_TILE_FEATURES))
    for j in range(nb):
        for i in range(ni):
            if out != NULL:
                out[n].j0 = j * n_out // nb
                out[n].j1 = (j + 1) * n_out // nb
                out[n].i0 = i * n_in // ni
                out[n].i1 = (i + 1) * n_in // ni
                out[n].ld = n_in
                out[n].b0 = out[n].j0 if i == 0 and not g.no_bias else 0  # the tile of input 0 takes the biases
                out[n].b1 = out[n].j1 if i == 0 and not g.no_bias else 0
                out[n].work = <Py_ssize_t> (out[n].j1 - out[n].j0) * (out[n].i1 - out[n].i0)
            n += 1
    return n


cdef Py_ssize_t _dense_weights(const Geom *g, int n_in, int n_out) noexcept nogil:
    return <Py_ssize_t> (n_out // _dense_steps(g)) * (n_in // _dense_steps(g))


cdef Py_ssize_t _dense_bias(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 0 if g.no_bias else n_out // _dense_steps(g)


cdef Py_ssize_t _no_values(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 0


cdef Py_ssize_t _dense_row_work(const Geom *g, int n_in, int n_out) noexcept nogil:
    """The largest product per batch row: a column block of the output (forward) or of the input gradient."""
    cdef int s = _dense_steps(g)
    n_in //= s
    n_out //= s
    cdef Py_ssize_t a = (n_out + _column_blocks(n_out) - 1) // _column_blocks(n_out) * <Py_ssize_t> n_in
    cdef Py_ssize_t b = (n_in + _column_blocks(n_in) - 1) // _column_blocks(n_in) * <Py_ssize_t> n_out
    return max(a, b) * s


cdef Py_ssize_t _dense_pass_work(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    return _product_work(net, n_rows, l)


cdef const char *_fits(const Geom *g, int n_in, int n_out) noexcept nogil:
    cdef int s = _dense_steps(g)
    if n_in % s or n_out % s:
        return b"widths are not whole steps"
    return NULL


KINDS[DENSE].name = b"dense"
KINDS[DENSE].check = _fits
KINDS[DENSE].n_weights = _dense_weights
KINDS[DENSE].n_bias = _dense_bias
KINDS[DENSE].n_buffers = _no_values
KINDS[DENSE].workspace = _no_values
KINDS[DENSE].row_work = _dense_row_work
KINDS[DENSE].kept = _no_values
KINDS[DENSE].cache = _no_values
KINDS[DENSE].fixed = _no_values
KINDS[DENSE].backward_first = False
KINDS[DENSE].pass_work = _dense_pass_work
KINDS[DENSE].forward_tasks = _dense_forward_tasks
KINDS[DENSE].backward_tasks = _dense_backward_tasks
KINDS[DENSE].task_work = _dense_task_work
KINDS[DENSE].forward_f = _dense_forward[float]
KINDS[DENSE].forward_d = _dense_forward[double]
KINDS[DENSE].backward_f = _dense_backward[float]
KINDS[DENSE].backward_d = _dense_backward[double]
KINDS[DENSE].gradient_tasks = _dense_gradient_tasks
KINDS[DENSE].gradient_f = _dense_gradient[float]
KINDS[DENSE].gradient_d = _dense_gradient[double]
KINDS[DENSE].splits_columns = True
