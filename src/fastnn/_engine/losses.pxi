# Included by _kernels.pyx: The output layer: per-sample loss and the gradient with respect to the logits, fused.

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
    return loss == MSE or loss == HUBER or loss == MAE or loss == GIVEN


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
    the Huber loss's threshold. Per-sample losses are not weighted. ``GIVEN``: the targets are the gradient with
    respect to the output, copied as they are (neither ``scale`` nor weights apply), and the losses are 0.
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
        elif loss == GIVEN:  # a loss computed by the caller, who gives its gradient
            if want_grad:
                for k in range(K):
                    dr[k] = tr[k]
            sample_loss[r] = 0
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
