# Included by _kernels.pyx: The engine's types: a network's read-only spec (Net), one worker's buffers (Workspace),
# the row of functions each layer kind fills (KindRow), and an update's settings (Step, one struct per optimizer).

# ---------------------------------------------------------------------------------------------------------------
# The network: a spec of pointer tables into buffers owned by Python objects, read-only while a pass runs, and a
# workspace that a pass writes. Several workspaces can run one spec (each worker its own activations, gradients,
# masks and scratch); the spec's offsets and task list are shared.
# ---------------------------------------------------------------------------------------------------------------

cdef struct Geom:
    # The shapes of a layer beyond its widths, by kind. Spatial kinds (CONV2D, MAXPOOL2D, AVGPOOL2D): input
    # c x h x w, output co x ho x wo, kernel (or pooling window) kh x kw, stride sh, sw, padding ph, pw (top and
    # left). Recurrent kinds (RNN, LSTM, GRU): ``steps`` time steps of ``feats`` inputs, ``hidden`` units,
    # ``seq`` 1 when the output is every step's state (else the last one's), ``cell_act`` the simple RNN's
    # activation (TANH or RELU). EMBEDDING: ``steps`` indices a row into ``feats`` vectors of ``hidden`` values.
    # BATCHNORM: ``c`` channels of ``h x w`` positions, ``eps`` and ``momentum`` (PyTorch's). ``no_bias`` (DENSE,
    # CONV2D): 1 when the layer has no bias (Keras's ``use_bias=False``; its bias takes no values). LAYERNORM:
    # ``steps`` groups of ``c`` values a row, each normalised, ``eps``, ``affine`` 1 with the scale and shift
    # parameters. PERMUTE: each row's values as an ``h x w`` matrix, transposed. Unused fields are zero.
    # ``single`` (every kind, set by the engine): 1 in a float32 engine, so that a kind can size what its float32
    # kernels need.
    int c, h, w, co, ho, wo, kh, kw, sh, sw, ph, pw
    int steps, feats, hidden, seq, cell_act
    double eps, momentum
    int no_bias, affine
    int single


cdef struct GradTask:
    # One weight-gradient/update task: output features (or channels, or gate units) j0..j1 x input features
    # i0..i1 of layer ``layer``'s weights; ``ld`` is the distance between the rows of its weight tile (a dense
    # layer's inputs; a convolution's kernel size); bias values b0..b1 (from the layer's b_off; none when equal)
    # go with it; ``work`` is its multiply-adds per batch row.
    int layer, j0, j1, i0, i1, ld, b0, b1
    Py_ssize_t work


cdef struct Workspace:
    # One worker's buffers: everything a pass over a batch writes.
    Py_ssize_t cap      # rows the buffers hold
    void **A            # A[0]: batch input (cap x width[0]); A[l + 1]: output of layer l (cap x width[l + 1])
    void **D            # D[l + 1]: gradient w.r.t. the pre-activation of layer l (cap x width[l + 1])
    void **Z            # Z[l + 1]: pre-activation of layer l when its derivative needs it (GELU), else NULL
    void **Ad           # Ad[i]: A[i] after dropout, the input layer i trains on (NULL without dropout)
    uint8_t **mask      # mask[i]: which units of A[i] dropout kept, per row (NULL without dropout)
    uint64_t *drop_key  # drop_key[i]: the current batch's random key for the mask of A[i]
    int32_t **arg       # arg[l + 1]: the arg-max indices of max-pooling layer l (cap x width[l + 1]), else NULL
    void **cache        # cache[l]: what layer l's backward pass needs from its forward pass beyond its input and
                        # output (a recurrent layer's gates and states of every step), cap rows of it, or NULL
    double **fixed      # fixed[l]: values layer l keeps between its passes whatever the rows (BatchNorm's batch
                        # statistics and sums), or NULL
    void **columns      # columns[l]: convolution l's im2col columns of a training batch, kept from the forward
                        # pass for the weight gradient (cols_rows x K x P), else NULL; or NULL
    Py_ssize_t cols_rows
    void *scratch       # per-thread workspaces of slot_size values (im2col columns), n_slots of them
    int n_slots
    void *grads         # the parameters' gradients, laid out as the parameters
    bint training       # this call trains (dropout active, batch statistics), set per call
    bint update_buffers # this call updates the non-trained state (a training call that applies its updates)
    bint single_row     # this call works on one row at a time (matrix-vector products): set per call, so
                        # that the kind of product depends on the call's shape alone, never on a last block
    int *bn_mode        # bn_mode[l]: how BatchNorm layer l takes part in a batch computed in blocks of rows (BN_*
                        # flags, batchnorm.pxi); 0: it computes the block's own statistics
    int stop_forward    # l + 1: the forward pass stops after layer l (0: it runs every layer)
    int stop_backward   # l + 1: the backward pass stops after layer l (0: it runs down to the first)
    Py_ssize_t bn_rows  # rows of the whole batch whose statistics and sums BN_GIVEN and BN_GIVEN_SUMS use
    Py_ssize_t bn_offset  # the block's first row in that batch (its first block writes BatchNorm's gradients)


cdef struct Net:
    int n_layers
    int *kind           # kind of layer l: a row of KINDS
    Geom *geom          # shapes of layer l (spatial kinds)
    int *width          # width[0] = inputs, width[l + 1] = outputs of layer l
    int *act            # activation of layer l
    Py_ssize_t *w_off   # offset of layer l's weights in the flat parameter buffer
    Py_ssize_t *b_off   # offset of its bias
    double *drop        # drop[i]: dropout rate applied to A[i] (the input of layer i) in training, or 0
    int *tie            # tie[l] >= 0: layer l's weights are layer tie[l]'s, transposed (tied autoencoders), or -1;
                        # NULL when no layer is tied
    int loss
    double loss_param   # the Huber loss's delta
    uint64_t seed       # the model's dropout seed
    int row_tiles       # products split their rows into this many tiles (fixed by the machine's core count)
    int cores           # the machine's core count (recurrent layers split a batch into up to this many tiles)
    bint is_double
    Py_ssize_t slot_size  # values of one thread's scratch (the largest of the kinds' workspaces)
    int n_tasks         # weight-gradient/update tasks
    GradTask *tasks
    Py_ssize_t task_work  # multiply-adds of all the weight-gradient tasks, per batch row
    void *params        # flat parameters [W_0, b_0, W_1, b_1, ...]
    void *buffers       # flat non-trained state (BatchNorm's running statistics), layer by layer
    Py_ssize_t *buf_off # offset of layer l's buffers in it
    void *state         # optimizer state: rows of n_params values (momentum; Adam's moments; ...)
    Py_ssize_t n_params # stride between the rows of state
    Workspace *ws       # the buffers of the worker running this pass


# ---------------------------------------------------------------------------------------------------------------
# Layer kinds: each kind fills one row of functions from its own file (dense.pxi, conv.pxi, pooling.pxi). A pass
# over a layer is a job of independent tasks (forward_tasks of them): the engine runs task t of layer l through
# the row of the layer's kind; weight gradients are the kind's GradTasks. Every split is fixed by the shapes.
# ---------------------------------------------------------------------------------------------------------------

ctypedef void (*forward_f)(Net *net, const float *params, int l, const float *inp, Py_ssize_t n_rows,
                           Py_ssize_t t, bint activate, int slot) noexcept nogil
ctypedef void (*forward_d)(Net *net, const double *params, int l, const double *inp, Py_ssize_t n_rows,
                           Py_ssize_t t, bint activate, int slot) noexcept nogil
ctypedef void (*backward_f)(Net *net, const float *params, int l, Py_ssize_t n_rows, Py_ssize_t t,
                            int slot) noexcept nogil
ctypedef void (*backward_d)(Net *net, const double *params, int l, Py_ssize_t n_rows, Py_ssize_t t,
                            int slot) noexcept nogil
ctypedef void (*gradient_f)(Net *net, float *params, const GradTask *task, Py_ssize_t n_rows,
                            int slot) noexcept nogil
ctypedef void (*gradient_d)(Net *net, double *params, const GradTask *task, Py_ssize_t n_rows,
                            int slot) noexcept nogil
ctypedef Py_ssize_t (*tasks_fn)(Net *net, int l, Py_ssize_t n_rows) noexcept nogil
ctypedef Py_ssize_t (*task_work_fn)(Net *net, int l, Py_ssize_t n_rows, Py_ssize_t t, bint backward) noexcept nogil
ctypedef Py_ssize_t (*size_fn)(const Geom *g, int n_in, int n_out) noexcept nogil
ctypedef int (*grad_tasks_fn)(const Geom *g, int n_in, int n_out, int split, GradTask *out) noexcept nogil
ctypedef const char *(*check_fn)(const Geom *g, int n_in, int n_out) noexcept nogil
ctypedef void (*prepare_fn)(Net *net, int l, Py_ssize_t n_rows) noexcept nogil


cdef struct KindRow:
    const char *name
    check_fn check              # NULL when the shapes fit, else what is wrong
    size_fn n_weights           # values of the weight tensor
    size_fn n_bias              # values of the bias
    size_fn n_buffers           # values of non-trained state (saved, never touched by the optimizer)
    size_fn workspace           # values of one thread's scratch
    size_fn row_work            # the largest single product per batch row (multiply-adds)
    size_fn cache               # values per row the forward pass leaves for the backward pass (Workspace.cache)
    size_fn fixed               # doubles a layer keeps between its passes whatever the rows (Workspace.fixed)
    size_fn kept                # values per row of a training batch kept from the forward pass for the weight
                                # gradient (a convolution's im2col columns), or 0
    tasks_fn forward_tasks      # tasks of a forward pass over n_rows rows
    tasks_fn backward_tasks     # tasks of the input-gradient pass
    task_work_fn task_work      # multiply-adds of one of them
    tasks_fn pass_work          # multiply-adds of a whole pass (as PARALLEL_MIN_WORK counts them)
    forward_f forward_f         # task t of the forward pass: the output (activated when asked; dropout applied)
    forward_d forward_d
    backward_f backward_f       # task t of D[l] from D[l + 1] (through dropout and layer l - 1's activation)
    backward_d backward_d
    grad_tasks_fn gradient_tasks  # the weight-gradient tasks (out NULL: how many)
    gradient_f gradient_f       # one task's gradients (the data term) into the workspace's grads
    gradient_d gradient_d
    bint splits_columns         # forward tasks are column blocks: a softmax then runs on whole rows after them
    bint backward_first         # its weight gradient needs its backward pass, even as the first layer
    prepare_fn prepare          # NULL, or run once before the tasks of a forward pass (packing the weights)
    bint batch_stats            # keeps statistics of the whole batch (BatchNorm): a batch is computed in one piece


cdef enum:
    N_KINDS = 12

cdef KindRow KINDS[N_KINDS]


# ---------------------------------------------------------------------------------------------------------------
# Optimizers: a Step holds what every update shares (rate, schedule, the model's penalties) and points at the
# optimizer's own settings struct; each optimizer fills one row of OPTIMIZERS (optim.pxi).
# ---------------------------------------------------------------------------------------------------------------

cdef struct SGDSettings:
    double momentum
    bint nesterov


cdef struct AdamSettings:       # Adam and AdamW
    double beta1
    double beta2
    double eps
    bint amsgrad


cdef struct RMSpropSettings:
    double alpha
    double eps
    double momentum


cdef struct Step:
    int kind            # a row of OPTIMIZERS
    const void *opt     # the optimizer's settings struct
    double lr           # learning rate of the current step (from the schedule)
    double weight_decay # the optimizer's (AdamW: decoupled)
    double l1           # the model's regularizer, added to the weights' gradient
    double l2
    int sched_kind      # learning-rate schedule: S_CONSTANT, S_COSINE, S_EXPONENTIAL, S_ONECYCLE
    double sched[6]
    double clipnorm     # scale the gradients so that their global 2-norm is at most this (<= 0: never)
    double corr[2]      # per-step corrections the optimizer's begin function sets (Adam: 1 - beta1^t, sqrt(1 - beta2^t))
    Py_ssize_t stride   # distance between the optimizer's state rows (n_params)


ctypedef int (*update_f)(float *p, const float *g, float *state, Py_ssize_t n, const Step *h, float l2,
                         float decay) noexcept nogil
ctypedef int (*update_d)(double *p, const double *g, double *state, Py_ssize_t n, const Step *h, double l2,
                         double decay) noexcept nogil
ctypedef void (*begin_fn)(Step *h, int64_t step) noexcept nogil


cdef struct OptimizerRow:
    const char *name
    update_f update_f   # one step on n values: returns whether a new value is NaN or infinite
    update_d update_d
    begin_fn begin      # per-step preparation (NULL: none)


cdef enum:
    N_OPTIMIZERS = 4

cdef OptimizerRow OPTIMIZERS[N_OPTIMIZERS]


cdef inline void *_layer_input(Net *net, int l) noexcept nogil:
    """What layer ``l`` reads: ``A[l]``, or its dropped-out copy while training."""
    return net.ws.Ad[l] if net.ws.training and net.ws.Ad[l] != NULL else net.ws.A[l]


cdef inline floating *_offset(floating *p, Py_ssize_t k) noexcept nogil:
    """``p + k``, or NULL when ``p`` is NULL."""
    return p + k if p != NULL else NULL
