# Included by _kernels.pyx: Single kernels, for tests and benchmarks.

# ---------------------------------------------------------------------------------------------------------------
# Single kernels, for tests and benchmarks
# ---------------------------------------------------------------------------------------------------------------

def dense_forward(const floating[:, ::1] x not None, const floating[:, ::1] W not None,
                  const floating[::1] b not None, floating[:, ::1] out not None):
    """``out = x @ W.T + b`` (x: (B, n_in), W: (n_out, n_in), b: (n_out,), out: (B, n_out))."""
    cdef Py_ssize_t r, B = x.shape[0]
    cdef int n_in = x.shape[1], n_out = W.shape[0]
    if W.shape[1] != n_in or b.shape[0] != n_out or out.shape[0] != B or out.shape[1] != n_out:
        raise ValueError("dense_forward: inconsistent shapes")
    if B == 0 or n_out == 0:
        return
    with nogil:
        for r in range(B):
            memcpy(&out[r, 0], &b[0], n_out * sizeof(floating))
        if n_in > 0:
            gemm(NoTrans, Trans, <int> B, n_out, n_in, <floating> 1.0, &x[0, 0], n_in, &W[0, 0], n_in,
                 <floating> 1.0, &out[0, 0], n_out)


def activation_forward(int act, floating[:, ::1] z not None):
    """Apply activation ``act`` to ``z`` in place."""
    if z.shape[0] * z.shape[1] == 0:
        return
    with nogil:
        _activation_forward(act, &z[0, 0], z.shape[0], z.shape[1], z.shape[1])


cdef const floating *_input_pointer(int act, const floating[:, ::1] a, const floating[:, ::1] z) except? NULL:
    """The pre-activation ``z`` an activation's derivative needs (checked against ``a``), else NULL."""
    if not _needs_input(act):
        return NULL
    if z is None or z.shape[0] != a.shape[0] or z.shape[1] != a.shape[1]:
        raise ValueError("this activation's derivative needs its input z, of the output's shape")
    return &z[0, 0] if z.shape[0] * z.shape[1] else NULL


def activation_backward(int act, const floating[:, ::1] a not None, floating[:, ::1] d not None,
                        const floating[:, ::1] z=None):
    """Multiply ``d`` in place by the derivative of activation ``act`` given its output ``a`` (and its input
    ``z``, which only GELU needs)."""
    if a.shape[0] != d.shape[0] or a.shape[1] != d.shape[1]:
        raise ValueError("activation_backward: a and d differ in shape")
    cdef const floating *zp = _input_pointer(act, a, z)
    if a.shape[0] * a.shape[1] == 0:
        return
    with nogil:
        _activation_backward(act, &a[0, 0], zp, &d[0, 0], a.shape[0], a.shape[1], a.shape[1])


def output_loss(int loss, int act, floating[:, ::1] z not None, floating[:, ::1] d not None, labels, targets,
                const floating[:, ::1] z_in=None, weights=None, double delta=1.0):
    """Fused output kernel on a whole batch: returns per-sample ``(loss, accuracy)``; ``z`` becomes the output.

    ``z`` holds logits for cross-entropy and binary cross-entropy and the activated output for the regression
    losses (then ``z_in``, the output's pre-activation, is needed for GELU); ``d`` receives the gradient of the
    batch's mean loss (``sum(w l) / sum(w)`` with ``weights``) with respect to the logits. ``delta`` is the
    Huber loss's threshold.
    """
    cdef Py_ssize_t B = z.shape[0], K = z.shape[1]
    cdef const int32_t[::1] lab = labels
    cdef const floating[:, ::1] tar = targets
    cdef const floating[::1] w = weights
    if d.shape[0] != B or d.shape[1] != K:
        raise ValueError("output_loss: z and d differ in shape")
    cdef const floating *zp = _input_pointer(act, z, z_in) if _on_output(loss) else NULL
    sl = np.zeros(B, dtype=np.float64 if floating is double else np.float32)
    sc = np.zeros(B, dtype=sl.dtype)
    cdef floating[::1] slv = sl
    cdef floating[::1] scv = sc
    cdef Data data = _data(lab, tar, w)
    cdef double total = B if w is None else float(np.sum(weights, dtype=np.float64))
    if B == 0:
        return sl, sc
    with nogil:
        _output_rows(loss, act, &z[0, 0], &d[0, 0], B, K, &data, NULL, 0, <floating> (1.0 / total), delta,
                     &slv[0], &scv[0], True)
        if _on_output(loss):
            _activation_backward(act, &z[0, 0], zp, &d[0, 0], B, K, K)
    return sl, sc


def optimizer_update(floating[::1] p not None, floating[::1] g not None, floating[:, ::1] state not None,
                     Settings settings not None, int64_t step=0, bint regularize=True):
    """One optimizer step in place on a flat buffer, as the engine takes it: ``state`` its (n_state, n) rows,
    ``step`` the number of updates before this one (it sets the schedule's rate and Adam's bias corrections).
    Returns the regularization penalty before the step (NaN when the step made a parameter NaN or infinite)."""
    cdef Step h = settings.copy(p.shape[0])
    cdef double pen
    if g.shape[0] != p.shape[0] or state.shape[1] != p.shape[0]:
        raise ValueError("optimizer_update: p, g and the state rows differ in length")
    if p.shape[0] == 0:
        return 0.0
    with nogil:
        _begin_step(&h, step)
        pen = _update_range(&p[0], &g[0], &state[0, 0], p.shape[0], &h, regularize, True)
    return pen


def sgd_update(floating[::1] p not None, floating[::1] g not None, floating[::1] v not None, double lr,
               double momentum=0.0, bint nesterov=False, double weight_decay=0.0, double l1=0.0, double l2=0.0,
               bint regularize=True):
    """One SGD step on a flat buffer in place; returns the regularization penalty before the step."""
    cdef Settings settings = Settings(K_SGD, {"momentum": momentum, "nesterov": nesterov}, lr=lr,
                                      weight_decay=weight_decay, l1=l1, l2=l2)
    cdef Step h = settings.copy(p.shape[0])
    cdef double pen
    if g.shape[0] != p.shape[0] or v.shape[0] != p.shape[0]:
        raise ValueError("sgd_update: p, g and v differ in length")
    if p.shape[0] == 0:
        return 0.0
    with nogil:
        pen = _update_range(&p[0], &g[0], &v[0], p.shape[0], &h, regularize, True)
    return pen


def any_beyond(const floating[:, ::1] X not None, double limit):
    """True when some value of ``X`` has a magnitude above ``limit`` (>= 0, a value of ``X``'s dtype) or is NaN:
    one pass over the bits, no temporary arrays (the magnitudes of floats order as their bits without the
    sign)."""
    cdef Py_ssize_t i, n = X.shape[0] * X.shape[1]
    cdef const uint32_t *p32
    cdef const uint64_t *p64
    cdef float limit32 = <float> limit
    cdef uint32_t bound32, over32 = 0
    cdef uint64_t bound64, over64 = 0
    if n == 0:
        return False
    with nogil:
        if floating is float:
            memcpy(&bound32, &limit32, 4)
            p32 = <const uint32_t *> &X[0, 0]
            for i in range(n):
                over32 |= (p32[i] & 0x7fffffffu) > bound32
        else:
            memcpy(&bound64, &limit, 8)
            p64 = <const uint64_t *> &X[0, 0]
            for i in range(n):
                over64 |= (p64[i] & 0x7fffffffffffffffu) > bound64
    return over32 != 0 or over64 != 0


def beyond_peaks(const floating[:, ::1] X not None, const double[::1] peaks not None):
    """True when some ``|X[i, j]|`` exceeds ``peaks[j]`` (or is NaN): one pass, stopping at the first, no temporary
    arrays (``train_on_batch`` asks it each call once a model knows its training inputs' range)."""
    cdef Py_ssize_t i, j, n = X.shape[0], d = X.shape[1]
    cdef double v
    if peaks.shape[0] != d:
        raise ValueError("peaks must hold one value per column of X")
    for i in range(n):
        for j in range(d):
            v = X[i, j]
            if not (v <= peaks[j] and -v <= peaks[j]):
                return True
    return False


def all_finite(const floating[:, ::1] X not None):
    """True when no value of ``X`` is NaN or infinite (checks exponent bits; no temporary arrays)."""
    cdef Py_ssize_t i, n = X.shape[0] * X.shape[1]
    cdef const uint32_t *p32
    cdef const uint64_t *p64
    cdef uint32_t bad32 = 0
    cdef uint64_t bad64 = 0
    if n == 0:
        return True
    with nogil:
        if floating is float:
            p32 = <const uint32_t *> &X[0, 0]
            for i in range(n):
                bad32 |= (p32[i] & 0x7f800000u) == 0x7f800000u
        else:
            p64 = <const uint64_t *> &X[0, 0]
            for i in range(n):
                bad64 |= (p64[i] & 0x7ff0000000000000u) == 0x7ff0000000000000u
    return bad32 == 0 and bad64 == 0
