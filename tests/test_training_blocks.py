"""Batches larger than the training memory allows in one piece: their gradient is summed from blocks of rows, the
same step as the whole batch (to rounding), in buffers bounded by the block, bit-identical for any n_threads."""
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastnn
import fastnn.training.blocks as blocks


def _cnn(dtype="float64", clipnorm=None, l2=0.0):
    model = fastnn.Sequential([fastnn.Conv2D(1, 4, 3, activation="relu"), fastnn.MaxPool2D(2), fastnn.Flatten(),
                               fastnn.Dropout(0.3), fastnn.Dense(4 * 3 * 3, 3, activation="softmax")],
                              seed=0, dtype=dtype, input_shape=(1, 8, 8))
    model.compile("cross_entropy", fastnn.Adam(1e-2, clipnorm=clipnorm), regularizer=fastnn.L2(l2) if l2 else None)
    return model


def _data(n=150, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 1, 8, 8))
    return X, (X[:, 0, 2, 2] > 0).astype(np.int64) + (X[:, 0, 5, 5] > 0.5)


@pytest.fixture
def row_budget(monkeypatch):
    """Make the training memory hold ``rows`` rows of the model's engine."""
    def set_rows(model, rows):
        with model._borrow_engine(1) as engine:
            per_row = engine.training_row_bytes
        monkeypatch.setattr(blocks, "TRAINING_MEMORY", rows * per_row)
        assert blocks.training_block(model, rows + 1) == rows
    return set_rows


def _max_rel(a, b):
    return max(float(np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-300)) for x, y in zip(a, b))


@pytest.mark.parametrize("options", [{}, {"clipnorm": 0.5, "l2": 1e-3}])
def test_a_batch_in_blocks_takes_the_whole_batchs_step(row_budget, options):
    X, y = _data()
    w = np.random.default_rng(1).random(len(X)) + 0.5
    whole = _cnn(**options)
    whole.fit(X, y, epochs=2, batch_size=64, sample_weight=w, verbose=0)
    parts = _cnn(**options)
    row_budget(parts, 10)  # batches of 64 rows in blocks of 10 (the last 4), the epoch's last batch 22 rows
    history = parts.fit(X, y, epochs=2, batch_size=64, sample_weight=w, verbose=0)
    assert parts._kept_engine.capacity == 10  # the buffers hold a block, never a batch
    assert _max_rel(parts.get_weights(), whole.get_weights()) < 1e-12
    np.testing.assert_allclose(history.history["loss"], whole.history.history["loss"], rtol=1e-12)
    np.testing.assert_allclose(history.history["accuracy"], whole.history.history["accuracy"], rtol=1e-12)


def test_train_on_batch_in_blocks(row_budget):
    X, y = _data(40)
    whole, parts = _cnn(), _cnn()
    row_budget(parts, 7)
    for _ in range(3):
        assert parts.train_on_batch(X, y) == pytest.approx(whole.train_on_batch(X, y), rel=1e-12)
    assert parts._kept_engine.capacity == 7
    assert _max_rel(parts.get_weights(), whole.get_weights()) < 1e-12


def test_batches_from_a_generator_train_in_blocks(row_budget):
    X, y = _data(96)
    whole, parts = _cnn(), _cnn()
    row_budget(parts, 9)
    batches = lambda: ((X[i:i + 32], y[i:i + 32]) for i in range(0, 96, 32))  # noqa: E731
    whole.fit(batches(), epochs=1, steps_per_epoch=3, verbose=0)
    parts.fit(batches(), epochs=1, steps_per_epoch=3, verbose=0)
    assert parts._kept_engine.capacity == 9
    assert _max_rel(parts.get_weights(), whole.get_weights()) < 1e-12


@pytest.mark.filterwarnings("ignore:n_threads=3 is more than")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blocks_are_bit_identical_for_any_thread_count(row_budget, dtype):
    X, y = _data(200)
    weights = []
    for nt in (1, 2, 3):
        model = _cnn(dtype)
        row_budget(model, 24)
        model.fit(X, y, epochs=2, batch_size=100, n_threads=nt, verbose=0)
        weights.append(model.get_weights())
    for other in weights[1:]:
        for a, b in zip(weights[0], other):
            assert np.array_equal(a, b)


def _bn_model(data_format="channels_first", dtype="float64"):
    last = data_format == "channels_last"
    model = fastnn.Sequential([fastnn.Conv2D(1, 4, 3, data_format=data_format),
                               fastnn.BatchNorm(4, activation="relu", data_format=data_format),
                               fastnn.MaxPool2D(2, data_format=data_format), fastnn.Flatten(), fastnn.Dropout(0.2),
                               fastnn.Dense(36, 8), fastnn.BatchNorm(8, activation="relu"),
                               fastnn.Dense(8, 3, "softmax")],
                              seed=0, dtype=dtype, input_shape=(8, 8, 1) if last else (1, 8, 8))
    model.compile("cross_entropy", fastnn.SGD(0.05, momentum=0.9))
    return model


@pytest.mark.parametrize("data_format, n", [("channels_first", 150), ("channels_last", 150), ("channels_first", 138)])
def test_batchnorm_in_blocks_normalises_by_the_whole_batch(row_budget, data_format, n):
    X, y = _data(n)  # 138 rows: the epoch's last batch (10 rows) is one block, and moves the running statistics too
    if data_format == "channels_last":
        X = X.transpose(0, 2, 3, 1).copy()
    w = np.random.default_rng(1).random(len(X)) + 0.5
    whole = _bn_model(data_format)
    whole.fit(X, y, epochs=2, batch_size=64, sample_weight=w, verbose=0)
    parts = _bn_model(data_format)
    row_budget(parts, 10)  # each batch's statistics and sums summed over blocks of 10 rows, in passes
    history = parts.fit(X, y, epochs=2, batch_size=64, sample_weight=w, verbose=0)
    assert parts._kept_engine.capacity == 10 and len(parts._kept_engine.statistics_layers) == 2
    assert _max_rel([parts.parameters], [whole.parameters]) < 1e-12
    assert _max_rel([parts._buffers], [whole._buffers]) < 1e-12  # the running statistics, moved once a batch
    np.testing.assert_allclose(history.history["loss"], whole.history.history["loss"], rtol=1e-12)
    np.testing.assert_allclose(parts.predict(X), whole.predict(X), rtol=1e-10, atol=1e-14)


@pytest.mark.filterwarnings("ignore:n_threads=3 is more than")
def test_batchnorm_in_blocks_is_bit_identical_for_any_thread_count(row_budget):
    X, y = _data(120)
    runs = []
    for nt in (1, 2, 3):
        model = _bn_model(dtype="float32")
        row_budget(model, 16)
        model.fit(X.astype(np.float32), y, epochs=2, batch_size=60, n_threads=nt, verbose=0)
        runs.append((model.parameters.copy(), model._buffers.copy()))
    for other in runs[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(runs[0], other))


def test_a_first_batchnorm_and_python_losses_keep_whole_batches(row_budget):
    first = fastnn.Sequential([fastnn.BatchNorm(6), fastnn.Dense(6, 8, "relu"), fastnn.Dense(8, 1)],
                              input_shape=(6,), seed=0)
    first.compile("mse", fastnn.SGD(0.01))
    row_budget(_cnn(), 1)  # a budget of one row of the convolutional network: far less than a batch here
    X = np.random.default_rng(0).standard_normal((50, 6))
    first.fit(X, X[:, 0], batch_size=50, epochs=1, verbose=0)
    assert first._kept_engine.whole_batches and first._kept_engine.capacity == 50  # it has no backward pass

    class MSE(fastnn.losses.CustomLoss):
        def forward(self, outputs, targets):
            return float(np.mean((outputs - targets) ** 2))

        def backward(self, outputs, targets):
            return 2 * (outputs - targets) / outputs.size

    custom = fastnn.Sequential([fastnn.Dense(6, 8, "relu"), fastnn.Dense(8, 1)], seed=0)
    custom.compile(MSE(), fastnn.SGD(0.01))
    custom.fit(X, X[:, :1], batch_size=50, epochs=1, verbose=0)
    assert custom._kept_engine.whole_batches and custom._kept_engine.capacity == 50


def test_a_diverging_batch_in_blocks_leaves_the_model_as_the_epoch_began(row_budget):
    X, y = _data(60)
    model = fastnn.Sequential([fastnn.Conv2D(1, 4, 3, activation="relu"), fastnn.Flatten(), fastnn.Dense(144, 1)],
                              seed=0, dtype="float64", input_shape=(1, 8, 8))
    model.compile("mse", fastnn.SGD(1e200))  # the first update overflows the next batch's loss
    row_budget(model, 8)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(FloatingPointError):
        model.fit(X, y.astype(float), epochs=1, batch_size=30, verbose=0)
    for a, b in zip(model.get_weights(), before):
        assert np.array_equal(a, b)
    assert model.epochs_trained == 0


def test_the_default_budget_bounds_a_large_batch_of_images():
    model = fastnn.Sequential([fastnn.Conv2D(1, 32, 3, activation="relu"), fastnn.MaxPool2D(2),
                               fastnn.Conv2D(32, 64, 3, activation="relu"), fastnn.MaxPool2D(2), fastnn.Flatten(),
                               fastnn.Dense(1600, 10, activation="softmax")], seed=0, input_shape=(1, 28, 28))
    model.compile("cross_entropy", fastnn.Adam(1e-3))
    block = blocks.training_block(model, 4096)
    assert block is not None and block * model._kept_engine.training_row_bytes <= blocks.TRAINING_MEMORY
    assert blocks.training_block(model, 128) is None  # the usual batches train in one piece, as before
    X = np.random.default_rng(0).random((block + 5, 1, 28, 28), dtype=np.float32)
    model.fit(X, np.arange(len(X)) % 10, batch_size=4096, epochs=1, verbose=0)
    assert model._kept_engine.capacity == block


def test_ctrl_c_stops_training_in_blocks_between_batches():
    script = textwrap.dedent("""
        import numpy as np, fastnn
        import fastnn.training.blocks as blocks
        blocks.TRAINING_MEMORY = 1 << 16  # a few rows a block
        rng = np.random.default_rng(0)
        X = rng.random((4000, 1, 8, 8)); y = rng.integers(0, 3, 4000)
        model = fastnn.Sequential([fastnn.Conv2D(1, 4, 3, activation="relu"), fastnn.Flatten(),
                                   fastnn.Dense(144, 3, activation="softmax")], seed=0, input_shape=(1, 8, 8))
        model.compile("cross_entropy", fastnn.Adam(1e-3))
        print("ready", blocks.training_block(model, 500), flush=True)
        try:
            model.fit(X, y, epochs=1000, batch_size=500, verbose=0)
        except KeyboardInterrupt:
            assert np.all(np.isfinite(model.parameters))
            print("stopped", model.epochs_trained, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    assert line[0] == "ready" and int(line[1]) < 500, line
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "stopped" in out, (proc.returncode, out, err[-3000:])
