# Included by _kernels.pyx: Deep Q-learning's update and greedy action, in compiled calls.

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
    cdef const floating *q = <floating *> net.ws.A[L]
    cdef floating *d = <floating *> net.ws.D[L]
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
        _activation_backward(net.act[L - 1], <floating *> net.ws.A[L], <floating *> net.ws.Z[L], d, B, K, K)
    return total * scale


cdef void _dqn_targets(Net *net, const floating *target_params, const Replay *rb, const DQNSettings *s,
                       const int64_t *rows, floating *qn, floating *y, Py_ssize_t B, int nt) noexcept nogil:
    """``y = r + gamma * (1 - done) * Q_target(s', a*)`` with ``a* = argmax Q_target(s')``, or with double Q
    learning ``argmax Q_online(s')``; the next states are gathered into ``A[0]``."""
    cdef int L = net.n_layers, K = net.width[L], n_in = net.width[0]
    cdef floating *A0 = <floating *> net.ws.A[0]
    cdef const floating *out = <floating *> net.ws.A[L]
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


cdef int _dqn_apply(Net *net, floating *params, Step *h, const DQNSettings *s, Py_ssize_t B,
                    double *task_penalty, int nt) noexcept nogil:
    """The gradient step after the backward pass (``_update_tasks``, clipping the gradient's norm to
    ``s.max_grad_norm`` when positive). Returns 1 when a parameter became NaN or infinite."""
    cdef int t
    cdef double total = 0
    _update_tasks(net, params, B, h, True, nt, task_penalty, s.max_grad_norm)
    for t in range(net.n_tasks):
        total += task_penalty[t]
    return 0 if isfinite(total) else 1


cdef int _dqn_updates(Net *net, floating *target_params, const Replay *rb, const DQNSettings *s, Step *h,
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
        _gather_rows(<floating *> net.ws.A[0], <const floating *> rb.obs, rows, 0, B, n_in)
        _forward(net, <floating *> net.ws.A[0], B, nt, True)
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
               bint double_q, double max_grad_norm, uint64_t key, Settings settings not None,
               int64_t[::1] step not None, int64_t[::1] rows not None, qn, y, int n_threads):
    """Run ``n_updates`` DQN updates of the engine's network (the online network) without the GIL.

    Each update samples ``batch_size`` rows of the replay buffer (``obs``, ``next_obs``, ``actions``,
    ``rewards``, ``dones``, of which ``size`` rows are filled) by ``replay_indices(key, step, ...)``, computes the
    targets ``r + gamma (1 - done) max_a Q_target(s', a)`` with ``target`` (a flat parameter buffer of the
    engine's layout; with ``double_q`` the action is the online network's arg-max), the loss ``loss``
    (LOSS_HUBER: smooth L1 with delta 1, or LOSS_MSE) of ``Q(s, a)`` on the taken actions, its gradient, the
    optional clipping of the gradient's global norm to ``max_grad_norm`` (> 0) and the optimizer's step
    (``settings``, ``step`` as in ``Engine.train``). ``rows`` (int64, batch_size), ``qn`` (batch_size x n_actions) and
    ``y`` (batch_size) are scratch of the engine's dtype. Returns ``(status, updates applied, loss sum)`` with
    status 0 (all ran), 1 (non-finite loss: that update not applied), 2 (an update made a parameter non-finite:
    partly applied) or 3 (SIGINT).
    """
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
    if rows.shape[0] != batch_size or step.shape[0] != 1:
        raise ValueError("rows must hold batch_size values and step 1")
    cdef Replay rb = _replay(obs, next_obs, actions, rewards, dones, size, net, dtype)
    cdef Step h = settings.copy(n)
    s.gamma = gamma
    s.max_grad_norm = max_grad_norm
    s.loss = loss
    s.double_q = double_q
    s.key = key
    net.ws.single_row = batch_size == 1
    net.ws.training = False  # dropout off: the Q-network's forward passes are the same in targets and loss
    net.ws.update_buffers = False
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
    net.ws.single_row = True
    net.ws.training = False
    _forward(net, x, 1, 1, True)
    q = <floating *> net.ws.A[L]
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
