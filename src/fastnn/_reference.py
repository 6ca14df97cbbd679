"""Pure-NumPy twin of every compiled kernel: the written-down specification, the test oracle and the benchmark
baseline. Nothing here is fast on purpose; everything here is plain.

Shapes follow ``_kernels``: ``x`` (B, n_in), ``W`` (n_out, n_in), ``b`` (n_out,), outputs (B, n_out).
Activation codes: 0 identity, 1 relu, 2 sigmoid, 3 tanh, 4 softmax, 5 leaky_relu, 6 elu, 7 softplus, 8 gelu.
Loss codes: 0 mse, 1 cross-entropy, 2 binary cross-entropy, 3 Huber, 4 mean absolute error.
"""
import numpy as np
from scipy.special import erf

IDENTITY, RELU, SIGMOID, TANH, SOFTMAX, LEAKY_RELU, ELU, SOFTPLUS, GELU = range(9)
LEAKY_SLOPE, ELU_ALPHA = 0.01, 1.0
MSE, CROSS_ENTROPY, BINARY_CROSS_ENTROPY, HUBER, MAE = range(5)


def dense_forward(x, W, b):
    """``x @ W.T + b`` (``b`` None: no bias)."""
    return x @ W.T if b is None else x @ W.T + b


def activation_forward(act, z):
    if act == IDENTITY:
        return z.copy()
    if act == RELU:
        return np.maximum(z, 0)
    if act == SIGMOID:
        return 1 / (1 + np.exp(-z))
    if act == TANH:
        return np.tanh(z)
    if act == SOFTMAX:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if act == LEAKY_RELU:
        return np.where(z > 0, z, LEAKY_SLOPE * z).astype(z.dtype)
    if act == ELU:
        return np.where(z > 0, z, ELU_ALPHA * np.expm1(np.minimum(z, 0))).astype(z.dtype)
    if act == SOFTPLUS:
        return (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))).astype(z.dtype)
    if act == GELU:
        return (0.5 * z * (1 + erf(z / np.sqrt(2)))).astype(z.dtype)
    raise ValueError(act)


def activation_backward(act, a, d, z=None):
    """``d`` times the derivative of the activation, given the activation's output ``a`` (and, for GELU, its
    input ``z``)."""
    if act == IDENTITY:
        return d.copy()
    if act == RELU:
        return d * (a > 0)
    if act == SIGMOID:
        return d * a * (1 - a)
    if act == TANH:
        return d * (1 - a * a)
    if act == SOFTMAX:
        return a * (d - (d * a).sum(axis=1, keepdims=True))
    if act == LEAKY_RELU:
        return d * np.where(a > 0, 1, LEAKY_SLOPE).astype(d.dtype)
    if act == ELU:
        return d * np.where(a > 0, 1, a + ELU_ALPHA).astype(d.dtype)
    if act == SOFTPLUS:
        return d * -np.expm1(-a)
    if act == GELU:
        return d * (0.5 * (1 + erf(z / np.sqrt(2))) + z * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)).astype(d.dtype)
    raise ValueError(act)


def one_hot(labels, K, dtype):
    t = np.zeros((labels.shape[0], K), dtype=dtype)
    t[np.arange(labels.shape[0]), labels] = 1
    return t


def output_loss(loss, act, z, labels=None, targets=None, z_in=None, delta=1.0):
    """Per-sample losses and accuracies, the output and the gradient of the batch-mean loss w.r.t. the logits.

    ``z`` holds logits (cross-entropy, binary cross-entropy) or the activated output (mse; ``z_in`` is then the
    output's pre-activation, which GELU's derivative needs).
    Returns ``(sample_loss, sample_accuracy, output, grad)``.
    """
    B, K = z.shape
    t = one_hot(labels, K, z.dtype) if labels is not None else targets
    if loss == CROSS_ENTROPY:
        m = z.max(axis=1, keepdims=True)
        logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
        p = np.exp(logp)
        sample_loss = -(t * logp).sum(axis=1)
        acc = (z.argmax(axis=1) == t.argmax(axis=1)).astype(z.dtype)
        return sample_loss, acc, p, (p - t) / B
    if loss == BINARY_CROSS_ENTROPY:
        sample_loss = (np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))).mean(axis=1)
        a = 1 / (1 + np.exp(-z))
        acc = ((z > 0) == (t >= 0.5)).mean(axis=1).astype(z.dtype)
        return sample_loss, acc, a, (a - t) / (B * K)
    if loss == MSE:
        diff = z - t
        grad = activation_backward(act, z, 2 * diff / (B * K), z_in)
        return (diff * diff).mean(axis=1), np.zeros(B, z.dtype), z.copy(), grad
    if loss == HUBER:
        e = z - t
        a = np.abs(e)
        sample = np.where(a <= delta, 0.5 * e * e, delta * (a - 0.5 * delta)).mean(axis=1)
        grad = activation_backward(act, z, np.clip(e, -delta, delta) / (B * K), z_in)
        return sample, np.zeros(B, z.dtype), z.copy(), grad
    if loss == MAE:
        e = z - t
        grad = activation_backward(act, z, np.sign(e) / (B * K), z_in)
        return np.abs(e).mean(axis=1), np.zeros(B, z.dtype), z.copy(), grad
    raise ValueError(loss)


def sgd_update(p, g, v, lr, momentum=0.0, nesterov=False, weight_decay=0.0, l1=0.0, l2=0.0, regularize=True):
    """One SGD step in place on flat arrays; returns the penalty ``l1*sum|p| + l2/2*sum p^2`` before the step."""
    if regularize:
        penalty = l1 * float(np.abs(p.astype(np.float64)).sum()) + 0.5 * l2 * float((p.astype(np.float64) ** 2).sum())
        g = g + (l2 + weight_decay) * p + l1 * np.sign(p)
    else:
        penalty = 0.0
    if momentum:
        v *= momentum
        v += g
        g = g + momentum * v if nesterov else v
    p -= lr * g
    return penalty


def adam_update(p, g, m, v, vmax, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                decoupled=False):
    """PyTorch's Adam (``decoupled``: AdamW) step ``t`` (from 1) in place; ``vmax`` is used with amsgrad."""
    b1, b2 = betas
    if decoupled:
        p *= 1 - lr * weight_decay
    else:
        g = g + weight_decay * p
    m += (1 - b1) * (g - m)
    v *= b2
    v += (1 - b2) * g * g
    if amsgrad:
        np.maximum(vmax, v, out=vmax)
    denom = np.sqrt(vmax if amsgrad else v) / np.sqrt(1 - b2 ** t) + eps
    p -= lr / (1 - b1 ** t) * (m / denom)


def rmsprop_update(p, g, sq, buf, lr, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
    """PyTorch's RMSprop step (not centered) in place; ``buf`` is the momentum buffer."""
    g = g + weight_decay * p
    sq *= alpha
    sq += (1 - alpha) * g * g
    avg = np.sqrt(sq) + eps
    if momentum:
        buf *= momentum
        buf += g / avg
        p -= lr * buf
    else:
        p -= lr * (g / avg)


def cosine_decay(step, initial_lr, decay_steps, alpha=0.0, warmup_steps=0):
    """Keras's CosineDecay (warm-up from 0 to ``initial_lr``) at update ``step`` (from 0)."""
    if step < warmup_steps:
        return initial_lr * step / warmup_steps
    frac = min(step - warmup_steps, decay_steps) / decay_steps
    return initial_lr * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * frac)) + alpha)


def exponential_decay(step, initial_lr, decay_steps, decay_rate, staircase=False):
    """Keras's ExponentialDecay at update ``step``."""
    p = step / decay_steps
    return initial_lr * decay_rate ** (np.floor(p) if staircase else p)


def one_cycle(step, max_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    """PyTorch's OneCycleLR (cosine, two phases) at update ``step`` (``scheduler.last_epoch``)."""
    initial = max_lr / div_factor
    low = initial / final_div_factor
    peak = pct_start * total_steps - 1
    step = min(step, total_steps - 1)
    if step <= peak:
        start, end, pct = initial, max_lr, step / peak
    else:
        start, end, pct = max_lr, low, (step - peak) / (total_steps - 1 - peak)
    return end + (start - end) / 2 * (np.cos(np.pi * pct) + 1)


_M64 = (1 << 64) - 1


def mix64(z):
    """SplitMix64's finaliser on Python integers (wrapping at 64 bits)."""
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def dropout_mask(seed, step, buffer, n_rows, width, rate):
    """Dropout's mask for ``buffer`` (0: the inputs, l: layer l's input) at update ``step``: element
    ``idx = row * width + unit`` is kept when the top 32 bits of ``mix64(key + idx)`` reach ``rate * 2**32``,
    with ``key = mix64(mix64(seed) ^ mix64(step * 1024 + buffer))``."""
    key = mix64(mix64(seed) ^ mix64((step * 1024 + buffer) & _M64))
    threshold = int(rate * 4294967296.0)
    keep = [(mix64((key + idx) & _M64) >> 32) >= threshold for idx in range(n_rows * width)]
    return np.array(keep, dtype=np.uint8).reshape(n_rows, width)


def lloyd_step(X, weights, centers):
    """k-means' assignment and center sums (``fastnn._kmeans.lloyd_step``): labels (arg-min of squared distance,
    lowest index on ties), each sample's squared distance to its center, and each center's weighted sum."""
    d2 = ((X[:, None, :].astype(np.float64) - centers[None, :, :]) ** 2).sum(axis=2)
    labels = d2.argmin(axis=1)
    w = np.ones(X.shape[0]) if weights is None else weights
    sums = np.zeros(centers.shape, dtype=np.float64)
    np.add.at(sums, labels, w[:, None] * X)
    return labels, d2[np.arange(X.shape[0]), labels], sums


class Network:
    """A dense network in plain NumPy with the same layout, maths and update as ``fastnn.Sequential``.

    ``weights`` is a list ``[W_0, b_0, W_1, b_1, ...]`` (copied); ``acts`` the activation codes.
    """

    def __init__(self, weights, acts, loss):
        self.params = [np.array(w) for w in weights]
        self.velocity = [np.zeros_like(w) for w in self.params]
        self.acts = list(acts)
        self.loss = loss

    @property
    def n_layers(self):
        return len(self.acts)

    def forward(self, x, last_activation=True, pre_activations=None):
        """Outputs ``[x, a_0, a_1, ...]``; appends each layer's pre-activation to ``pre_activations`` if given."""
        outs = [x]
        L = self.n_layers
        for l in range(L):
            z = dense_forward(outs[-1], self.params[2 * l], self.params[2 * l + 1])
            if pre_activations is not None:
                pre_activations.append(z)
            if l < L - 1 or last_activation:
                z = activation_forward(self.acts[l], z)
            outs.append(z)
        return outs

    def gradients(self, x, labels=None, targets=None):
        """Per-sample losses and accuracies and the data-loss gradients ``[dW_0, db_0, ...]`` of a batch."""
        L = self.n_layers
        zs = []
        outs = self.forward(x, last_activation=self.loss == MSE, pre_activations=zs)
        sl, acc, out, d = output_loss(self.loss, self.acts[-1], outs[-1], labels, targets, zs[-1])
        outs[-1] = out
        grads = [None] * (2 * L)
        for l in range(L - 1, -1, -1):
            grads[2 * l] = d.T @ outs[l]
            grads[2 * l + 1] = d.sum(axis=0)
            if l:
                d = activation_backward(self.acts[l - 1], outs[l], d @ self.params[2 * l], zs[l - 1])
        return sl, acc, grads

    def train_batch(self, x, labels=None, targets=None, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0,
                    l1=0.0, l2=0.0):
        """One update; returns ``(mean data loss + penalty, mean accuracy)`` of the batch before the update."""
        sl, acc, grads = self.gradients(x, labels, targets)
        penalty = 0.0
        for i, (p, g, v) in enumerate(zip(self.params, grads, self.velocity)):
            penalty += sgd_update(p, g, v, lr, momentum, nesterov, weight_decay, l1, l2, regularize=i % 2 == 0)
        return float(sl.astype(np.float64).mean()) + penalty, float(acc.mean())

    def train_epoch(self, X, perm, batch_size, labels=None, targets=None, **hyper):
        """One epoch over ``X[perm]`` in batches; returns the sample-weighted mean of the batch losses."""
        n = X.shape[0]
        total = 0.0
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            loss, _ = self.train_batch(X[idx], None if labels is None else labels[idx],
                                       None if targets is None else targets[idx], **hyper)
            total += loss * idx.shape[0]
        return total / n

    def predict(self, X):
        return self.forward(X)[-1]


def replay_indices(key, step, batch_size, size):
    """The rows the DQN update ``step`` samples: ``mix64(mix64(key ^ mix64(step)) + r) mod size``."""
    base = mix64((key ^ mix64(step & _M64)) & _M64)
    return np.array([mix64((base + r) & _M64) % size for r in range(batch_size)], dtype=np.int64)


def dqn_update(params, target, m, v, t, acts, widths, rows, obs, next_obs, actions, rewards, dones, gamma,
               loss="huber", double_q=False, max_grad_norm=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """One DQN update as Stable-Baselines3 writes it (``DQN.train``), in place on the flat buffers ``params``,
    ``m``, ``v`` (Adam's moments, step ``t`` from 1); returns the loss.

    ``target_q = r + gamma * (1 - done) * Q_target(s')[a*]`` with ``a* = argmax Q_target(s')`` (or, with
    ``double_q``, ``argmax Q_online(s')``); the loss is ``smooth_l1(Q(s)[a], target_q)`` (Huber, delta 1) or
    their mean squared error, averaged over the batch; the gradient's global norm is clipped to
    ``max_grad_norm`` as ``torch.nn.utils.clip_grad_norm_`` does; then Adam."""
    def unflatten(flat):
        out, off = [], 0
        for l in range(len(acts)):
            n_in, n_out = widths[l], widths[l + 1]
            out += [flat[off:off + n_out * n_in].reshape(n_out, n_in), flat[off + n_out * n_in:off + n_out * (n_in + 1)]]
            off += n_out * (n_in + 1)
        return out

    online_net = Network(unflatten(params), acts, MSE)
    target_net = Network(unflatten(target), acts, MSE)
    s, s2 = obs[rows], next_obs[rows]
    q_next = target_net.predict(s2)
    choice = online_net.predict(s2).argmax(axis=1) if double_q else q_next.argmax(axis=1)
    y = rewards[rows] + gamma * (1 - dones[rows]) * q_next[np.arange(len(rows)), choice]
    outs = online_net.forward(s)
    a = actions[rows]
    B = len(rows)
    e = outs[-1][np.arange(B), a] - y
    if loss == "huber":
        value = np.where(np.abs(e) < 1, 0.5 * e * e, np.abs(e) - 0.5).mean()
        de = np.clip(e, -1, 1) / B
    else:
        value = (e * e).mean()
        de = 2 * e / B
    d = np.zeros_like(outs[-1])
    d[np.arange(B), a] = de
    d = activation_backward(acts[-1], outs[-1], d)
    grads = [None] * (2 * len(acts))
    for l in range(len(acts) - 1, -1, -1):
        grads[2 * l] = d.T @ outs[l]
        grads[2 * l + 1] = d.sum(axis=0)
        if l:
            d = activation_backward(acts[l - 1], outs[l], d @ online_net.params[2 * l])
    g = np.concatenate([x.ravel() for x in grads])
    if max_grad_norm is not None:
        coef = max_grad_norm / (np.sqrt(np.sum(g * g)) + 1e-6)
        if coef < 1:
            g = g * coef
    adam_update(params, g, m, v, None, t, lr, betas, eps)
    return float(value)


def polyak_update(target, online, tau):
    """Stable-Baselines3's ``polyak_update``: ``target = (1 - tau) * target + tau * online`` in place."""
    target *= 1 - tau
    target += tau * online


# ---------------------------------------------------------------------------------------------------------------
# Convolution and pooling (NCHW), and a network of any of the engine's layer kinds
# ---------------------------------------------------------------------------------------------------------------

def _padded(x, kh, kw, stride, padding, out_size):
    """``x`` padded with zeros: ``padding`` (top, left) before and enough after for ``out_size`` windows."""
    (sh, sw), (ph, pw), (Ho, Wo) = stride, padding, out_size
    H, W = x.shape[2:]
    after_h = max(0, (Ho - 1) * sh + kh - H - ph)
    after_w = max(0, (Wo - 1) * sw + kw - W - pw)
    return np.pad(x, ((0, 0), (0, 0), (ph, after_h), (pw, after_w)))


def conv_output_size(size, kernel, stride, padding):
    """``(size + 2 * padding - kernel) // stride + 1`` per dimension (PyTorch's formula)."""
    return tuple((s + 2 * p - k) // st + 1 for s, k, st, p in zip(size, kernel, stride, padding))


def conv2d_forward(x, W, b, stride=(1, 1), padding=(0, 0), out_size=None):
    """``y[n, o] = b[o] + sum_c W[o, c] * x[n, c]`` (cross-correlation, PyTorch's ``conv2d``): ``x`` (B, C, H, W),
    ``W`` (O, C, kh, kw); ``padding`` is added before (top, left) and, for ``out_size`` (default PyTorch's
    output size with symmetric padding), after."""
    kh, kw = W.shape[2:]
    out_size = out_size or conv_output_size(x.shape[2:], (kh, kw), stride, padding)
    (sh, sw), (Ho, Wo) = stride, out_size
    xp = _padded(x, kh, kw, stride, padding, out_size)
    out = np.zeros((x.shape[0], W.shape[0], Ho, Wo), dtype=np.result_type(x, W))
    if b is not None:  # None: no bias
        out += b[None, :, None, None]
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw]
            out += np.einsum("bchw,oc->bohw", patch, W[:, :, i, j])
    return out


def conv2d_backward(x, W, dy, stride=(1, 1), padding=(0, 0)):
    """Gradients ``(dx, dW, db)`` of ``conv2d_forward`` given the output's gradient ``dy`` (B, O, Ho, Wo)."""
    kh, kw = W.shape[2:]
    (sh, sw), (ph, pw), (Ho, Wo) = stride, padding, dy.shape[2:]
    xp = _padded(x, kh, kw, stride, padding, (Ho, Wo))
    dxp = np.zeros_like(xp)
    dW = np.zeros_like(W)
    for i in range(kh):
        for j in range(kw):
            rows, cols = slice(i, i + sh * (Ho - 1) + 1, sh), slice(j, j + sw * (Wo - 1) + 1, sw)
            dxp[:, :, rows, cols] += np.einsum("bohw,oc->bchw", dy, W[:, :, i, j])
            dW[:, :, i, j] = np.einsum("bohw,bchw->oc", dy, xp[:, :, rows, cols])
    H, Wd = x.shape[2:]
    return dxp[:, :, ph:ph + H, pw:pw + Wd], dW, dy.sum(axis=(0, 2, 3))


def _windows(x, pool, stride):
    """``(B, C, Ho, Wo, kh * kw)`` views of the pooling windows of ``x`` and their flat indices in an image."""
    (kh, kw), (sh, sw) = pool, stride
    B, C, H, W = x.shape
    Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
    oy, ox, i, j = np.meshgrid(np.arange(Ho), np.arange(Wo), np.arange(kh), np.arange(kw), indexing="ij")
    pix = (oy * sh + i) * W + (ox * sw + j)                        # (Ho, Wo, kh, kw)
    index = np.arange(C)[:, None, None, None, None] * H * W + pix  # (C, Ho, Wo, kh, kw)
    index = index.reshape(C, Ho, Wo, kh * kw)
    return x.reshape(B, -1)[:, index], index


def max_pool2d(x, pool, stride):
    """Max pooling (PyTorch's ``max_pool2d``, no padding, floor mode): ``(out, arg)``, ``arg`` the flat index in
    the image of each window's first maximum."""
    win, index = _windows(x, pool, stride)
    k = win.argmax(axis=-1)
    out = np.take_along_axis(win, k[..., None], axis=-1)[..., 0]
    arg = np.take_along_axis(np.broadcast_to(index, win.shape), k[..., None], axis=-1)[..., 0]
    return out, arg


def max_pool2d_backward(dy, arg, in_shape):
    dx = np.zeros((dy.shape[0], int(np.prod(in_shape))), dtype=dy.dtype)
    for n in range(dy.shape[0]):
        np.add.at(dx[n], arg[n].ravel(), dy[n].ravel())
    return dx.reshape((dy.shape[0],) + tuple(in_shape))


def avg_pool2d(x, pool, stride):
    win, _ = _windows(x, pool, stride)
    return win.sum(axis=-1) / (pool[0] * pool[1])


def avg_pool2d_backward(dy, pool, stride, in_shape):
    B = dy.shape[0]
    _, index = _windows(np.zeros((1,) + tuple(in_shape)), pool, stride)
    dx = np.zeros((B, int(np.prod(in_shape))), dtype=dy.dtype)
    g = np.broadcast_to((dy / (pool[0] * pool[1]))[..., None], (B,) + index.shape)
    for n in range(B):
        np.add.at(dx[n], index.ravel(), g[n].ravel())
    return dx.reshape((B,) + tuple(in_shape))


DENSE, CONV2D, MAXPOOL2D, AVGPOOL2D = range(4)
PERMUTE = 11


def permute_rows(x, h, w):
    """Each row of ``x`` (``h * w`` values, an ``h x w`` matrix) transposed to ``w x h``: the engine's PERMUTE kind
    (``h = H * W, w = C``: channels-last images to channels first; ``h = C, w = H * W``: back)."""
    return x.reshape(x.shape[0], h, w).transpose(0, 2, 1).reshape(x.shape[0], -1)


class LayerNetwork:
    """A network of the engine's layer kinds in plain NumPy: ``layout`` the engine's layer table (per layer
    ``(kind, c, h, w, co, ho, wo, kh, kw, sh, sw, ph, pw)``, or a dict of these fields and ``no_bias``),
    ``weights`` ``[W, b, ...]`` of the Dense and Conv2D layers in order (PERMUTE: each row as an ``h x w`` matrix,
    transposed) (a layer with ``no_bias`` has its ``W``
    alone), ``acts`` an activation code per layer (pooling: identity), ``loss`` a loss code. Samples are flat
    rows; image layers see them as ``(c, h, w)``."""

    def __init__(self, layout, weights, acts, loss):
        # a row may also be a dict {"kind": k, field: value} (missing shapes are 0)
        fields = ("c", "h", "w", "co", "ho", "wo", "kh", "kw", "sh", "sw", "ph", "pw")
        self.layout = [(row["kind"],) + tuple(row.get(k, 0) for k in fields) if isinstance(row, dict)
                       else tuple(row[:13]) + (0,) * (13 - len(row[:13])) for row in layout]
        self.biased = [not (isinstance(row, dict) and row.get("no_bias")) for row in layout]
        self.params = [np.array(w) for w in weights]
        self.acts = list(acts)
        self.loss = loss

    def _layer(self, l):
        """Index of layer ``l``'s weight in ``params`` (None for pooling)."""
        k = sum(1 + self.biased[i] for i, row in enumerate(self.layout[:l]) if row[0] in (DENSE, CONV2D))
        return k if self.layout[l][0] in (DENSE, CONV2D) else None

    def _bias(self, l):
        """Layer ``l``'s bias, or None."""
        return self.params[self._layer(l) + 1] if self.biased[l] else None

    def _apply(self, l, x):
        """Pre-activation of layer ``l`` (and the max-pool arg-max) for flat rows ``x``."""
        kind, c, h, w, co, ho, wo, kh, kw, sh, sw, ph, pw = self.layout[l]
        B = x.shape[0]
        if kind == DENSE:
            return dense_forward(x, self.params[self._layer(l)], self._bias(l)), None
        if kind == PERMUTE:
            return permute_rows(x, h, w), None
        img = x.reshape(B, c, h, w)
        if kind == CONV2D:
            return conv2d_forward(img, self.params[self._layer(l)], self._bias(l), (sh, sw), (ph, pw), (ho, wo)) \
                .reshape(B, -1), None
        if kind == MAXPOOL2D:
            out, arg = max_pool2d(img, (kh, kw), (sh, sw))
            return out.reshape(B, -1), arg
        return avg_pool2d(img, (kh, kw), (sh, sw)).reshape(B, -1), None

    def forward(self, x, last_activation=True):
        """Outputs ``[x, a_0, a_1, ...]`` (flat rows), pre-activations and arg-max indices of every layer."""
        outs, zs, args = [x], [], []
        L = len(self.layout)
        for l in range(L):
            z, arg = self._apply(l, outs[-1])
            zs.append(z)
            args.append(arg)
            outs.append(activation_forward(self.acts[l], z) if l < L - 1 or last_activation else z)
        return outs, zs, args

    def predict(self, x):
        return self.forward(x)[0][-1]

    def gradients(self, x, labels=None, targets=None):
        """Per-sample losses and the data-loss gradients ``[dW, db, ...]`` of a batch (mean loss)."""
        L = len(self.layout)
        outs, zs, args = self.forward(x, last_activation=self.loss in (MSE, HUBER, MAE))
        sl, _, out, d = output_loss(self.loss, self.acts[-1], outs[-1], labels, targets, zs[-1])
        grads = [None] * len(self.params)
        B = x.shape[0]
        for l in range(L - 1, -1, -1):
            kind, c, h, w, co, ho, wo, kh, kw, sh, sw, ph, pw = self.layout[l]
            k = self._layer(l)
            if kind == DENSE:
                grads[k], db = d.T @ outs[l], d.sum(axis=0)
                dx = d @ self.params[k]
            elif kind == CONV2D:
                dx, grads[k], db = conv2d_backward(outs[l].reshape(B, c, h, w), self.params[k],
                                                   d.reshape(B, co, ho, wo), (sh, sw), (ph, pw))
            elif kind == PERMUTE:
                dx = permute_rows(d, w, h)
            elif kind == MAXPOOL2D:
                dx = max_pool2d_backward(d.reshape(B, co, ho, wo), args[l], (c, h, w))
            else:
                dx = avg_pool2d_backward(d.reshape(B, co, ho, wo), (kh, kw), (sh, sw), (c, h, w))
            if kind in (DENSE, CONV2D) and self.biased[l]:
                grads[k + 1] = db
            if l:
                d = activation_backward(self.acts[l - 1], outs[l], dx.reshape(B, -1), zs[l - 1])
        return sl, grads


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def recurrent_forward(cell, x, W_ih, W_hh, b_ih, b_hh, return_sequences=False, activation="tanh"):
    """PyTorch's ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (one layer, batch first, zero initial state) on ``x`` of
    shape (n, T, F): ``cell`` is "rnn", "lstm" (gates i, f, g, o) or "gru" (gates r, z, n). Returns every step's
    hidden state (n, T, H) when ``return_sequences``, else the last one's (n, H)."""
    n, T, _ = x.shape
    H = W_hh.shape[1]
    h = np.zeros((n, H), dtype=x.dtype)
    c = np.zeros((n, H), dtype=x.dtype)
    states = []
    for t in range(T):
        gi = x[:, t] @ W_ih.T + b_ih
        gh = h @ W_hh.T + b_hh
        if cell == "lstm":
            i, f, g, o = np.split(gi + gh, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
        elif cell == "gru":
            r = _sigmoid(gi[:, :H] + gh[:, :H])
            z = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
            m = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
            h = (1 - z) * m + z * h
        else:
            h = np.tanh(gi + gh) if activation == "tanh" else np.maximum(gi + gh, 0)
        states.append(h)
    return np.stack(states, axis=1) if return_sequences else h


def batchnorm(x, gamma, beta, running_mean, running_var, training, eps=1e-5, momentum=0.1):
    """PyTorch's ``BatchNorm1d``/``BatchNorm2d`` on ``x`` of shape (n, C) or (n, C, H, W): ``(y, running_mean,
    running_var)``, the running statistics moved by a training call (unbiased variance), kept by another."""
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        n = x.size // x.shape[1]
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * n / max(n - 1, 1)
    else:
        mean, var = running_mean, running_var
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) + beta.reshape(shape)
    return y, running_mean, running_var


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """PyTorch's ``nn.functional.layer_norm``: ``x`` normalised over its last ``len(normalized_shape)`` dimensions
    (biased variance), then scaled by ``weight`` and shifted by ``bias`` (None: not)."""
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return y * (1 if weight is None else weight) + (0 if bias is None else bias)


def layer_norm_backward(x, dy, normalized_shape, weight=None, eps=1e-5):
    """Gradients ``(dx, dweight, dbias)`` of ``layer_norm`` given the output's gradient ``dy``."""
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    lead = tuple(range(x.ndim - len(normalized_shape)))
    inv = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xhat = (x - x.mean(axis=axes, keepdims=True)) * inv
    g = dy * (1 if weight is None else weight)
    dx = inv * (g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True))
    return dx, (dy * xhat).sum(axis=lead), dy.sum(axis=lead)
