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

cdef extern from *:
    """
    #include <stdint.h>
    /* A recurrent step's product with W_hh, C = A B (+ C when beta), A n x K (rows lda apart), B K x N stored as
       panels of 32 columns (panel p: K rows of 32 values, B[k, 32 p + j] at P[(p K + k) 32 + j]), C rows ldc apart.
       W_hh is packed into panels once a step of training (and once a forward pass), so the per-step products of
       every tile and step read it packed, where a BLAS call packs it again each time. Each C value is summed over
       k in order (fused multiply-adds) then added to C: the same arithmetic whatever the rows or the thread.
       Built for AVX-512 only; elsewhere the engine calls BLAS. */
    #if defined(__GNUC__) && defined(__x86_64__) && (__GNUC__ >= 8 || defined(__clang__))
    #include <immintrin.h>
    #define FASTNN_PANELS 1
    static int fastnn_panels_ok = -1;
    static int fastnn_has_panels(void) {
        if (fastnn_panels_ok < 0) {
            __builtin_cpu_init();
            fastnn_panels_ok = __builtin_cpu_supports("avx512f") ? 1 : 0;
        }
        return fastnn_panels_ok;
    }
    static void fastnn_allow_panels(int on) { fastnn_panels_ok = -1; if (!on || !fastnn_has_panels()) fastnn_panels_ok = 0; }
    #define FASTNN_ROW_FMA(r) { __m512 a_ = _mm512_set1_ps(a[(Py_ssize_t) (r) * lda + k]); \
        c##r##0 = _mm512_fmadd_ps(a_, b0, c##r##0); c##r##1 = _mm512_fmadd_ps(a_, b1, c##r##1); }
    #define FASTNN_ROW_OUT(r) { float *o_ = C + (Py_ssize_t) (i + (r)) * ldc + 32 * p; \
        _mm512_storeu_ps(o_, beta ? _mm512_add_ps(_mm512_loadu_ps(o_), c##r##0) : c##r##0); \
        _mm512_storeu_ps(o_ + 16, beta ? _mm512_add_ps(_mm512_loadu_ps(o_ + 16), c##r##1) : c##r##1); }
    __attribute__((target("avx512f,fma")))
    static void fastnn_panels_sgemm(int n, int N, int K, const float *A, Py_ssize_t lda, const float *P, float *C,
                                    Py_ssize_t ldc, int beta) {
        for (int p = 0; p < N / 32; p++) {
            const float *pp = P + (Py_ssize_t) p * K * 32;
            int i = 0;
            for (; i + 8 <= n; i += 8) {  /* 8 rows x 32 columns: 16 accumulators */
                __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
                       c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00,
                       c70 = c00, c71 = c00;
                const float *a = A + (Py_ssize_t) i * lda;
                for (int k = 0; k < K; k++) {
                    __m512 b0 = _mm512_loadu_ps(pp + k * 32), b1 = _mm512_loadu_ps(pp + k * 32 + 16);
                    FASTNN_ROW_FMA(0) FASTNN_ROW_FMA(1) FASTNN_ROW_FMA(2) FASTNN_ROW_FMA(3)
                    FASTNN_ROW_FMA(4) FASTNN_ROW_FMA(5) FASTNN_ROW_FMA(6) FASTNN_ROW_FMA(7)
                }
                FASTNN_ROW_OUT(0) FASTNN_ROW_OUT(1) FASTNN_ROW_OUT(2) FASTNN_ROW_OUT(3)
                FASTNN_ROW_OUT(4) FASTNN_ROW_OUT(5) FASTNN_ROW_OUT(6) FASTNN_ROW_OUT(7)
            }
            for (; i < n; i++) {  /* the rows left: one at a time, the same sums */
                __m512 c00 = _mm512_setzero_ps(), c01 = c00;
                const float *a = A + (Py_ssize_t) i * lda;
                for (int k = 0; k < K; k++) {
                    __m512 b0 = _mm512_loadu_ps(pp + k * 32), b1 = _mm512_loadu_ps(pp + k * 32 + 16);
                    FASTNN_ROW_FMA(0)
                }
                FASTNN_ROW_OUT(0)
            }
        }
    }
    #else
    #define FASTNN_PANELS 0
    static int fastnn_has_panels(void) { return 0; }
    static void fastnn_allow_panels(int on) {}
    static void fastnn_panels_sgemm(int n, int N, int K, const float *A, Py_ssize_t lda, const float *P, float *C,
                                    Py_ssize_t ldc, int beta) {}
    #endif
    /* B[k, j] = W[k * row + j * col] (k < K, j < N, N a multiple of 32) into panels (see above). */
    static void fastnn_pack_panels(const float *W, Py_ssize_t row, Py_ssize_t col, int K, int N, float *P) {
        for (int p = 0; p < N / 32; p++)
            for (int k = 0; k < K; k++)
                for (int j = 0; j < 32; j++)
                    P[((Py_ssize_t) p * K + k) * 32 + j] = W[k * row + (Py_ssize_t) (32 * p + j) * col];
    }
    """
    int fastnn_has_panels() noexcept nogil
    void fastnn_allow_panels(int on) noexcept nogil
    void fastnn_panels_sgemm(int n, int N, int K, const float *A, Py_ssize_t lda, const float *P, float *C,
                             Py_ssize_t ldc, int beta) noexcept nogil
    void fastnn_pack_panels(const float *W, Py_ssize_t row, Py_ssize_t col, int K, int N, float *P) noexcept nogil


cdef enum:
    RNN_MIN_TILE = 16       # fewest rows of a task
    RNN_MAX_TILES = 64      # most tasks of a pass (the bias gradients' partial sums are kept per task)
    RNN_PANEL_ROWS = 16     # fewest rows of a pass whose per-step products read W_hh packed (fastnn_panels_sgemm)
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
    """Tiles of a pass over ``n_rows`` rows: one a core (at most RNN_MAX_TILES), each of at least RNN_MIN_TILE
    rows."""
    return max(<Py_ssize_t> 1, min(<Py_ssize_t> min(net.cores, RNN_MAX_TILES), n_rows // RNN_MIN_TILE))


# ---------------------------------------------------------------------------------------------------------------
# What a recurrent layer keeps whatever the rows (Workspace.fixed, doubles): each tile's partial sums of the bias
# gradients (two a gate unit), summed in tile order by the weight-gradient tasks; then, when the per-step products
# read W_hh packed (float32 on AVX-512, hidden a multiple of 32), its panels for the forward pass (W_hh.T) and for
# the backward pass (W_hh), packed once a pass by the kind's ``prepare``.
# ---------------------------------------------------------------------------------------------------------------

def recurrent_panels(on=None):
    """Whether float32 recurrent layers read W_hh from packed panels in their per-step products (AVX-512
    machines); ``on=False`` makes them call BLAS instead (``True`` restores the machine's choice), for tests and
    benchmarks. Returns the setting in force."""
    if on is not None:
        fastnn_allow_panels(1 if on else 0)
    return bool(fastnn_has_panels())


cdef inline Py_ssize_t _partials_size(int kind, const Geom *g) noexcept nogil:
    return <Py_ssize_t> RNN_MAX_TILES * 2 * _gates(kind) * g.hidden


cdef inline Py_ssize_t _recurrent_fixed(int kind, const Geom *g) noexcept nogil:
    cdef Py_ssize_t GH = _gates(kind) * g.hidden
    cdef Py_ssize_t panels = 1 + GH * g.hidden if g.hidden % 32 == 0 else 0
    # the biases b_ih then b_hh, each contiguous (2 GH values of either dtype); then a flag and two float panels
    # of GH x H values in GH x H doubles
    return _partials_size(kind, g) + 2 * GH + panels


cdef inline bint _panels_on(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    """Whether the per-step products of a pass over ``n_rows`` rows read W_hh from its panels (the same answer for
    a forward pass and the backward pass after it: the shapes and the machine decide)."""
    return (not net.is_double and net.geom[l].hidden % 32 == 0 and n_rows >= RNN_PANEL_ROWS
            and fastnn_has_panels())


cdef inline void *_biases(Net *net, int l) noexcept nogil:
    """``b_ih`` then ``b_hh`` (G*hidden values each, of the engine's dtype), copied from their interleaved pairs
    by each forward pass's ``prepare``."""
    return <void *> (net.ws.fixed[l] + _partials_size(net.kind[l], &net.geom[l]))


cdef inline double *_panels_flag(Net *net, int l) noexcept nogil:
    """Nonzero when the last forward pass also packed the backward pass's panels (a training pass)."""
    return net.ws.fixed[l] + _partials_size(net.kind[l], &net.geom[l]) + 2 * _gates(net.kind[l]) * net.geom[l].hidden


cdef inline float *_panels(Net *net, int l) noexcept nogil:
    """The forward pass's panels (W_hh.T, hidden x G*hidden); the backward pass's (W_hh) follow them."""
    return <float *> (_panels_flag(net, l) + 1)


cdef void _recurrent_prepare(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    """Copy the biases apart (contiguous, for vector loops) and pack W_hh into panels for the per-step products of
    a pass (and, training, of the backward pass after it)."""
    cdef const Geom *g = &net.geom[l]
    cdef int H = g.hidden, GH = _gates(net.kind[l]) * H, ld = g.feats + H, j
    cdef const float *W
    cdef float *bf = <float *> _biases(net, l)
    cdef double *bd = <double *> _biases(net, l)
    for j in range(GH):
        if net.is_double:
            bd[j] = (<const double *> net.params)[net.b_off[l] + 2 * j]
            bd[GH + j] = (<const double *> net.params)[net.b_off[l] + 2 * j + 1]
        else:
            bf[j] = (<const float *> net.params)[net.b_off[l] + 2 * j]
            bf[GH + j] = (<const float *> net.params)[net.b_off[l] + 2 * j + 1]
    if not _panels_on(net, l, n_rows):
        return
    W = (<const float *> net.params) + net.w_off[l] + g.feats
    fastnn_pack_panels(W, 1, ld, H, GH, _panels(net, l))  # B[k, j] = W_hh[j, k]
    _panels_flag(net, l)[0] = net.ws.training  # a backward pass after any other forward pass calls BLAS
    if net.ws.training:
        fastnn_pack_panels(W, ld, 1, GH, H, _panels(net, l) + <Py_ssize_t> GH * H)  # B[k, j] = W_hh[k, j]


cdef inline void _state_product(bint panels, const float *P, int n, int N, int K, const floating *A,
                                Py_ssize_t lda, const floating *W_hh, int ld, bint transposed, bint add,
                                floating *out, Py_ssize_t ldo) noexcept nogil:
    """A step's product with W_hh over ``n`` rows: ``out (+)= A @ W_hh.T`` (``transposed``, the forward pass) or
    ``A @ W_hh`` (the backward pass), ``add`` keeping what ``out`` holds: from the panels ``P`` when ``panels``
    (float32), else by BLAS."""
    if floating is float:
        if panels:
            fastnn_panels_sgemm(n, N, K, A, lda, P, out, ldo, add)
            return
    gemm(NoTrans, Trans if transposed else NoTrans, n, N, K, <floating> 1.0, A, <int> lda, W_hh, ld,
         <floating> (1.0 if add else 0.0), out, <int> ldo)


cdef inline void _add_row(double *s, const floating *x, int n) noexcept nogil:
    if floating is float:
        fastnn_add_row_f(s, x, n)
    else:
        fastnn_add_row_d(s, x, n)


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
    cdef floating *gates = _region(net, l, R_GATES, <floating *> NULL) + r0 * T * GH
    cdef floating *hp = _region(net, l, R_HPREV, <floating *> NULL) + r0 * T * H
    cdef floating *extra = _region(net, l, R_EXTRA, <floating *> NULL) + r0 * T * H
    cdef floating *gh = _region(net, l, R_GH, <floating *> NULL) + r0 * GH
    cdef floating *out = (<floating *> net.ws.A[l + 1]) + r0 * net.width[l + 1]
    cdef floating *row
    cdef floating *h
    cdef floating *hnext
    cdef const floating *b_ih = <const floating *> _biases(net, l)
    cdef const floating *b_hh = b_ih + GH
    gemm(NoTrans, Trans, <int> (n * T), GH, F, <floating> 1.0, inp + r0 * T * F, F, W, ld, <floating> 0.0, gates,
         GH)
    for m in range(n * T):  # GRU's b_hh goes with the state's product (it is inside r * (W_hn h + b_hn))
        row = gates + m * GH
        if kind == GRU:
            for j in range(GH):
                row[j] = row[j] + b_ih[j]
        else:
            for j in range(GH):
                row[j] = (row[j] + b_ih[j]) + b_hh[j]
    for k in range(n):
        memset(hp + k * T * H, 0, H * sizeof(floating))
    cdef bint panels = _panels_on(net, l, n_rows)
    for t in range(T):
        if kind == GRU:
            for k in range(n):
                memcpy(gh + k * GH, b_hh, GH * sizeof(floating))
        if t > 0:  # the state's product: into GRU's own buffer, added onto the input's for the others
            _state_product(panels, _panels(net, l), <int> n, GH, H, hp + t * H, T * H, W + F, ld, True, True,
                           gh if kind == GRU else gates + t * GH, GH if kind == GRU else T * GH)
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
    cdef double *si = net.ws.fixed[l] + t_task * 2 * GH  # this tile's sums of the bias gradients
    cdef double *sh = si + GH
    cdef bint panels = _panels_on(net, l, n_rows) and _panels_flag(net, l)[0] != 0
    memset(dh, 0, n * H * sizeof(floating))
    memset(dc, 0, n * H * sizeof(floating))
    memset(si, 0, 2 * GH * sizeof(double))
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
            _add_row(si, dgi + m * GH, GH)
            if kind == GRU:
                _add_row(sh, dgh + m * GH, GH)
        if t > 0:  # the state before this step: through W_hh (GRU: plus the part that bypassed the gates)
            _state_product(panels, _panels(net, l) + <Py_ssize_t> GH * H, <int> n, H, GH, dgh + t * GH, T * GH,
                           W + F, ld, False, kind == GRU, dh, H)
    if l > 0:
        gemm(NoTrans, NoTrans, <int> (n * T), F, GH, <floating> 1.0, dgi, GH, W, ld, <floating> 0.0,
             (<floating *> net.ws.D[l]) + r0 * T * F, F)
        _input_gradient_rows(net, l, <floating *> net.ws.D[l], r0, r1)


cdef void _recurrent_gradient(Net *net, floating *params, const GradTask *task, Py_ssize_t B,
                              int slot) noexcept nogil:
    """Gradients of gate units j0..j1: ``dW_ih = dG_i.T @ X`` and ``dW_hh = dG_h.T @ H_prev`` over every row and
    step in one product each, and the biases' from the backward pass's tiles' sums (added in tile order)."""
    cdef int l = task.layer, j0 = task.j0, j1 = task.j1, kind = net.kind[l]
    cdef const Geom *g = &net.geom[l]
    cdef int T = g.steps, F = g.feats, H = g.hidden, GH = _gates(kind) * H, ld = F + H, j
    cdef Py_ssize_t M = B * T, tile, tiles = _rnn_tiles(net, B)
    cdef floating *grads = <floating *> net.ws.grads
    cdef const floating *dgi = _region(net, l, R_DGI, <floating *> NULL)
    cdef const floating *dgh = _region(net, l, R_DGH, <floating *> NULL) if kind == GRU else dgi
    cdef const floating *hp = _region(net, l, R_HPREV, <floating *> NULL)
    cdef floating *gw = grads + net.w_off[l] + <Py_ssize_t> j0 * ld
    cdef floating *gb = grads + net.b_off[l]
    cdef const double *partials = net.ws.fixed[l]
    cdef double si, sh
    gemm(Trans, NoTrans, j1 - j0, F, <int> M, <floating> 1.0, dgi + j0, GH, <floating *> _layer_input(net, l), F,
         <floating> 0.0, gw, ld)
    gemm(Trans, NoTrans, j1 - j0, H, <int> M, <floating> 1.0, dgh + j0, GH, hp, H, <floating> 0.0, gw + F, ld)
    for j in range(j0, j1):
        si = 0
        sh = 0
        for tile in range(tiles):
            si += partials[tile * 2 * GH + j]
            sh += partials[tile * 2 * GH + GH + j]
        gb[2 * j] = <floating> si
        gb[2 * j + 1] = <floating> (sh if kind == GRU else si)


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


cdef Py_ssize_t _rnn_fixed(const Geom *g, int n_in, int n_out) noexcept nogil:
    return _recurrent_fixed(RNN, g)


cdef Py_ssize_t _lstm_fixed(const Geom *g, int n_in, int n_out) noexcept nogil:
    return _recurrent_fixed(LSTM, g)


cdef Py_ssize_t _gru_fixed(const Geom *g, int n_in, int n_out) noexcept nogil:
    return _recurrent_fixed(GRU, g)


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
    row.kept = _no_values
    row.workspace = _no_values
    row.prepare = _recurrent_prepare
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
KINDS[RNN].fixed = _rnn_fixed
KINDS[RNN].gradient_tasks = _rnn_gradient_tasks
_fill_recurrent_row(&KINDS[LSTM], b"lstm")
KINDS[LSTM].n_weights = _lstm_weights
KINDS[LSTM].n_bias = _lstm_bias
KINDS[LSTM].row_work = _lstm_row_work
KINDS[LSTM].cache = _lstm_cache
KINDS[LSTM].fixed = _lstm_fixed
KINDS[LSTM].gradient_tasks = _lstm_gradient_tasks
_fill_recurrent_row(&KINDS[GRU], b"gru")
KINDS[GRU].n_weights = _gru_weights
KINDS[GRU].n_bias = _gru_bias
KINDS[GRU].row_work = _gru_row_work
KINDS[GRU].cache = _gru_cache
KINDS[GRU].fixed = _gru_fixed
KINDS[GRU].gradient_tasks = _gru_gradient_tasks
