"""Float32 stride-1 convolutions run direct kernels (no im2col matrix) on AVX-512 and AVX2 machines, and 2 x 2
max-pooling a vector kernel: exact where the arithmetic is exact, equal to im2col + BLAS to rounding, the same
bits from the AVX2 kernels as from the AVX-512 ones, thread-invariant."""
import numpy as np
import pytest

import fastnn
from fastnn import _kernels

pytestmark = pytest.mark.skipif(not _kernels.direct_conv(), reason="the direct kernels need AVX2 and FMA")
VARIANTS = ["avx512", "avx2"] if _kernels.direct_conv() == "avx512" else ["avx2"]


@pytest.fixture(params=VARIANTS)
def variant(request):
    """Each of the machine's direct kernels in turn."""
    _kernels.direct_conv(request.param)
    request.addfinalizer(lambda: _kernels.direct_conv(True))
    return request.param


@pytest.fixture
def blas_convolutions(request):
    """Convolutions through im2col and BLAS for the rest of the test."""
    _kernels.direct_conv(False)
    request.addfinalizer(lambda: _kernels.direct_conv(True))


def _layers(shape, conv, co, second, pool):
    c = shape[0]
    return [fastnn.Conv2D(c, co, activation="relu", **conv), fastnn.MaxPool2D(pool),
            fastnn.Conv2D(co, second, 3, padding="same", activation="relu"),
            fastnn.Conv2D(second, 6, 2, stride=2), fastnn.Flatten()]  # stride 2: im2col and BLAS beside them


def _model(shape, conv, co, second, pool=2, dtype="float32", seed=0):
    n_flat = fastnn.Sequential(_layers(shape, conv, co, second, pool), input_shape=shape).n_outputs
    model = fastnn.Sequential(_layers(shape, conv, co, second, pool) + [fastnn.Dropout(0.2),
                                                                        fastnn.Dense(n_flat, 4, "softmax")],
                              input_shape=shape, seed=seed, dtype=dtype)
    return model.compile("cross_entropy", optimizer=fastnn.Adam(1e-3))


# (input shape, first Conv2D's options, its channels, the second's): 8 and 32 channel blocks with and without a
# remainder, kernels of 9 taps (8 + 1) and non-square ones, padding 0, 1 and 'same', one and three input channels.
GEOMETRIES = [
    ((1, 28, 28), dict(kernel_size=3), 32, 64),
    ((3, 12, 11), dict(kernel_size=3, padding=1, use_bias=False), 5, 33),
    ((2, 9, 10), dict(kernel_size=(3, 2), padding="same"), 16, 40),
    ((3, 7, 7), dict(kernel_size=1), 8, 7),
]


def _train(shape, conv, co, second, X, y, n_threads=None):
    model = _model(shape, conv, co, second)
    before = model.predict(X[:40])
    model.fit(X, y, epochs=2, batch_size=32, verbose=0, n_threads=n_threads)
    return before, model.predict(X[:40]), model.parameters.copy()


@pytest.mark.parametrize("shape, conv, co, second", GEOMETRIES)
def test_direct_kernels_equal_im2col_and_blas_to_rounding(shape, conv, co, second, rng, request, variant):
    X = rng.standard_normal((100,) + shape).astype(np.float32)
    y = rng.integers(0, 4, 100)
    direct = _train(shape, conv, co, second, X, y)
    request.getfixturevalue("blas_convolutions")
    blas = _train(shape, conv, co, second, X, y)
    np.testing.assert_allclose(direct[0], blas[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(direct[1], blas[1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(direct[2], blas[2], rtol=1e-3, atol=2e-5)


def _integer_model(dtype, seed):
    model = fastnn.Sequential([fastnn.Conv2D(2, 8, 3, activation="relu"), fastnn.MaxPool2D(2),
                               fastnn.Conv2D(8, 33, 3, padding=1, activation="relu"), fastnn.MaxPool2D(2),
                               fastnn.Flatten(), fastnn.Dense(33 * 16, 1)], input_shape=(2, 19, 18), dtype=dtype)
    model.compile("mse")
    model.set_weights([np.random.default_rng(seed + i).integers(-1, 2, size=w.shape).astype(dtype)
                       for i, w in enumerate(model.get_weights())])
    return model


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_integer_valued_float32_training_is_exact(seed, variant):
    """With small integers for inputs and weights every sum is exact in float32, whatever its order: the direct
    kernels, the vector max-pooling (with many tied windows) and their gradients give float64's numbers."""
    rng = np.random.default_rng(seed)
    X = rng.integers(-1, 2, size=(16, 2, 19, 18))
    y = rng.integers(-5, 5, size=(16, 1))
    models = [_integer_model(dtype, seed) for dtype in ("float32", "float64")]
    outs = [m.predict(X.astype(m.dtype)) for m in models]
    assert np.array_equal(outs[0], outs[1]) and np.all(outs[0] == np.round(outs[0]))
    grads = [m.loss_and_gradient(X.astype(m.dtype), y.astype(m.dtype))[1] for m in models]
    assert grads[0].dtype == np.float32 and np.array_equal(grads[0], grads[1])
    assert np.count_nonzero(grads[0]) > 0.9 * grads[0].size


@pytest.mark.skipif(len(VARIANTS) < 2, reason="one kind of direct kernels on this machine")
@pytest.mark.parametrize("shape, conv, co, second", GEOMETRIES)
def test_avx2_kernels_give_the_avx512_kernels_bits(shape, conv, co, second, rng):
    X = rng.standard_normal((100,) + shape).astype(np.float32)
    y = rng.integers(0, 4, 100)
    runs = []
    for kernels in VARIANTS:
        _kernels.direct_conv(kernels)
        try:
            runs.append(_train(shape, conv, co, second, X, y))
        finally:
            _kernels.direct_conv(True)
    for a, b in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a, b)


def test_direct_kernels_are_thread_invariant(thread_invariant, rng, variant):
    shape, conv, co, second = GEOMETRIES[1]
    X = rng.standard_normal((70,) + shape).astype(np.float32)
    y = rng.integers(0, 4, 70)

    def train(n_threads):
        model = _model(shape, conv, co, second)
        model.fit(X, y, epochs=2, batch_size=32, verbose=0, n_threads=n_threads)
        return model, X

    thread_invariant(train, layer=2)


def test_max_pooling_keeps_the_first_of_tied_maxima(rng, variant):
    """The vector 2 x 2 max-pool gives the reference's maxima, ties included, for every row length from 2 to 35
    (whole and partial vectors of 8 and 16 outputs); which entry of a tie it keeps decides the gradients of
    test_integer_valued_float32_training_is_exact."""
    from fastnn import _reference as ref
    for w in range(2, 36):
        x = rng.integers(-1, 2, size=(3, 2, 5, w)).astype(np.float32)
        model = fastnn.Sequential([fastnn.MaxPool2D(2), fastnn.Flatten()], input_shape=(2, 5, w), dtype="float32")
        out, arg = ref.max_pool2d(x.astype(np.float64), (2, 2), (2, 2))
        np.testing.assert_array_equal(model.predict(x), out.reshape(3, -1))


SWITCHING = """
import numpy as np, fastnn
from fastnn import _kernels
shape = (3, 32, 32)
rng = np.random.default_rng(0)
X = rng.standard_normal((256,) + shape).astype(np.float32)
y = rng.integers(0, 2, 256)

def model():
    return fastnn.Sequential([fastnn.Conv2D(3, 8, 3, activation="relu"), fastnn.Flatten(),
                              fastnn.Dense(8 * 30 * 30, 2, "softmax")], input_shape=shape, seed=0,
                             dtype="float32").compile("cross_entropy")

switched, steady = model(), model()
_kernels.direct_conv(False)
switched.predict(X, n_threads=1)  # an engine for 256 rows, kept
for kernels, batch_size in [(False, 16), (True, 64), (False, 64), (True, 32)]:
    _kernels.direct_conv(kernels)
    switched.fit(X[:64], y[:64], epochs=1, batch_size=batch_size, shuffle=False, verbose=0, n_threads=1)
    _kernels.direct_conv(True)
    steady.fit(X[:64], y[:64], epochs=1, batch_size=batch_size, shuffle=False, verbose=0, n_threads=1)
np.testing.assert_allclose(switched.parameters, steady.parameters, rtol=1e-4, atol=1e-5)
"""


def test_switching_the_kernels_between_fits_keeps_training_sound():
    """One model trained in turn by im2col and BLAS, the direct kernels, and im2col again, its engine kept: the
    im2col columns it kept for the weight gradients are dropped when the direct kernels need none, and formed
    again after (rather than written to the freed block: a crash, hence a separate interpreter), and it trains
    as one that never switched."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", SWITCHING], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_switch_takes_only_its_settings():
    with pytest.raises(ValueError, match="direct_conv takes on=True, False, 'avx2' or 'avx512', not 'sse'"):
        _kernels.direct_conv("sse")
    assert _kernels.direct_conv() == VARIANTS[0]
