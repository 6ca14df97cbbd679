# Included by _kernels.pyx: The Python-facing Engine: buffers, the layer table and the task list of one model.

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
    cdef Workspace ws
    cdef bint is_double
    cdef object _keep
    cdef object _scratch, _layout, _columns, _frozen
    cdef object _sample_loss, _sample_correct, _task_penalty, _tasks, _buffers
    cdef readonly Py_ssize_t capacity
    #: The largest single product (multiply-adds) per batch row, over every BLAS call of a step.
    cdef readonly Py_ssize_t row_work
    cdef readonly Py_ssize_t training_row_bytes
    cdef readonly bint whole_batches
    #: The layers that normalise by statistics of the whole batch (BatchNorm), in order.
    cdef readonly tuple statistics_layers

    def __cinit__(self):
        memset(&self.net, 0, sizeof(Net))
        memset(&self.ws, 0, sizeof(Workspace))
        self.net.ws = &self.ws

    def __init__(self, params, grads, state, widths, activations, int loss, Py_ssize_t capacity,
                 double loss_param=1.0, dropout=None, uint64_t seed=0, int cores=1, layout=None, frozen=None,
                 buffers=None):
        cdef int L = len(widths) - 1
        cdef int l, t, n_tasks
        cdef Py_ssize_t off = 0
        cdef const KindRow *row
        cdef const char *wrong
        cdef Py_ssize_t per_row, n_buf = 0
        cdef GradTask *found
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
        if L < 1 or capacity < 1:
            raise ValueError("a network needs at least one layer and a capacity of at least one row")
        dtype = params.dtype
        self.capacity = capacity
        self.net.n_layers = L
        self.net.loss = loss
        self.net.loss_param = loss_param
        self.net.ws.cap = capacity
        self.net.width = <int *> malloc((L + 1) * sizeof(int))
        self.net.act = <int *> malloc(L * sizeof(int))
        self.net.w_off = <Py_ssize_t *> malloc(L * sizeof(Py_ssize_t))
        self.net.b_off = <Py_ssize_t *> malloc(L * sizeof(Py_ssize_t))
        self.net.ws.A = <void **> malloc((L + 1) * sizeof(void *))
        self.net.ws.D = <void **> malloc((L + 1) * sizeof(void *))
        self.net.ws.Z = <void **> malloc((L + 1) * sizeof(void *))
        self.net.ws.Ad = <void **> calloc(L + 1, sizeof(void *))
        self.net.ws.mask = <uint8_t **> calloc(L + 1, sizeof(uint8_t *))
        self.net.drop = <double *> calloc(L + 1, sizeof(double))
        self.net.ws.drop_key = <uint64_t *> calloc(L + 1, sizeof(uint64_t))
        self.net.kind = <int *> calloc(L, sizeof(int))
        self.net.geom = <Geom *> calloc(L, sizeof(Geom))
        self.net.buf_off = <Py_ssize_t *> calloc(L, sizeof(Py_ssize_t))
        if self.net.buf_off == NULL:
            raise MemoryError()
        self.net.ws.arg = <int32_t **> calloc(L + 1, sizeof(int32_t *))
        if self.net.kind == NULL or self.net.geom == NULL or self.net.ws.arg == NULL:
            raise MemoryError()
        self.net.seed = seed
        self.net.is_double = self.is_double
        if (self.net.ws.Ad == NULL or self.net.ws.mask == NULL or self.net.drop == NULL or self.net.ws.drop_key == NULL
                or self.net.width == NULL or self.net.act == NULL or self.net.w_off == NULL
                or self.net.b_off == NULL or self.net.ws.A == NULL or self.net.ws.D == NULL or self.net.ws.Z == NULL):
            raise MemoryError()
        for l in range(L + 1):
            self.net.width[l] = widths[l]
        split = max(1, -(-int(cores) // 4))  # tiles per dimension beyond the column blocks: 1 up to 4 cores
        self.net.row_tiles = split
        self.net.cores = max(1, cores)
        for l in range(L):
            self.net.act[l] = activations[l]
            self.net.kind[l] = layout[l][0]
            self.net.geom[l] = dict(zip(GEOM_FIELDS, layout[l][1:]), single=int(not self.is_double))
            row = &KINDS[self.net.kind[l]]
            wrong = row.check(&self.net.geom[l], self.net.width[l], self.net.width[l + 1])
            if wrong != NULL:
                raise ValueError(f"layout[{l}]: {wrong.decode()}")
            self.net.w_off[l] = off
            off += row.n_weights(&self.net.geom[l], self.net.width[l], self.net.width[l + 1])
            self.net.b_off[l] = off
            off += row.n_bias(&self.net.geom[l], self.net.width[l], self.net.width[l + 1])
            self.net.buf_off[l] = n_buf
            n_buf += row.n_buffers(&self.net.geom[l], self.net.width[l], self.net.width[l + 1])
            self.row_work = max(self.row_work, row.row_work(&self.net.geom[l], self.net.width[l],
                                                            self.net.width[l + 1]))
            self.net.slot_size = max(self.net.slot_size, row.workspace(&self.net.geom[l], self.net.width[l],
                                                                       self.net.width[l + 1]))
        if params.shape[0] != off or grads.shape[0] != off or state.shape[1] != off:
            raise ValueError(f"flat buffers must hold {off} parameters")
        if buffers is None:
            buffers = np.zeros(n_buf, dtype=params.dtype)
        if (buffers.dtype != params.dtype or not buffers.flags.c_contiguous or buffers.ndim != 1
                or buffers.shape[0] != n_buf):
            raise ValueError(f"buffers must be a contiguous array of {n_buf} values of the parameters' dtype")
        self._buffers = buffers
        self.net.buffers = <void *> <size_t> buffers.ctypes.data if n_buf else NULL
        # Weight-gradient tasks, as each kind splits its layer; largest first (a stable order), so that dynamic
        # scheduling ends with the small ones.
        tasks = []
        for l in range(L):
            if frozen[l]:
                continue
            row = &KINDS[self.net.kind[l]]
            n_tasks = row.gradient_tasks(&self.net.geom[l], self.net.width[l], self.net.width[l + 1], split, NULL)
            found = <GradTask *> malloc(max(n_tasks, 1) * sizeof(GradTask))
            if found == NULL:
                raise MemoryError()
            row.gradient_tasks(&self.net.geom[l], self.net.width[l], self.net.width[l + 1], split, found)
            for t in range(n_tasks):
                found[t].layer = l
                tasks.append(found[t])
            free(found)
        tasks.sort(key=lambda task: -task["work"])
        self.net.task_work = sum(task["work"] for task in tasks)
        self.net.n_tasks = len(tasks)
        self.net.tasks = <GradTask *> malloc(max(len(tasks), 1) * sizeof(GradTask))  # none: every layer frozen
        if self.net.tasks == NULL:
            raise MemoryError()
        for t, task in enumerate(tasks):
            self.net.tasks[t] = task
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
                self.net.ws.Ad[l] = <void *> <size_t> dropped[l].ctypes.data
                self.net.ws.mask[l] = <uint8_t *> <size_t> masks[l].ctypes.data
        args = [None] + [np.empty((capacity, int(widths[l + 1])), dtype=np.int32)
                         if layout[l][0] == LAYER_MAXPOOL2D else None for l in range(L)]
        for l in range(L + 1):
            if args[l] is not None:
                self.net.ws.arg[l] = <int32_t *> <size_t> args[l].ctypes.data
        caches = [None] * L
        self.net.ws.cache = <void **> calloc(L, sizeof(void *))
        if self.net.ws.cache == NULL:
            raise MemoryError()
        for l in range(L):
            per_row = KINDS[self.net.kind[l]].cache(&self.net.geom[l], self.net.width[l], self.net.width[l + 1])
            if per_row > 0:
                caches[l] = np.zeros(capacity * per_row, dtype=dtype)
                self.net.ws.cache[l] = <void *> <size_t> caches[l].ctypes.data
        fixed = [None] * L
        self.net.ws.fixed = <double **> calloc(L, sizeof(double *))
        if self.net.ws.fixed == NULL:
            raise MemoryError()
        for l in range(L):
            per_row = KINDS[self.net.kind[l]].fixed(&self.net.geom[l], self.net.width[l], self.net.width[l + 1])
            if per_row > 0:
                fixed[l] = np.zeros(per_row, dtype=np.float64)
                self.net.ws.fixed[l] = <double *> <size_t> fixed[l].ctypes.data
        self.net.ws.bn_mode = <int *> calloc(L, sizeof(int))
        if self.net.ws.bn_mode == NULL:
            raise MemoryError()
        self._scratch = None
        self._reserve(cores)
        if any(KINDS[self.net.kind[l]].kept(&self.net.geom[l], self.net.width[l], self.net.width[l + 1]) > 0
               for l in range(L)):  # where a training batch's columns will be kept
            self.net.ws.columns = <void **> calloc(L, sizeof(void *))
            if self.net.ws.columns == NULL:
                raise MemoryError()
        for l in range(L + 1):
            self.net.ws.A[l] = <void *> <size_t> buffers[l].ctypes.data
            self.net.ws.D[l] = <void *> <size_t> deltas[l].ctypes.data if l > 0 else NULL
            self.net.ws.Z[l] = <void *> <size_t> inputs[l].ctypes.data if inputs[l] is not None else NULL
        self.net.params = <void *> <size_t> params.ctypes.data
        self.net.ws.grads = <void *> <size_t> grads.ctypes.data
        self.net.state = <void *> <size_t> state.ctypes.data
        self.net.n_params = off
        self._sample_loss = np.empty(capacity, dtype=dtype)
        self._sample_correct = np.empty(capacity, dtype=dtype)
        self._task_penalty = np.empty(max(len(tasks), 1), dtype=np.float64)
        self._keep = (params, grads, state, buffers, deltas, inputs, dropped, masks, args, caches, fixed)
        self._training_rows(loss == LOSS_GIVEN)

    cdef void _training_rows(self, object loss_given):
        """``training_row_bytes``: bytes one row of a training batch takes in the engine's buffers - every layer's
        output and gradient, dropout's copies and masks, pooling's arg-max indices, recurrent caches, and a
        convolution's im2col columns kept for its weight gradient (what ``fit`` sizes its blocks of rows by);
        ``whole_batches``: whether a batch must be computed in one piece (the loss is computed in Python, or
        the first layer keeps statistics of the whole batch); ``statistics_layers``: the layers that do."""
        cdef int l
        cdef Py_ssize_t item = 8 if self.is_double else 4
        total = 2 * item  # a row's loss and accuracy
        statistics = []
        for group in self._keep[3:10]:  # outputs, gradients, activation inputs, dropout, masks, arg-max, caches
            total += sum(a.nbytes for a in group if a is not None) // self.capacity
        self.whole_batches = bool(loss_given)
        for l in range(self.net.n_layers):
            if not self._frozen[l]:
                total += KINDS[self.net.kind[l]].kept(&self.net.geom[l], self.net.width[l],
                                                      self.net.width[l + 1]) * item
            if KINDS[self.net.kind[l]].batch_stats:
                statistics.append(l)
        self.training_row_bytes = total
        self.statistics_layers = tuple(statistics)
        # a batch computed in blocks needs each statistics layer's backward pass, which the first layer has not
        self.whole_batches = self.whole_batches or 0 in statistics

    def _keep_columns(self, Py_ssize_t rows):
        """Room for every convolution's im2col columns of a training batch of ``rows`` rows, so that the weight
        gradients reuse the forward pass's columns instead of forming them again (sized by the batches trained
        on, never by the capacity a large ``predict`` grew the engine to)."""
        cdef int l, L = self.net.n_layers
        cdef Py_ssize_t per_row
        kept = []
        for l in range(L):
            per_row = KINDS[self.net.kind[l]].kept(&self.net.geom[l], self.net.width[l], self.net.width[l + 1])
            if per_row > 0 and not self._frozen[l]:  # a frozen layer takes no weight gradient
                block = np.empty(rows * per_row, dtype=np.float64 if self.is_double else np.float32)
                kept.append(block)
                self.net.ws.columns[l] = <void *> <size_t> block.ctypes.data
            else:  # none now (a convolution that runs the direct kernels): none from an earlier call either
                self.net.ws.columns[l] = NULL
        self._columns = kept
        self.net.ws.cols_rows = rows

    def _reserve(self, int n_threads):
        """Give each of ``n_threads`` threads a workspace (im2col columns) if the network has convolutions."""
        if self.net.slot_size == 0 or self.net.ws.n_slots >= n_threads:
            return
        n = max(n_threads, 1)
        self._scratch = np.empty(n * self.net.slot_size, dtype=np.float64 if self.is_double else np.float32)
        self.net.ws.scratch = <void *> <size_t> self._scratch.ctypes.data
        self.net.ws.n_slots = n

    def __dealloc__(self):
        free(self.net.width)
        free(self.net.act)
        free(self.net.w_off)
        free(self.net.b_off)
        free(self.net.ws.A)
        free(self.net.ws.D)
        free(self.net.ws.Z)
        free(self.net.ws.Ad)
        free(self.net.ws.mask)
        free(self.net.drop)
        free(self.net.ws.drop_key)
        free(self.net.tasks)
        free(self.net.tie)
        free(self.net.ws.columns)
        free(self.net.ws.cache)
        free(self.net.ws.fixed)
        free(self.net.ws.bn_mode)
        free(self.net.kind)
        free(self.net.geom)
        free(self.net.buf_off)
        free(self.net.ws.arg)

    def train(self, X, perm, labels, targets, weights, Py_ssize_t batch_size, Py_ssize_t first_batch,
              Py_ssize_t last_batch, Settings settings not None, int64_t[::1] step not None, int n_threads,
              double[::1] totals not None, bint apply=True):
        """Run batches ``first_batch .. last_batch``; returns ``(status, batch)``: ``(0, last_batch)`` when all
        ran, ``(1, b)`` when batch ``b`` had a non-finite loss (not applied) or its update made a parameter
        non-finite (then partly applied: restore the parameters and state), ``(2, b)`` when SIGINT stopped
        training before batch ``b``.

        ``X`` is ``(n_samples, n_in)`` C-contiguous of the engine's dtype; ``perm`` int64 of length n_samples;
        exactly one of ``labels`` (int32, n_samples) and ``targets`` (n_samples, n_out) is not None; ``weights``
        (n_samples,) of the engine's dtype or None. ``settings`` (a ``Settings``) holds the optimizer's
        settings; ``step`` (int64, 1) the number of updates so far, advanced in
        place. ``totals`` (float64, 4) accumulates [loss x batch size sum, penalty x batch size sum, accuracy
        sum, samples] in batch order, so the epoch's sums do not depend on how the batches are split across calls.
        """
        cdef Step h = settings.copy(self.net.n_params)
        cdef Py_ssize_t diverged
        cdef Py_ssize_t n = X.shape[0]
        if min(batch_size, n) > self.capacity:
            raise ValueError("batch_size exceeds the engine's capacity")
        if self.net.ws.columns != NULL and min(batch_size, n) > self.net.ws.cols_rows:  # a network of convolutions
            self._keep_columns(min(batch_size, n))
        if totals.shape[0] != 4 or step.shape[0] != 1:
            raise ValueError("totals must hold 4 values and step 1")
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

    def gradient(self, X, rows, labels, targets, weights, Py_ssize_t offset, double wsum, int64_t step,
                 int n_threads, double[::1] sums not None):
        """The data term of the gradient of one part of a batch: the rows ``X[rows]`` (``rows`` int64), which
        lie at ``offset, offset + 1, ...`` in their whole batch, whose size (or sum of sample weights) is
        ``wsum``. The loss's gradient is scaled by ``1 / wsum``, so the parts' gradients add up to the whole
        batch's. Written to the gradient buffer without the regularizer's terms (``apply_gradients`` adds them)
        and without an update; dropout's masks are those of the rows' places in the whole batch at update
        ``step``. Adds [sum of the rows' (weighted) losses, sum of their accuracies, rows] to ``sums`` (float64,
        3). Arrays as for ``train``."""
        cdef Py_ssize_t B = rows.shape[0]
        if B > self.capacity:
            raise ValueError("rows exceed the engine's capacity")
        if sums.shape[0] != 3:
            raise ValueError("sums must hold 3 values")
        if B == 0:  # this part of the batch is empty: it adds nothing
            self._keep[1][...] = 0
            return
        if self.net.ws.columns != NULL and B > self.net.ws.cols_rows:
            self._keep_columns(B)
        self._reserve(n_threads)
        if self.is_double:
            _engine_gradient[double](&self.net, X, rows, labels, targets, weights, self._sample_loss,
                                     self._sample_correct, offset, wsum, step, n_threads, &sums[0])
        else:
            _engine_gradient[float](&self.net, X, rows, labels, targets, weights, self._sample_loss,
                                    self._sample_correct, offset, wsum, step, n_threads, &sums[0])

    def apply_gradients(self, Settings settings not None, int64_t[::1] step not None, int n_threads):
        """One update from the data terms in the gradient buffer (``gradient``'s, summed over a batch's parts):
        tied matrices' gradients summed, the regularizer's terms added, the norm clipped, the optimizer's step at
        update ``step[0]``, which then advances. Returns the regularization penalty before the step, or NaN when
        the step made a parameter NaN or infinite (``step`` is then not advanced; the parameters and state are
        partly updated: the caller restores them)."""
        cdef Step h = settings.copy(self.net.n_params)
        cdef double[::1] tp = self._task_penalty
        cdef double penalty = 0
        cdef int t
        self._reserve(n_threads)
        _begin_step(&h, step[0])
        with nogil:
            if self.is_double:
                _apply_gradients[double](&self.net, <double *> self.net.params, &h, True, n_threads, &tp[0],
                                         h.clipnorm)
            else:
                _apply_gradients[float](&self.net, <float *> self.net.params, &h, True, n_threads, &tp[0],
                                        h.clipnorm)
        for t in range(self.net.n_tasks):
            penalty += tp[t]
        if isfinite(penalty):
            step[0] += 1
            return penalty
        return NAN

    def block_pass(self, X, rows, labels, targets, weights, Py_ssize_t offset, double wsum, int64_t step,
                   int n_threads, double[::1] sums not None, int[::1] modes not None, int stop_forward,
                   int stop_backward, bint gradients, Py_ssize_t batch_rows):
        """One pass over a block of a batch computed in blocks with BatchNorm layers (see
        ``fastnn.training.blocks``): the rows ``X[rows]`` at ``offset`` in their batch of ``batch_rows`` rows
        (weight sum ``wsum``), BatchNorm layer ``l`` in mode ``modes[l]`` (BN_* flags). The forward pass stops
        after layer ``stop_forward`` (-1: none; then the loss, its sums added to ``sums`` as ``gradient`` adds
        them, and the backward pass, which stops after layer ``stop_backward``, -1: none); with ``gradients`` (the
        last pass) the weight gradients' data terms are written to the gradient buffer, and the block at offset 0
        moves the BatchNorm layers' running statistics by the given ones. Arrays as for ``gradient``."""
        cdef Py_ssize_t B = rows.shape[0]
        cdef int l
        if B < 1 or B > self.capacity:
            raise ValueError("rows must hold between 1 row and the engine's capacity")
        if modes.shape[0] != self.net.n_layers or sums.shape[0] != 3:
            raise ValueError("modes must hold a value per layer and sums 3 values")
        if self.net.ws.columns != NULL and B > self.net.ws.cols_rows:
            self._keep_columns(B)
        self._reserve(n_threads)
        for l in range(self.net.n_layers):
            self.net.ws.bn_mode[l] = modes[l] if KINDS[self.net.kind[l]].batch_stats else 0
        self.net.ws.stop_forward = stop_forward + 1
        self.net.ws.stop_backward = stop_backward + 1
        self.net.ws.bn_rows = batch_rows
        self.net.ws.bn_offset = offset
        try:
            if self.is_double:
                _engine_block_pass[double](&self.net, X, rows, labels, targets, weights, self._sample_loss,
                                           self._sample_correct, offset, wsum, step, n_threads, &sums[0],
                                           stop_forward < 0, gradients)
            else:
                _engine_block_pass[float](&self.net, X, rows, labels, targets, weights, self._sample_loss,
                                          self._sample_correct, offset, wsum, step, n_threads, &sums[0],
                                          stop_forward < 0, gradients)
        finally:
            memset(self.net.ws.bn_mode, 0, self.net.n_layers * sizeof(int))
            self.net.ws.stop_forward = 0
            self.net.ws.stop_backward = 0

    def batchnorm_values(self, int l):
        """BatchNorm layer ``l``'s per-channel values (float64, a view): ``(C, 4)`` - the batch's mean, 1 /
        sqrt(var + eps), sum dy, sum dy * xhat - and ``(C, 6)`` for batches computed in blocks: the sums of x and
        (x - mean)^2, the variance, the sums of dy and dy * xhat, a spare."""
        if not 0 <= l < self.net.n_layers or not KINDS[self.net.kind[l]].batch_stats:
            raise ValueError("layer l keeps no batch statistics")
        values = self._keep[10][l]
        C = self.net.geom[l].c
        return values[:4 * C].reshape(C, 4), values[4 * C:].reshape(C, 6)

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
        cdef int l
        cdef Py_ssize_t t
        cdef const KindRow *row
        phases = []
        for l in range(self.net.n_layers):
            row = &KINDS[self.net.kind[l]]
            phases.append((f"forward {l}", [row.task_work(&self.net, l, batch, t, False)
                                            for t in range(row.forward_tasks(&self.net, l, batch))]))
        for l in range(self.net.n_layers - 1, 0, -1):
            row = &KINDS[self.net.kind[l]]
            phases.append((f"backward {l}", [row.task_work(&self.net, l, batch, t, True)
                                             for t in range(row.backward_tasks(&self.net, l, batch))]))
        phases.append(("weight gradients and update",
                       [self.net.tasks[t].work * batch for t in range(self.net.n_tasks)]))
        return phases

    def _block(self, block, Py_ssize_t n):
        cdef Py_ssize_t b = self.capacity if block is None else block
        if b < 1 or b > self.capacity:
            raise ValueError("block must be between 1 and the engine's capacity")
        return min(b, max(n, 1))

    def train_forward(self, X, out, int64_t step, int n_threads):
        """Write the outputs of a training pass over the rows of ``X`` (at most the capacity) into ``out``
        (n_rows, n_out): dropout masks of update ``step`` and batch statistics, as ``train`` computes them for
        that update, with nothing updated (the outputs a loss computed in Python needs)."""
        if X.shape[0] < 1 or X.shape[0] > self.capacity:
            raise ValueError("X must hold between 1 row and the engine's capacity")
        self._reserve(n_threads)
        if self.is_double:
            _engine_train_forward[double](&self.net, X, out, step, n_threads)
        else:
            _engine_train_forward[float](&self.net, X, out, step, n_threads)

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
    """The layer table as a list of ``L`` tuples of ints, ``(kind,) + shapes`` in the order of GEOM_FIELDS (all
    dense when None). A row may be such a tuple (missing shapes are 0) or a dict ``{"kind": k, field: value}``;
    each kind checks its shapes against ``widths`` when the engine is built."""
    n = 1 + len(GEOM_FIELDS)
    if layout is None:
        return [(LAYER_DENSE,) + (0,) * (n - 1)] * L
    rows = []
    for row in layout:
        if isinstance(row, dict):
            unknown = set(row) - {"kind", *GEOM_FIELDS}
            if unknown:
                raise ValueError(f"layout rows have no field {sorted(unknown)[0]!r}")
            row = (row["kind"],) + tuple(row.get(k, 0) for k in GEOM_FIELDS)
        row = tuple(float(v) if k in GEOM_FLOATS else int(v) for k, v in zip(("kind",) + GEOM_FIELDS, row))
        if not 1 <= len(row) <= n:
            raise ValueError(f"layout rows hold a kind and at most {n - 1} shapes")
        rows.append(row + (0,) * (n - len(row)))
    layout = rows
    if len(layout) != L:
        raise ValueError("layout must hold one row per layer")
    for l, row in enumerate(layout):
        if not 0 <= row[0] < N_KINDS:
            raise ValueError(f"layout[{l}]: unknown layer kind {row[0]}")
    return layout
