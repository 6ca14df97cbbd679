# Included by _kernels.pyx: The recurrent kinds (RNN, LSTM, GRU): PyTorch's cells over a time axis, backpropagation
# through time in tiles of rows, weight gradients in blocks of gate units; their rows of KINDS.

# ---------------------------------------------------------------------------------------------------------------
# A recurrent layer reads rows of ``steps x feats`` values (batch first) and writes every step's hidden state
# (``seq``: rows of ``steps x hidden``) or the last one's. Its weights are one matrix ``W = [W_ih | W_hh]`` of
# ``G*hidden`` rows (G gates: 1, 4 for LSTM's i, f, g, o, 3 for GRU's r, z, n) and ``feats + hidden`` columns,
# its biases ``G*hidden`` pairs ``(b_ih, b_hh)``. A task is a tile of rows through every step (as many tiles as
# the machine has cores, of at least RNN_MIN_TILE rows, fixed by the batch's size and the machine): the
# input's products for all steps in one call, then one product with W_hh a step. What backpropagation through
# time needs (the activated gates, the states before each step, LSTM's cell states, GRU's W_hn h + b_hn, and the
# gates' gradients for the weight gradients) lies in the layer's cache, region by region, each ``cap x steps``
# rows. Weight gradients sum over every row and step in one product per block of gate units.
# ---------------------------------------------------------------------------------------------------------------

cdef enum:
    RNN_MIN_TILE = 16       # fewest rows of a task
    R_GATES = 0             # cache regions: activated gates (a simple RNN: its state), G*hidden a step
    R_HPREV = 1             # the state before each step (zero before the first), hidden a step
    R_DGI = 2               # the gates' pre-activation gradients (for W_ih, b_ih), G*hidden a step
    R_EXTRA = 3             # LSTM: cell states; GRU: W_hn h + b_hn; hidden a step
    R_DGH = 4               # GRU: the gradients for W_hh and b_hh, G*hidden a step
    N_STEP_REGIONS = 5
    R_DH = 5                # a row's regions beyond the steps': the state's gradient (hidden), LSTM's cell
    R_DC = 6                # state's gradient (hidden), a GRU step's state products (G*hidden)
    R_GH = 7
    N_REGIONS = 8


cdef inline int _gates(int kind) noexcept nogil:
    return 4 if kind == LSTM else (3 if kind == GRU else 1)


cdef inline Py_ssize_t _region_width(int kind, int k, int H) noexcept nogil:
    """Values a step (regions below N_STEP_REGIONS) or a row (the others) of cache region ``k`` holds for a layer
    of ``kind`` (0: the kind has no such region)."""
    cdef int GH = _gates(kind) * H
    if k == R_GATES or k == R_DGI:
        return GH
    if k == R_HPREV or k == R_DH or k == R_DC:  # (a simple RNN's R_DC stays unused)
        return H
    if k == R_EXTRA:
        return H if kind != RNN else 0
    if k == R_GH:
        return GH if kind == GRU else 0
    return GH if kind == GRU else 0  # R_DGH


cdef inline floating *_region(Net *net, int l, int k, floating *dummy) noexcept nogil:
    """Row 0 (step 0) of cache region ``k`` of layer ``l``: regions of every step first, ``cap x steps`` rows
    each, then regions of one row a sample, ``cap`` rows each."""
    cdef const Geom *g = &net.geom[l]
    cdef Py_ssize_t off = 0
    cdef int i
    for i in range(k):
        off += _region_width(net.kind[l], i, g.hidden) * (g.steps if i < N_STEP_REGIONS else 1)
    return (<floating *> net.ws.cache[l]) + net.ws.cap * off


cdef inline Py_ssize_t _rnn_tiles(Net *net, Py_ssize_t n_rows) noexcept nogil:
    """Tiles of a pass over ``n_rows`` rows: one a core, each of at least RNN_MIN_TILE rows."""
    return max(<Py_ssize_t> 1, min(<Py_ssize_t> net.cores, n_rows // RNN_MIN_TILE))


cdef inline void _rnn_tile(Net *net, Py_ssize_t n_rows, Py_ssize_t t, Py_ssize_t *r0, Py_ssize_t *r1) noexcept nogil:
    cdef Py_ssize_t nt = _rnn_tiles(net, n_rows)
    r0[0] = t * n_rows // nt
    r1[0] = (t + 1) * n_rows // nt


cdef void _recurrent_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows,
                             Py_ssize_t t_task, bint activate, int slot) noexcept nogil:
    """Tile ``t_task`` of recurrent layer ``l`` through every step."""
    cdef const Geom *g = &net.geom[l]
    cdef int kind = net.kind[l], T = g.steps, F = g.feats, H = g.hidden, G = _gates(kind), GH = G * H
    cdef int ld = F + H, t, j
    cdef Py_ssize_t r0, r1, n, k, m
    _rnn_tile(net, n_rows, t_task, &r0, &r1)
    n = r1 - r0
    cdef const floating *W = params + net.w_off[l]
    cdef const floating *b = params + net.b_off[l]
    cdef floating *gates = _region(net, l, R_GATES, <floating *> NULL) + r0 * T * GH
    cdef floating *hp = _region(net, l, R_HPREV, <floating *> NULL) + r0 * T * H
    cdef floating *extra = _region(net, l, R_EXTRA, <floating *> NULL) + r0 * T * H
    cdef floating *gh = _region(net, l, R_GH, <floating *> NULL) + r0 * GH
    cdef floating *out = (<floating *> net.ws.A[l + 1]) + r0 * net.width[l + 1]
    cdef floating *row
    cdef floating *h
    cdef floating *hnext
    gemm(NoTrans, Trans, <int> (n * T), GH, F, <floating> 1.0, inp + r0 * T * F, F, W, ld, <floating> 0.0, gates,
         GH)
    for m in range(n * T):
        row = gates + m * GH
        for j in range(GH):
            row[j] = row[j] + b[2 * j] if kind == GRU else (row[j] + b[2 * j]) + b[2 * j + 1]
    for k in range(n):
        memset(hp + k * T * H, 0, H * sizeof(floating))
    for t in range(T):
        if kind == GRU:
            for k in range(n):
                for j in range(GH):
                    gh[k * GH + j] = b[2 * j + 1]
            if t > 0:
                gemm(NoTrans, Trans, <int> n, GH, H, <floating> 1.0, hp + t * H, T * H, W + F, ld, <floating> 1.0,
                     gh, GH)
        elif t > 0:
            gemm(NoTrans, Trans, <int> n, GH, H, <floating> 1.0, hp + t * H, T * H, W + F, ld, <floating> 1.0,
                 gates + t * GH, T * GH)
        for k in range(n):
            m = k * T + t
            h = out + k * T * H + t * H if g.seq else (out + k * H if t == T - 1 else hp + (m + 1) * H)
            _cell_forward(kind, g.cell_act, gates + m * GH, extra + m * H,
                          extra + (m - 1) * H if t > 0 else NULL, hp + m * H, gh + k * GH, h, H)
            if t < T - 1 and h != hp + (m + 1) * H:
                memcpy(hp + (m + 1) * H, h, H * sizeof(floating))
    if activate:
        _dropout_rows(net, l, r0, r1)


cdef void _recurrent_backward(Net *net, const floating *params, int l, Py_ssize_t n_rows, Py_ssize_t t_task,
                              int slot) noexcept nogil:
    """Tile ``t_task`` of recurrent layer ``l`` backwards through time from ``D[l + 1]``: the gates' gradients of
    every step into the cache, then (``l >= 1``) ``D[l]`` through the dropout mask and layer ``l - 1``'s
    activation."""
    cdef const Geom *g = &net.geom[l]
    cdef int kind = net.kind[l], T = g.steps, F = g.feats, H = g.hidden, G = _gates(kind), GH = G * H
    cdef int ld = F + H, t, j, w_out = net.width[l + 1]
    cdef Py_ssize_t r0, r1, n, k, m
    _rnn_tile(net, n_rows, t_task, &r0, &r1)
    n = r1 - r0
    cdef const floating *W = params + net.w_off[l]
    cdef floating *gates = _region(net, l, R_GATES, <floating *> NULL) + r0 * T * GH
    cdef floating *hp = _region(net, l, R_HPREV, <floating *> NULL) + r0 * T * H
    cdef floating *extra = _region(net, l, R_EXTRA, <floating *> NULL) + r0 * T * H
    cdef floating *dgi = _region(net, l, R_DGI, <floating *> NULL) + r0 * T * GH
    cdef floating *dgh = _region(net, l, R_DGH, <floating *> NULL) + r0 * T * GH
    cdef floating *dh = _region(net, l, R_DH, <floating *> NULL) + r0 * H
    cdef floating *dc = _region(net, l, R_DC, <floating *> NULL) + r0 * H
    cdef const floating *dy = (<floating *> net.ws.D[l + 1]) + r0 * w_out
    memset(dh, 0, n * H * sizeof(floating))
    memset(dc, 0, n * H * sizeof(floating))
    if kind != GRU:
        dgh = dgi
    for t in range(T - 1, -1, -1):
        for k in range(n):
            if g.seq:
                for j in range(H):
                    dh[k * H + j] += dy[k * w_out + t * H + j]
            elif t == T - 1:
                for j in range(H):
                    dh[k * H + j] += dy[k * w_out + j]
            m = k * T + t
            # LSTM's cell state before the step: the last one, or (step 0) the zero state before it
            _cell_backward(kind, g.cell_act, gates + m * GH, extra + m * H, extra + (m - 1) * H if t > 0 else hp + m * H,
                           hp + m * H, dh + k * H, dc + k * H, dgi + m * GH, dgh + m * GH, H)
        if t > 0:  # the state before this step: through W_hh (GRU: plus the part that bypassed the gates)
            gemm(NoTrans, NoTrans, <int> n, H, GH, <floating> 1.0, dgh + t * GH, T * GH, W + F, ld,
                 <floating> (1.0 if kind == GRU else 0.0), dh, H)
    if l > 0:
        gemm(NoTrans, NoTrans, <int> (n * T), F, GH, <floating> 1.0, dgi, GH, W, ld, <floating> 0.0,
             (<floating *> net.ws.D[l]) + r0 * T * F, F)
        _input_gradient_rows(net, l, <floating *> net.ws.D[l], r0, r1)


cdef void _recurrent_gradient(Net *net, floating *params, const GradTask *task, Py_ssize_t B,
                              int slot) noexcept nogil:
    """Gradients of gate units j0..j1: ``dW_ih = dG_i.T @ X`` and ``dW_hh = dG_h.T @ H_prev`` over every row and
    step in one product each, and the biases' sums (in row and step order)."""
    cdef int l = task.layer, j0 = task.j0, j1 = task.j1, kind = net.kind[l]
    cdef const Geom *g = &net.geom[l]
    cdef int T = g.steps, F = g.feats, H = g.hidden, GH = _gates(kind) * H, ld = F + H, j
    cdef Py_ssize_t M = B * T, m
    cdef floating *grads = <floating *> net.ws.grads
    cdef const floating *dgi = _region(net, l, R_DGI, <floating *> NULL)
    cdef const floating *dgh = _region(net, l, R_DGH, <floating *> NULL) if kind == GRU else dgi
    cdef const floating *hp = _region(net, l, R_HPREV, <floating *> NULL)
    cdef floating *gw = grads + net.w_off[l] + <Py_ssize_t> j0 * ld
    cdef floating *gb = grads + net.b_off[l]
    cdef double *si = <double *> _slot(net, slot)
    cdef double *sh = si + (j1 - j0)
    cdef const floating *row_i
    cdef const floating *row_h
    gemm(Trans, NoTrans, j1 - j0, F, <int> M, <floating> 1.0, dgi + j0, GH, <floating *> _layer_input(net, l), F,
         <floating> 0.0, gw, ld)
    gemm(Trans, NoTrans, j1 - j0, H, <int> M, <floating> 1.0, dgh + j0, GH, hp, H, <floating> 0.0, gw + F, ld)
    for j in range(j1 - j0):
        si[j] = 0
        sh[j] = 0
    for m in range(M):  # in row and step order, each sum in double
        row_i = dgi + m * GH + j0
        for j in range(j1 - j0):
            si[j] += row_i[j]
    if dgh != dgi:  # GRU: the state's part has gradients of its own
        for m in range(M):
            row_h = dgh + m * GH + j0
            for j in range(j1 - j0):
                sh[j] += row_h[j]
    for j in range(j1 - j0):
        gb[2 * (j0 + j)] = <floating> si[j]
        gb[2 * (j0 + j) + 1] = <floating> (sh[j] if dgh != dgi else si[j])


cdef const char *_recurrent_fits(const Geom *g, int n_in, int n_out) noexcept nogil:
    if min(g.steps, g.feats, g.hidden) < 1:
        return b"sizes must be positive"
    if <Py_ssize_t> g.steps * g.feats != n_in or (<Py_ssize_t> g.steps * g.hidden if g.seq else g.hidden) != n_out:
        return b"shapes do not match the widths"
    return NULL


cdef const char *_rnn_fits(const Geom *g, int n_in, int n_out) noexcept nogil:
    cdef const char *wrong = _recurrent_fits(g, n_in, n_out)
    if wrong == NULL and g.cell_act != TANH and g.cell_act != RELU:
        return b"a simple RNN's activation is tanh or relu"
    return wrong


cdef Py_ssize_t _recurrent_tasks(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    return _rnn_tiles(net, n_rows)


cdef Py_ssize_t _rnn_weights(const Geom *g, int n_in, int n_out) noexcept nogil:
    return <Py_ssize_t> g.hidden * (g.feats + g.hidden)


cdef Py_ssize_t _lstm_weights(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 4 * _rnn_weights(g, n_in, n_out)


cdef Py_ssize_t _gru_weights(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 3 * _rnn_weights(g, n_in, n_out)


cdef Py_ssize_t _rnn_bias(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 2 * g.hidden


cdef Py_ssize_t _lstm_bias(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 8 * g.hidden


cdef Py_ssize_t _gru_bias(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 6 * g.hidden


cdef Py_ssize_t _recurrent_workspace(const Geom *g, int n_in, int n_out) noexcept nogil:
    """A weight-gradient task's bias sums: two doubles a gate unit (at most 4 gates), as values of either dtype."""
    return 2 * 2 * 4 * g.hidden


cdef Py_ssize_t _rnn_row_work(const Geom *g, int n_in, int n_out) noexcept nogil:
    return <Py_ssize_t> g.steps * g.hidden * (g.feats + g.hidden)


cdef Py_ssize_t _lstm_row_work(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 4 * _rnn_row_work(g, n_in, n_out)


cdef Py_ssize_t _gru_row_work(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 3 * _rnn_row_work(g, n_in, n_out)


cdef Py_ssize_t _recurrent_cache(int kind, const Geom *g) noexcept nogil:
    cdef Py_ssize_t total = 0
    cdef int k
    for k in range(N_REGIONS):
        total += _region_width(kind, k, g.hidden) * (g.steps if k < N_STEP_REGIONS else 1)
    return total


cdef Py_ssize_t _rnn_cache(const Geom *g, int n_in, int n_out) noexcept nogil:
    return _recurrent_cache(RNN, g)


cdef Py_ssize_t _lstm_cache(const Geom *g, int n_in, int n_out) noexcept nogil:
    return _recurrent_cache(LSTM, g)


cdef Py_ssize_t _gru_cache(const Geom *g, int n_in, int n_out) noexcept nogil:
    return _recurrent_cache(GRU, g)


cdef Py_ssize_t _recurrent_task_work(Net *net, int l, Py_ssize_t n_rows, Py_ssize_t t, bint backward) noexcept nogil:
    cdef Py_ssize_t r0, r1
    _rnn_tile(net, n_rows, t, &r0, &r1)
    return (r1 - r0) * KINDS[net.kind[l]].row_work(&net.geom[l], net.width[l], net.width[l + 1])


cdef Py_ssize_t _recurrent_pass_work(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    return n_rows * KINDS[net.kind[l]].row_work(&net.geom[l], net.width[l], net.width[l + 1])


cdef int _recurrent_gradient_tasks(int gates, const Geom *g, int split, GradTask *out) noexcept nogil:
    """Blocks of gate units (rows of W), whole rows of ``[W_ih | W_hh]`` with their bias pairs."""
    cdef int GH = gates * g.hidden, nb = _column_blocks(GH) * split, j, ld = g.feats + g.hidden
    if out != NULL:
        for j in range(nb):
            out[j].j0 = j * GH // nb
            out[j].j1 = (j + 1) * GH // nb
            out[j].i0 = 0
            out[j].i1 = ld
            out[j].ld = ld
            out[j].b0 = 2 * out[j].j0
            out[j].b1 = 2 * out[j].j1
            out[j].work = <Py_ssize_t> (out[j].j1 - out[j].j0) * ld * g.steps
    return nb


cdef int _rnn_gradient_tasks(const Geom *g, int n_in, int n_out, int split, GradTask *out) noexcept nogil:
    return _recurrent_gradient_tasks(1, g, split, out)


cdef int _lstm_gradient_tasks(const Geom *g, int n_in, int n_out, int split, GradTask *out) noexcept nogil:
    return _recurrent_gradient_tasks(4, g, split, out)


cdef int _gru_gradient_tasks(const Geom *g, int n_in, int n_out, int split, GradTask *out) noexcept nogil:
    return _recurrent_gradient_tasks(3, g, split, out)


cdef void _fill_recurrent_row(KindRow *row, const char *name) noexcept:
    row.name = name
    row.check = _recurrent_fits
    row.n_buffers = _no_values
    row.fixed = _no_values
    row.kept = _no_values
    row.workspace = _recurrent_workspace
    row.forward_tasks = _recurrent_tasks
    row.backward_tasks = _recurrent_tasks
    row.task_work = _recurrent_task_work
    row.pass_work = _recurrent_pass_work
    row.forward_f = _recurrent_forward[float]
    row.forward_d = _recurrent_forward[double]
    row.backward_f = _recurrent_backward[float]
    row.backward_d = _recurrent_backward[double]
    row.gradient_f = _recurrent_gradient[float]
    row.gradient_d = _recurrent_gradient[double]
    row.splits_columns = False
    row.backward_first = True


_fill_recurrent_row(&KINDS[RNN], b"rnn")
KINDS[RNN].check = _rnn_fits
KINDS[RNN].n_weights = _rnn_weights
KINDS[RNN].n_bias = _rnn_bias
KINDS[RNN].row_work = _rnn_row_work
KINDS[RNN].cache = _rnn_cache
KINDS[RNN].gradient_tasks = _rnn_gradient_tasks
_fill_recurrent_row(&KINDS[LSTM], b"lstm")
KINDS[LSTM].n_weights = _lstm_weights
KINDS[LSTM].n_bias = _lstm_bias
KINDS[LSTM].row_work = _lstm_row_work
KINDS[LSTM].cache = _lstm_cache
KINDS[LSTM].gradient_tasks = _lstm_gradient_tasks
_fill_recurrent_row(&KINDS[GRU], b"gru")
KINDS[GRU].n_weights = _gru_weights
KINDS[GRU].n_bias = _gru_bias
KINDS[GRU].row_work = _gru_row_work
KINDS[GRU].cache = _gru_cache
KINDS[GRU].gradient_tasks = _gru_gradient_tasks
