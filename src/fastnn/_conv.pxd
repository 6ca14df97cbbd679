# cython: language_level=3
"""Convolution and pooling kernels on one image, NCHW (inline, cimported by ``_kernels``).

An image is ``C x H x W`` values in C order. A convolution with kernel ``kh x kw``, stride ``sh, sw`` and
padding ``ph, pw`` (top and left; the bottom and right follow from the output size ``Ho x Wo``) reads input pixel
``(oy * sh - ph + i, ox * sw - pw + j)`` for output pixel ``(oy, ox)`` and kernel tap ``(i, j)``; pixels outside
the image are zeros. ``im2col`` lays those reads out as a ``(C * kh * kw) x (Ho * Wo)`` matrix (row
``(c * kh + i) * kw + j``), so that the convolution is one product ``W (C_out x C*kh*kw) @ col``, whose result
is the output image in NCHW order (with several images' columns side by side, one product serves them all). ``col2im`` is its adjoint: it adds every column entry back onto the pixel it
came from. Pooling windows lie inside the image (no padding). Everything here trusts its arguments.
"""
from cython cimport floating
from libc.stdint cimport int32_t
from libc.string cimport memcpy, memset


cdef inline int _first_inside(int shift, int sw, int Wo) noexcept nogil:
    """The first output column ``ox`` (at most ``Wo``) with ``ox * sw - shift >= 0``: with ``shift = pw - j`` the
    first whose input column ``ox * sw - pw + j`` lies in the image, with ``shift = pw - j + W`` the first past
    its right edge."""
    return min(Wo, (shift + sw - 1) // sw) if shift > 0 else 0


cdef inline void _columns(floating *x, floating *col, int C, int H, int W, int kh, int kw, int sh, int sw, int ph,
                          int pw, int Ho, int Wo, Py_ssize_t ld, bint gather) noexcept nogil:
    """im2col (``gather``: ``x`` to ``col``) or its adjoint's accumulation (``col`` added onto ``x``), one walk
    over channels, taps and output pixels for both."""
    cdef int c, i, j, oy, ox, iy, ox0, ox1
    cdef floating *row
    cdef floating *cr
    cdef floating *img
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                row = col + ((<Py_ssize_t> c * kh + i) * kw + j) * ld
                ox0 = _first_inside(pw - j, sw, Wo)
                ox1 = max(ox0, _first_inside(pw - j + W, sw, Wo))
                for oy in range(Ho):
                    iy = oy * sh - ph + i
                    cr = row + <Py_ssize_t> oy * Wo
                    if iy < 0 or iy >= H:
                        if gather:
                            memset(cr, 0, Wo * sizeof(floating))
                        continue
                    img = x + (<Py_ssize_t> c * H + iy) * W - pw + j
                    if not gather:
                        if sw == 1:  # contiguous: the compiler vectorises it (each pixel's sum keeps its order)
                            for ox in range(ox0, ox1):
                                img[ox] += cr[ox]
                        else:
                            for ox in range(ox0, ox1):
                                img[ox * sw] += cr[ox]
                        continue
                    for ox in range(ox0):
                        cr[ox] = 0
                    if sw == 1:  # rows are short: a loop the compiler vectorises beats a memcpy call
                        for ox in range(ox0, ox1):
                            cr[ox] = img[ox]
                    else:
                        for ox in range(ox0, ox1):
                            cr[ox] = img[ox * sw]
                    for ox in range(ox1, Wo):
                        cr[ox] = 0


cdef inline void im2col(const floating *x, int C, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
                        int Ho, int Wo, floating *col, Py_ssize_t ld) noexcept nogil:
    """``col[(c * kh + i) * kw + j, oy * Wo + ox] = x[c, oy * sh - ph + i, ox * sw - pw + j]`` (0 outside), rows
    of ``col`` ``ld`` apart (``ld >= Ho * Wo``: several images' columns side by side)."""
    _columns(<floating *> x, col, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo, ld, True)


cdef inline void col2im(const floating *col, int C, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
                        int Ho, int Wo, floating *x, Py_ssize_t ld) noexcept nogil:
    """The adjoint of ``im2col`` (rows of ``col`` ``ld`` apart): ``x = 0``, then every entry of ``col`` is added
    to the pixel it was read from (in a fixed order: channel, tap, output pixel)."""
    memset(x, 0, <Py_ssize_t> C * H * W * sizeof(floating))
    _columns(x, <floating *> col, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo, ld, False)


cdef inline void max_pool_2x2(const floating *x, int C, int H, int W, int Ho, int Wo, floating *out,
                              int32_t *arg) noexcept nogil:
    """``max_pool`` for 2 x 2 windows at stride 2, the usual case: each window in registers, taps in row-major
    order, the first maximum kept."""
    cdef int c, oy, ox, best
    cdef Py_ssize_t base
    cdef const floating *r0
    cdef const floating *r1
    cdef floating m, v
    cdef floating *o
    cdef int32_t *a
    for c in range(C):
        for oy in range(Ho):
            base = (<Py_ssize_t> c * H + 2 * oy) * W
            r0 = x + base
            r1 = r0 + W
            o = out + (<Py_ssize_t> c * Ho + oy) * Wo
            a = arg + (<Py_ssize_t> c * Ho + oy) * Wo
            for ox in range(Wo):
                m = r0[2 * ox]
                best = 0
                v = r0[2 * ox + 1]
                best = 1 if v > m else best
                m = v if v > m else m
                v = r1[2 * ox]
                best = 2 if v > m else best
                m = v if v > m else m
                v = r1[2 * ox + 1]
                best = 3 if v > m else best
                m = v if v > m else m
                o[ox] = m
                a[ox] = <int32_t> (base + 2 * ox + (best & 1) + (best >> 1) * W)


cdef inline void max_pool(const floating *x, int C, int H, int W, int kh, int kw, int sh, int sw, int Ho, int Wo,
                          floating *out, int32_t *arg) noexcept nogil:
    """``out[c, oy, ox]`` = the largest value of its window (the first one on ties, as PyTorch), ``arg`` its
    index in the image (``(c * H + iy) * W + ix``). Each output row is swept once per window tap, in the taps'
    row-major order, with branch-free updates (vectorisable)."""
    cdef int c, oy, ox, i, j, idx
    cdef Py_ssize_t base
    cdef floating v, m
    cdef floating *o
    cdef int32_t *a
    cdef const floating *row
    cdef bint better
    if kh == 2 and kw == 2 and sh == 2 and sw == 2:
        max_pool_2x2(x, C, H, W, Ho, Wo, out, arg)
        return
    for c in range(C):
        for oy in range(Ho):
            o = out + (<Py_ssize_t> c * Ho + oy) * Wo
            a = arg + (<Py_ssize_t> c * Ho + oy) * Wo
            base = (<Py_ssize_t> c * H + oy * sh) * W
            row = x + base
            for ox in range(Wo):
                o[ox] = row[ox * sw]
                a[ox] = <int32_t> (base + ox * sw)
            for i in range(kh):
                for j in range(kw):
                    if i == 0 and j == 0:
                        continue
                    row = x + base + i * W + j
                    idx = <int> (base + i * W + j)
                    for ox in range(Wo):
                        v = row[ox * sw]
                        m = o[ox]
                        better = v > m
                        o[ox] = v if better else m
                        a[ox] = idx + ox * sw if better else a[ox]


cdef inline void max_pool_backward(const floating *dy, const int32_t *arg, Py_ssize_t n_out, Py_ssize_t n_in,
                                   floating *dx) noexcept nogil:
    """``dx = 0``, then each output's gradient is added to the input its maximum came from."""
    cdef Py_ssize_t o
    memset(dx, 0, n_in * sizeof(floating))
    for o in range(n_out):
        dx[arg[o]] += dy[o]


cdef inline void avg_pool(const floating *x, int C, int H, int W, int kh, int kw, int sh, int sw, int Ho, int Wo,
                          floating *out) noexcept nogil:
    """``out[c, oy, ox]`` = the mean of its window (summed row by row, then divided by ``kh * kw``)."""
    cdef int c, oy, ox, i, j
    cdef Py_ssize_t base
    cdef floating n = <floating> (kh * kw)
    cdef floating *o
    cdef const floating *row
    for c in range(C):
        for oy in range(Ho):
            o = out + (<Py_ssize_t> c * Ho + oy) * Wo
            base = (<Py_ssize_t> c * H + oy * sh) * W
            for ox in range(Wo):
                o[ox] = 0
            for i in range(kh):
                for j in range(kw):
                    row = x + base + i * W + j
                    for ox in range(Wo):
                        o[ox] += row[ox * sw]
            for ox in range(Wo):
                o[ox] = o[ox] / n


cdef inline void avg_pool_backward(const floating *dy, int C, int H, int W, int kh, int kw, int sh, int sw,
                                   int Ho, int Wo, floating *dx) noexcept nogil:
    """``dx = 0``, then each output's gradient divided by ``kh * kw`` is added to every input of its window."""
    cdef int c, oy, ox, i, j
    cdef Py_ssize_t o = 0, base
    cdef floating g, n = <floating> (kh * kw)
    memset(dx, 0, <Py_ssize_t> C * H * W * sizeof(floating))
    for c in range(C):
        for oy in range(Ho):
            for ox in range(Wo):
                base = (<Py_ssize_t> c * H + oy * sh) * W + ox * sw
                g = dy[o] / n
                for i in range(kh):
                    for j in range(kw):
                        dx[base + i * W + j] += g
                o += 1
