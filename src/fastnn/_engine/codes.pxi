# Included by _kernels.pyx: Codes shared with the Python layer, the work-split constants and their tuning.

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
#: The gradient with respect to the output is given by the caller (a loss computed in Python).
LOSS_GIVEN = 5
# Layer kinds of the engine's layer table (Reshape and Flatten are views: no kind, no kernel).
(LAYER_DENSE, LAYER_CONV2D, LAYER_MAXPOOL2D, LAYER_AVGPOOL2D, LAYER_RNN, LAYER_LSTM, LAYER_GRU,
 LAYER_EMBEDDING, LAYER_BATCHNORM, LAYER_ACTIVATION, LAYER_LAYERNORM, LAYER_PERMUTE) = range(12)
#: The fields of a layer's shapes (``Geom``), in the order of a layout tuple after its kind.
GEOM_FIELDS = ("c", "h", "w", "co", "ho", "wo", "kh", "kw", "sh", "sw", "ph", "pw", "steps", "feats", "hidden", "seq",
               "cell_act", "eps", "momentum", "no_bias", "affine")
#: The fields of GEOM_FIELDS that hold floats (the others are ints).
GEOM_FLOATS = ("eps", "momentum")

cdef enum:
    DENSE = 0
    CONV2D = 1
    MAXPOOL2D = 2
    AVGPOOL2D = 3
    RNN = 4
    LSTM = 5
    GRU = 6
    EMBEDDING = 7
    BATCHNORM = 8
    ACTIVATION = 9
    LAYERNORM = 10
    PERMUTE = 11

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
    GIVEN = 5

# Optimizer kinds, learning-rate schedule kinds, and the layout of the float64 array that carries an optimizer's
# settings from Python (fastnn.optim builds it).
OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP = 0, 1, 2, 3
SCHED_CONSTANT, SCHED_COSINE, SCHED_EXPONENTIAL, SCHED_ONECYCLE = 0, 1, 2, 3

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
# The batch's rows, gathered from anywhere in the training data, wait on memory: a gathered value counts as this
# many multiply-adds (measured on 2 cores: 784-512-512-10 at batch 128 trained about 2% faster with its
# 128 x 784 gather split across the two threads than with it in one).
cdef Py_ssize_t GATHER_WORK_FACTOR = 32
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
