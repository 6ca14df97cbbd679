# Included by _kernels.pyx: Optimizers (SGD, Adam/AdamW, RMSprop) over ranges of the flat buffers, and learning-rate schedules.

cdef inline double _lane_sum(const floating *p, Py_ssize_t n, bint absolute) noexcept nogil:
    """``sum p`` (or ``sum |p|``) in double, in eight fixed lanes (vectorised, and the same order on every call
    and build)."""
    if floating is float:
        return fastnn_lane_sum_f(p, n, absolute)
    else:
        return fastnn_lane_sum_d(p, n, absolute)


cdef double _sum_abs(const floating *p, Py_ssize_t n) noexcept nogil:
    """``sum |p|`` in double, in eight fixed lanes."""
    return _lane_sum(p, n, True)


cdef double _sum_sq(const floating *p, Py_ssize_t n) noexcept nogil:
    """``sum p**2`` in double, in eight fixed lanes."""
    cdef double lanes[8]
    cdef Py_ssize_t i, k, n8 = n - n % 8
    cdef double total = 0, w
    for k in range(8):
        lanes[k] = 0
    for i in range(0, n8, 8):
        for k in range(8):
            w = p[i + k]
            lanes[k] += w * w
    for i in range(n8, n):
        w = p[i]
        total += w * w
    for k in range(8):
        total += lanes[k]
    return total


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef extern from *:
    """
    /* PyTorch's SGD and RMSprop on n values (see _sgd, _rmsprop): elementwise, so also built for x86-64-v4 and
       x86-64-v3, with the multiplies and adds kept apart (no fused multiply-add) so that every build computes
       the baseline's bits. */
    #if defined(__GNUC__) && !defined(__clang__)
    #define FASTNN_EXACT_CLONES FASTNN_WIDE_CLONES __attribute__((optimize("fp-contract=off")))
    #else
    #define FASTNN_EXACT_CLONES FASTNN_WIDE_CLONES
    #endif
    #define FASTNN_SGD(S, T)                                                                                  \\
    FASTNN_EXACT_CLONES static int fastnn_sgd_##S(T *p, const T *g, T *v, Py_ssize_t n, T lr, T mu, T decay,   \\
                                                int nesterov) {                                             \\
        int bad = 0;                                                                                        \\
        if (mu == 0) {                                                                                      \\
            for (Py_ssize_t i = 0; i < n; i++) {                                                            \\
                T w = p[i];                                                                                 \\
                w = w - lr * (g[i] + decay * w);                                                            \\
                p[i] = w;                                                                                   \\
                bad |= (w - w) != 0;                                                                        \\
            }                                                                                               \\
        } else if (nesterov) {                                                                              \\
            for (Py_ssize_t i = 0; i < n; i++) {                                                            \\
                T w = p[i], gi = g[i] + decay * w, vi = mu * v[i] + gi;                                     \\
                v[i] = vi;                                                                                  \\
                w = w - lr * (gi + mu * vi);                                                                \\
                p[i] = w;                                                                                   \\
                bad |= (w - w) != 0;                                                                        \\
            }                                                                                               \\
        } else {                                                                                            \\
            for (Py_ssize_t i = 0; i < n; i++) {                                                            \\
                T w = p[i], vi = mu * v[i] + g[i] + decay * w;                                              \\
                v[i] = vi;                                                                                  \\
                w = w - lr * vi;                                                                            \\
                p[i] = w;                                                                                   \\
                bad |= (w - w) != 0;                                                                        \\
            }                                                                                               \\
        }                                                                                                   \\
        return bad;                                                                                         \\
    }
    FASTNN_SGD(f, float)
    FASTNN_SGD(d, double)
    #define FASTNN_RMSPROP(S, T, SQRT)                                                                        \\
    FASTNN_EXACT_CLONES static int fastnn_rmsprop_##S(T *p, const T *g, T *sq, T *buf, Py_ssize_t n, T a, T c, \\
                                                      T eps, T lr, T mu, T decay) {                          \\
        int bad = 0;                                                                                        \\
        if (mu == 0) {                                                                                      \\
            for (Py_ssize_t i = 0; i < n; i++) {                                                            \\
                T w = p[i], gi = g[i] + decay * w, si = a * sq[i] + c * gi * gi;                            \\
                sq[i] = si;                                                                                 \\
                w = w - lr * (gi / (SQRT(si) + eps));                                                       \\
                p[i] = w;                                                                                   \\
                bad |= (w - w) != 0;                                                                        \\
            }                                                                                               \\
        } else {                                                                                            \\
            for (Py_ssize_t i = 0; i < n; i++) {                                                            \\
                T w = p[i], gi = g[i] + decay * w, si = a * sq[i] + c * gi * gi;                            \\
                sq[i] = si;                                                                                 \\
                T bi = mu * buf[i] + gi / (SQRT(si) + eps);                                                 \\
                buf[i] = bi;                                                                                \\
                w = w - lr * bi;                                                                            \\
                p[i] = w;                                                                                   \\
                bad |= (w - w) != 0;                                                                        \\
            }                                                                                               \\
        }                                                                                                   \\
        return bad;                                                                                         \\
    }
    FASTNN_RMSPROP(f, float, __builtin_sqrtf)
    FASTNN_RMSPROP(d, double, __builtin_sqrt)
    """
    int fastnn_sgd_f(float *p, const float *g, float *v, Py_ssize_t n, float lr, float mu, float decay,
                     int nesterov) noexcept nogil
    int fastnn_sgd_d(double *p, const double *g, double *v, Py_ssize_t n, double lr, double mu, double decay,
                     int nesterov) noexcept nogil
    int fastnn_rmsprop_f(float *p, const float *g, float *sq, float *buf, Py_ssize_t n, float a, float c, float eps,
                         float lr, float mu, float decay) noexcept nogil
    int fastnn_rmsprop_d(double *p, const double *g, double *sq, double *buf, Py_ssize_t n, double a, double c,
                         double eps, double lr, double mu, double decay) noexcept nogil


cdef int _sgd(floating *p, const floating *g, floating *v, Py_ssize_t n, const Step *h, floating l2,
             floating weight_decay) noexcept nogil:
    """PyTorch's SGD: ``g += decay*p; v = mu*v + g; p -= lr*(g + mu*v if nesterov else v)`` (decay: the model's
    L2 plus the optimizer's weight decay). Returns whether a new parameter is NaN or infinite (the OR of
    ``w - w != 0``, which only those give)."""
    cdef const SGDSettings *o = <const SGDSettings *> h.opt
    if floating is float:
        return fastnn_sgd_f(p, g, v, n, <float> h.lr, <float> o.momentum, l2 + weight_decay, o.nesterov)
    else:
        return fastnn_sgd_d(p, g, v, n, h.lr, o.momentum, l2 + weight_decay, o.nesterov)


cdef extern from *:
    """
    /* PyTorch's Adam / AdamW on n values (see _adam), built like fastnn_smatvec for x86-64-v3 and the baseline:
       the square root and division per value make this loop compute-bound, and 8-wide vectors halve it. */
    #define FASTNN_ADAM(NAME, T, SQRT)                                                                      \
    FASTNN_CLONES static int NAME(T *p, const T *g, T *m, T *v, T *vmax, Py_ssize_t n, T decay, T shrink,   \
                                  T b1, T b2, T c2, T eps, T step, T bc2s, int amsgrad) {                   \
        int bad = 0;                                                                                        \
        Py_ssize_t i;                                                                                       \
        /* m / (sqrt(v) / bc2s + eps) = bc2s * m / (sqrt(v) + eps * bc2s): one division a value */        \
        T step2 = step * bc2s, eps2 = eps * bc2s;                                                           \
        if (amsgrad) {                                                                                      \
            for (i = 0; i < n; i++) {                                                                       \
                T w = p[i], gi = g[i] + decay * w, mi = m[i] + b1 * (gi - m[i]);                            \
                T vi = b2 * v[i] + c2 * gi * gi;                                                            \
                m[i] = mi; v[i] = vi;                                                                       \
                vi = vi > vmax[i] ? vi : vmax[i];                                                           \
                vmax[i] = vi;                                                                               \
                w = w * shrink - step2 * (mi / (SQRT(vi) + eps2));                                               \
                p[i] = w;                                                                                   \
                bad |= (w - w) != 0;                                                                        \
            }                                                                                               \
        } else {                                                                                            \
            for (i = 0; i < n; i++) {                                                                       \
                T w = p[i], gi = g[i] + decay * w, mi = m[i] + b1 * (gi - m[i]);                            \
                T vi = b2 * v[i] + c2 * gi * gi;                                                            \
                m[i] = mi; v[i] = vi;                                                                       \
                w = w * shrink - step2 * (mi / (SQRT(vi) + eps2));                                               \
                p[i] = w;                                                                                   \
                bad |= (w - w) != 0;                                                                        \
            }                                                                                               \
        }                                                                                                   \
        return bad;                                                                                         \
    }
    FASTNN_ADAM(fastnn_sadam, float, sqrtf)
    FASTNN_ADAM(fastnn_dadam, double, sqrt)
    """
    int fastnn_sadam(float *p, const float *g, float *m, float *v, float *vmax, Py_ssize_t n, float decay,
                     float shrink, float b1, float b2, float c2, float eps, float step, float bc2s,
                     int amsgrad) noexcept nogil
    int fastnn_dadam(double *p, const double *g, double *m, double *v, double *vmax, Py_ssize_t n, double decay,
                     double shrink, double b1, double b2, double c2, double eps, double step, double bc2s,
                     int amsgrad) noexcept nogil


cdef inline int _adam_step(floating *p, const floating *g, floating *m, Py_ssize_t n, const Step *h,
                           floating decay, floating decoupled) noexcept nogil:
    """PyTorch's Adam / AdamW (``decoupled`` = AdamW's weight decay, applied as ``p *= 1 - lr*decoupled`` first):
    ``g += decay*p; m += (1-b1)(g - m); v = b2 v + (1-b2) g^2; [vmax = max(vmax, v)];
    p -= lr/bc1 * m / (sqrt(v or vmax)/sqrt(bc2) + eps)``. State rows: m, v[, vmax]. Returns whether a new
    parameter is NaN or infinite."""
    cdef const AdamSettings *o = <const AdamSettings *> h.opt
    cdef floating *v = m + h.stride
    if floating is float:
        return fastnn_sadam(p, g, m, v, v + h.stride, n, decay, 1 - h.lr * decoupled, 1 - o.beta1, o.beta2,
                            1 - o.beta2, o.eps, h.lr / h.corr[0], h.corr[1], o.amsgrad)
    else:
        return fastnn_dadam(p, g, m, v, v + h.stride, n, decay, 1 - h.lr * decoupled, 1 - o.beta1, o.beta2,
                            1 - o.beta2, o.eps, h.lr / h.corr[0], h.corr[1], o.amsgrad)


cdef int _adam(floating *p, const floating *g, floating *m, Py_ssize_t n, const Step *h, floating l2,
               floating weight_decay) noexcept nogil:
    """Adam: the weight decay is added to the gradient (as the model's L2)."""
    return _adam_step(p, g, m, n, h, l2 + weight_decay, 0)


cdef int _adamw(floating *p, const floating *g, floating *m, Py_ssize_t n, const Step *h, floating l2,
                floating weight_decay) noexcept nogil:
    """AdamW: the weight decay shrinks the weights apart from the gradient (the model's L2 stays in it)."""
    return _adam_step(p, g, m, n, h, l2, weight_decay)


cdef void _adam_begin(Step *h, int64_t step) noexcept nogil:
    """Adam's bias corrections of update ``step``: ``1 - beta1^t`` and ``sqrt(1 - beta2^t)``, ``t = step + 1``."""
    cdef const AdamSettings *o = <const AdamSettings *> h.opt
    h.corr[0] = 1 - pow(o.beta1, <double> (step + 1))
    h.corr[1] = sqrt(1 - pow(o.beta2, <double> (step + 1)))


cdef int _rmsprop(floating *p, const floating *g, floating *sq, Py_ssize_t n, const Step *h, floating l2,
                  floating weight_decay) noexcept nogil:
    """PyTorch's RMSprop: ``g += decay*p; sq = a sq + (1-a) g^2; avg = sqrt(sq) + eps``; then with momentum
    ``buf = mu buf + g/avg; p -= lr buf``, else ``p -= lr g/avg``. State rows: sq[, buf]."""
    cdef const RMSpropSettings *o = <const RMSpropSettings *> h.opt
    cdef floating a = o.alpha, c = 1 - o.alpha, eps = o.eps, lr = h.lr, mu = o.momentum
    if floating is float:
        return fastnn_rmsprop_f(p, g, sq, sq + h.stride, n, a, c, eps, lr, mu, l2 + weight_decay)
    else:
        return fastnn_rmsprop_d(p, g, sq, sq + h.stride, n, a, c, eps, lr, mu, l2 + weight_decay)


OPTIMIZERS[K_SGD].name = b"sgd"
OPTIMIZERS[K_SGD].update_f = _sgd[float]
OPTIMIZERS[K_SGD].update_d = _sgd[double]
OPTIMIZERS[K_SGD].begin = NULL
OPTIMIZERS[K_ADAM].name = b"adam"
OPTIMIZERS[K_ADAM].update_f = _adam[float]
OPTIMIZERS[K_ADAM].update_d = _adam[double]
OPTIMIZERS[K_ADAM].begin = _adam_begin
OPTIMIZERS[K_ADAMW].name = b"adamw"
OPTIMIZERS[K_ADAMW].update_f = _adamw[float]
OPTIMIZERS[K_ADAMW].update_d = _adamw[double]
OPTIMIZERS[K_ADAMW].begin = _adam_begin
OPTIMIZERS[K_RMSPROP].name = b"rmsprop"
OPTIMIZERS[K_RMSPROP].update_f = _rmsprop[float]
OPTIMIZERS[K_RMSPROP].update_d = _rmsprop[double]
OPTIMIZERS[K_RMSPROP].begin = NULL


cdef double _update_range(floating *p, floating *g, floating *state, Py_ssize_t n, Step *h,
                          bint regularize, bint apply) noexcept nogil:
    """One optimizer step on ``n`` parameters (``state`` points at their first state row; further rows lie
    ``h.stride`` apart). Returns the regularization penalty of the parameters before the step, or NaN when the
    step left a parameter NaN or infinite (the caller treats that as divergence).

    ``regularize`` marks weights: the model's L1/L2 terms and the optimizer's weight decay apply to them only,
    never to biases. With ``apply`` false the full gradient (data term plus the regularizer's terms) is written
    to ``g`` and nothing else changes. With ``apply`` true ``g`` is scratch (it receives L1's term).
    """
    cdef Py_ssize_t i
    cdef int bad = 0
    cdef floating w, l1 = h.l1, l2 = h.l2, decay = h.weight_decay
    cdef double penalty = 0
    if regularize:
        if h.l1 != 0:
            penalty += h.l1 * _sum_abs(p, n)
        if h.l2 != 0:
            penalty += 0.5 * h.l2 * _sum_sq(p, n)
    else:
        decay = 0
        l1 = 0
        l2 = 0
    if l1 != 0:  # L1's sign term goes into the gradient first, so the loops below stay branch-free
        for i in range(n):
            w = p[i]
            g[i] = g[i] + l1 * ((w > 0) - (w < 0))
    if not apply:
        if l2 != 0:
            for i in range(n):
                g[i] = g[i] + l2 * p[i]
        return penalty
    if floating is float:
        bad = OPTIMIZERS[h.kind].update_f(p, g, state, n, h, l2, decay)
    else:
        bad = OPTIMIZERS[h.kind].update_d(p, g, state, n, h, l2, decay)
    return penalty if not bad else NAN


cdef double _schedule_lr(Step *h, int64_t step) noexcept nogil:
    """The learning rate of update ``step`` (counted from 0) under the schedule in ``h``; see fastnn.schedules
    for the formulas (Keras's CosineDecay and ExponentialDecay, PyTorch's OneCycleLR)."""
    cdef double t = <double> step, frac, start, end, lo
    cdef double *a = h.sched
    if h.sched_kind == S_COSINE:  # a: initial, decay_steps, alpha, warmup_steps
        if t < a[3]:  # linear warm-up from 0
            return a[0] * t / a[3]
        frac = min(t - a[3], a[1]) / a[1]
        return a[0] * ((1 - a[2]) * 0.5 * (1 + cos(M_PI_C * frac)) + a[2])
    if h.sched_kind == S_EXPONENTIAL:  # a: initial, decay_steps, decay_rate, staircase
        frac = t / a[1]
        if a[3] != 0:
            frac = floor(frac)
        return a[0] * pow(a[2], frac)
    if h.sched_kind == S_ONECYCLE:  # a: max_lr, total_steps, pct_start, div_factor, final_div_factor
        start = a[0] / a[3]
        lo = start / a[4]
        end = a[2] * a[1] - 1  # the step at which the rate peaks
        t = min(t, a[1] - 1)
        if t <= end:
            frac = t / end if end > 0 else 1.0
            return a[0] + (start - a[0]) / 2 * (cos(M_PI_C * frac) + 1)
        frac = (t - end) / (a[1] - 1 - end)
        return lo + (a[0] - lo) / 2 * (cos(M_PI_C * frac) + 1)
    return h.lr


cdef void _begin_step(Step *h, int64_t step) noexcept nogil:
    """Set the learning rate and the optimizer's corrections for update ``step`` (counted from 0)."""
    if h.sched_kind != S_CONSTANT:
        h.lr = _schedule_lr(h, step)
    if OPTIMIZERS[h.kind].begin != NULL:
        OPTIMIZERS[h.kind].begin(h, step)


cdef class Settings:
    """An optimizer's compiled settings, filled once by field name: what every update shares (kind, rate or
    schedule, weight decay, the model's L1/L2) and the optimizer's own struct (SGDSettings, AdamSettings or
    RMSpropSettings, from ``options``, which must name exactly that struct's fields).

    ``schedule`` is None (a constant ``lr``) or ``(kind, params)``: a schedule code and up to six floats.
    ``clipnorm`` > 0 scales each step's gradients so that their global 2-norm is at most it
    (``torch.nn.utils.clip_grad_norm_``).
    """
    cdef Step step
    cdef SGDSettings sgd
    cdef AdamSettings adam
    cdef RMSpropSettings rmsprop

    def __init__(self, int kind, options, double lr=0.0, double weight_decay=0.0, double l1=0.0, double l2=0.0,
                 schedule=None, double clipnorm=0.0):
        memset(&self.step, 0, sizeof(Step))
        if not 0 <= kind < N_OPTIMIZERS:
            raise ValueError(f"unknown optimizer kind {kind}")
        options = dict(options)
        self.step.kind = kind
        if kind == K_SGD:
            self.sgd = options
            self.step.opt = &self.sgd
        elif kind == K_ADAM or kind == K_ADAMW:
            self.adam = options
            self.step.opt = &self.adam
        else:
            self.rmsprop = options
            self.step.opt = &self.rmsprop
        self.step.lr = lr
        self.step.weight_decay = weight_decay
        self.step.l1 = l1
        self.step.l2 = l2
        self.step.clipnorm = clipnorm
        self.step.corr[0] = self.step.corr[1] = 1
        if schedule is not None:
            sched_kind, params = schedule
            params = [float(v) for v in params]
            if len(params) > 6:
                raise ValueError("a schedule has at most six parameters")
            self.step.sched_kind = sched_kind
            for k, v in enumerate(params):
                self.step.sched[k] = v

    cdef Step copy(self, Py_ssize_t stride):
        """This step's settings for state rows ``stride`` apart (a copy: an update changes its rate)."""
        cdef Step h = self.step
        h.stride = stride
        return h


def schedule_rates(int sched_kind, params, int64_t first_step, Py_ssize_t n):
    """The learning rates of updates ``first_step .. first_step + n - 1`` under a schedule (float64)."""
    cdef Settings s = Settings(K_SGD, {"momentum": 0.0, "nesterov": False}, schedule=(sched_kind, params))
    cdef Step h = s.copy(0)
    cdef Py_ssize_t i
    out = np.empty(n, dtype=np.float64)
    cdef double[::1] o = out
    for i in range(n):
        _begin_step(&h, first_step + i)
        o[i] = h.lr
    return out
