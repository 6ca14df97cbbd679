import gzip
import os
import struct

import numpy as np
import pytest

FASHION_DIR = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


def _read_idx_gz(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.fixture(scope="session")
def fashion_mnist():
    """Fashion-MNIST as ((X_train, y_train), (X_test, y_test)), float32 in [0, 1]; skipped when absent."""
    files = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    paths = [os.path.join(FASHION_DIR, f) for f in files]
    if not all(os.path.exists(p) for p in paths):
        if os.environ.get("CI"):  # CI installs the data: missing data there is a failure, not a skip
            pytest.fail(f"Fashion-MNIST not found in {FASHION_DIR}")
        pytest.skip(f"Fashion-MNIST not found in {FASHION_DIR} (apt-get install -y dataset-fashion-mnist)")
    Xtr, ytr, Xte, yte = (_read_idx_gz(p) for p in paths)
    return ((Xtr.reshape(len(Xtr), -1).astype(np.float32) / 255, ytr.astype(np.int64)),
            (Xte.reshape(len(Xte), -1).astype(np.float32) / 255, yte.astype(np.int64)))


@pytest.fixture
def many_cores(monkeypatch):
    """Let fastnn use up to 8 threads on this machine (thread counts are capped at the available cores, and
    n_threads=None at OpenMP's limit too), and split even small work across them, to check that results do not
    depend on the thread count."""
    import fastnn._core.threads
    from fastnn import _kernels

    monkeypatch.setattr(fastnn._core.threads, "available_cores", lambda: 8)
    monkeypatch.setattr(fastnn._core.threads, "openmp_max_threads", lambda: 8)
    before = _kernels._tuning()["parallel_min_work"]
    _kernels._tuning(parallel_min_work=0)
    yield
    _kernels._tuning(parallel_min_work=before)


def _thread_invariant(train, layer):
    """``train(n_threads)`` -> ``(model, X)``: the models trained at 1, 2 and 3 threads hold the same parameters,
    and predict (the output and ``layer``'s) the same, bit for bit."""
    base, X = train(1)
    for nt in (2, 3):
        model, _ = train(nt)
        np.testing.assert_array_equal(model.parameters, base.parameters)
        np.testing.assert_array_equal(model.predict(X, n_threads=nt), base.predict(X, n_threads=1))
        np.testing.assert_array_equal(model.predict(X, layer=layer, n_threads=nt), base.predict(X, layer=layer))


@pytest.fixture
def thread_invariant(many_cores):
    """Check that training does not depend on the thread count (see ``_thread_invariant``), with many cores."""
    return _thread_invariant


def _numeric_gradient(model, X, y, eps=1e-6, indices=None):
    """Central differences of ``model.loss_and_gradient``'s loss with respect to the parameters (all, or
    ``indices``), for float64 gradient checks."""
    params = model.parameters
    indices = range(params.shape[0]) if indices is None else indices
    grad = np.full_like(params, np.nan)
    for i in indices:
        old = params[i]
        params[i] = old + eps
        up, _ = model.loss_and_gradient(X, y)
        params[i] = old - eps
        down, _ = model.loss_and_gradient(X, y)
        params[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


@pytest.fixture
def numeric_gradient():
    return _numeric_gradient


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def _idx_bytes(arr):
    """An IDX file's bytes for ``arr``."""
    codes = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
             np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
    big = arr.astype(arr.dtype.newbyteorder(">")) if arr.dtype.itemsize > 1 else arr
    head = bytes([0, 0, codes[big.dtype], arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    return head + big.tobytes()


def _fake_mnist(n_train=120, n_test=40, seed=0):
    """The four gzipped IDX files of a small random MNIST-like dataset, by file name."""
    rng = np.random.default_rng(seed)
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(
            _idx_bytes(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(
            _idx_bytes(rng.integers(0, 10, n, dtype=np.uint8)))
    return files


@pytest.fixture
def idx_bytes():
    return _idx_bytes


@pytest.fixture
def fake_mnist():
    return _fake_mnist


def pytest_configure(config):
    # pytest-timeout registers this marker when installed; without it, the marker only documents the limit
    config.addinivalue_line("markers", "timeout(seconds): fail a test that runs longer (with pytest-timeout)")
    config.addinivalue_line(
        "markers", "long_learning: a learning test that takes long (solving an environment, training a CNN); it "
        "runs in the release build only, not again in the bounds-checked debug build")


def pytest_collection_modifyitems(config, items):
    from fastnn import _kernels

    if not _kernels.BOUNDSCHECK:
        return
    skip = pytest.mark.skip(reason="long learning test: runs in the release build (this build checks bounds)")
    for item in items:
        if "long_learning" in item.keywords:
            item.add_marker(skip)
