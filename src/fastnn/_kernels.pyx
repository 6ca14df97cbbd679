# cython: language_level=3
"""Compiled kernels of fastnn: dense layers, activations, fused losses, the optimizer updates and the training
engine, which walks a table of layer kinds (dense, convolution and pooling; the kernels on one image are in
``_conv.pxd``).

Everything here trusts its inputs: shapes, dtypes, contiguity, finiteness and label ranges are checked in the
Python layer (``fastnn._validation``) before any function of this module is called. ``_reference.py`` holds a
pure-NumPy twin of every kernel; it is the written-down specification and the test oracle.

Conventions
-----------
* Matrices are row-major. A dense layer with ``n_in`` inputs and ``n_out`` outputs has ``W`` of shape
  ``(n_out, n_in)`` and ``b`` of shape ``(n_out,)``; its pre-activation is ``z = x @ W.T + b``.
* Activation derivatives are computed from the activation's *output*, so the backward pass keeps only outputs.
* Losses are means over the batch. Per sample: cross-entropy ``-sum_k t_k log p_k`` with ``p = softmax(z)``;
  binary cross-entropy and mean squared error are means over the output units.
* Work is split into tasks by batch rows (forward, loss and input gradients: every row is independent) and by
  output features (weight gradients and the update: no reduction across threads), fixed by the shapes alone;
  fastnn's thread pool (``_pool.pxd``) runs a step's tasks on the calling thread and its helpers. Every sum is
  computed in one fixed order, so results do not depend on the number of threads.
"""
cimport cython
from cython cimport floating
from libc.math cimport (exp, expf, expm1, expm1f, log, logf, log1p, log1pf, tanh, tanhf, fabs, fabsf, erf, erff,
                        isfinite, NAN, sqrt, sqrtf, cos, floor, pow)
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport int64_t, int32_t, uint8_t, uint32_t, uint64_t

import numpy as np

from ._blas cimport gemm, gemv, NoTrans, Trans
from ._conv cimport im2col, col2im, max_pool, max_pool_backward, avg_pool, avg_pool_backward
from ._openmp cimport fastnn_openmp_enabled, fastnn_max_threads
from ._pool cimport fastnn_run, fastnn_pool_set_spin, fastnn_pool_spin, fastnn_pool_helpers

cdef extern from *:
    """
    #include <signal.h>
    #include <string.h>
    /* Ctrl-C during training: a SIGINT handler that raises a flag the batch loop reads between batches, then
       hands the signal on to the handler it replaced (Python's, which raises KeyboardInterrupt later). */
    static volatile sig_atomic_t fastnn_interrupted = 0;
    static struct sigaction fastnn_prev_action;
    static int fastnn_installed = 0;
    static void fastnn_on_sigint(int sig) {
        fastnn_interrupted = 1;
        if (fastnn_prev_action.sa_flags & SA_SIGINFO) {
            if (fastnn_prev_action.sa_sigaction) fastnn_prev_action.sa_sigaction(sig, NULL, NULL);
        } else if (fastnn_prev_action.sa_handler != SIG_DFL && fastnn_prev_action.sa_handler != SIG_IGN
                   && fastnn_prev_action.sa_handler != NULL) {
            fastnn_prev_action.sa_handler(sig);
        }
    }
    /* 0: installed; 1: SIGINT is ignored, nothing installed; -1: failed. */
    static int fastnn_install_sigint(void) {
        struct sigaction act, prev;
        if (fastnn_installed) return -1;
        if (sigaction(SIGINT, NULL, &prev) != 0) return -1;
        if (!(prev.sa_flags & SA_SIGINFO) && prev.sa_handler == SIG_IGN) return 1;
        memset(&act, 0, sizeof(act));
        act.sa_handler = fastnn_on_sigint;
        sigemptyset(&act.sa_mask);
        act.sa_flags = SA_ONSTACK;
        fastnn_interrupted = 0;
        if (sigaction(SIGINT, &act, &fastnn_prev_action) != 0) return -1;
        fastnn_installed = 1;
        return 0;
    }
    /* Restores the replaced handler; returns 1 if SIGINT arrived meanwhile and that handler was SIG_DFL. */
    static int fastnn_restore_sigint(void) {
        int hit_default;
        if (!fastnn_installed) return 0;
        sigaction(SIGINT, &fastnn_prev_action, NULL);
        fastnn_installed = 0;
        hit_default = fastnn_interrupted && !(fastnn_prev_action.sa_flags & SA_SIGINFO)
                      && fastnn_prev_action.sa_handler == SIG_DFL;
        fastnn_interrupted = 0;
        return hit_default;
    }
    static int fastnn_was_interrupted(void) { return fastnn_interrupted != 0; }
    """
    int fastnn_install_sigint() noexcept nogil
    int fastnn_restore_sigint() noexcept nogil
    int fastnn_was_interrupted() noexcept nogil


cdef extern from *:
    """
    #ifndef FASTNN_BOUNDSCHECK
    #define FASTNN_BOUNDSCHECK 0
    #endif
    """
    int FASTNN_BOUNDSCHECK

#: Whether this build has Cython's bounds and initialisation checks on (meson option ``boundscheck``).
BOUNDSCHECK = bool(FASTNN_BOUNDSCHECK)


def install_sigint():
    """Route SIGINT through a flag that stops training at the next batch boundary (main thread only);
    returns 0 when installed, 1 when SIGINT is ignored, -1 when it could not be installed."""
    return fastnn_install_sigint()


def restore_sigint():
    """Put back the SIGINT handler ``install_sigint`` replaced; True if a SIGINT arrived meanwhile and that
    handler was the default one (the caller should then re-raise the signal)."""
    return bool(fastnn_restore_sigint())

# Codes shared with the Python layer (fastnn.layers / fastnn.losses).
ACT_IDENTITY = 0
ACT_RELU = 1
ACT_SIGMOID = 2
ACT_TANH = 3
ACT_SOFTMAX = 4
ACT_LEAKY_RELU = 5
ACT_ELU = 6
ACT_SOFTPLUS = 7
ACT_GELU = 8
#: Negative slope of ``leaky_relu`` (PyTorch's default) and ``alpha`` of ``elu``.
LEAKY_SLOPE = 0.01
ELU_ALPHA = 1.0
LOSS_MSE = 0
LOSS_CROSS_ENTROPY = 1
LOSS_BINARY_CROSS_ENTROPY = 2
LOSS_HUBER = 3
LOSS_MAE = 4
# Layer kinds of the engine's layer table (Reshape and Flatten are views: no kind, no kernel).
LAYER_DENSE, LAYER_CONV2D, LAYER_MAXPOOL2D, LAYER_AVGPOOL2D = 0, 1, 2, 3

cdef enum:
    DENSE = 0
    CONV2D = 1
    MAXPOOL2D = 2
    AVGPOOL2D = 3

cdef enum:
    IDENTITY = 0
    RELU = 1
    SIGMOID = 2
    TANH = 3
    SOFTMAX = 4
    LEAKY_RELU = 5
    ELU = 6
    SOFTPLUS = 7
    GELU = 8     # the one activation whose derivative needs its input: layers with it keep z (Net.Z)

cdef extern from *:
    """
    #define FASTNN_LEAKY_SLOPE 0.01
    #define FASTNN_ELU_ALPHA 1.0
    #define FASTNN_SQRT1_2 0.70710678118654752440
    #define FASTNN_INV_SQRT_2PI 0.39894228040143267794
    #define FASTNN_PI 3.14159265358979323846
    """
    const double LEAKY_SLOPE_C "FASTNN_LEAKY_SLOPE"
    const double ELU_ALPHA_C "FASTNN_ELU_ALPHA"
    const double M_SQRT1_2_C "FASTNN_SQRT1_2"
    const double INV_SQRT_2PI_C "FASTNN_INV_SQRT_2PI"
    const double M_PI_C "FASTNN_PI"

assert LEAKY_SLOPE == LEAKY_SLOPE_C and ELU_ALPHA == ELU_ALPHA_C

cdef enum:
    MSE = 0
    CROSS_ENTROPY = 1
    BINARY_CROSS_ENTROPY = 2
    HUBER = 3
    MAE = 4

# Optimizer kinds, learning-rate schedule kinds, and the layout of the float64 array that carries an optimizer's
# settings from Python (fastnn.optim builds it).
OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP = 0, 1, 2, 3
SCHED_CONSTANT, SCHED_COSINE, SCHED_EXPONENTIAL, SCHED_ONECYCLE = 0, 1, 2, 3
HYPER_FIELDS = ("kind", "lr", "momentum", "nesterov", "weight_decay", "l1", "l2", "beta1", "beta2", "eps", "alpha",
                "amsgrad", "sched_kind", "sched0", "sched1", "sched2", "sched3", "sched4", "sched5")
HYPER_SIZE = len(HYPER_FIELDS)

cdef enum:
    K_SGD = 0
    K_ADAM = 1
    K_ADAMW = 2
    K_RMSPROP = 3

cdef enum:
    S_CONSTANT = 0
    S_COSINE = 1
    S_EXPONENTIAL = 2
    S_ONECYCLE = 3

# Every product is split by the columns (units) of a layer into blocks: about one block per COLUMN_BLOCK_MIN * 2
# units, at least two for layers of COLUMN_BLOCK_MIN units or more, at most COLUMN_BLOCKS_MAX. Each extra block
# makes BLAS pack the shared operand once more, so blocks stay large (measured on 2 cores: 4 blocks for 512
# units cost 7% over one unsplit product, 16 blocks 17%).
cdef int COLUMN_BLOCK_MIN = 64
cdef int COLUMN_BLOCKS_MAX = 16
# A phase of less than this many multiply-adds (or element operations) runs in the calling thread: split across
# cores, such work (under about 20 us on one core) loses more to handing its data from one core's cache to
# another's, and to waking a helper, than it gains (measured on 2 cores: scikit-learn's digits, a 64-100-10
# network at batch 200, trained 1.4x slower on 2 threads than on 1 with a limit of 65,536, as fast with 2**21).
# Serial or not, the tasks and their order are the same, so results do not change.
cdef Py_ssize_t PARALLEL_MIN_WORK = 1 << 21
# A single row's products (matrix-vector) read every weight once for one multiply-add: bound by memory, not
# arithmetic, they gain from a second core's cache and bandwidth at far less work (measured on 2 cores: one row
# through 784-512-512-10 took 74 us on one thread, 28 us on two). Their work counts this many times over.
cdef Py_ssize_t MATVEC_WORK_FACTOR = 8
# Image layers work on groups of this many images (a batch's groups are fixed by its size): one product serves a
# group, larger and faster than one an image.
cdef int IMAGE_GROUP = 4
# A batch is split across threads only in pieces of at least this many rows.
cdef int MIN_ROWS_PER_THREAD = 8
# A row tile holds at least this many rows (row tiles exist only on machines of more than 4 cores).
cdef Py_ssize_t MIN_TILE_ROWS = 16
# An input-feature tile of a weight-gradient task is at least this wide.
cdef int MIN_TILE_FEATURES = 32


def _tuning(column_block_min=None, column_blocks_max=None, parallel_min_work=None, spin_us=None):
    """Read (and, for benchmarks, set) the work-split constants and the thread pool's spin time (microseconds a
    waiting thread polls before it sleeps); returns the values in force.

    Changing the split constants changes how products are split, hence the last bits of results: leave them
    alone outside tuning experiments. The spin time changes only speed.
    """
    global COLUMN_BLOCK_MIN, COLUMN_BLOCKS_MAX, PARALLEL_MIN_WORK
    if spin_us is not None:
        fastnn_pool_set_spin(max(0.0, float(spin_us)))
    if parallel_min_work is not None:
        PARALLEL_MIN_WORK = max(0, int(parallel_min_work))
    if column_block_min is not None:
        COLUMN_BLOCK_MIN = max(1, int(column_block_min))
    if column_blocks_max is not None:
        COLUMN_BLOCKS_MAX = max(1, int(column_blocks_max))
    return {"column_block_min": COLUMN_BLOCK_MIN, "column_blocks_max": COLUMN_BLOCKS_MAX,
            "parallel_min_work": PARALLEL_MIN_WORK, "spin_us": fastnn_pool_spin()}


def pool_helpers():
    """How many helper threads fastnn's thread pool has started in this process (they sleep when idle)."""
    return fastnn_pool_helpers()


def openmp_enabled():
    """Whether the extension was compiled with OpenMP."""
    return bool(fastnn_openmp_enabled())


def max_threads():
    """OpenMP's default thread count (``OMP_NUM_THREADS`` or the number of cores)."""
    return fastnn_max_threads()


# ---------------------------------------------------------------------------------------------------------------
# Scalar helpers
# ---------------------------------------------------------------------------------------------------------------

cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating _tanh(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating _abs(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline floating _expm1(floating x) noexcept nogil:
    if floating is float:
        return expm1f(x)
    else:
        return expm1(x)


cdef inline floating _erf(floating x) noexcept nogil:
    if floating is float:
        return erff(x)
    else:
        return erf(x)


cdef inline bint _needs_input(int act) noexcept nogil:
    """Whether the derivative of ``act`` needs the activation's input (not only its output)."""
    return act == GELU


# ---------------------------------------------------------------------------------------------------------------
# Activations on a block of rows (in place), and their derivatives from the output
# ---------------------------------------------------------------------------------------------------------------

cdef void _activation_forward(int act, floating *z, Py_ssize_t n_rows, Py_ssize_t width,
                              Py_ssize_t ld) noexcept nogil:
    """Apply activation ``act`` in place to ``n_rows`` rows of ``width`` values, rows ``ld`` apart.

    Softmax normalises each row over its ``width`` values.
    """
    cdef Py_ssize_t r, k
    cdef floating v, m, s
    cdef floating *row
    for r in range(n_rows):
        row = z + r * ld
        if act == RELU:
            for k in range(width):
                v = row[k]
                row[k] = v if v > 0 else 0
        elif act == SIGMOID:
            for k in range(width):
                row[k] = 1 / (1 + _exp(-row[k]))
        elif act == TANH:
            for k in range(width):
                row[k] = _tanh(row[k])
        elif act == LEAKY_RELU:
            for k in range(width):
                v = row[k]
                row[k] = v if v > 0 else <floating> LEAKY_SLOPE_C * v
        elif act == ELU:
            for k in range(width):
                v = row[k]
                row[k] = v if v > 0 else <floating> ELU_ALPHA_C * _expm1(v if v < 0 else 0)
        elif act == SOFTPLUS:  # log(1 + e^v), without overflow
            for k in range(width):
                v = row[k]
                row[k] = (v if v > 0 else 0) + _log1p(_exp(-_abs(v)))
        elif act == GELU:  # exact (erf) form, PyTorch's default
            for k in range(width):
                v = row[k]
                row[k] = <floating> 0.5 * v * (1 + _erf(v * <floating> M_SQRT1_2_C))
        elif act == SOFTMAX:
            m = row[0]
            for k in range(1, width):
                m = row[k] if row[k] > m else m
            s = 0
            for k in range(width):
                v = _exp(row[k] - m)
                row[k] = v
                s += v
            s = 1 / s
            for k in range(width):
                row[k] *= s


cdef void _activation_backward(int act, const floating *a, const floating *z, floating *d, Py_ssize_t n_rows,
                               Py_ssize_t width, Py_ssize_t ld) noexcept nogil:
    """Multiply the gradient ``d`` in place by the derivative of ``act``, computed from its output ``a`` (and,
    for GELU alone, from its input ``z``; NULL for every other activation).

    All hold ``n_rows`` rows of ``width`` values, rows ``ld`` apart. Softmax needs whole rows.
    """
    cdef Py_ssize_t r, k
    cdef floating v, s
    cdef const floating *ar
    cdef const floating *zr
    cdef floating *dr
    for r in range(n_rows):
        ar = a + r * ld
        dr = d + r * ld
        if act == GELU:  # Phi(z) + z phi(z)
            zr = z + r * ld
            for k in range(width):
                v = zr[k]
                dr[k] *= (<floating> 0.5 * (1 + _erf(v * <floating> M_SQRT1_2_C))
                          + v * _exp(<floating> -0.5 * v * v) * <floating> INV_SQRT_2PI_C)
        elif act == RELU:
            for k in range(width):
                dr[k] = dr[k] if ar[k] > 0 else 0
        elif act == SIGMOID:
            for k in range(width):
                v = ar[k]
                dr[k] *= v * (1 - v)
        elif act == TANH:
            for k in range(width):
                v = ar[k]
                dr[k] *= 1 - v * v
        elif act == LEAKY_RELU:
            for k in range(width):
                dr[k] *= 1 if ar[k] > 0 else <floating> LEAKY_SLOPE_C
        elif act == ELU:  # a + alpha where a = alpha (e^z - 1) <= 0
            for k in range(width):
                v = ar[k]
                dr[k] *= 1 if v > 0 else v + <floating> ELU_ALPHA_C
        elif act == SOFTPLUS:  # sigmoid(z) = 1 - e^-a
            for k in range(width):
                dr[k] *= -_expm1(-ar[k])
        elif act == SOFTMAX:
            s = 0
            for k in range(width):
                s += dr[k] * ar[k]
            for k in range(width):
                dr[k] = ar[k] * (dr[k] - s)


# ---------------------------------------------------------------------------------------------------------------
# Output layer: loss per sample and gradient with respect to the logits, fused
# ---------------------------------------------------------------------------------------------------------------

cdef struct Data:
    # What one call trains or evaluates on, indexed by sample: integer labels or K targets a sample (one is
    # NULL), and optional per-sample weights. targets and weights point to values of the engine's dtype.
    const int32_t *labels
    const void *targets
    const void *weights


cdef inline bint _on_output(int loss) noexcept nogil:
    """Whether ``loss`` compares the activated output with the targets (regression losses), rather than taking
    the logits (the cross-entropies, which fuse their activation in)."""
    return loss == MSE or loss == HUBER or loss == MAE


cdef void _output_rows(int loss, int act, floating *z, floating *d, Py_ssize_t n_rows, Py_ssize_t K,
                       const Data *data, const int64_t *rows, Py_ssize_t first, floating scale, double delta,
                       floating *sample_loss, floating *sample_correct, bint want_grad) noexcept nogil:
    """Loss, accuracy and logit gradient for ``n_rows`` rows.

    ``z`` holds the last layer's pre-activation (for cross-entropy and binary cross-entropy) or its output (for
    the regression losses, see ``_on_output``); on return it holds the output (probabilities). For the
    regression losses ``d`` receives the gradient with respect to the output: the caller multiplies it by the
    activation's derivative. Row ``r`` belongs to sample ``rows[r]`` when ``rows`` is not NULL, else to sample
    ``first + r``. Targets come from ``labels`` (integer classes) when not NULL, else from ``targets`` (``K``
    values a sample), both in ``data``. The gradient is written to ``d`` when ``want_grad``, multiplied by ``scale`` (1 / batch
    size, or 1 / the batch's weight sum) and by the sample's weight when ``weights`` is not NULL. ``delta`` is
    the Huber loss's threshold. Per-sample losses are not weighted.
    """
    cdef Py_ssize_t r, k, i, y, amax, tmax
    cdef floating *zr
    cdef floating *dr
    cdef const floating *tr
    cdef floating m, s, v, t, zy, tz, tsum, logs, lsum, tbest, hits, inv_k = 1.0 / K
    cdef floating sr, dl = delta
    cdef const int32_t *labels = data.labels
    cdef const floating *targets = <const floating *> data.targets
    cdef const floating *weights = <const floating *> data.weights
    for r in range(n_rows):
        i = rows[r] if rows != NULL else first + r
        zr = z + r * K
        dr = d + r * K
        tr = targets + i * K if labels == NULL else NULL
        sr = scale * weights[i] if weights != NULL else scale
        if loss == CROSS_ENTROPY:
            m = zr[0]
            amax = 0
            for k in range(1, K):
                if zr[k] > m:
                    m = zr[k]
                    amax = k
            s = 0
            tz = 0
            tsum = 0
            tmax = 0
            if labels != NULL:
                y = labels[i]
                zy = zr[y] - m
                tmax = y
            else:
                tbest = tr[0]
                for k in range(K):
                    t = tr[k]
                    tz += t * (zr[k] - m)
                    tsum += t
                    if t > tbest:
                        tbest = t
                        tmax = k
            for k in range(K):
                v = _exp(zr[k] - m)
                zr[k] = v
                s += v
            logs = _log(s)
            if labels != NULL:
                sample_loss[r] = logs - zy
            else:
                sample_loss[r] = tsum * logs - tz
            sample_correct[r] = 1 if amax == tmax else 0
            s = 1 / s
            for k in range(K):
                zr[k] *= s
            if want_grad:
                if labels != NULL:
                    for k in range(K):
                        dr[k] = zr[k] * sr
                    dr[y] -= sr
                else:
                    for k in range(K):
                        dr[k] = (zr[k] - tr[k]) * sr
        elif loss == BINARY_CROSS_ENTROPY:
            lsum = 0
            hits = 0
            for k in range(K):
                v = zr[k]
                t = tr[k]
                lsum += (v if v > 0 else 0) - v * t + _log1p(_exp(-_abs(v)))
                hits += 1 if (v > 0) == (t >= 0.5) else 0
                v = 1 / (1 + _exp(-v))
                zr[k] = v
                if want_grad:
                    dr[k] = (v - t) * (sr * inv_k)
            sample_loss[r] = lsum * inv_k
            sample_correct[r] = hits * inv_k
        elif loss == HUBER:  # PyTorch's HuberLoss: 0.5 e^2 within delta, delta (|e| - delta / 2) beyond
            lsum = 0
            for k in range(K):
                v = zr[k] - tr[k]
                t = _abs(v)
                lsum += 0.5 * v * v if t <= dl else dl * (t - 0.5 * dl)
                if want_grad:
                    v = v if v < dl else dl
                    v = v if v > -dl else -dl
                    dr[k] = v * (sr * inv_k)
            sample_loss[r] = lsum * inv_k
            sample_correct[r] = 0
        elif loss == MAE:  # PyTorch's L1Loss; the gradient of |e| at e = 0 is 0
            lsum = 0
            for k in range(K):
                v = zr[k] - tr[k]
                lsum += _abs(v)
                if want_grad:
                    dr[k] = ((v > 0) - (v < 0)) * (sr * inv_k)
            sample_loss[r] = lsum * inv_k
            sample_correct[r] = 0
        else:  # mean squared error on the output
            lsum = 0
            for k in range(K):
                v = zr[k] - tr[k]
                lsum += v * v
                if want_grad:
                    dr[k] = 2 * v * (sr * inv_k)
            sample_loss[r] = lsum * inv_k
            sample_correct[r] = 0


# ---------------------------------------------------------------------------------------------------------------
# The network: pointer tables into buffers owned by Python objects
# ---------------------------------------------------------------------------------------------------------------

cdef struct Geom:
    # The shapes of an image layer (CONV2D, MAXPOOL2D, AVGPOOL2D): input c x h x w, output co x ho x wo, kernel
    # (or pooling window) kh x kw, stride sh, sw, padding ph, pw (top and left). Unused by DENSE.
    int c, h, w, co, ho, wo, kh, kw, sh, sw, ph, pw


cdef struct Net:
    int n_layers
    int *kind           # kind of layer l: DENSE, CONV2D, MAXPOOL2D, AVGPOOL2D
    Geom *geom          # shapes of layer l (image kinds)
    int32_t **arg       # arg[l + 1]: the arg-max indices of max-pooling layer l (cap x width[l + 1]), else NULL
    void *scratch       # per-thread workspaces of slot_size values (im2col columns), n_slots of them
    void **columns      # columns[l]: convolution l's im2col columns of the whole batch, kept from the forward
                        # pass for the weight gradient while training (cols_rows x K x P), else NULL; or NULL
    Py_ssize_t cols_rows
    Py_ssize_t slot_size
    int n_slots
    int loss
    double loss_param   # the Huber loss's delta
    int *width          # width[0] = inputs, width[l + 1] = outputs of layer l
    int *blocks         # blocks[i]: number of column blocks width[i] is split into (fixed by the width alone)
    int *act            # activation of layer l
    Py_ssize_t *w_off   # offset of W_l in the flat parameter buffer
    Py_ssize_t *b_off   # offset of b_l
    void *params        # flat parameters [W_0, b_0, W_1, b_1, ...]
    void *grads         # same layout
    void *state         # optimizer state: rows of n_params values (momentum; Adam's moments; ...)
    Py_ssize_t n_params # stride between the rows of state
    void **A            # A[0]: batch input (cap x width[0]); A[l + 1]: output of layer l (cap x width[l + 1])
    void **D            # D[l + 1]: gradient w.r.t. the pre-activation of layer l (cap x width[l + 1])
    void **Z            # Z[l + 1]: pre-activation of layer l when its derivative needs it (GELU), else NULL
    double *drop        # drop[i]: dropout rate applied to A[i] (the input of layer i) in training, or 0
    void **Ad           # Ad[i]: A[i] after dropout, the input layer i trains on (NULL without dropout)
    uint8_t **mask      # mask[i]: which units of A[i] dropout kept, per row (NULL without dropout)
    uint64_t *drop_key  # drop_key[i]: the current batch's random key for the mask of A[i]
    uint64_t seed       # the model's dropout seed
    bint training       # this call trains (dropout active), set per call
    int row_tiles       # products split their rows into this many tiles (fixed by the machine's core count)
    bint is_double
    Py_ssize_t cap      # rows the buffers hold
    bint single_row     # this call works on one row at a time (matrix-vector products): set per call, so
                        # that the kind of product depends on the call's shape alone, never on a last block
    int *tie            # tie[l] >= 0: layer l's weights are layer tie[l]'s, transposed (tied autoencoders), or -1;
                        # NULL when no layer is tied
    int n_tasks         # weight-gradient/update tasks: (layer, output features j0..j1, input features i0..i1)
    Py_ssize_t task_work  # multiply-adds of all the weight-gradient tasks, per batch row
    int *task_layer
    int *task_j0
    int *task_j1
    int *task_i0
    int *task_i1


cdef struct Hyper:
    int kind            # optimizer: OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP
    double lr           # learning rate of the current step (from the schedule)
    double momentum     # SGD and RMSprop
    bint nesterov
    double weight_decay # SGD, Adam, RMSprop: added to the weights' gradient; AdamW: decoupled
    double l1           # the model's regularizer, added to the weights' gradient
    double l2
    double beta1        # Adam(W)
    double beta2
    double eps          # Adam(W), RMSprop
    double alpha        # RMSprop's smoothing constant
    bint amsgrad
    double bc1          # Adam's bias corrections of the current step: 1 - beta1^t and sqrt(1 - beta2^t)
    double bc2_sqrt
    Py_ssize_t stride   # distance between the optimizer's state rows (n_params)
    int sched_kind      # learning-rate schedule: SCHED_CONSTANT, SCHED_COSINE, SCHED_EXPONENTIAL, SCHED_ONECYCLE
    double sched[6]


cdef extern from *:
    """
    /* SplitMix64's finaliser: a strong 64-bit mix, the counter-based source of dropout's randomness. */
    static inline uint64_t fastnn_mix64(uint64_t z) {
        z += 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    """
    uint64_t fastnn_mix64(uint64_t z) noexcept nogil


def mix64(uint64_t z):
    """SplitMix64's finaliser of ``z`` (the mix behind the counter-based random streams)."""
    return fastnn_mix64(z)


cdef inline uint64_t _dropout_key(uint64_t seed, int64_t step, int i) noexcept nogil:
    """The key of the dropout mask of buffer ``i`` at update ``step``: a mask depends on (seed, step, buffer,
    row, unit) alone, never on threads or on how batches were grouped into calls."""
    return fastnn_mix64(fastnn_mix64(seed) ^ fastnn_mix64(<uint64_t> step * 1024 + <uint64_t> i))


cdef inline uint64_t _keep_threshold(double rate) noexcept nogil:
    return <uint64_t> (rate * 4294967296.0)


cdef inline uint8_t _kept(uint64_t key, Py_ssize_t idx, uint64_t threshold) noexcept nogil:
    """Whether dropout keeps element ``idx`` (row * width + unit) of a buffer whose mask key is ``key``."""
    return (fastnn_mix64(key + <uint64_t> idx) >> 32) >= threshold


def dropout_mask(uint64_t seed, int64_t step, int buffer, Py_ssize_t n_rows, Py_ssize_t width, double rate):
    """The mask (uint8, ``n_rows x width``) dropout draws for ``buffer`` at update ``step``: 1 where kept."""
    cdef uint64_t key = _dropout_key(seed, step, buffer), threshold = _keep_threshold(rate)
    cdef Py_ssize_t idx
    out = np.empty((n_rows, width), dtype=np.uint8)
    cdef uint8_t[:, ::1] o = out
    for idx in range(n_rows * width):
        o[idx // width, idx % width] = _kept(key, idx, threshold)
    return out


cdef void _dropout_columns(Net *net, int i, Py_ssize_t r0, Py_ssize_t r1, int j0, int j1) noexcept nogil:
    """Dropout of units ``j0 .. j1`` of ``A[i]`` into ``Ad[i]``: a unit is kept when the top 32 bits of
    ``mix(key + row * width + unit)`` reach ``rate * 2**32``, and kept units are scaled by ``1 / (1 - rate)``
    (inverted dropout: inference needs no scaling)."""
    cdef int w = net.width[i]
    cdef Py_ssize_t r, j, idx
    cdef uint64_t key = net.drop_key[i]
    cdef uint64_t threshold = _keep_threshold(net.drop[i])
    cdef double scale = 1.0 / (1.0 - net.drop[i])
    cdef uint8_t keep
    cdef uint8_t *m = net.mask[i]
    if net.is_double:
        for r in range(r0, r1):
            for j in range(j0, j1):
                idx = r * w + j
                keep = _kept(key, idx, threshold)
                m[idx] = keep
                (<double *> net.Ad[i])[idx] = (<double *> net.A[i])[idx] * scale if keep else 0.0
    else:
        for r in range(r0, r1):
            for j in range(j0, j1):
                idx = r * w + j
                keep = _kept(key, idx, threshold)
                m[idx] = keep
                (<float *> net.Ad[i])[idx] = (<float *> net.A[i])[idx] * <float> scale if keep else 0.0


cdef inline void *_layer_input(Net *net, int l) noexcept nogil:
    """What layer ``l`` reads: ``A[l]``, or its dropped-out copy while training."""
    return net.Ad[l] if net.training and net.Ad[l] != NULL else net.A[l]


cdef inline floating *_offset(floating *p, Py_ssize_t k) noexcept nogil:
    """``p + k``, or NULL when ``p`` is NULL."""
    return p + k if p != NULL else NULL


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
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 11
    #define FASTNN_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
    #else
    #define FASTNN_CLONES
    #endif
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


cdef void _forward_columns(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t r0,
                           Py_ssize_t r1, int blk, bint activate) noexcept nogil:
    """Rows ``r0 .. r1`` of the output columns of block ``blk`` of layer ``l``:
    ``out[r0:r1, j0:j1] = act(inp[r0:r1] @ W[j0:j1].T + b[j0:j1])`` (``inp`` points at row 0)."""
    cdef int w_in = net.width[l], w_out = net.width[l + 1], nb = net.blocks[l + 1]
    cdef int j0 = blk * w_out // nb, j1 = (blk + 1) * w_out // nb
    cdef const floating *b = params + net.b_off[l] + j0
    cdef floating *out = (<floating *> net.A[l + 1]) + r0 * w_out + j0
    cdef Py_ssize_t r, n_rows = r1 - r0
    inp = inp + r0 * w_in
    for r in range(n_rows):
        memcpy(out + r * w_out, b, (j1 - j0) * sizeof(floating))
    if net.single_row:  # one row: a matrix-vector product (BLAS's gemm would pack the whole weight block for it)
        _matvec(params + net.w_off[l] + j0 * w_in, inp, out, j1 - j0, w_in)
    else:
        gemm(NoTrans, Trans, <int> n_rows, j1 - j0, w_in, <floating> 1.0, inp, w_in,
             params + net.w_off[l] + j0 * w_in, w_in, <floating> 1.0, out, w_out)
    if activate and net.Z[l + 1] != NULL:
        for r in range(n_rows):
            memcpy((<floating *> net.Z[l + 1]) + (r0 + r) * w_out + j0, out + r * w_out,
                   (j1 - j0) * sizeof(floating))
    if activate and net.act[l] != SOFTMAX:
        _activation_forward(net.act[l], out, n_rows, j1 - j0, w_out)
        if net.training and net.Ad[l + 1] != NULL:
            _dropout_columns(net, l + 1, r0, r1, j0, j1)


cdef void _mask_columns(floating *d, const uint8_t *m, Py_ssize_t n_rows, Py_ssize_t width, Py_ssize_t ld,
                        floating scale) noexcept nogil:
    cdef Py_ssize_t r, j
    for r in range(n_rows):
        for j in range(width):
            d[r * ld + j] = d[r * ld + j] * scale if m[r * ld + j] else 0


cdef void _backward_columns(Net *net, const floating *params, int l, Py_ssize_t r0, Py_ssize_t r1,
                            int blk) noexcept nogil:
    """Rows ``r0 .. r1`` of the columns of block ``blk`` of ``D[l] = (D[l + 1] @ W_l) * act'(A[l])`` (layer
    ``l >= 1``)."""
    cdef int w_in = net.width[l], w_out = net.width[l + 1], nb = net.blocks[l]
    cdef int j0 = blk * w_in // nb, j1 = (blk + 1) * w_in // nb
    cdef Py_ssize_t n_rows = r1 - r0, at = r0 * w_in + j0
    cdef floating *d = (<floating *> net.D[l]) + at
    cdef const floating *g = (<floating *> net.D[l + 1]) + r0 * w_out
    if net.single_row:
        gemv(Trans, w_out, j1 - j0, <floating> 1.0, params + net.w_off[l] + j0, w_in, g, <floating> 0.0, d)
    else:
        gemm(NoTrans, NoTrans, <int> n_rows, j1 - j0, w_out, <floating> 1.0, g, w_out,
             params + net.w_off[l] + j0, w_in, <floating> 0.0, d, w_in)
    if net.Ad[l] != NULL:  # through dropout: kept units pass the gradient, scaled as in the forward pass
        _mask_columns(d, net.mask[l] + at, n_rows, j1 - j0, w_in, <floating> (1.0 / (1.0 - net.drop[l])))
    if net.act[l - 1] != SOFTMAX:
        _activation_backward(net.act[l - 1], (<floating *> net.A[l]) + at, _offset(<floating *> net.Z[l], at), d,
                             n_rows, j1 - j0, w_in)


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


# ---------------------------------------------------------------------------------------------------------------
# Jobs: each phase of a step (a layer's forward or backward pass, the loss, the batch gather, the weight
# gradients and updates) is a set of independent tasks fixed by the shapes, run by the thread pool (_pool.pxd).
# A job kind is a row of _job_step; a task's ``slot`` only picks its thread's scratch space.
# ---------------------------------------------------------------------------------------------------------------

cdef enum:
    JOB_DENSE_FORWARD = 0   # task: (row tile, column block) of layer l's output
    JOB_DENSE_BACKWARD = 1  # task: (row tile, column block) of D[l]
    JOB_IMAGES_FORWARD = 2  # task: a group of IMAGE_GROUP images through image layer l
    JOB_IMAGES_BACKWARD = 3
    JOB_LOSS = 4            # task: a chunk of rows of the output layer's loss and gradient
    JOB_GATHER = 5          # task: a chunk of the batch's rows copied into A[0]
    JOB_GRADIENT_UPDATE = 6 # task: one weight-gradient tile, then its update
    JOB_GRADIENT = 7        # task: one weight-gradient tile
    JOB_UPDATE = 8          # task: one tile's update


cdef struct Job:
    int kind
    Net *net
    void *params
    int l               # the layer
    const void *inp     # the layer's input (row 0), or the data X (gather)
    Py_ssize_t n_rows   # rows of the batch or block
    Py_ssize_t rt       # row tiles (dense)
    Py_ssize_t n_chunks # row chunks (loss, gather)
    bint activate
    const Data *data    # loss: labels/targets/weights; rows: the batch's sample indices (or NULL); first: the
    const int64_t *rows # index of row 0 in data; scale: the loss's scale
    Py_ssize_t first
    double scale
    void *out_a         # loss: per-sample losses; gather: A[0]
    void *out_b         # loss: per-sample accuracies
    bint apply          # loss: want the gradient; updates: apply them
    Hyper *h
    double *task_penalty


cdef inline Job _job(int kind, Net *net, const void *params, int l) noexcept nogil:
    cdef Job job
    memset(&job, 0, sizeof(Job))
    job.kind = kind
    job.net = net
    job.params = <void *> params
    job.l = l
    return job


cdef inline Py_ssize_t _row_chunks(Py_ssize_t B, int nt) noexcept nogil:
    """How many chunks of rows an elementwise pass over ``B`` rows splits into (its results do not depend on it)."""
    return min(<Py_ssize_t> nt, max(<Py_ssize_t> 1, B // MIN_ROWS_PER_THREAD))


cdef void _job_step(Job *job, Py_ssize_t t, int slot, floating *params) noexcept nogil:
    """Task ``t`` of ``job``."""
    cdef Net *net = job.net
    cdef int l = job.l
    cdef Py_ssize_t k, nb, n = job.n_rows
    if job.kind == JOB_DENSE_FORWARD:
        nb = net.blocks[l + 1]
        k = t // nb
        _forward_columns(net, params, l, <const floating *> job.inp, k * n // job.rt, (k + 1) * n // job.rt,
                         <int> (t % nb), job.activate)
    elif job.kind == JOB_DENSE_BACKWARD:
        nb = net.blocks[l]
        k = t // nb
        _backward_columns(net, params, l, k * n // job.rt, (k + 1) * n // job.rt, <int> (t % nb))
    elif job.kind == JOB_IMAGES_FORWARD:
        _group_forward(net, params, l, <const floating *> job.inp, t * IMAGE_GROUP, min((t + 1) * IMAGE_GROUP, n),
                       job.activate, slot)
    elif job.kind == JOB_IMAGES_BACKWARD:
        _group_backward(net, params, l, t * IMAGE_GROUP, min((t + 1) * IMAGE_GROUP, n), slot)
    elif job.kind == JOB_LOSS:
        _loss_rows(net, t * n // job.n_chunks, (t + 1) * n // job.n_chunks, job.data, job.rows, job.first,
                   <floating> job.scale, <floating *> job.out_a, <floating *> job.out_b, job.apply)
    elif job.kind == JOB_GATHER:
        _gather_rows(<floating *> job.out_a, <const floating *> job.inp, job.rows, t * n // job.n_chunks,
                     (t + 1) * n // job.n_chunks, net.width[0])
    elif job.kind == JOB_GRADIENT_UPDATE:
        job.task_penalty[t] = _feature_task(net, params, <int> t, n, job.h, job.apply, slot)
    elif job.kind == JOB_GRADIENT:
        _task_gradient(net, params, <int> t, n, slot)
    elif job.kind == JOB_UPDATE:
        job.task_penalty[t] = _task_update(net, params, <int> t, job.h, job.apply)


cdef void _job_task(void *ctx, Py_ssize_t t, int slot) noexcept nogil:
    cdef Job *job = <Job *> ctx
    if job.net.is_double:
        _job_step(job, t, slot, <double *> job.params)
    else:
        _job_step(job, t, slot, <float *> job.params)


cdef void _run(Job *job, Py_ssize_t n_tasks, int nt, Py_ssize_t work) noexcept nogil:
    """Every task of ``job``: on up to ``nt`` threads, or in the calling thread when there is one task, one
    thread, or less than PARALLEL_MIN_WORK of work (the same tasks either way, so the same results)."""
    cdef Py_ssize_t t
    if nt <= 1 or n_tasks <= 1 or work < PARALLEL_MIN_WORK:
        for t in range(n_tasks):
            _job_task(job, t, 0)
    else:
        fastnn_run(_job_task, job, n_tasks, nt)


cdef void _images_forward(Net *net, const floating *params, int l, const floating *inp, Py_ssize_t n_rows, int nt,
                          bint activate) noexcept nogil:
    """Image layer ``l`` on ``n_rows`` rows, in groups of IMAGE_GROUP images (the last may be smaller)."""
    cdef Job job = _job(JOB_IMAGES_FORWARD, net, params, l)
    job.inp = inp
    job.n_rows = n_rows
    job.activate = activate
    _run(&job, _groups(n_rows), nt, n_rows * _image_work(net, l))


cdef void _images_backward(Net *net, const floating *params, int l, Py_ssize_t n_rows, int nt) noexcept nogil:
    cdef Job job = _job(JOB_IMAGES_BACKWARD, net, params, l)
    job.n_rows = n_rows
    _run(&job, _groups(n_rows), nt, n_rows * _image_work(net, l))


cdef inline Py_ssize_t _product_work(Net *net, Py_ssize_t n_rows, int l) noexcept nogil:
    """The work of dense layer ``l``'s product over ``n_rows`` rows, as PARALLEL_MIN_WORK counts it."""
    return n_rows * net.width[l] * net.width[l + 1] * (MATVEC_WORK_FACTOR if net.single_row else 1)


cdef void _forward(Net *net, const floating *x, Py_ssize_t n_rows, int nt, bint last_activation) noexcept nogil:
    """Forward pass of ``n_rows`` rows starting at ``x`` (rows ``width[0]`` apart) into ``A[1..L]``, in tiles
    of (row tile, column block) fixed by the shapes and the machine (not by ``nt``)."""
    cdef const floating *params = <floating *> net.params
    cdef const floating *inp = x
    cdef int l, nb, L = net.n_layers
    cdef Py_ssize_t rt = _row_tiles(net, n_rows)
    cdef bint activate
    cdef Job job
    if net.training and net.Ad[0] != NULL:  # dropout on the inputs (A[0] holds the gathered batch)
        _dropout_columns(net, 0, 0, n_rows, 0, net.width[0])
        inp = <floating *> net.Ad[0]
    for l in range(L):
        nb = net.blocks[l + 1]
        activate = l < L - 1 or last_activation
        if net.kind[l] != DENSE:
            _images_forward(net, params, l, inp, n_rows, nt, activate)
            inp = <floating *> _layer_input(net, l + 1)
            continue
        job = _job(JOB_DENSE_FORWARD, net, params, l)
        job.inp = inp
        job.n_rows = n_rows
        job.rt = rt
        job.activate = activate
        _run(&job, nb * rt, nt, _product_work(net, n_rows, l))
        if activate and net.act[l] == SOFTMAX:
            _activation_forward(SOFTMAX, <floating *> net.A[l + 1], n_rows, net.width[l + 1], net.width[l + 1])
            if net.training and net.Ad[l + 1] != NULL:
                _dropout_columns(net, l + 1, 0, n_rows, 0, net.width[l + 1])
        inp = <floating *> _layer_input(net, l + 1)


cdef void _backward(Net *net, const floating *params, Py_ssize_t n_rows, int nt) noexcept nogil:
    """Propagate ``D[L]`` back to ``D[1]`` (the input gradient ``D[0]`` is never needed), in the same kind of
    tiles as the forward pass."""
    cdef int l, nb
    cdef Py_ssize_t rt = _row_tiles(net, n_rows)
    cdef Job job
    for l in range(net.n_layers - 1, 0, -1):
        nb = net.blocks[l]
        if net.kind[l] != DENSE:
            _images_backward(net, params, l, n_rows, nt)
            continue
        job = _job(JOB_DENSE_BACKWARD, net, params, l)
        job.n_rows = n_rows
        job.rt = rt
        _run(&job, nb * rt, nt, _product_work(net, n_rows, l))
        if net.act[l - 1] == SOFTMAX:
            _activation_backward(SOFTMAX, <floating *> net.A[l], NULL, <floating *> net.D[l], n_rows, net.width[l],
                                 net.width[l])


cdef void _gather_rows(floating *dst, const floating *X, const int64_t *rows, Py_ssize_t r0, Py_ssize_t r1,
                       Py_ssize_t n_in) noexcept nogil:
    cdef Py_ssize_t r
    for r in range(r0, r1):
        memcpy(dst + r * n_in, X + rows[r] * n_in, n_in * sizeof(floating))


cdef void _loss_rows(Net *net, Py_ssize_t r0, Py_ssize_t r1, const Data *data, const int64_t *rows,
                     Py_ssize_t first, floating scale, floating *sample_loss, floating *sample_correct,
                     bint want_grad) noexcept nogil:
    cdef int L = net.n_layers, K = net.width[L]
    cdef floating *a = (<floating *> net.A[L]) + r0 * K
    cdef floating *d = (<floating *> net.D[L]) + r0 * K
    _output_rows(net.loss, net.act[L - 1], a, d, r1 - r0, K, data, rows + r0 if rows != NULL else NULL,
                 first + r0, scale, net.loss_param, sample_loss + r0, sample_correct + r0, want_grad)
    if _on_output(net.loss) and want_grad:
        _activation_backward(net.act[L - 1], a, _offset(<floating *> net.Z[L], r0 * K), d, r1 - r0, K, K)


cdef void _loss(Net *net, Py_ssize_t B, const Data *data, const int64_t *rows, Py_ssize_t first, floating scale,
                floating *sample_loss, floating *sample_correct, bint want_grad, int nt) noexcept nogil:
    """Output activation, per-sample loss and accuracy, and (``want_grad``) ``D[L]``, split by rows."""
    cdef Job job = _job(JOB_LOSS, net, <floating *> net.params, 0)
    job.n_rows = B
    job.n_chunks = _row_chunks(B, nt)
    job.data = data
    job.rows = rows
    job.first = first
    job.scale = scale
    job.out_a = sample_loss
    job.out_b = sample_correct
    job.apply = want_grad
    _run(&job, job.n_chunks, nt, B * net.width[net.n_layers] * 16)  # ~16 flops an element


cdef inline double _lane_sum(const floating *p, Py_ssize_t n, bint absolute) noexcept nogil:
    """``sum p`` (or ``sum |p|``) in double, in eight fixed lanes (vectorisable, and the same order on every
    call)."""
    cdef double lanes[8]
    cdef Py_ssize_t i, k, n8 = n - n % 8
    cdef double total = 0
    for k in range(8):
        lanes[k] = 0
    for i in range(0, n8, 8):
        for k in range(8):
            lanes[k] += _abs(p[i + k]) if absolute else p[i + k]
    for i in range(n8, n):
        total += _abs(p[i]) if absolute else p[i]
    for k in range(8):
        total += lanes[k]
    return total


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


cdef int _sgd(floating *p, const floating *g, floating *v, Py_ssize_t n, Hyper *h, floating decay) noexcept nogil:
    """PyTorch's SGD: ``g += decay*p; v = mu*v + g; p -= lr*(g + mu*v if nesterov else v)``. Returns whether a
    new parameter is NaN or infinite (the OR of ``w - w != 0``, which only those give)."""
    cdef Py_ssize_t i
    cdef int bad = 0
    cdef floating w, gi, vi, lr = h.lr, mu = h.momentum
    if mu == 0:
        for i in range(n):
            w = p[i]
            w = w - lr * (g[i] + decay * w)
            p[i] = w
            bad |= (w - w) != 0
    elif h.nesterov:
        for i in range(n):
            w = p[i]
            gi = g[i] + decay * w
            vi = mu * v[i] + gi
            v[i] = vi
            w = w - lr * (gi + mu * vi)
            p[i] = w
            bad |= (w - w) != 0
    else:
        for i in range(n):
            w = p[i]
            vi = mu * v[i] + g[i] + decay * w
            v[i] = vi
            w = w - lr * vi
            p[i] = w
            bad |= (w - w) != 0
    return bad


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


cdef int _adam(floating *p, const floating *g, floating *m, Py_ssize_t n, Hyper *h, floating decay,
               floating decoupled) noexcept nogil:
    """PyTorch's Adam / AdamW (``decoupled`` = AdamW's weight decay, applied as ``p *= 1 - lr*decoupled`` first):
    ``g += decay*p; m += (1-b1)(g - m); v = b2 v + (1-b2) g^2; [vmax = max(vmax, v)];
    p -= lr/bc1 * m / (sqrt(v or vmax)/sqrt(bc2) + eps)``. State rows: m, v[, vmax]. Returns whether a new
    parameter is NaN or infinite."""
    cdef floating *v = m + h.stride
    if floating is float:
        return fastnn_sadam(p, g, m, v, v + h.stride, n, decay, 1 - h.lr * decoupled, 1 - h.beta1, h.beta2,
                            1 - h.beta2, h.eps, h.lr / h.bc1, h.bc2_sqrt, h.amsgrad)
    else:
        return fastnn_dadam(p, g, m, v, v + h.stride, n, decay, 1 - h.lr * decoupled, 1 - h.beta1, h.beta2,
                            1 - h.beta2, h.eps, h.lr / h.bc1, h.bc2_sqrt, h.amsgrad)


cdef int _rmsprop(floating *p, const floating *g, floating *sq, Py_ssize_t n, Hyper *h,
                  floating decay) noexcept nogil:
    """PyTorch's RMSprop: ``g += decay*p; sq = a sq + (1-a) g^2; avg = sqrt(sq) + eps``; then with momentum
    ``buf = mu buf + g/avg; p -= lr buf``, else ``p -= lr g/avg``. State rows: sq[, buf]."""
    cdef Py_ssize_t i
    cdef int bad = 0
    cdef floating *buf = sq + h.stride
    cdef floating w, gi, si, bi, a = h.alpha, c = 1 - h.alpha, eps = h.eps, lr = h.lr, mu = h.momentum
    if mu == 0:
        for i in range(n):
            w = p[i]
            gi = g[i] + decay * w
            si = a * sq[i] + c * gi * gi
            sq[i] = si
            w = w - lr * (gi / (_sqrt(si) + eps))
            p[i] = w
            bad |= (w - w) != 0
    else:
        for i in range(n):
            w = p[i]
            gi = g[i] + decay * w
            si = a * sq[i] + c * gi * gi
            sq[i] = si
            bi = mu * buf[i] + gi / (_sqrt(si) + eps)
            buf[i] = bi
            w = w - lr * bi
            p[i] = w
            bad |= (w - w) != 0
    return bad


cdef double _update_range(floating *p, floating *g, floating *state, Py_ssize_t n, Hyper *h,
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
    if h.kind == K_ADAM:
        bad = _adam(p, g, state, n, h, l2 + decay, 0)
    elif h.kind == K_ADAMW:
        bad = _adam(p, g, state, n, h, l2, decay)
    elif h.kind == K_RMSPROP:
        bad = _rmsprop(p, g, state, n, h, l2 + decay)
    else:
        bad = _sgd(p, g, state, n, h, l2 + decay)
    return penalty if not bad else NAN


cdef double _schedule_lr(Hyper *h, int64_t step) noexcept nogil:
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


cdef void _begin_step(Hyper *h, int64_t step) noexcept nogil:
    """Set the learning rate and Adam's bias corrections for update ``step`` (counted from 0)."""
    if h.sched_kind != S_CONSTANT:
        h.lr = _schedule_lr(h, step)
    if h.kind == K_ADAM or h.kind == K_ADAMW:
        h.bc1 = 1 - pow(h.beta1, <double> (step + 1))
        h.bc2_sqrt = sqrt(1 - pow(h.beta2, <double> (step + 1)))


cdef inline bint _kept_columns(Net *net, int l, Py_ssize_t rows) noexcept nogil:
    """Whether convolution ``l``'s columns of a training batch of ``rows`` rows are kept in ``columns[l]``."""
    return net.training and net.columns != NULL and net.columns[l] != NULL and rows <= net.cols_rows


cdef void _conv_gradient(Net *net, floating *params, int t, Py_ssize_t B, int slot) noexcept nogil:
    """Weight and bias gradients of output channels j0..j1 of a convolution, summed over the batch's groups of
    images in order (``dW += dY_group @ im2col(x_group).T``), from the columns the forward pass kept (or formed
    again)."""
    cdef int l = net.task_layer[t], j0 = net.task_j0[t], j1 = net.task_j1[t]
    cdef const Geom *g = &net.geom[l]
    cdef int w_in = net.width[l], w_out = net.width[l + 1], P = g.ho * g.wo, K = g.c * g.kh * g.kw, j
    cdef Py_ssize_t r
    cdef floating *grads = <floating *> net.grads
    cdef const floating *D = <floating *> net.D[l + 1]
    cdef const floating *inp = <floating *> _layer_input(net, l)
    cdef floating *cols = <floating *> _slot(net, slot)
    cdef floating *dys
    cdef Py_ssize_t wo = net.w_off[l] + <Py_ssize_t> j0 * K, N, grp
    cdef double s
    cdef int n
    cdef bint kept = _kept_columns(net, l, B)
    for grp in range(_groups(B)):
        r = grp * IMAGE_GROUP
        n = <int> min(<Py_ssize_t> IMAGE_GROUP, B - r)
        N = <Py_ssize_t> n * P
        if kept:
            dys = <floating *> _slot(net, slot)
            cols = (<floating *> net.columns[l]) + r * K * P
        else:
            dys = cols + K * N
            _gather_columns(inp + r * w_in, w_in, g, n, cols)
        _gather_channels(D + r * w_out, w_out, P, j0, j1, n, dys)
        gemm(NoTrans, Trans, j1 - j0, K, <int> N, <floating> 1.0, dys, <int> N, cols, <int> N,
             <floating> (1.0 if r > 0 else 0.0), grads + wo, K)
    for j in range(j0, j1):
        s = 0
        for r in range(B):
            s += _lane_sum(D + r * w_out + <Py_ssize_t> j * P, P, False)
        grads[net.b_off[l] + j] = <floating> s


cdef void _task_gradient(Net *net, floating *params, int t, Py_ssize_t B, int slot) noexcept nogil:
    """The data term of the weight gradients of one tile (output features j0..j1 x input features i0..i1) of one
    layer; the tile holding input feature 0 does the biases of its output features too. (A convolution's tasks
    are blocks of its output channels: ``_conv_gradient``.)"""
    cdef int l = net.task_layer[t], j0 = net.task_j0[t], j1 = net.task_j1[t]
    cdef int i0 = net.task_i0[t], i1 = net.task_i1[t]
    cdef int w_in = net.width[l], w_out = net.width[l + 1]
    cdef Py_ssize_t r, j
    cdef floating *grads = <floating *> net.grads
    cdef const floating *D = <floating *> net.D[l + 1]
    cdef floating *gb = grads + net.b_off[l]
    if net.kind[l] == CONV2D:
        _conv_gradient(net, params, t, B, slot)
        return
    gemm(Trans, NoTrans, j1 - j0, i1 - i0, <int> B, <floating> 1.0, D + j0, w_out,
         (<floating *> _layer_input(net, l)) + i0, w_in, <floating> 0.0, grads + net.w_off[l] + j0 * w_in + i0,
         w_in)
    if i0 == 0:
        for j in range(j0, j1):
            gb[j] = 0
        for r in range(B):
            for j in range(j0, j1):
                gb[j] += D[r * w_out + j]


cdef double _task_update(Net *net, floating *params, int t, Hyper *h, bint apply) noexcept nogil:
    """The update of one tile's weights (and biases) from their gradients; returns its penalty."""
    cdef int l = net.task_layer[t], j0 = net.task_j0[t], j1 = net.task_j1[t]
    cdef int i0 = net.task_i0[t], i1 = net.task_i1[t]
    cdef int w_in = net.width[l] if net.kind[l] != CONV2D else i1  # a convolution's tasks: whole kernels
    cdef Py_ssize_t j, wj
    cdef floating *grads = <floating *> net.grads
    cdef floating *state = <floating *> net.state
    cdef Py_ssize_t wo = net.w_off[l] + <Py_ssize_t> j0 * w_in + i0, bo = net.b_off[l] + j0
    cdef double penalty = 0
    if i1 - i0 == w_in:  # whole rows: one contiguous range
        penalty = _update_range(params + wo, grads + wo, state + wo, <Py_ssize_t> (j1 - j0) * w_in, h, True,
                                apply)
    else:
        for j in range(j1 - j0):
            wj = wo + j * w_in
            penalty += _update_range(params + wj, grads + wj, state + wj, i1 - i0, h, True, apply)
    if i0 == 0:
        penalty += _update_range(params + bo, grads + bo, state + bo, j1 - j0, h, False, apply)
    return penalty


cdef double _feature_task(Net *net, floating *params, int t, Py_ssize_t B, Hyper *h, bint apply,
                          int slot) noexcept nogil:
    """Weight gradients of one tile, then their update while they are in cache; returns the tile's penalty."""
    _task_gradient(net, params, t, B, slot)
    return _task_update(net, params, t, h, apply)


cdef void _tie_gradients(Net *net, floating *grads) noexcept nogil:
    """A tied layer's weights are its source's, stored a second time as their transpose: the matrix's gradient is
    the sum of both copies' gradients, written to both, so that both copies take the same steps (the same
    arithmetic on the same numbers) and stay exact transposes."""
    cdef int l, s, i, j, n_in, n_out
    cdef floating *gs
    cdef floating *gl
    cdef floating v
    for l in range(net.n_layers):
        s = net.tie[l]
        if s < 0:
            continue
        n_out = net.width[s + 1]  # the source's W is n_out x n_in; the tied copy n_in x n_out
        n_in = net.width[s]
        gs = grads + net.w_off[s]
        gl = grads + net.w_off[l]
        for j in range(n_out):
            for i in range(n_in):
                v = gs[j * n_in + i] + gl[i * n_out + j]
                gs[j * n_in + i] = v
                gl[i * n_out + j] = v


cdef void _clip_gradients(Net *net, floating *grads, double max_norm) noexcept nogil:
    """Scale every gradient by ``min(1, max_norm / (norm + 1e-6))``, ``norm`` the 2-norm of all of them together
    (``torch.nn.utils.clip_grad_norm_``)."""
    cdef Py_ssize_t i, n = net.n_params
    cdef double coef = max_norm / (sqrt(_sum_sq(grads, n)) + 1e-6)
    cdef floating c = <floating> coef
    if coef < 1:
        for i in range(n):
            grads[i] = grads[i] * c


cdef void _update_tasks(Net *net, floating *params, Py_ssize_t B, Hyper *h, bint apply, int nt,
                        double *task_penalty, double max_norm=0) noexcept nogil:
    """Every weight gradient and its update: tile by tile, each tile updated while its gradient is in cache.
    With tied layers or a gradient norm to clip to (``max_norm > 0``), every gradient first, then the tied ones
    summed and the norm clipped, then the updates (a tied copy's penalty is its source's, counted once)."""
    cdef int t
    cdef Job job = _job(JOB_GRADIENT_UPDATE, net, params, 0)
    job.n_rows = B
    job.h = h
    job.apply = apply
    job.task_penalty = task_penalty
    if net.tie == NULL and max_norm <= 0:
        _run(&job, net.n_tasks, nt, net.task_work * B)
        return
    job.kind = JOB_GRADIENT
    _run(&job, net.n_tasks, nt, net.task_work * B)
    if net.tie != NULL:
        _tie_gradients(net, <floating *> net.grads)
    if max_norm > 0:
        _clip_gradients(net, <floating *> net.grads, max_norm)
    job.kind = JOB_UPDATE
    _run(&job, net.n_tasks, nt, net.n_params * 4)  # a few operations a parameter
    if net.tie != NULL:
        for t in range(net.n_tasks):
            if net.tie[net.task_layer[t]] >= 0 and task_penalty[t] == task_penalty[t]:  # keep NaN: divergence
                task_penalty[t] = 0


cdef Py_ssize_t _train_batches(Net *net, const floating *X, const int64_t *perm, Py_ssize_t n_samples,
                               Py_ssize_t batch_size, Py_ssize_t first_batch, Py_ssize_t last_batch,
                               const Data *data, Hyper *h, int64_t *step, int n_threads, floating *sample_loss,
                               floating *sample_correct, double *task_penalty, double *out_sums,
                               bint apply) noexcept nogil:
    """Train on batches ``first_batch .. last_batch`` of the permutation ``perm``.

    ``step`` counts the updates applied over the model's life (the schedule's and Adam's step); each applied
    update adds one. Adds to ``out_sums``: [sum of batch losses times batch sizes, sum of batch penalties times
    batch sizes, sum of per-sample accuracies, samples seen]; a batch's loss is the mean of its per-sample losses
    (its sum is added as it is), or their weighted mean ``sum(w l) / sum(w)`` with sample weights. Returns -1 when every batch ran; the index
    ``bi >= 0`` of the first batch whose loss was not finite (its update is not applied) or whose update left a
    parameter NaN or infinite (the parameters and state are then partly updated: the caller restores them),
    training stopping there; or ``-2 - bi`` when SIGINT arrived and training stopped before batch ``bi``.
    """
    cdef Py_ssize_t bi, start, B, r, c
    cdef int t, nt = n_threads
    cdef double batch_loss, batch_hits, batch_pen, wsum
    cdef floating *A0 = <floating *> net.A[0]
    cdef floating *params = <floating *> net.params
    cdef Job gather = _job(JOB_GATHER, net, params, 0)
    cdef const floating *weights = <const floating *> data.weights
    for bi in range(first_batch, last_batch):
        if fastnn_was_interrupted():
            return -2 - bi
        start = bi * batch_size
        B = min(batch_size, n_samples - start)
        gather.inp = X
        gather.out_a = A0
        gather.rows = perm + start
        gather.n_rows = B
        gather.n_chunks = _row_chunks(B, nt)
        _run(&gather, gather.n_chunks, nt, B * net.width[0])
        wsum = B
        if weights != NULL:
            wsum = 0
            for r in range(B):
                wsum += weights[perm[start + r]]
        for c in range(net.n_layers):
            if net.Ad[c] != NULL:
                net.drop_key[c] = _dropout_key(net.seed, step[0], c)
        _forward(net, A0, B, nt, _on_output(net.loss))
        _loss(net, B, data, perm + start, 0, <floating> (1.0 / wsum if wsum > 0 else 0.0), sample_loss,
              sample_correct, True, nt)
        batch_loss = 0
        batch_hits = 0
        for r in range(B):
            batch_loss += sample_loss[r] if weights == NULL else sample_loss[r] * weights[perm[start + r]]
            batch_hits += sample_correct[r]
        if weights != NULL:  # the weighted mean, counted as B samples' worth in the epoch's sums
            batch_loss = batch_loss / wsum * B if wsum > 0 else 0.0
        if not isfinite(batch_loss):
            return bi
        _backward(net, params, B, nt)
        if apply:
            _begin_step(h, step[0])
        _update_tasks(net, params, B, h, apply, nt, task_penalty)
        batch_pen = 0
        for t in range(net.n_tasks):
            batch_pen += task_penalty[t]
        if not isfinite(batch_pen):  # the update made a parameter NaN or infinite (or the penalty overflowed)
            return bi
        if apply:
            step[0] += 1
        out_sums[0] += batch_loss
        out_sums[1] += batch_pen * B
        out_sums[2] += batch_hits
        out_sums[3] += B
    return -1


cdef void _forward_block(Net *net, const floating *X, Py_ssize_t first, Py_ssize_t n_rows, int n_threads,
                         const Data *data, floating *sample_loss, floating *sample_correct) noexcept nogil:
    """Forward pass of rows ``first .. first + n_rows`` of ``X`` (at most ``cap`` rows), and their losses when
    ``data`` is not NULL."""
    _forward(net, X + first * net.width[0], n_rows, n_threads, data == NULL or _on_output(net.loss))
    if data != NULL:
        _loss(net, n_rows, data, NULL, first, <floating> 1.0, sample_loss, sample_correct, False, n_threads)


cdef Data _data(const int32_t[::1] labels, const floating[:, ::1] targets, const floating[::1] weights):
    """Pointers to one call's labels, targets and weights (NULL where None)."""
    cdef Data data
    data.labels = &labels[0] if labels is not None and labels.shape[0] else NULL
    data.targets = &targets[0, 0] if targets is not None and targets.shape[0] else NULL
    data.weights = &weights[0] if weights is not None and weights.shape[0] else NULL
    return data


cdef Py_ssize_t _engine_train(Net *net, const floating[:, ::1] X, const int64_t[::1] perm,
                              const int32_t[::1] labels, const floating[:, ::1] targets,
                              const floating[::1] weights, floating[::1] sl, floating[::1] sc, double[::1] tp,
                              Py_ssize_t batch_size, Py_ssize_t first_batch, Py_ssize_t last_batch, Hyper *h,
                              int64_t *step, int n_threads, double *sums, bint apply):
    """Typed entry of ``Engine.train``: unpack the buffers and run ``_train_batches`` without the GIL."""
    cdef Data data = _data(labels, targets, weights)
    cdef Py_ssize_t result
    net.single_row = batch_size == 1 or X.shape[0] == 1
    net.training = True
    with nogil:
        result = _train_batches(net, &X[0, 0], &perm[0], X.shape[0], batch_size, first_batch, last_batch, &data,
                                h, step, n_threads, &sl[0], &sc[0], &tp[0], sums, apply)
    return result


cdef void _engine_forward(Net *net, const floating[:, ::1] X, floating[:, ::1] out, const int32_t[::1] labels,
                          const floating[:, ::1] targets, const floating[::1] weights, floating[::1] sl,
                          floating[::1] sc, int n_threads, Py_ssize_t block, double *sums):
    """Typed entry of ``Engine.forward`` / ``evaluate``: blocks of ``block`` rows (at most ``cap``; the last
    block may be smaller), without the GIL. With
    ``sums`` NULL the outputs go to ``out``; otherwise [sum of (weighted) per-sample losses, sum of accuracies,
    sum of weights] are added to ``sums``."""
    cdef Py_ssize_t first, r, m, n = X.shape[0], K = net.width[net.n_layers]
    cdef bint with_loss = sums != NULL
    cdef const floating *A_out = <floating *> net.A[net.n_layers]
    cdef Data data = _data(labels, targets, weights)
    cdef const floating *w = <const floating *> data.weights
    net.single_row = block == 1 or n == 1
    net.training = False
    with nogil:
        first = 0
        while first < n:
            m = min(block, n - first)
            _forward_block(net, &X[0, 0], first, m, n_threads, &data if with_loss else NULL, &sl[0], &sc[0])
            if with_loss:
                for r in range(m):
                    sums[0] += sl[r] if w == NULL else sl[r] * w[first + r]
                    sums[1] += sc[r]
                    sums[2] += 1 if w == NULL else w[first + r]
            else:
                memcpy(&out[first, 0], A_out, m * K * sizeof(floating))
            first += m


# ---------------------------------------------------------------------------------------------------------------
# Python-facing engine
# ---------------------------------------------------------------------------------------------------------------

cdef class Engine:
    """Buffers and pointer tables for one model, built once per ``fit``/``predict`` call.

    Parameters
    ----------
    params, grads : ndarray of shape (n_params,)
        Flat buffers laid out as ``[W_0, b_0, W_1, b_1, ...]`` (C order); the engine writes into them.
    state : ndarray of shape (n_state, n_params)
        The optimizer's state rows (SGD: momentum; Adam: first and second moments[, their maximum]; RMSprop:
        the squared-gradient average[, momentum]), C-contiguous, of the parameters' dtype.
    widths : sequence of int
        ``[n_in, n_out_0, n_out_1, ...]``.
    activations : sequence of int
        Activation code of each layer.
    loss : int
        Loss code.
    capacity : int
        Most rows one batch or block holds.
    loss_param : float
        The Huber loss's delta.
    dropout : sequence of float, optional
        ``dropout[l]``: the rate of dropout on the input of layer ``l`` while training (0 for none).
    seed : int
        Key of the dropout masks (with the update count, the buffer, row and unit).
    cores : int
        The machine's core count. It fixes the tiling of the work (with the shapes), never ``n_threads``: on a
        machine of C cores a step splits into enough independent tiles for C threads, and results are the
        same for every ``n_threads`` there. Up to 4 cores the tiles are the column blocks alone.
    layout : sequence of tuples, optional
        The layer table: per layer ``(kind, c, h, w, co, ho, wo, kh, kw, sh, sw, ph, pw)``, a kind among
        LAYER_DENSE, LAYER_CONV2D, LAYER_MAXPOOL2D, LAYER_AVGPOOL2D and the shapes of an image layer: input
        ``c x h x w`` (``widths[l]`` values), output ``co x ho x wo`` (``widths[l + 1]``), kernel or window
        ``kh x kw``, stride, padding (top and left). None: every layer is dense. A convolution's parameters are
        its weight ``(co, c, kh, kw)`` then its bias ``(co,)``; pooling layers have none.
    frozen : sequence of bool, optional
        ``frozen[l]``: layer ``l``'s parameters are not trained. Its weight-gradient and update tasks are left
        out: its gradients are never written (the caller keeps them at zero), its parameters, optimizer state and
        penalty are untouched, while the backward pass still goes through it to the layers before.
    """
    cdef Net net
    cdef bint is_double
    cdef object _keep
    cdef object _scratch, _layout, _columns, _frozen
    cdef object _sample_loss, _sample_correct, _task_penalty, _tasks
    cdef readonly Py_ssize_t capacity
    #: The largest single product (multiply-adds) per batch row, over every BLAS call of a step.
    cdef readonly Py_ssize_t row_work

    def __cinit__(self):
        memset(&self.net, 0, sizeof(Net))

    def __init__(self, params, grads, state, widths, activations, int loss, Py_ssize_t capacity,
                 double loss_param=1.0, dropout=None, uint64_t seed=0, int cores=1, layout=None, frozen=None):
        cdef int L = len(widths) - 1
        cdef int l, t, j
        cdef Py_ssize_t off = 0
        layout = _check_layout(layout, widths, L)
        frozen = [False] * L if frozen is None else [bool(f) for f in frozen]
        if len(frozen) != L:
            raise ValueError("frozen must hold one flag per layer")
        self._frozen = frozen
        if params.dtype == np.float64:
            self.is_double = True
        elif params.dtype == np.float32:
            self.is_double = False
        else:
            raise TypeError("params must be float32 or float64")
        for arr in (params, grads):
            if arr.dtype != params.dtype or not arr.flags.c_contiguous or arr.ndim != 1:
                raise ValueError("params and grads must be contiguous 1-d arrays of one dtype")
        if state.dtype != params.dtype or not state.flags.c_contiguous or state.ndim != 2 or state.shape[0] < 1:
            raise ValueError("state must be a contiguous (n_state, n_params) array of the parameters' dtype")
        expected = sum(_layer_params(layout[l], widths[l], widths[l + 1]) for l in range(L))
        if params.shape[0] != expected or grads.shape[0] != expected or state.shape[1] != expected:
            raise ValueError(f"flat buffers must hold {expected} parameters")
        if L < 1 or capacity < 1:
            raise ValueError("a network needs at least one layer and a capacity of at least one row")
        dtype = params.dtype
        self.capacity = capacity
        self.row_work = max(max(-(-int(widths[l + 1]) // _column_blocks(widths[l + 1])) * int(widths[l]),
                                -(-int(widths[l]) // _column_blocks(widths[l])) * int(widths[l + 1]))
                            if layout[l][0] == LAYER_DENSE else _layout_work(layout[l]) for l in range(L))
        self.net.n_layers = L
        self.net.loss = loss
        self.net.loss_param = loss_param
        self.net.cap = capacity
        self.net.width = <int *> malloc((L + 1) * sizeof(int))
        self.net.act = <int *> malloc(L * sizeof(int))
        self.net.blocks = <int *> malloc((L + 1) * sizeof(int))
        self.net.w_off = <Py_ssize_t *> malloc(L * sizeof(Py_ssize_t))
        self.net.b_off = <Py_ssize_t *> malloc(L * sizeof(Py_ssize_t))
        self.net.A = <void **> malloc((L + 1) * sizeof(void *))
        self.net.D = <void **> malloc((L + 1) * sizeof(void *))
        self.net.Z = <void **> malloc((L + 1) * sizeof(void *))
        self.net.Ad = <void **> calloc(L + 1, sizeof(void *))
        self.net.mask = <uint8_t **> calloc(L + 1, sizeof(uint8_t *))
        self.net.drop = <double *> calloc(L + 1, sizeof(double))
        self.net.drop_key = <uint64_t *> calloc(L + 1, sizeof(uint64_t))
        self.net.kind = <int *> calloc(L, sizeof(int))
        self.net.geom = <Geom *> calloc(L, sizeof(Geom))
        self.net.arg = <int32_t **> calloc(L + 1, sizeof(int32_t *))
        if self.net.kind == NULL or self.net.geom == NULL or self.net.arg == NULL:
            raise MemoryError()
        self.net.seed = seed
        self.net.is_double = self.is_double
        if (self.net.Ad == NULL or self.net.mask == NULL or self.net.drop == NULL or self.net.drop_key == NULL
                or self.net.width == NULL or self.net.blocks == NULL or self.net.act == NULL or self.net.w_off == NULL
                or self.net.b_off == NULL or self.net.A == NULL or self.net.D == NULL or self.net.Z == NULL):
            raise MemoryError()
        for l in range(L + 1):
            self.net.width[l] = widths[l]
            self.net.blocks[l] = _column_blocks(self.net.width[l])
        split = max(1, -(-int(cores) // 4))  # tiles per dimension beyond the column blocks: 1 up to 4 cores
        self.net.row_tiles = split
        for l in range(L):
            self.net.act[l] = activations[l]
            self.net.kind[l] = layout[l][0]
            (self.net.geom[l].c, self.net.geom[l].h, self.net.geom[l].w, self.net.geom[l].co, self.net.geom[l].ho,
             self.net.geom[l].wo, self.net.geom[l].kh, self.net.geom[l].kw, self.net.geom[l].sh,
             self.net.geom[l].sw, self.net.geom[l].ph, self.net.geom[l].pw) = layout[l][1:]
            n_bias = self.net.width[l + 1] if layout[l][0] == LAYER_DENSE else layout[l][4]
            n_bias = n_bias if layout[l][0] in (LAYER_DENSE, LAYER_CONV2D) else 0
            self.net.w_off[l] = off
            off += _layer_params(layout[l], widths[l], widths[l + 1]) - n_bias
            self.net.b_off[l] = off
            off += n_bias
        # Weight-gradient tasks: column blocks x input-feature tiles, largest first, so that dynamic scheduling
        # ends with the small ones.
        tasks = []
        for l in range(L):
            if frozen[l]:
                continue
            if layout[l][0] == LAYER_CONV2D:  # blocks of output channels, whole kernels
                co, k = layout[l][4], layout[l][1] * layout[l][7] * layout[l][8]
                nb = _channel_blocks(co) * split
                tasks += [(l, j * co // nb, (j + 1) * co // nb, 0, k) for j in range(nb)]
            if layout[l][0] != LAYER_DENSE:
                continue
            nb = self.net.blocks[l + 1]
            w = self.net.width[l + 1]
            ni = max(1, min(split, self.net.width[l] // MIN_TILE_FEATURES))
            for j in range(nb):
                for i in range(ni):
                    tasks.append((l, j * w // nb, (j + 1) * w // nb, i * int(widths[l]) // ni,
                                  (i + 1) * int(widths[l]) // ni))
        work = [(je - j) * (ie - i) * _task_rows(layout[l]) for (l, j, je, i, ie) in tasks]
        tasks = [task for _, task in sorted(zip(work, tasks), key=lambda pair: -pair[0])]
        self.net.task_work = sum(work)
        n_tasks = len(tasks)
        self.net.n_tasks = n_tasks
        self.net.task_layer = <int *> malloc(max(n_tasks, 1) * sizeof(int))  # no tasks: every layer frozen
        self.net.task_j0 = <int *> malloc(max(n_tasks, 1) * sizeof(int))
        self.net.task_j1 = <int *> malloc(max(n_tasks, 1) * sizeof(int))
        self.net.task_i0 = <int *> malloc(max(n_tasks, 1) * sizeof(int))
        self.net.task_i1 = <int *> malloc(max(n_tasks, 1) * sizeof(int))
        if (self.net.task_layer == NULL or self.net.task_j0 == NULL or self.net.task_j1 == NULL
                or self.net.task_i0 == NULL or self.net.task_i1 == NULL):
            raise MemoryError()
        for t, (l, j, je, i, ie) in enumerate(tasks):
            self.net.task_layer[t] = l
            self.net.task_j0[t] = j
            self.net.task_j1[t] = je
            self.net.task_i0[t] = i
            self.net.task_i1[t] = ie
        self._tasks = tasks
        self._layout = layout
        buffers = [np.empty((capacity, int(w)), dtype=dtype) for w in widths]
        deltas = [None] + [np.empty((capacity, int(w)), dtype=dtype) for w in widths[1:]]
        inputs = [None] + [np.empty((capacity, int(widths[l + 1])), dtype=dtype) if _needs_input(activations[l])
                           else None for l in range(L)]
        rates = [0.0] * L if dropout is None else [float(r) for r in dropout]
        if len(rates) != L or any(not 0 <= r < 1 for r in rates):
            raise ValueError("dropout must hold one rate in [0, 1) per layer")
        dropped = [np.empty((capacity, int(widths[l])), dtype=dtype) if rates[l] > 0 else None for l in range(L)]
        masks = [np.empty((capacity, int(widths[l])), dtype=np.uint8) if rates[l] > 0 else None for l in range(L)]
        for l in range(L):
            self.net.drop[l] = rates[l]
            if rates[l] > 0:
                self.net.Ad[l] = <void *> <size_t> dropped[l].ctypes.data
                self.net.mask[l] = <uint8_t *> <size_t> masks[l].ctypes.data
        args = [None] + [np.empty((capacity, int(widths[l + 1])), dtype=np.int32)
                         if layout[l][0] == LAYER_MAXPOOL2D else None for l in range(L)]
        for l in range(L + 1):
            if args[l] is not None:
                self.net.arg[l] = <int32_t *> <size_t> args[l].ctypes.data
        self.net.slot_size = max([_layout_columns(layout[l]) for l in range(L)] + [0])
        self._scratch = None
        self._reserve(cores)
        if any(self.net.kind[l] == CONV2D for l in range(L)):  # where a training batch's columns will be kept
            self.net.columns = <void **> calloc(L, sizeof(void *))
            if self.net.columns == NULL:
                raise MemoryError()
        for l in range(L + 1):
            self.net.A[l] = <void *> <size_t> buffers[l].ctypes.data
            self.net.D[l] = <void *> <size_t> deltas[l].ctypes.data if l > 0 else NULL
            self.net.Z[l] = <void *> <size_t> inputs[l].ctypes.data if inputs[l] is not None else NULL
        self.net.params = <void *> <size_t> params.ctypes.data
        self.net.grads = <void *> <size_t> grads.ctypes.data
        self.net.state = <void *> <size_t> state.ctypes.data
        self.net.n_params = expected
        self._sample_loss = np.empty(capacity, dtype=dtype)
        self._sample_correct = np.empty(capacity, dtype=dtype)
        self._task_penalty = np.empty(max(n_tasks, 1), dtype=np.float64)
        self._keep = (params, grads, state, buffers, deltas, inputs, dropped, masks, args)

    def _keep_columns(self, Py_ssize_t rows):
        """Room for every convolution's im2col columns of a training batch of ``rows`` rows, so that the weight
        gradients reuse the forward pass's columns instead of forming them again (sized by the batches trained
        on, never by the capacity a large ``predict`` grew the engine to)."""
        cdef int l, L = self.net.n_layers
        cdef const Geom *g
        kept = []
        for l in range(L):
            if self.net.kind[l] == CONV2D and not self._frozen[l]:  # a frozen layer takes no weight gradient
                g = &self.net.geom[l]
                block = np.empty(rows * g.c * g.kh * g.kw * g.ho * g.wo,
                                 dtype=np.float64 if self.is_double else np.float32)
                kept.append(block)
                self.net.columns[l] = <void *> <size_t> block.ctypes.data
        self._columns = kept
        self.net.cols_rows = rows

    def _reserve(self, int n_threads):
        """Give each of ``n_threads`` threads a workspace (im2col columns) if the network has convolutions."""
        if self.net.slot_size == 0 or self.net.n_slots >= n_threads:
            return
        n = max(n_threads, 1)
        self._scratch = np.empty(n * self.net.slot_size, dtype=np.float64 if self.is_double else np.float32)
        self.net.scratch = <void *> <size_t> self._scratch.ctypes.data
        self.net.n_slots = n

    def __dealloc__(self):
        free(self.net.width)
        free(self.net.blocks)
        free(self.net.act)
        free(self.net.w_off)
        free(self.net.b_off)
        free(self.net.A)
        free(self.net.D)
        free(self.net.Z)
        free(self.net.Ad)
        free(self.net.mask)
        free(self.net.drop)
        free(self.net.drop_key)
        free(self.net.task_layer)
        free(self.net.task_j0)
        free(self.net.task_j1)
        free(self.net.task_i0)
        free(self.net.task_i1)
        free(self.net.tie)
        free(self.net.columns)
        free(self.net.kind)
        free(self.net.geom)
        free(self.net.arg)

    def train(self, X, perm, labels, targets, weights, Py_ssize_t batch_size, Py_ssize_t first_batch,
              Py_ssize_t last_batch, const double[::1] hyper not None, int64_t[::1] step not None, int n_threads,
              double[::1] totals not None, bint apply=True):
        """Run batches ``first_batch .. last_batch``; returns ``(status, batch)``: ``(0, last_batch)`` when all
        ran, ``(1, b)`` when batch ``b`` had a non-finite loss (not applied) or its update made a parameter
        non-finite (then partly applied: restore the parameters and state), ``(2, b)`` when SIGINT stopped
        training before batch ``b``.

        ``X`` is ``(n_samples, n_in)`` C-contiguous of the engine's dtype; ``perm`` int64 of length n_samples;
        exactly one of ``labels`` (int32, n_samples) and ``targets`` (n_samples, n_out) is not None; ``weights``
        (n_samples,) of the engine's dtype or None. ``hyper`` (float64, HYPER_SIZE) holds the optimizer's
        settings in the order of HYPER_FIELDS; ``step`` (int64, 1) the number of updates so far, advanced in
        place. ``totals`` (float64, 4) accumulates [loss x batch size sum, penalty x batch size sum, accuracy
        sum, samples] in batch order, so the epoch's sums do not depend on how the batches are split across calls.
        """
        cdef Hyper h
        cdef Py_ssize_t diverged
        cdef Py_ssize_t n = X.shape[0]
        if min(batch_size, n) > self.capacity:
            raise ValueError("batch_size exceeds the engine's capacity")
        if self.net.columns != NULL and min(batch_size, n) > self.net.cols_rows:  # a network of convolutions
            self._keep_columns(min(batch_size, n))
        if totals.shape[0] != 4 or step.shape[0] != 1 or hyper.shape[0] != HYPER_SIZE:
            raise ValueError("totals must hold 4 values, step 1 and hyper HYPER_SIZE")
        _unpack_hyper(&h, hyper, self.net.n_params)
        self._reserve(n_threads)
        if self.is_double:
            diverged = _engine_train[double](&self.net, X, perm, labels, targets, weights, self._sample_loss,
                                             self._sample_correct, self._task_penalty, batch_size, first_batch,
                                             last_batch, &h, &step[0], n_threads, &totals[0], apply)
        else:
            diverged = _engine_train[float](&self.net, X, perm, labels, targets, weights, self._sample_loss,
                                            self._sample_correct, self._task_penalty, batch_size, first_batch,
                                            last_batch, &h, &step[0], n_threads, &totals[0], apply)
        if diverged == -1:
            return 0, last_batch
        if diverged >= 0:
            return 1, diverged
        return 2, -2 - diverged

    def tie(self, ties):
        """Tie layers' weights: ``ties[l] = s`` makes layer ``l``'s weight matrix the transpose of layer ``s``'s
        (their shapes must agree), ``-1`` leaves it free. The parameters must already hold ``W_l = W_s.T``;
        training keeps it so (the shared matrix's gradient is the sum of both copies' gradients, and both copies
        take the same step). Biases are never tied."""
        cdef int L = self.net.n_layers, l, s
        if len(ties) != L:
            raise ValueError(f"ties must hold one entry per layer ({L})")
        values = [int(s) for s in ties]
        for l, s in enumerate(values):
            if s == -1:
                continue
            if not 0 <= s < L or s == l or values[s] != -1:
                raise ValueError(f"ties[{l}] = {s} is not an untied layer of this network")
            if self.net.kind[l] != DENSE or self.net.kind[s] != DENSE:
                raise ValueError(f"ties[{l}] = {s}: only dense layers can share weights")
            if self.net.width[l] != self.net.width[s + 1] or self.net.width[l + 1] != self.net.width[s]:
                raise ValueError(f"layer {l} ({self.net.width[l]} -> {self.net.width[l + 1]}) cannot share the "
                                 f"weights of layer {s} ({self.net.width[s]} -> {self.net.width[s + 1]})")
            if self._frozen[l] != self._frozen[s]:
                raise ValueError(f"ties[{l}] = {s}: tied layers must be both frozen or both trained")
        free(self.net.tie)
        self.net.tie = NULL
        if all(s == -1 for s in values):
            return
        self.net.tie = <int *> malloc(L * sizeof(int))
        if self.net.tie == NULL:
            raise MemoryError()
        for l in range(L):
            self.net.tie[l] = values[l]

    def plan(self, Py_ssize_t batch):
        """How one training step over ``batch`` rows splits: a list of ``(phase, [multiply-adds of each
        independent task])`` in execution order (phases run one after another; tasks of a phase in parallel)."""
        cdef Py_ssize_t rt = _row_tiles(&self.net, batch), k
        cdef int l, nb, blk
        phases = []
        for l in range(self.net.n_layers):
            if self.net.kind[l] != DENSE:  # image layers: one task an image
                phases.append((f"forward {l}", [_layout_work(self._layout[l])] * batch))
                continue
            nb = self.net.blocks[l + 1]
            w_out, w_in = self.net.width[l + 1], self.net.width[l]
            phases.append((f"forward {l}", [((k + 1) * batch // rt - k * batch // rt) *
                                            ((blk + 1) * w_out // nb - blk * w_out // nb) * w_in
                                            for k in range(rt) for blk in range(nb)]))
        for l in range(self.net.n_layers - 1, 0, -1):
            if self.net.kind[l] != DENSE:
                phases.append((f"backward {l}", [_layout_work(self._layout[l])] * batch))
                continue
            nb = self.net.blocks[l]
            w_out, w_in = self.net.width[l + 1], self.net.width[l]
            phases.append((f"backward {l}", [((k + 1) * batch // rt - k * batch // rt) *
                                             ((blk + 1) * w_in // nb - blk * w_in // nb) * w_out
                                             for k in range(rt) for blk in range(nb)]))
        phases.append(("weight gradients and update",
                       [(je - j) * (ie - i) * batch * _task_rows(self._layout[l]) for (l, j, je, i, ie) in self._tasks]))
        return phases

    def _block(self, block, Py_ssize_t n):
        cdef Py_ssize_t b = self.capacity if block is None else block
        if b < 1 or b > self.capacity:
            raise ValueError("block must be between 1 and the engine's capacity")
        return min(b, max(n, 1))

    def forward(self, X, out, int n_threads, block=None):
        """Write the network's output for every row of ``X`` into ``out`` (n_samples, n_out), ``block`` rows
        (default: the capacity) at a time. Block sizes shape the products, hence the last bits of results."""
        cdef Py_ssize_t b = self._block(block, X.shape[0])
        self._reserve(n_threads)
        if self.is_double:
            _engine_forward[double](&self.net, X, out, None, None, None, self._sample_loss, self._sample_correct,
                                    n_threads, b, NULL)
        else:
            _engine_forward[float](&self.net, X, out, None, None, None, self._sample_loss, self._sample_correct,
                                   n_threads, b, NULL)

    def evaluate(self, X, labels, targets, weights, int n_threads, block=None):
        """Return ``(sum of (weighted) per-sample losses, sum of per-sample accuracies, sum of weights)``."""
        cdef double sums[3]
        cdef Py_ssize_t b = self._block(block, X.shape[0])
        sums[0] = sums[1] = sums[2] = 0
        self._reserve(n_threads)
        if self.is_double:
            _engine_forward[double](&self.net, X, None, labels, targets, weights, self._sample_loss,
                                    self._sample_correct, n_threads, b, sums)
        else:
            _engine_forward[float](&self.net, X, None, labels, targets, weights, self._sample_loss,
                                   self._sample_correct, n_threads, b, sums)
        return sums[0], sums[1], sums[2]


def _check_layout(layout, widths, int L):
    """The layer table as a list of ``L`` tuples of 13 ints (all dense when None), checked against ``widths``."""
    if layout is None:
        return [(LAYER_DENSE,) + (0,) * 12] * L
    layout = [tuple(int(v) for v in row) for row in layout]
    if len(layout) != L or any(len(row) != 13 for row in layout):
        raise ValueError("layout must hold one tuple of 13 integers per layer")
    for l, (kind, c, h, w, co, ho, wo, kh, kw, sh, sw, ph, pw) in enumerate(layout):
        if kind == LAYER_DENSE:
            continue
        if kind not in (LAYER_CONV2D, LAYER_MAXPOOL2D, LAYER_AVGPOOL2D):
            raise ValueError(f"layout[{l}]: unknown layer kind {kind}")
        if min(c, h, w, co, ho, wo, kh, kw, sh, sw) < 1 or min(ph, pw) < 0:
            raise ValueError(f"layout[{l}]: sizes must be positive")
        if c * h * w != widths[l] or co * ho * wo != widths[l + 1]:
            raise ValueError(f"layout[{l}]: shapes do not match the widths")
        # im2col checks every read; pooling windows must lie inside the input
        if kind != LAYER_CONV2D and (co != c or ph or pw or (ho - 1) * sh + kh > h or (wo - 1) * sw + kw > w):
            raise ValueError(f"layout[{l}]: the pooling windows do not fit the input")
    return layout


def _layer_params(row, n_in, n_out):
    """Parameters of a layer of the layout."""
    kind = row[0]
    if kind == LAYER_DENSE:
        return int(n_out) * (int(n_in) + 1)
    if kind == LAYER_CONV2D:
        return row[4] * (row[1] * row[7] * row[8] + 1)
    return 0


def _layout_work(row):
    """Multiply-adds of an image layer per image."""
    if row[0] == LAYER_CONV2D:
        return row[4] * row[1] * row[7] * row[8] * row[5] * row[6]
    return row[4] * row[5] * row[6] * row[7] * row[8]


def _layout_columns(row):
    """Values of a convolution's workspace: a group's im2col columns and output (or gradient) channels."""
    if row[0] != LAYER_CONV2D:
        return 0
    return IMAGE_GROUP * row[5] * row[6] * (row[1] * row[7] * row[8] + row[4])


def _channel_blocks(co):
    """Weight-gradient tasks of a convolution of ``co`` output channels (fixed by the shapes alone): each task
    forms the im2col columns of every image once more, so blocks stay large."""
    return max(1, min(4, co // 32))


def _task_rows(row):
    """Per-batch-row weight of a task of this layer, for ordering tasks by size."""
    return row[5] * row[6] if row[0] == LAYER_CONV2D else 1


cdef void _unpack_hyper(Hyper *h, const double[::1] a, Py_ssize_t stride):
    """Fill ``h`` from the float64 array laid out as HYPER_FIELDS."""
    cdef int k
    memset(h, 0, sizeof(Hyper))
    h.kind = <int> a[0]
    h.lr = a[1]
    h.momentum = a[2]
    h.nesterov = a[3] != 0
    h.weight_decay = a[4]
    h.l1 = a[5]
    h.l2 = a[6]
    h.beta1 = a[7]
    h.beta2 = a[8]
    h.eps = a[9]
    h.alpha = a[10]
    h.amsgrad = a[11] != 0
    h.sched_kind = <int> a[12]
    for k in range(6):
        h.sched[k] = a[13 + k]
    h.stride = stride
    h.bc1 = 1
    h.bc2_sqrt = 1


def schedule_rates(const double[::1] hyper not None, int64_t first_step, Py_ssize_t n):
    """The learning rates of updates ``first_step .. first_step + n - 1`` under ``hyper``'s schedule (float64)."""
    cdef Hyper h
    cdef Py_ssize_t i
    if hyper.shape[0] != HYPER_SIZE:
        raise ValueError("hyper must hold HYPER_SIZE values")
    _unpack_hyper(&h, hyper, 0)
    out = np.empty(n, dtype=np.float64)
    cdef double[::1] o = out
    for i in range(n):
        _begin_step(&h, first_step + i)
        o[i] = h.lr
    return out


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
                     const double[::1] hyper not None, int64_t step=0, bint regularize=True):
    """One optimizer step in place on a flat buffer, as the engine takes it: ``hyper`` laid out as
    HYPER_FIELDS, ``state`` its (n_state, n) rows, ``step`` the number of updates before this one (it sets the
    schedule's rate and Adam's bias corrections). Returns the regularization penalty before the step (NaN when
    the step made a parameter NaN or infinite)."""
    cdef Hyper h
    cdef double pen
    if g.shape[0] != p.shape[0] or state.shape[1] != p.shape[0] or hyper.shape[0] != HYPER_SIZE:
        raise ValueError("optimizer_update: p, g and the state rows differ in length, or hyper is malformed")
    _unpack_hyper(&h, hyper, p.shape[0])
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
    cdef Hyper h
    cdef double pen
    if g.shape[0] != p.shape[0] or v.shape[0] != p.shape[0]:
        raise ValueError("sgd_update: p, g and v differ in length")
    memset(&h, 0, sizeof(Hyper))
    h.kind = K_SGD
    h.lr = lr
    h.momentum = momentum
    h.nesterov = nesterov
    h.weight_decay = weight_decay
    h.l1 = l1
    h.l2 = l2
    h.stride = p.shape[0]
    if p.shape[0] == 0:
        return 0.0
    with nogil:
        pen = _update_range(&p[0], &g[0], &v[0], p.shape[0], &h, regularize, True)
    return pen


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


# ---------------------------------------------------------------------------------------------------------------
# Deep Q-learning: one compiled call samples the replay buffer, computes the targets with the target network,
# backpropagates the loss on the taken actions, optionally clips the gradient norm and takes the optimizer step
# ---------------------------------------------------------------------------------------------------------------

cdef struct Replay:
    # The replay buffer's arrays (row i: one transition), values of the engine's dtype except actions.
    const void *obs         # (capacity, n_in)
    const void *next_obs    # (capacity, n_in)
    const int64_t *actions
    const void *rewards
    const void *dones       # 1 where the episode terminated in next_obs (no bootstrap), else 0
    Py_ssize_t size         # rows filled


cdef struct DQNSettings:
    double gamma
    double max_grad_norm    # clip the gradient's global 2-norm to this (torch.nn.utils.clip_grad_norm_); <= 0: no
    int loss                # HUBER (delta 1: SB3's smooth_l1_loss) or MSE
    bint double_q           # choose the next action by the online network, value it by the target network
    uint64_t key            # the key of the sampled rows


cdef inline uint64_t _draw(uint64_t key, int64_t step, Py_ssize_t i) noexcept nogil:
    """The ``i``-th random 64-bit word of update (or environment step) ``step`` under ``key``: counter-based."""
    return fastnn_mix64(fastnn_mix64(key ^ fastnn_mix64(<uint64_t> step)) + <uint64_t> i)


def replay_indices(uint64_t key, int64_t step, Py_ssize_t batch_size, Py_ssize_t size):
    """The rows (int64) the DQN update ``step`` samples from a replay buffer holding ``size`` transitions:
    uniform with replacement, ``draw(key, step, r) mod size`` for row ``r`` of the batch."""
    out = np.empty(batch_size, dtype=np.int64)
    cdef int64_t[::1] o = out
    cdef Py_ssize_t r
    if size < 1:
        raise ValueError("the replay buffer is empty")
    for r in range(batch_size):
        o[r] = <int64_t> (_draw(key, step, r) % <uint64_t> size)
    return out


cdef void _polyak(floating *target, const floating *online, Py_ssize_t n, double tau) noexcept nogil:
    """``target = tau * online + (1 - tau) * target`` (Stable-Baselines3's polyak_update); tau = 1 copies."""
    cdef Py_ssize_t i
    cdef floating a = <floating> tau, b = <floating> (1.0 - tau)
    if tau == 1.0:
        memcpy(target, online, n * sizeof(floating))
        return
    for i in range(n):
        target[i] = target[i] * b + a * online[i]


def polyak_update(floating[::1] target not None, const floating[::1] online not None, double tau):
    """``target = tau * online + (1 - tau) * target`` in place (tau = 1: a copy)."""
    if target.shape[0] != online.shape[0]:
        raise ValueError("polyak_update: target and online differ in length")
    if target.shape[0] == 0:
        return
    with nogil:
        _polyak(&target[0], &online[0], target.shape[0], tau)


cdef double _dqn_loss(Net *net, const Replay *rb, const DQNSettings *s, const int64_t *rows, const floating *y,
                      Py_ssize_t B) noexcept nogil:
    """Mean loss over the batch of ``Q(s, a) - y`` on the taken actions (the output ``A[L]``), and its gradient
    with respect to the output in ``D[L]`` (zero for the actions not taken)."""
    cdef int L = net.n_layers, K = net.width[L]
    cdef const floating *q = <floating *> net.A[L]
    cdef floating *d = <floating *> net.D[L]
    cdef Py_ssize_t r
    cdef int64_t a
    cdef double e, total = 0, scale = 1.0 / B
    memset(d, 0, B * K * sizeof(floating))
    for r in range(B):
        a = rb.actions[rows[r]]
        e = q[r * K + a] - y[r]
        if s.loss == HUBER:  # smooth_l1 (beta 1) = Huber (delta 1)
            total += 0.5 * e * e if fabs(e) < 1 else fabs(e) - 0.5
            d[r * K + a] = <floating> ((e if fabs(e) < 1 else (1.0 if e > 0 else -1.0)) * scale)
        else:
            total += e * e
            d[r * K + a] = <floating> (2 * e * scale)
    if net.act[L - 1] != IDENTITY:
        _activation_backward(net.act[L - 1], <floating *> net.A[L], <floating *> net.Z[L], d, B, K, K)
    return total * scale


cdef void _dqn_targets(Net *net, const floating *target_params, const Replay *rb, const DQNSettings *s,
                       const int64_t *rows, floating *qn, floating *y, Py_ssize_t B, int nt) noexcept nogil:
    """``y = r + gamma * (1 - done) * Q_target(s', a*)`` with ``a* = argmax Q_target(s')``, or with double Q
    learning ``argmax Q_online(s')``; the next states are gathered into ``A[0]``."""
    cdef int L = net.n_layers, K = net.width[L], n_in = net.width[0]
    cdef floating *A0 = <floating *> net.A[0]
    cdef const floating *out = <floating *> net.A[L]
    cdef void *online = net.params
    cdef const floating *choose = qn   # the values the next action is chosen by
    cdef Py_ssize_t r, k, best
    cdef floating v
    _gather_rows(A0, <const floating *> rb.next_obs, rows, 0, B, n_in)
    net.params = <void *> target_params
    _forward(net, A0, B, nt, True)
    net.params = online
    memcpy(qn, out, B * K * sizeof(floating))
    if s.double_q:
        _forward(net, A0, B, nt, True)
        choose = out
    for r in range(B):
        best = 0
        for k in range(1, K):  # the first maximum, as torch.max / argmax
            if choose[r * K + k] > choose[r * K + best]:
                best = k
        v = qn[r * K + best]
        y[r] = (<const floating *> rb.rewards)[rows[r]] + <floating> s.gamma * (
            1 - (<const floating *> rb.dones)[rows[r]]) * v


cdef int _dqn_apply(Net *net, floating *params, Hyper *h, const DQNSettings *s, Py_ssize_t B,
                    double *task_penalty, int nt) noexcept nogil:
    """The gradient step after the backward pass (``_update_tasks``, clipping the gradient's norm to
    ``s.max_grad_norm`` when positive). Returns 1 when a parameter became NaN or infinite."""
    cdef int t
    cdef double total = 0
    _update_tasks(net, params, B, h, True, nt, task_penalty, s.max_grad_norm)
    for t in range(net.n_tasks):
        total += task_penalty[t]
    return 0 if isfinite(total) else 1


cdef int _dqn_updates(Net *net, floating *target_params, const Replay *rb, const DQNSettings *s, Hyper *h,
                      int64_t *step, Py_ssize_t B, Py_ssize_t n_updates, int64_t *rows, floating *qn, floating *y,
                      double *task_penalty, int nt, double *loss_sum, Py_ssize_t *done) noexcept nogil:
    """``n_updates`` DQN updates on batches of ``B`` sampled rows. Returns 0 when all ran, 1 when an update's loss
    was not finite (nothing of it applied), 2 when an update made a parameter non-finite (partly applied), 3 when
    SIGINT stopped the run; ``done`` counts the updates applied."""
    cdef Py_ssize_t u, r
    cdef double loss
    cdef int n_in = net.width[0]
    done[0] = 0
    for u in range(n_updates):
        if fastnn_was_interrupted():
            return 3
        for r in range(B):
            rows[r] = <int64_t> (_draw(s.key, step[0], r) % <uint64_t> rb.size)
        _dqn_targets(net, target_params, rb, s, rows, qn, y, B, nt)
        _gather_rows(<floating *> net.A[0], <const floating *> rb.obs, rows, 0, B, n_in)
        _forward(net, <floating *> net.A[0], B, nt, True)
        loss = _dqn_loss(net, rb, s, rows, y, B)
        if not isfinite(loss):
            return 1
        _backward(net, <floating *> net.params, B, nt)
        _begin_step(h, step[0])
        if _dqn_apply(net, <floating *> net.params, h, s, B, task_penalty, nt):
            return 2
        step[0] += 1
        loss_sum[0] += loss
        done[0] += 1
    return 0


cdef Replay _replay(obs, next_obs, const int64_t[::1] actions, rewards, dones, Py_ssize_t size, Net *net,
                    object dtype):
    cdef Replay rb
    cdef Py_ssize_t cap = actions.shape[0]
    for arr, shape in ((obs, (cap, net.width[0])), (next_obs, (cap, net.width[0])), (rewards, (cap,)),
                       (dones, (cap,))):
        if (not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.shape != shape
                or not arr.flags.c_contiguous):
            raise ValueError("replay arrays must be C-contiguous, of the engine's dtype and of one capacity")
    if not 1 <= size <= cap:
        raise ValueError("size must be between 1 and the replay buffer's capacity")
    rb.obs = <void *> <size_t> obs.ctypes.data
    rb.next_obs = <void *> <size_t> next_obs.ctypes.data
    rb.actions = &actions[0]
    rb.rewards = <void *> <size_t> rewards.ctypes.data
    rb.dones = <void *> <size_t> dones.ctypes.data
    rb.size = size
    return rb


def dqn_update(Engine engine, target, obs, next_obs, const int64_t[::1] actions not None, rewards, dones,
               Py_ssize_t size, Py_ssize_t batch_size, Py_ssize_t n_updates, double gamma, int loss,
               bint double_q, double max_grad_norm, uint64_t key, const double[::1] hyper not None,
               int64_t[::1] step not None, int64_t[::1] rows not None, qn, y, int n_threads):
    """Run ``n_updates`` DQN updates of the engine's network (the online network) without the GIL.

    Each update samples ``batch_size`` rows of the replay buffer (``obs``, ``next_obs``, ``actions``,
    ``rewards``, ``dones``, of which ``size`` rows are filled) by ``replay_indices(key, step, ...)``, computes the
    targets ``r + gamma (1 - done) max_a Q_target(s', a)`` with ``target`` (a flat parameter buffer of the
    engine's layout; with ``double_q`` the action is the online network's arg-max), the loss ``loss``
    (LOSS_HUBER: smooth L1 with delta 1, or LOSS_MSE) of ``Q(s, a)`` on the taken actions, its gradient, the
    optional clipping of the gradient's global norm to ``max_grad_norm`` (> 0) and the optimizer's step
    (``hyper``, ``step`` as in ``Engine.train``). ``rows`` (int64, batch_size), ``qn`` (batch_size x n_actions) and
    ``y`` (batch_size) are scratch of the engine's dtype. Returns ``(status, updates applied, loss sum)`` with
    status 0 (all ran), 1 (non-finite loss: that update not applied), 2 (an update made a parameter non-finite:
    partly applied) or 3 (SIGINT).
    """
    cdef Hyper h
    cdef DQNSettings s
    cdef Net *net = &engine.net
    cdef int status, K = net.width[net.n_layers]
    cdef double loss_sum = 0
    cdef Py_ssize_t done = 0, n = net.n_params
    dtype = np.float64 if engine.is_double else np.float32
    if batch_size < 1 or batch_size > engine.capacity:
        raise ValueError("batch_size must be between 1 and the engine's capacity")
    if loss != LOSS_HUBER and loss != LOSS_MSE:
        raise ValueError("loss must be LOSS_HUBER or LOSS_MSE")
    for arr, shape in ((target, (n,)), (qn, (batch_size, K)), (y, (batch_size,))):
        if (not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.shape != shape
                or not arr.flags.c_contiguous or not arr.flags.writeable):
            raise ValueError("target, qn and y must be writable C-contiguous arrays of the engine's dtype and shape")
    if rows.shape[0] != batch_size or step.shape[0] != 1 or hyper.shape[0] != HYPER_SIZE:
        raise ValueError("rows must hold batch_size values, step 1 and hyper HYPER_SIZE")
    cdef Replay rb = _replay(obs, next_obs, actions, rewards, dones, size, net, dtype)
    _unpack_hyper(&h, hyper, n)
    s.gamma = gamma
    s.max_grad_norm = max_grad_norm
    s.loss = loss
    s.double_q = double_q
    s.key = key
    net.single_row = batch_size == 1
    net.training = False  # dropout off: the Q-network's forward passes are the same in targets and loss
    cdef void *tp = <void *> <size_t> target.ctypes.data
    cdef void *qp = <void *> <size_t> qn.ctypes.data
    cdef void *yp = <void *> <size_t> y.ctypes.data
    cdef double *pen = <double *> <size_t> engine._task_penalty.ctypes.data
    with nogil:
        if engine.is_double:
            status = _dqn_updates[double](net, <double *> tp, &rb, &s, &h, &step[0], batch_size, n_updates,
                                          &rows[0], <double *> qp, <double *> yp, pen, n_threads, &loss_sum, &done)
        else:
            status = _dqn_updates[float](net, <float *> tp, &rb, &s, &h, &step[0], batch_size, n_updates,
                                         &rows[0], <float *> qp, <float *> yp, pen, n_threads, &loss_sum, &done)
    return status, done, loss_sum


cdef Py_ssize_t _greedy(Net *net, const floating *x) noexcept nogil:
    """The arg-max (first maximum) of the network's output for the one row ``x``; -1 when ``x`` or the output is
    not finite."""
    cdef int L = net.n_layers, K = net.width[L], n_in = net.width[0]
    cdef const floating *q
    cdef Py_ssize_t k, best = 0
    cdef int bad = 0
    for k in range(n_in):
        bad |= (x[k] - x[k]) != 0
    if bad:
        return -1
    net.single_row = True
    net.training = False
    _forward(net, x, 1, 1, True)
    q = <floating *> net.A[L]
    for k in range(K):
        bad |= (q[k] - q[k]) != 0
        if q[k] > q[best]:
            best = k
    return -1 if bad else best


def dqn_act(Engine engine, x, double epsilon, uint64_t key, int64_t step):
    """Epsilon-greedy action for the one observation ``x`` (1-d, the engine's dtype, C-contiguous): with
    probability ``epsilon`` (when the top 53 bits of ``draw(key, step, 0)`` as a fraction of 2**53 fall below it)
    the random action ``draw(key, step, 1) mod n_actions``, else the arg-max of the network's output. Returns -1 when
    ``x`` or the network's output is not finite."""
    cdef Net *net = &engine.net
    cdef int K = net.width[net.n_layers]
    cdef uint64_t w
    cdef Py_ssize_t a
    if epsilon > 0:
        w = _draw(key, step, 0)
        if (w >> 11) * (1.0 / 9007199254740992.0) < epsilon:
            return <Py_ssize_t> (_draw(key, step, 1) % <uint64_t> K)
    if (not isinstance(x, np.ndarray) or x.dtype != (np.float64 if engine.is_double else np.float32)
            or x.ndim != 1 or x.shape[0] != net.width[0] or not x.flags.c_contiguous):
        raise ValueError("x must be one C-contiguous row of the engine's dtype and input width")
    cdef void *xp = <void *> <size_t> x.ctypes.data
    with nogil:
        if engine.is_double:
            a = _greedy[double](net, <double *> xp)
        else:
            a = _greedy[float](net, <float *> xp)
    return a
