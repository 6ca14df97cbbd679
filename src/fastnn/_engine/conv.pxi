# Included by _kernels.pyx: The CONV2D kind: im2col into a per-thread workspace and one product per group of images;
# col2im for the input gradient; weight gradients by blocks of output channels; its row of KINDS.

cdef void _gather_columns(const floating *x, Py_ssize_t ld_x, const Geom *g, int n, floating *cols) noexcept nogil:
    """im2col of ``n`` images (rows of ``x``, ``ld_x`` apart), side by side: ``cols`` is ``K x n * P``."""
    cdef int k, P = g.ho * g.wo
    for k in range(n):
        im2col(x + k * ld_x, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.ho, g.wo, cols + k * P,
               <Py_ssize_t> n * P)


cdef void _gather_channels(const floating *d, Py_ssize_t ld_d, int P, int c0, int c1, int n,
                           floating *out) noexcept nogil:
    """Channels ``c0 .. c1`` of ``n`` images' gradients (rows of ``d``, ``ld_d`` apart, each ``C x P``) side by
    side: ``out`` is ``(c1 - c0) x n * P``."""
    cdef int k, c
    cdef Py_ssize_t N = <Py_ssize_t> n * P
    for k in range(n):
        for c in range(c0, c1):
            memcpy(out + (c - c0) * N + k * P, d + k * ld_d + <Py_ssize_t> c * P, P * sizeof(floating))


cdef inline bint _kept_columns(Net *net, int l, Py_ssize_t rows) noexcept nogil:
    """Whether convolution ``l``'s columns of a training batch of ``rows`` rows are kept in ``columns[l]``."""
    return net.ws.training and net.ws.columns != NULL and net.ws.columns[l] != NULL and rows <= net.ws.cols_rows


# ---------------------------------------------------------------------------------------------------------------
# Float32 stride-1 convolutions on machines with AVX-512 or AVX2 and FMA run the direct kernels (direct.pxi)
# instead: the forward pass from the image and the weights packed by the kind's ``prepare`` (in
# ``Workspace.fixed``), the weight gradient from the image and its output gradient's channels, the input gradient
# from the output gradient spread on the input's rows and ``W.T`` packed by a training pass's ``prepare``, then
# col2im along those rows; no im2col columns are formed or kept. Slot layouts: forward ``y`` (the 8-channel blocks'
# rows, ``ldy`` apart) then the padded image; weight gradient ``G`` (K x 32), ``dT`` (P x 32), then the padded
# image; input gradient the spread output gradient (co x ldy), its product (K x ldy), then the padded image.
# ---------------------------------------------------------------------------------------------------------------

cdef inline bint _direct_shapes(const Geom *g) noexcept nogil:
    """Whether convolution ``g`` is one the direct kernels compute (float32, stride 1): its buffers have room."""
    return g.single and g.sh == 1 and g.sw == 1


cdef inline bint _direct_fits(const Geom *g) noexcept nogil:
    """Whether convolution ``g`` runs the direct kernels (those shapes, a machine with AVX-512 or AVX2 and FMA,
    and ``direct_conv()`` not switched off)."""
    return _direct_shapes(g) and fastnn_has_direct()


cdef inline int _padded_h(const Geom *g) noexcept nogil:
    return g.ho + g.kh - 1


cdef inline int _padded_w(const Geom *g) noexcept nogil:
    return g.wo + g.kw - 1


cdef inline bint _needs_padding(const Geom *g) noexcept nogil:
    return g.ph != 0 or g.pw != 0 or _padded_h(g) != g.h or _padded_w(g) != g.w


cdef inline Py_ssize_t _direct_ldy(const Geom *g) noexcept nogil:
    """Distance between the direct forward kernel's output rows: ``(Ho - 1) W + Wo`` values, rounded up to 16."""
    return ((<Py_ssize_t> (g.ho - 1) * _padded_w(g) + g.wo + 15) // 16) * 16


cdef inline Py_ssize_t _padded_size(const Geom *g) noexcept nogil:
    return <Py_ssize_t> g.c * _padded_h(g) * _padded_w(g) if _needs_padding(g) else 0


cdef const float *_direct_image(const Geom *g, const float *x, float *pad) noexcept nogil:
    """The image ``x`` as the direct kernels read it: itself, or its copy inside zeros (``pad``) when the layer
    pads (the input pixel ``(iy, ix)`` at ``(iy + ph, ix + pw)`` of a ``(Ho + kh - 1) x (Wo + kw - 1)`` image)."""
    cdef int Hp = _padded_h(g), Wp = _padded_w(g), c, iy, n = min(g.w, Wp - g.pw)
    if not _needs_padding(g):
        return x
    memset(pad, 0, _padded_size(g) * sizeof(float))
    for c in range(g.c):
        for iy in range(min(g.h, Hp - g.ph)):
            memcpy(pad + (<Py_ssize_t> c * Hp + iy + g.ph) * Wp + g.pw, x + (<Py_ssize_t> c * g.h + iy) * g.w,
                   n * sizeof(float))
    return pad


cdef inline Py_ssize_t _packed_size(const Geom *g) noexcept nogil:
    """Floats of the forward pass's packed weights (the backward pass's follow them, then a flag)."""
    return ((g.co + 7) // 8) * 8 * <Py_ssize_t> g.c * g.kh * g.kw


cdef inline float *_backward_weights(Net *net, int l) noexcept nogil:
    """The weights packed for the input gradient's product (``W.T``: the taps as its outputs)."""
    return (<float *> net.ws.fixed[l]) + _packed_size(&net.geom[l])


cdef inline float *_backward_flag(Net *net, int l) noexcept nogil:
    """Nonzero when the last forward pass also packed ``W.T`` (a training pass)."""
    cdef const Geom *g = &net.geom[l]
    return _backward_weights(net, l) + ((g.c * g.kh * g.kw + 7) // 8) * 8 * <Py_ssize_t> g.co


cdef void _conv_prepare(Net *net, int l, Py_ssize_t n_rows) noexcept nogil:
    """Pack the weights for the direct forward kernel (when it runs), and in training ``W.T`` for the input
    gradient's product."""
    cdef const Geom *g = &net.geom[l]
    cdef const float *W = (<const float *> net.params) + net.w_off[l]
    cdef int K = g.c * g.kh * g.kw
    if not _direct_fits(g):
        return
    fastnn_pack_direct(W, K, 1, g.co, K, <float *> net.ws.fixed[l])
    _backward_flag(net, l)[0] = net.ws.training  # a backward pass after any other forward pass takes BLAS's way
    if net.ws.training:
        fastnn_pack_direct(W, 1, K, K, g.co, _backward_weights(net, l))


cdef void _direct_forward(Net *net, const float *params, int l, const float *inp, Py_ssize_t r0, Py_ssize_t r1,
                          bint relu, int slot) noexcept nogil:
    """Rows ``r0 .. r1`` of convolution ``l``'s output by the direct kernel, activated by ReLU when ``relu`` (else
    before its activation)."""
    cdef const Geom *g = &net.geom[l]
    cdef int w_in = net.width[l], w_out = net.width[l + 1], Wp = _padded_w(g)
    cdef Py_ssize_t ldy = _direct_ldy(g), r
    cdef float *y = <float *> _slot(net, slot)
    cdef float *pad = y + ((g.co + 7) // 8) * 8 * ldy
    cdef const float *b = NULL if g.no_bias else params + net.b_off[l]
    for r in range(r0, r1):
        fastnn_conv_direct(_direct_image(g, inp + r * w_in, pad), g.c, _padded_h(g), Wp, g.kh, g.kw,
                           <const float *> net.ws.fixed[l], g.co, <int> ((g.ho - 1) * Wp + g.wo), y, ldy)
        fastnn_direct_out(y, ldy, g.co, g.ho, g.wo, Wp, b, relu, (<float *> net.ws.A[l + 1]) + r * w_out)


cdef void _direct_gradient(Net *net, float *params, const GradTask *task, Py_ssize_t B, int slot) noexcept nogil:
    """Weight and bias gradients of output channels ``j0 .. j1`` (taps ``i0 .. i1``) by the direct kernel, 32
    channels at a time, summed over the images in order."""
    cdef int l = task.layer, i0 = task.i0, i1 = task.i1
    cdef const Geom *g = &net.geom[l]
    cdef int w_in = net.width[l], w_out = net.width[l + 1], P = g.ho * g.wo, K = g.c * g.kh * g.kw, j, jj, nj, k
    cdef Py_ssize_t r
    cdef float *grads = <float *> net.ws.grads
    cdef const float *D = <float *> net.ws.D[l + 1]
    cdef const float *inp = <float *> _layer_input(net, l)
    cdef float *G = <float *> _slot(net, slot)
    cdef float *dT = G + <Py_ssize_t> (i1 - i0) * 32
    cdef float *pad = dT + <Py_ssize_t> P * 32
    cdef float s[32]
    cdef double bs[32]
    for j in range(task.j0, task.j1, 32):
        nj = min(32, task.j1 - j)
        memset(G, 0, <Py_ssize_t> (i1 - i0) * 32 * sizeof(float))
        memset(bs, 0, sizeof(bs))
        for r in range(B):
            fastnn_direct_channels(D + r * w_out + <Py_ssize_t> j * P, P, nj, dT, s)
            for jj in range(nj):
                bs[jj] += s[jj]
            fastnn_conv_direct_grad(_direct_image(g, inp + r * w_in, pad), _padded_h(g), _padded_w(g), g.kh, g.kw,
                                    i0, i1, g.ho, g.wo, dT, G)
        for jj in range(nj):
            for k in range(i0, i1):
                grads[net.w_off[l] + <Py_ssize_t> (j + jj) * K + k] = G[<Py_ssize_t> (k - i0) * 32 + jj]
            if not g.no_bias:
                grads[net.b_off[l] + j + jj] = <float> bs[jj]


cdef void _direct_backward(Net *net, int l, Py_ssize_t r0, Py_ssize_t r1, int slot) noexcept nogil:
    """Rows ``r0 .. r1`` of ``D[l]`` (before the dropout mask and the activation's derivative) from ``D[l + 1]``: the
    output gradient spread on the input's rows, its product with ``W.T`` by the direct kernel (the taps as output
    channels, a 1 x 1 kernel), then col2im along those rows."""
    cdef const Geom *g = &net.geom[l]
    cdef int w_in = net.width[l], w_out = net.width[l + 1], Hp = _padded_h(g), Wp = _padded_w(g), c, iy, n
    cdef int K = g.c * g.kh * g.kw, nq = (g.ho - 1) * Wp + g.wo
    cdef Py_ssize_t ldy = _direct_ldy(g), r
    cdef float *dYw = <float *> _slot(net, slot)
    cdef float *cols = dYw + g.co * ldy
    cdef float *pad = cols + K * ldy
    cdef float *dx
    for r in range(r0, r1):
        fastnn_direct_spread((<const float *> net.ws.D[l + 1]) + r * w_out, g.co, g.ho, g.wo, Wp, ldy, dYw)
        fastnn_conv_direct(dYw, g.co, 1, <int> ldy, 1, 1, _backward_weights(net, l), K, nq, cols, ldy)
        dx = (<float *> net.ws.D[l]) + r * w_in
        if not _needs_padding(g):
            fastnn_direct_gather(cols, ldy, nq, g.c, g.h, g.w, g.kh, g.kw, dx)
            continue
        fastnn_direct_gather(cols, ldy, nq, g.c, Hp, Wp, g.kh, g.kw, pad)  # then the input's own pixels of it
        memset(dx, 0, w_in * sizeof(float))
        n = min(g.w, Wp - g.pw)
        for c in range(g.c):
            for iy in range(min(g.h, Hp - g.ph)):
                memcpy(dx + (<Py_ssize_t> c * g.h + iy) * g.w, pad + (<Py_ssize_t> c * Hp + iy + g.ph) * Wp + g.pw,
                       n * sizeof(float))


cdef void _conv_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows,
                        Py_ssize_t t, bint activate, int slot) noexcept nogil:
    """Group ``t`` of the output of convolution ``l`` from ``inp`` (which points at row 0), then the activation
    and the dropout on it. The group's im2col columns are formed side by side and multiplied by the weights in
    one product, then the bias is added while scattering the result into each image's output."""
    cdef const Geom *g = &net.geom[l]
    cdef Py_ssize_t r0, r1, p
    _image_rows(n_rows, t, &r0, &r1)
    cdef int w_in = net.width[l], w_out = net.width[l + 1], c, n = <int> (r1 - r0), k
    cdef int P = g.ho * g.wo, K = g.c * g.kh * g.kw
    cdef Py_ssize_t N = <Py_ssize_t> n * P, r
    cdef const floating *b = params + net.b_off[l]
    cdef const floating *src
    cdef floating *cols = <floating *> _slot(net, slot)
    cdef floating *prod = cols + K * N
    cdef floating *out
    cdef floating bc
    cdef bint fused = activate and net.act[l] == RELU and net.ws.Z[l + 1] == NULL  # ReLU applied with the bias
    if floating is float and _direct_fits(g):
        _direct_forward(net, params, l, inp, r0, r1, fused, slot)
    else:
        fused = False
        if _kept_columns(net, l, r1):  # training: the columns stay for the weight gradient
            prod = cols
            cols = (<floating *> net.ws.columns[l]) + r0 * K * P
        _gather_columns(inp + r0 * w_in, w_in, g, n, cols)
        gemm(NoTrans, NoTrans, g.co, <int> N, K, <floating> 1.0, params + net.w_off[l], K, cols, <int> N,
             <floating> 0.0, prod, <int> N)
        for k in range(n):
            out = (<floating *> net.ws.A[l + 1]) + (r0 + k) * w_out
            for c in range(g.co):
                src = prod + c * N + k * P
                bc = 0 if g.no_bias else b[c]
                _add_scalar(out + <Py_ssize_t> c * P, src, P, bc)
    if activate:
        for r in range(r0, r1 if not fused else r0):
            out = (<floating *> net.ws.A[l + 1]) + r * w_out
            if net.ws.Z[l + 1] != NULL:
                memcpy((<floating *> net.ws.Z[l + 1]) + r * w_out, out, w_out * sizeof(floating))
            _activation_forward(net.act[l], out, 1, w_out, w_out)
        _dropout_rows(net, l, r0, r1)


cdef void _conv_backward(Net *net, const floating *params, int l, Py_ssize_t n_rows, Py_ssize_t t,
                         int slot) noexcept nogil:
    """Group ``t`` of ``D[l]`` from ``D[l + 1]`` through convolution ``l >= 1``: col2im of ``W.T @ dY`` (one
    product for the group), then the dropout mask and the derivative of layer ``l - 1``'s activation."""
    cdef const Geom *g = &net.geom[l]
    cdef Py_ssize_t r0, r1
    _image_rows(n_rows, t, &r0, &r1)
    cdef int w_in = net.width[l], w_out = net.width[l + 1], n = <int> (r1 - r0), k
    cdef int P = g.ho * g.wo, K = g.c * g.kh * g.kw
    cdef Py_ssize_t N = <Py_ssize_t> n * P
    cdef floating *cols = <floating *> _slot(net, slot)
    cdef floating *dys = cols + K * N
    if floating is float and _direct_fits(g) and _backward_flag(net, l)[0] != 0:
        _direct_backward(net, l, r0, r1, slot)
        _input_gradient_rows(net, l, <floating *> net.ws.D[l], r0, r1)
        return
    _gather_channels((<floating *> net.ws.D[l + 1]) + r0 * w_out, w_out, P, 0, g.co, n, dys)
    gemm(Trans, NoTrans, K, <int> N, g.co, <floating> 1.0, params + net.w_off[l], K, dys, <int> N,
         <floating> 0.0, cols, <int> N)
    for k in range(n):
        col2im(cols + k * P, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.ho, g.wo,
               (<floating *> net.ws.D[l]) + (r0 + k) * w_in, N)
    _input_gradient_rows(net, l, <floating *> net.ws.D[l], r0, r1)


cdef void _conv_gradient(Net *net, floating *params, const GradTask *task, Py_ssize_t B, int slot) noexcept nogil:
    """Weight and bias (if any) gradients of output channels j0..j1 of a convolution, summed over the batch's groups of
    images in order (``dW += dY_group @ im2col(x_group).T``), from the columns the forward pass kept (or formed
    again)."""
    cdef int l = task.layer, j0 = task.j0, j1 = task.j1
    cdef const Geom *g = &net.geom[l]
    cdef int w_in = net.width[l], w_out = net.width[l + 1], P = g.ho * g.wo, K = g.c * g.kh * g.kw, j
    cdef Py_ssize_t r
    cdef floating *grads = <floating *> net.ws.grads
    cdef const floating *D = <floating *> net.ws.D[l + 1]
    cdef const floating *inp = <floating *> _layer_input(net, l)
    cdef floating *cols = <floating *> _slot(net, slot)
    cdef floating *dys
    cdef Py_ssize_t wo = net.w_off[l] + <Py_ssize_t> j0 * K, N, grp
    cdef double s
    cdef int n
    cdef bint kept = _kept_columns(net, l, B)
    if floating is float and _direct_fits(g):
        _direct_gradient(net, params, task, B, slot)
        return
    for grp in range(_groups(B)):
        r = grp * IMAGE_GROUP
        n = <int> min(<Py_ssize_t> IMAGE_GROUP, B - r)
        N = <Py_ssize_t> n * P
        if kept:
            dys = <floating *> _slot(net, slot)
            cols = (<floating *> net.ws.columns[l]) + r * K * P
        else:
            dys = cols + K * N
            _gather_columns(inp + r * w_in, w_in, g, n, cols)
        _gather_channels(D + r * w_out, w_out, P, j0, j1, n, dys)
        gemm(NoTrans, Trans, j1 - j0, K, <int> N, <floating> 1.0, dys, <int> N, cols, <int> N,
             <floating> (1.0 if r > 0 else 0.0), grads + wo, K)
    for j in range(j0, j1 if not g.no_bias else j0):
        s = 0
        for r in range(B):
            s += _lane_sum(D + r * w_out + <Py_ssize_t> j * P, P, False)
        grads[net.b_off[l] + j] = <floating> s


cdef inline int _channel_blocks(int co) noexcept nogil:
    """Weight-gradient tasks of a convolution of ``co`` output channels (fixed by the shapes alone): each task
    forms the im2col columns of every image once more, so blocks stay large."""
    return max(1, min(4, co // 32))


cdef int _conv_gradient_tasks(const Geom *g, int n_in, int n_out, int split, GradTask *out) noexcept nogil:
    """Blocks of output channels, whole kernels."""
    cdef int nb = _channel_blocks(g.co) * split, K = g.c * g.kh * g.kw, j
    if out != NULL:
        for j in range(nb):
            out[j].j0 = j * g.co // nb
            out[j].j1 = (j + 1) * g.co // nb
            out[j].i0 = 0
            out[j].i1 = K
            out[j].ld = K
            out[j].b0 = out[j].j0 if not g.no_bias else 0
            out[j].b1 = out[j].j1 if not g.no_bias else 0
            out[j].work = <Py_ssize_t> (out[j].j1 - out[j].j0) * K * g.ho * g.wo
    return nb


cdef Py_ssize_t _conv_weights(const Geom *g, int n_in, int n_out) noexcept nogil:
    return <Py_ssize_t> g.co * g.c * g.kh * g.kw


cdef Py_ssize_t _conv_bias(const Geom *g, int n_in, int n_out) noexcept nogil:
    return 0 if g.no_bias else g.co


cdef Py_ssize_t _conv_workspace(const Geom *g, int n_in, int n_out) noexcept nogil:
    """A group's im2col columns and its output (or gradient) channels; or what the direct kernels need."""
    cdef Py_ssize_t K = g.c * g.kh * g.kw, im2col_size = <Py_ssize_t> IMAGE_GROUP * g.ho * g.wo * (K + g.co)
    if not _direct_shapes(g):
        return im2col_size
    return max(im2col_size, max(((g.co + 7) // 8) * 8 * _direct_ldy(g), (K + g.ho * g.wo) * 32,
                                (g.co + K) * _direct_ldy(g)) + _padded_size(g))


cdef Py_ssize_t _conv_row_work(const Geom *g, int n_in, int n_out) noexcept nogil:
    """Multiply-adds per image."""
    return <Py_ssize_t> g.co * g.c * g.kh * g.kw * g.ho * g.wo


cdef Py_ssize_t _conv_kept(const Geom *g, int n_in, int n_out) noexcept nogil:
    """An image's im2col columns (K x P); none for the direct kernels."""
    return 0 if _direct_fits(g) else <Py_ssize_t> g.c * g.kh * g.kw * g.ho * g.wo


cdef Py_ssize_t _conv_fixed(const Geom *g, int n_in, int n_out) noexcept nogil:
    """The weights packed for the direct kernels (float32 values in doubles): ``W`` for the forward pass, ``W.T``
    for the input gradient, and a flag."""
    if not _direct_shapes(g):
        return 0
    return (_packed_size(g) + ((g.c * g.kh * g.kw + 7) // 8) * 8 * <Py_ssize_t> g.co + 2) // 2


KINDS[CONV2D].name = b"conv2d"
KINDS[CONV2D].check = _image_fits
KINDS[CONV2D].n_weights = _conv_weights
KINDS[CONV2D].n_bias = _conv_bias
KINDS[CONV2D].n_buffers = _no_values
KINDS[CONV2D].workspace = _conv_workspace
KINDS[CONV2D].row_work = _conv_row_work
KINDS[CONV2D].kept = _conv_kept
KINDS[CONV2D].cache = _no_values
KINDS[CONV2D].fixed = _conv_fixed
KINDS[CONV2D].prepare = _conv_prepare
KINDS[CONV2D].backward_first = False
KINDS[CONV2D].pass_work = _image_pass_work
KINDS[CONV2D].forward_tasks = _image_tasks
KINDS[CONV2D].backward_tasks = _image_tasks
KINDS[CONV2D].task_work = _image_task_work
KINDS[CONV2D].forward_f = _conv_forward[float]
KINDS[CONV2D].forward_d = _conv_forward[double]
KINDS[CONV2D].backward_f = _conv_backward[float]
KINDS[CONV2D].backward_d = _conv_backward[double]
KINDS[CONV2D].gradient_tasks = _conv_gradient_tasks
KINDS[CONV2D].gradient_f = _conv_gradient[float]
KINDS[CONV2D].gradient_d = _conv_gradient[double]
KINDS[CONV2D].splits_columns = False
