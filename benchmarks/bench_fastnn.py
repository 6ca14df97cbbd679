"""pytest-benchmark: fastnn beside a pure-NumPy float32 implementation of the same math.

    pytest benchmarks/ --benchmark-only

Groups pair the two implementations: one training epoch for each configuration, ``predict`` on 10,000
samples, and the main kernels alone. Further groups time per-call costs beside PyTorch (one ``train_on_batch``
of a 4-64-64-2 network, ``predict`` of one row; skipped without torch) and the Adam update beside SGD's
(``benchmarks/latency.py`` and ``benchmarks/optimizer_update.py`` print the same comparisons as tables). Correctness against NumPy is checked outside the timed calls; each
benchmark records the thread count and the BLAS library in ``extra_info``.
"""
import numpy as np
import pytest

from fastnn import _kernels
from fastnn._core.threads import available_cores, blas_single_thread

import common

THREADS = min(2, available_cores())


def record(benchmark, impl):
    benchmark.extra_info.update({"impl": impl, "threads": THREADS, "blas": common.blas_library()})


@pytest.fixture(scope="module")
def data():
    return common.make_data()


@pytest.mark.parametrize("config", list(common.CONFIGS))
@pytest.mark.parametrize("impl", ["fastnn", "numpy"])
def bench_epoch(benchmark, data, config, impl):
    widths, batch = common.CONFIGS[config]
    X, y = data
    benchmark.group = f"epoch {config}"
    record(benchmark, impl)
    if impl == "fastnn":
        model = common.fastnn_model(widths)
        # same maths as the NumPy loop: one step from the same weights agrees
        ref = common.NumpyMLP(widths, batch)
        ref.params = model.get_weights()
        ref.step(X[:batch].copy(), y[:batch])
        model.fit(X[:batch], y[:batch], epochs=1, batch_size=batch, shuffle=False, verbose=0, n_threads=THREADS)
        for a, b in zip(model.get_weights(), ref.params):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        benchmark.pedantic(model.fit, args=(X, y), kwargs=dict(epochs=1, batch_size=batch, verbose=0,
                                                               n_threads=THREADS), rounds=3, iterations=1)
    else:
        benchmark.pedantic(common.numpy_trainer(widths, batch, X, y, THREADS), rounds=3, iterations=1)


@pytest.mark.parametrize("impl", ["fastnn", "numpy"])
def bench_predict_10k(benchmark, data, impl):
    widths, _ = common.CONFIGS["784-512-512-10/b128"]
    X = data[0][:10_000]
    model = common.fastnn_model(widths)
    ref = common.NumpyMLP(widths, 128)
    ref.params = model.get_weights()
    np.testing.assert_allclose(model.predict(X, n_threads=THREADS), ref.predict(X), rtol=1e-4, atol=1e-6)
    benchmark.group = "predict 10k x 784-512-512-10"
    record(benchmark, impl)
    if impl == "fastnn":
        benchmark(model.predict, X, n_threads=THREADS)
    else:
        with common.blas_threads(THREADS):
            benchmark(ref.predict, X)


@pytest.fixture(scope="module")
def layer():
    rng = np.random.default_rng(0)
    x = rng.random((128, 784), dtype=np.float32)
    W = rng.normal(size=(512, 784)).astype(np.float32)
    b = rng.normal(size=512).astype(np.float32)
    return x, W, b


@pytest.mark.parametrize("impl", ["fastnn", "numpy"])
def bench_kernel_dense_forward(benchmark, layer, impl):
    x, W, b = layer
    out = np.empty((128, 512), np.float32)
    benchmark.group = "kernel dense forward 128x784 -> 512"
    record(benchmark, impl)
    with blas_single_thread():
        if impl == "fastnn":
            _kernels.dense_forward(x, W, b, out)
            np.testing.assert_allclose(out, x @ W.T + b, rtol=1e-4, atol=1e-4)
            benchmark(_kernels.dense_forward, x, W, b, out)
        else:
            def numpy_dense():
                np.matmul(x, W.T, out=out)
                np.add(out, b, out=out)
            benchmark(numpy_dense)


@pytest.mark.parametrize("impl", ["fastnn", "numpy"])
def bench_kernel_softmax_cross_entropy(benchmark, impl):
    rng = np.random.default_rng(0)
    z0 = rng.normal(size=(128, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 128).astype(np.int32)
    z, d = z0.copy(), np.empty_like(z0)
    benchmark.group = "kernel softmax cross-entropy 128x10"
    record(benchmark, impl)
    if impl == "fastnn":
        sl, _ = _kernels.output_loss(1, 4, z, d, labels, None)
        m = z0.max(axis=1, keepdims=True)
        expected = np.log(np.exp(z0 - m).sum(axis=1)) - (z0 - m)[np.arange(128), labels]
        np.testing.assert_allclose(sl, expected, rtol=1e-5)

        def run():
            z[...] = z0
            _kernels.output_loss(1, 4, z, d, labels, None)
        benchmark(run)
    else:
        def numpy_xent():
            np.subtract(z0, z0.max(axis=1, keepdims=True), out=z)
            np.exp(z, out=z)
            np.divide(z, z.sum(axis=1, keepdims=True), out=z)
            loss = -np.log(z[np.arange(128), labels])
            np.multiply(z, 1 / 128, out=d)
            d[np.arange(128), labels] -= 1 / 128
            return loss
        benchmark(numpy_xent)


@pytest.mark.parametrize("impl", ["fastnn", "numpy"])
def bench_kernel_sgd_update(benchmark, impl):
    rng = np.random.default_rng(0)
    n = 669_706  # parameters of 784-512-512-10
    p = rng.normal(size=n).astype(np.float32)
    g = rng.normal(size=n).astype(np.float32)
    v = np.zeros(n, np.float32)
    benchmark.group = "kernel SGD momentum update, 669,706 parameters"
    record(benchmark, impl)
    if impl == "fastnn":
        p2, v2 = p.copy(), v.copy()
        _kernels.sgd_update(p2, g, v2, 0.01, 0.9)
        np.testing.assert_allclose(p2, p - 0.01 * g, rtol=1e-6)
        benchmark(_kernels.sgd_update, p, g, v, 0.01, 0.9)
    else:
        def numpy_update():
            v.__imul__(0.9)
            v.__iadd__(g)
            p.__isub__(0.01 * v)
        benchmark(numpy_update)


@pytest.mark.parametrize("impl", ["sgd momentum", "adam"])
def bench_kernel_optimizer_update(benchmark, impl):
    """The update the engine runs, through optimizer_update: Adam keeps two state rows to SGD's one."""
    import fastnn

    rng = np.random.default_rng(0)
    n = 669_706  # parameters of 784-512-512-10
    opt = fastnn.SGD(lr=0.01, momentum=0.9) if impl == "sgd momentum" else fastnn.Adam()
    p = rng.normal(size=n).astype(np.float32)
    g = (rng.normal(size=n) * 0.01).astype(np.float32)
    state = np.zeros((opt.n_state(), n), np.float32)
    hyper = opt._hyper(0.0, 0.0)
    benchmark.group = "kernel optimizer update (SGD momentum, Adam), 669,706 parameters"
    record(benchmark, impl)
    p2, s2 = p.copy(), state.copy()
    _kernels.optimizer_update(p2, g, s2, hyper, 0)
    g64 = g.astype(np.float64)
    # SGD's first step: lr*g; Adam's: lr*g/(|g| + eps), its bias-corrected moments being g and g^2
    expected = p - 0.01 * g64 if impl == "sgd momentum" else p - 1e-3 * g64 / (np.abs(g64) + 1e-8)
    np.testing.assert_allclose(p2, expected, rtol=1e-5, atol=1e-6)
    benchmark(_kernels.optimizer_update, p, g, state, hyper, 10)


@pytest.mark.parametrize("impl", ["fastnn", "torch"])
def bench_train_on_batch_small(benchmark, impl):
    """One update of 64 rows on a 4-64-64-2 ReLU net, Adam and Huber loss: per-call cost."""
    import fastnn

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = rng.normal(size=(64, 2)).astype(np.float32)
    model = fastnn.Sequential(fastnn.Dense(4, 64, "relu"), fastnn.Dense(64, 64, "relu"), fastnn.Dense(64, 2),
                              seed=0).compile("huber", fastnn.Adam(lr=1e-3))
    benchmark.group = "train_on_batch 64 x 4-64-64-2, Adam, Huber"
    record(benchmark, impl)
    if impl == "fastnn":
        benchmark(model.train_on_batch, x, y, n_threads=THREADS)
        return
    torch = pytest.importorskip("torch")
    from latency import torch_net

    torch.set_num_threads(THREADS)
    net = torch_net(model)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.HuberLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    with torch.no_grad():
        assert abs(loss_fn(net(xt), yt).item() - model.evaluate(x, y)["loss"]) < 1e-5

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(net(xt), yt).backward()
        opt.step()
    benchmark(step)


@pytest.mark.parametrize("impl", ["fastnn", "torch"])
def bench_predict_one_row(benchmark, impl):
    widths, _ = common.CONFIGS["784-512-512-10/b128"]
    model = common.fastnn_model(widths)
    x = np.random.default_rng(1).random((1, 784), dtype=np.float32)
    benchmark.group = "predict 1 row x 784-512-512-10"
    record(benchmark, impl)
    if impl == "fastnn":
        benchmark(model.predict, x)
        return
    torch = pytest.importorskip("torch")
    from latency import torch_net

    torch.set_num_threads(THREADS)
    net = torch_net(model)
    xt = torch.from_numpy(x)

    def predict():
        with torch.no_grad():
            return torch.softmax(net(xt), dim=1)
    np.testing.assert_allclose(predict().numpy(), model.predict(x), rtol=1e-4, atol=1e-6)
    benchmark(predict)


@pytest.mark.parametrize("network", ["keras", "batchnorm"])
@pytest.mark.parametrize("impl", ["fastnn", "fastnn-im2col", "torch"])
def bench_cnn_epoch(benchmark, data, network, impl):
    """One epoch of 2,000 MNIST-shaped images through ``cnn.py``'s networks (batch 128, Adam): fastnn with its
    direct convolution kernels (where the machine has AVX2 or AVX-512), with im2col and BLAS, and PyTorch."""
    import cnn

    X, y = data[0][:2000], data[1][:2000]
    benchmark.group = f"cnn epoch 2k x {network}"
    record(benchmark, impl)
    if impl == "torch":
        pytest.importorskip("torch")
        epoch = cnn.torch_trainer(X, y, THREADS, network)
        benchmark.pedantic(epoch, rounds=3, iterations=1)
        return
    if impl == "fastnn" and not _kernels.direct_conv():
        pytest.skip("no direct convolution kernels on this machine")
    _kernels.direct_conv(impl == "fastnn")
    try:
        epoch = cnn.fastnn_trainer(X, y, THREADS, network)
        epoch()
        benchmark.pedantic(epoch, rounds=3, iterations=1)
    finally:
        _kernels.direct_conv(True)
