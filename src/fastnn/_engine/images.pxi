# Included by _kernels.pyx: Image layers (Conv2D, pooling): a group of images at a time.

# ---------------------------------------------------------------------------------------------------------------
# Image layers (CONV2D, MAXPOOL2D, AVGPOOL2D): one image (batch row, C x H x W values) at a time, each by the same
# calls whatever the thread that runs it, so results do not depend on the number of threads. The kernels on one
# image live in _conv.pxd; a convolution is im2col into a per-thread workspace and one gemm per group of images.
# ---------------------------------------------------------------------------------------------------------------

cdef inline void *_slot(Net *net, int slot) noexcept nogil:
    """Thread ``slot``'s workspace (``net.slot_size`` values of the engine's dtype)."""
    return (<char *> net.scratch) + <Py_ssize_t> slot * net.slot_size * (8 if net.is_double else 4)


cdef inline Py_ssize_t _image_work(Net *net, int l) noexcept nogil:
    """Multiply-adds (or reads) of image layer ``l`` per image."""
    cdef Geom *g = &net.geom[l]
    if net.kind[l] == CONV2D:
        return <Py_ssize_t> g.co * g.c * g.kh * g.kw * g.ho * g.wo
    return <Py_ssize_t> net.width[l + 1] * g.kh * g.kw


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


cdef void _group_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t r0,
                         Py_ssize_t r1, bint activate, int slot) noexcept nogil:
    """Rows ``r0 .. r1`` (a group of images, fixed by the batch's shape) of the output of image layer ``l`` from
    ``inp`` (which points at row 0), then the activation and the dropout on them. A convolution forms the
    group's im2col columns side by side and multiplies them by the weights in one product, then adds the bias
    while scattering the result into each image's output."""
    cdef const Geom *g = &net.geom[l]
    cdef int w_in = net.width[l], w_out = net.width[l + 1], c, n = <int> (r1 - r0), k
    cdef int P = g.ho * g.wo, K = g.c * g.kh * g.kw
    cdef Py_ssize_t N = <Py_ssize_t> n * P, r, p
    cdef const floating *b = params + net.b_off[l]
    cdef const floating *src
    cdef floating *cols
    cdef floating *prod
    cdef floating *out
    cdef floating bc
    if net.kind[l] == CONV2D:
        cols = <floating *> _slot(net, slot)
        prod = cols + K * N
        if _kept_columns(net, l, r1):  # training: the columns stay for the weight gradient
            prod = cols
            cols = (<floating *> net.columns[l]) + r0 * K * P
        _gather_columns(inp + r0 * w_in, w_in, g, n, cols)
        gemm(NoTrans, NoTrans, g.co, <int> N, K, <floating> 1.0, params + net.w_off[l], K, cols, <int> N,
             <floating> 0.0, prod, <int> N)
        for k in range(n):
            out = (<floating *> net.A[l + 1]) + (r0 + k) * w_out
            for c in range(g.co):
                src = prod + c * N + k * P
                bc = b[c]
                for p in range(P):
                    out[<Py_ssize_t> c * P + p] = src[p] + bc
    for r in range(r0, r1):
        out = (<floating *> net.A[l + 1]) + r * w_out
        if net.kind[l] == MAXPOOL2D:
            max_pool(inp + r * w_in, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ho, g.wo, out,
                     net.arg[l + 1] + r * w_out)
        elif net.kind[l] == AVGPOOL2D:
            avg_pool(inp + r * w_in, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ho, g.wo, out)
        elif activate:
            if net.Z[l + 1] != NULL:
                memcpy((<floating *> net.Z[l + 1]) + r * w_out, out, w_out * sizeof(floating))
            _activation_forward(net.act[l], out, 1, w_out, w_out)
        if activate and net.training and net.Ad[l + 1] != NULL:
            _dropout_columns(net, l + 1, r, r + 1, 0, w_out)


cdef void _group_backward(Net *net, const floating *params, int l, Py_ssize_t r0, Py_ssize_t r1,
                          int slot) noexcept nogil:
    """Rows ``r0 .. r1`` of ``D[l]`` from ``D[l + 1]`` through image layer ``l >= 1``: the input gradient (for a
    convolution col2im of ``W.T @ dY``, one product for the group), then the dropout mask and the derivative of
    layer ``l - 1``'s activation."""
    cdef const Geom *g = &net.geom[l]
    cdef int w_in = net.width[l], w_out = net.width[l + 1], n = <int> (r1 - r0), k
    cdef int P = g.ho * g.wo, K = g.c * g.kh * g.kw
    cdef Py_ssize_t N = <Py_ssize_t> n * P, r, at
    cdef floating *d
    cdef const floating *dy
    cdef floating *cols
    cdef floating *dys
    if net.kind[l] == CONV2D:
        cols = <floating *> _slot(net, slot)
        dys = cols + K * N
        _gather_channels((<floating *> net.D[l + 1]) + r0 * w_out, w_out, P, 0, g.co, n, dys)
        gemm(Trans, NoTrans, K, <int> N, g.co, <floating> 1.0, params + net.w_off[l], K, dys, <int> N,
             <floating> 0.0, cols, <int> N)
        for k in range(n):
            col2im(cols + k * P, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.ho, g.wo,
                   (<floating *> net.D[l]) + (r0 + k) * w_in, N)
    for r in range(r0, r1):
        at = r * w_in
        d = (<floating *> net.D[l]) + at
        dy = (<floating *> net.D[l + 1]) + r * w_out
        if net.kind[l] == MAXPOOL2D:
            max_pool_backward(dy, net.arg[l + 1] + r * w_out, w_out, w_in, d)
        elif net.kind[l] == AVGPOOL2D:
            avg_pool_backward(dy, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ho, g.wo, d)
        if net.Ad[l] != NULL:
            _mask_columns(d, net.mask[l] + at, 1, w_in, w_in, <floating> (1.0 / (1.0 - net.drop[l])))
        _activation_backward(net.act[l - 1], (<floating *> net.A[l]) + at, _offset(<floating *> net.Z[l], at), d,
                             1, w_in, w_in)


cdef inline Py_ssize_t _groups(Py_ssize_t n_rows) noexcept nogil:
    return (n_rows + IMAGE_GROUP - 1) // IMAGE_GROUP
