# Included by _kernels.pyx: The recurrent kinds (RNN, LSTM, GRU): PyTorch's cells over a time axis, backpropagation
# through time in tiles of rows, weight gradients in blocks of gate units; their rows of KINDS.

# ---------------------------------------------------------------------------------------------------------------
# A recurrent layer reads rows of ``steps x feats`` values (batch first) and writes every step's hidden state
# (``seq``: rows of ``steps x hidden``) or the last one's. Its weights are one matrix ``W = [W_ih | W_hh]`` of
# ``G*hidden`` rows (G gates: 1, 4 for LSTM's i, f, g, o, 3 for GRU's r, z, n) and ``feats + hidden`` columns,
# its biases ``G*hidden`` pairs ``(b_ih, b_hh)``. A task is a tile of RNN_TILE rows through every step: the
# input's products for all steps in one call, then one product with W_hh a step. What backpropagation through
# time needs (the activated gates, the states before each step, LSTM's cell states, GRU's W_hn h + b_hn, and the
# gates' gradients for the weight gradients) lies in the layer's cache, region by region, each ``cap x steps``
# rows. Weight gradients sum over every row and step in one product per block of gate units.
# ---------------------------------------------------------------------------------------------------------------

cdef enum:
    RNN_TILE = 16           # rows of a task
    R_GATES = 0             # cache regions: activated gates (a simple RNN: its state), G*hidden a step
    R_HPREV = 1             # the state before each step (zero before the first), hidden a step
    R_DGI = 2               # the gates' pre-activation gradients (for W_ih, b_ih), G*hidden a step
    R_EXTRA = 3             # LSTM: cell states; GRU: W_hn h + b_hn; hidden a step
    R_DGH = 4               # GRU: the gradients for W_hh and b_hh, G*hidden a step


cdef inline int _gates(int kind) noexcept nogil:
    return 4 if kind == LSTM else (3 if kind == GRU else 1)


cdef inline Py_ssize_t _region_width(int kind, int k, int H) noexcept nogil:
    """Values a step of cache region ``k`` holds for a layer of ``kind`` (0: the kind has no such region)."""
    cdef int GH = _gates(kind) * H
    if k == R_GATES or k == R_DGI:
        return GH
    if k == R_HPREV:
        return H
    if k == R_EXTRA:
        return H if kind != RNN else 0
    return GH if kind == GRU else 0


cdef inline floating *_region(Net *net, int l, int k, floating *dummy) noexcept nogil:
    """Row 0, step 0 of cache region ``k`` of layer ``l``."""
    cdef const Geom *g = &net.geom[l]
    cdef Py_ssize_t off = 0
    cdef int i
    for i in range(k):
        off += _region_width(net.kind[l], i, g.hidden)
    return (<floating *> net.ws.cache[l]) + net.ws.cap * g.steps * off


cdef inline floating _sig(floating x) noexcept nogil:
    return 1 / (1 + _exp(-x))


cdef void _cell_forward(int kind, int cell_act, floating *gates, floating *extra, const floating *c_prev,
                        const floating *h_prev, const floating *gh, floating *h, int H) noexcept nogil:
    """One row's step: ``gates`` holds the pre-activations (GRU: of the input's part only, ``gh`` the state's
    part with its bias) and receives the activated gates; ``h`` receives the new state. LSTM: ``extra`` receives
    the cell state (``c_prev`` the last one, or NULL); GRU: ``extra`` receives ``W_hn h + b_hn``."""
    cdef int j
    cdef floating i, f, c, o, r, z, n, v
    if kind == LSTM:
        for j in range(H):
            i = _sig(gates[j])
            f = _sig(gates[H + j])
            c = _tanh(gates[2 * H + j])
            o = _sig(gates[3 * H + j])
            gates[j] = i
            gates[H + j] = f
            gates[2 * H + j] = c
            gates[3 * H + j] = o
            v = i * c + (f * c_prev[j] if c_prev != NULL else 0)
            extra[j] = v
            h[j] = o * _tanh(v)
    elif kind == GRU:
        for j in range(H):
            r = _sig(gates[j] + gh[j])
            z = _sig(gates[H + j] + gh[H + j])
            n = _tanh(gates[2 * H + j] + r * gh[2 * H + j])
            gates[j] = r
            gates[H + j] = z
            gates[2 * H + j] = n
            extra[j] = gh[2 * H + j]
            h[j] = (1 - z) * n + z * h_prev[j]
    else:
        for j in range(H):
            v = gates[j]
            v = _tanh(v) if cell_act == TANH else (v if v > 0 else 0)
            gates[j] = v
            h[j] = v


cdef void _cell_backward(int kind, int cell_act, const floating *gates, const floating *extra,
                         const floating *c_prev, const floating *h_prev, floating *dh, floating *dc, floating *dgi,
                         floating *dgh, int H) noexcept nogil:
    """One row's step backwards from ``dh`` (the state's gradient; LSTM: ``dc`` the cell state's, carried to the
    step before): the gates' pre-activation gradients into ``dgi`` (GRU: ``dgh`` for the state's part). GRU
    leaves in ``dh`` the part of the last state's gradient that bypasses the gates (``dh * z``)."""
    cdef int j
    cdef floating i, f, c, o, r, z, n, t, d, dcv, dn
    if kind == LSTM:
        for j in range(H):
            i = gates[j]
            f = gates[H + j]
            c = gates[2 * H + j]
            o = gates[3 * H + j]
            t = _tanh(extra[j])
            d = dh[j]
            dcv = dc[j] + d * o * (1 - t * t)
            dgi[j] = dcv * c * i * (1 - i)
            dgi[H + j] = (dcv * c_prev[j] if c_prev != NULL else 0) * f * (1 - f)
            dgi[2 * H + j] = dcv * i * (1 - c * c)
            dgi[3 * H + j] = d * t * o * (1 - o)
            dc[j] = dcv * f
    elif kind == GRU:
        for j in range(H):
            r = gates[j]
            z = gates[H + j]
            n = gates[2 * H + j]
            d = dh[j]
            dn = d * (1 - z) * (1 - n * n)
            dgi[j] = dn * extra[j] * r * (1 - r)
            dgi[H + j] = d * (h_prev[j] - n) * z * (1 - z)
            dgi[2 * H + j] = dn
            dgh[j] = dgi[j]
            dgh[H + j] = dgi[H + j]
            dgh[2 * H + j] = dn * r
            dh[j] = d * z
    else:
        for j in range(H):
            v = gates[j]
            dgi[j] = dh[j] * ((1 - v * v) if cell_act == TANH else (1 if v > 0 else 0))


cdef void _recurrent_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows,
                             Py_ssize_t t_task, bint activate, int slot) noexcept nogil:
    """Tile ``t_task`` (RNN_TILE rows) of recurrent layer ``l`` through every step."""
    cdef const Geom *g = &net.geom[l]
    cdef int kind = net.kind[l], T = g.steps, F = g.feats, H = g.hidden, G = _gates(kind), GH = G * H
    cdef int ld = F + H, t, j
    cdef Py_ssize_t r0 = t_task * RNN_TILE, r1 = min(r0 + RNN_TILE, n_rows), n = r1 - r0, k, m
    cdef const floating *W = params + net.w_off[l]
    cdef const floating *b = params + net.b_off[l]
    cdef floating *gates = _region(net, l, R_GATES, <floating *> NULL) + r0 * T * GH
    cdef floating *hp = _region(net, l, R_HPREV, <floating *> NULL) + r0 * T * H
    cdef floating *extra = _region(net, l, R_EXTRA, <floating *> NULL) + r0 * T * H
    cdef floating *gh = <floating *> _slot(net, slot)
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
    cdef Py_ssize_t r0 = t_task * RNN_TILE, r1 = min(r0 + RNN_TILE, n_rows), n = r1 - r0, k, m
    cdef const floating *W = params + net.w_off[l]
    cdef floating *gates = _region(net, l, R_GATES, <floating *> NULL) + r0 * T * GH
    cdef floating *hp = _region(net, l, R_HPREV, <floating *> NULL) + r0 * T * H
    cdef floating *extra = _region(net, l, R_EXTRA, <floating *> NULL) + r0 * T * H
    cdef floating *dgi = _region(net, l, R_DGI, <floating *> NULL) + r0 * T * GH
    cdef floating *dgh = _region(net, l, R_DGH, <floating *> NULL) + r0 * T * GH
    cdef floating *dh = <floating *> _slot(net, slot)
    cdef floating *dc = dh + RNN_TILE * H
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
            _cell_backward(kind, g.cell_act, gates + m * GH, extra + m * H, extra + (m - 1) * H if t > 0 else NULL,
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
    cdef double si, sh
    gemm(Trans, NoTrans, j1 - j0, F, <int> M, <floating> 1.0, dgi + j0, GH, <floating *> _layer_input(net, l), F,
         <floating> 0.0, gw, ld)
    gemm(Trans, NoTrans, j1 - j0, H, <int> M, <floating> 1.0, dgh + j0, GH, hp, H, <floating> 0.0, gw + F, ld)
    for j in range(j0, j1):
        si = 0
        sh = 0
        for m in range(M):
            si += dgi[m * GH + j]
            sh += dgh[m * GH + j]
        gb[2 * j] = <floating> si
        gb[2 * j + 1] = <floating> sh


cdef const char *_recurrent_fits(const Geom *g, int n_in, int n_out) noexcept nogil:
    if min(g.steps, g.feats, g.hidden) < 1:
        return b"sizes must be positive"
    if <Py_ssize_t> g.steps * g.feats != n_in or (<Py_ssize_t> g.steps * g.hidden if g.seq else g.hidden) != n_out:
        return b"shapes do not match the widths"
    if g.cell_act != TANH and g.cell_act != RELU:
        return b"a simple RNN's activation is tanh or relu"
    return NULL


cdef Py_ssize_t _recurrent_tasks(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    return (n_rows + RNN_TILE - 1) // RNN_TILE


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
    """A tile's state gradients (dh, dc) and, for a GRU step, its state's gate products (at most 4 gates)."""
    return <Py_ssize_t> RNN_TILE * (2 * g.hidden + 4 * g.hidden)


cdef Py_ssize_t _rnn_row_work(const Geom *g, int n_in, int n_out) noexcept nogil:
    return <Py_ssize_t> g.steps * g.hidden * (g.feats + g.hidden)


cdef Py_ssize_t _lstm_row_work(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 4 * _rnn_row_work(g, n_in, n_out)


cdef Py_ssize_t _gru_row_work(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 3 * _rnn_row_work(g, n_in, n_out)


cdef Py_ssize_t _recurrent_cache(int kind, const Geom *g) noexcept nogil:
    cdef Py_ssize_t total = 0
    cdef int k
    for k in range(5):
        total += _region_width(kind, k, g.hidden)
    return total * g.steps


cdef Py_ssize_t _rnn_cache(const Geom *g, int n_in, int n_out) noexcept nogil:
    return _recurrent_cache(RNN, g)


cdef Py_ssize_t _lstm_cache(const Geom *g, int n_in, int n_out) noexcept nogil:
    return _recurrent_cache(LSTM, g)


cdef Py_ssize_t _gru_cache(const Geom *g, int n_in, int n_out) noexcept nogil:
    return _recurrent_cache(GRU, g)


cdef Py_ssize_t _recurrent_task_work(Net *net, int l, Py_ssize_t n_rows, Py_ssize_t t, bint backward) noexcept nogil:
    return (min((t + 1) * RNN_TILE, n_rows) - t * RNN_TILE) * KINDS[net.kind[l]].row_work(
        &net.geom[l], net.width[l], net.width[l + 1])


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
