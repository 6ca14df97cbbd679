"""Shared pieces of the benchmarks: MNIST-shaped data, the NumPy implementation, the GEMM floor, other libraries.

Every implementation trains the same network (ReLU hidden layers, softmax cross-entropy, SGD with momentum 0.9)
in float32 on the same data. Times are seconds per epoch; callers take the minimum over repeats.
"""
import platform
import time

import numpy as np
from threadpoolctl import ThreadpoolController, threadpool_info

CONFIGS = {
    "784-128-10/b64": ([784, 128, 10], 64),
    "784-512-512-10/b128": ([784, 512, 512, 10], 128),
}
N_SAMPLES = 60_000


def make_data(n=N_SAMPLES, n_features=784, n_classes=10, seed=0):
    """Random MNIST-shaped float32 data in [0, 1) with integer labels."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_features), dtype=np.float32)
    y = rng.integers(0, n_classes, n)
    return X, y


def blas_library():
    """The BLAS libraries loaded, and the one fastnn's products go through."""
    import fastnn

    info = [m for m in threadpool_info() if m["user_api"] == "blas"]
    loaded = ", ".join(sorted({f"{m['internal_api']} {m.get('version')} ({m.get('architecture')})" for m in info}))
    used = fastnn.blas_in_use()
    return f"{loaded}; fastnn uses {used['library']} {used['version'] or ''}".strip()


def machine():
    return f"{platform.processor() or platform.machine()}, {platform.python_version()}"


def init_weights(widths, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    out = []
    for a, b in zip(widths[:-1], widths[1:]):
        lim = np.sqrt(6.0 / a)
        out += [rng.uniform(-lim, lim, (b, a)).astype(dtype), np.zeros(b, dtype)]
    return out


# ---------------------------------------------------------------------------------------------------------------
# fastnn
# ---------------------------------------------------------------------------------------------------------------

def fastnn_model(widths, seed=0, lr=0.01, momentum=0.9):
    import fastnn

    layers = [fastnn.Dense(a, b, "relu") for a, b in zip(widths[:-2], widths[1:-1])]
    layers.append(fastnn.Dense(widths[-2], widths[-1], "softmax"))
    model = fastnn.Sequential(layers, seed=seed, dtype="float32")
    model.compile("cross_entropy", fastnn.SGD(lr=lr, momentum=momentum))
    return model


def fastnn_trainer(widths, batch, X, y, n_threads):
    """A function that trains one epoch of fastnn."""
    model = fastnn_model(widths)

    def epoch():
        model.fit(X, y, epochs=1, batch_size=batch, n_threads=n_threads, verbose=0)
    return epoch


# ---------------------------------------------------------------------------------------------------------------
# Pure NumPy, written to be fast: preallocated buffers, in-place operations, BLAS for the products.
# ---------------------------------------------------------------------------------------------------------------

class NumpyMLP:
    """The same training loop as fastnn (ReLU hidden layers, fused softmax cross-entropy, SGD momentum) in NumPy."""

    def __init__(self, widths, batch, lr=0.01, momentum=0.9, seed=0):
        self.params = init_weights(widths, seed)
        self.velocity = [np.zeros_like(p) for p in self.params]
        self.grads = [np.empty_like(p) for p in self.params]
        self.widths, self.batch, self.lr, self.momentum = widths, batch, lr, momentum
        self.A = [np.empty((batch, w), np.float32) for w in widths]
        self.D = [np.empty((batch, w), np.float32) for w in widths]
        self.rng = np.random.default_rng(seed)

    def step(self, xb, yb):
        B = xb.shape[0]
        L = len(self.widths) - 1
        A = [a[:B] for a in self.A]
        D = [d[:B] for d in self.D]
        A[0][...] = xb
        for l in range(L):
            np.matmul(A[l], self.params[2 * l].T, out=A[l + 1])
            A[l + 1] += self.params[2 * l + 1]
            if l < L - 1:
                np.maximum(A[l + 1], 0, out=A[l + 1])
        z = A[L]
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        loss = -np.log(np.maximum(z[np.arange(B), yb], 1e-30)).mean()
        d = D[L]
        np.multiply(z, 1.0 / B, out=d)
        d[np.arange(B), yb] -= 1.0 / B
        for l in range(L - 1, -1, -1):
            np.matmul(D[l + 1].T, A[l], out=self.grads[2 * l])
            D[l + 1].sum(axis=0, out=self.grads[2 * l + 1])
            if l:
                np.matmul(D[l + 1], self.params[2 * l], out=D[l])
                D[l] *= A[l] > 0
        for p, g, v in zip(self.params, self.grads, self.velocity):
            v *= self.momentum
            v += g
            p -= self.lr * v
        return loss

    def epoch(self, X, y):
        n = X.shape[0]
        perm = self.rng.permutation(n)
        xb = np.empty((self.batch, X.shape[1]), np.float32)
        for start in range(0, n, self.batch):
            idx = perm[start:start + self.batch]
            np.take(X, idx, axis=0, out=xb[:idx.shape[0]])
            self.step(xb[:idx.shape[0]], y[idx])

    def predict(self, X):
        a = X
        L = len(self.widths) - 1
        for l in range(L):
            a = a @ self.params[2 * l].T + self.params[2 * l + 1]
            if l < L - 1:
                np.maximum(a, 0, out=a)
        a -= a.max(axis=1, keepdims=True)
        np.exp(a, out=a)
        a /= a.sum(axis=1, keepdims=True)
        return a


def numpy_trainer(widths, batch, X, y, n_threads):
    model = NumpyMLP(widths, batch)

    def epoch():
        with blas_threads(n_threads):
            model.epoch(X, y)
    return epoch


# ---------------------------------------------------------------------------------------------------------------
# The GEMM floor: only the matrix products of a training epoch, through numpy/OpenBLAS.
# ---------------------------------------------------------------------------------------------------------------

def floor_epoch(widths, batch, n_threads, n_samples=N_SAMPLES, repeats=30):
    """Seconds per epoch spent in the products a training step needs, timed alone (minimum over repeats).

    Per step: ``A[l+1] = A[l] @ W_l.T`` for every layer, ``dW_l = D[l+1].T @ A[l]`` for every layer and
    ``D[l] = D[l+1] @ W_l`` for every layer but the first, at full batch size; the epoch figure scales the
    step by ``n_samples / batch``.
    """
    rng = np.random.default_rng(0)
    L = len(widths) - 1
    A = [rng.random((batch, w), dtype=np.float32) for w in widths]
    D = [rng.random((batch, w), dtype=np.float32) for w in widths]
    W = [rng.random((widths[l + 1], widths[l]), dtype=np.float32) for l in range(L)]
    G = [np.empty_like(w) for w in W]

    def step():
        for l in range(L):
            np.matmul(A[l], W[l].T, out=A[l + 1])
        for l in range(L - 1, -1, -1):
            np.matmul(D[l + 1].T, A[l], out=G[l])
            if l:
                np.matmul(D[l + 1], W[l], out=D[l])

    best = float("inf")
    with blas_threads(n_threads):
        step()
        for _ in range(repeats):
            t0 = time.perf_counter()
            step()
            best = min(best, time.perf_counter() - t0)
    return best * n_samples / batch


# ---------------------------------------------------------------------------------------------------------------
# Other libraries, when importable
# ---------------------------------------------------------------------------------------------------------------

def torch_trainer(widths, batch, X, y, n_threads):
    import torch

    torch.manual_seed(0)
    layers = []
    for a, b in zip(widths[:-2], widths[1:-1]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(widths[-2], widths[-1]))
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return torch_epoch(model, opt, torch.from_numpy(X), y, batch, n_threads)


def torch_epoch(model, opt, Xt, y, batch, n_threads, scheduler=None):
    """A function that trains ``model`` (a torch module) one epoch on ``Xt`` (a tensor) and labels ``y`` with
    ``opt`` and cross-entropy, on ``n_threads`` threads (stepping ``scheduler``, if given, after every batch)."""
    import torch

    loss_fn = torch.nn.CrossEntropyLoss()
    yt = torch.from_numpy(y.astype(np.int64))
    n = Xt.shape[0]

    def epoch():
        torch.set_num_threads(n_threads)
        model.train()
        perm = torch.randperm(n)
        for start in range(0, n, batch):
            idx = perm[start:start + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            if scheduler is not None:
                scheduler.step()
    return epoch


def sklearn_trainer(widths, batch, X, y, n_threads):
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=tuple(widths[1:-1]), solver="sgd", batch_size=batch,
                        learning_rate_init=0.01, momentum=0.9, nesterovs_momentum=False, alpha=0.0,
                        random_state=0)
    classes = np.arange(widths[-1])

    def epoch():
        with blas_threads(n_threads):
            clf.partial_fit(X, y, classes=classes)
    return epoch


TRAINERS = {"fastnn": fastnn_trainer, "numpy": numpy_trainer, "torch": torch_trainer, "sklearn": sklearn_trainer}


def time_interleaved(trainers, repeats, floor=None, settle=0.3):
    """Minimum seconds per epoch of each trainer, running one epoch of each in turn ``repeats`` times, so that
    every implementation sees the same machine noise. ``floor``, a function returning the GEMM floor of an
    epoch, is measured in each round too (key ``'floor'``)."""
    best = {name: float("inf") for name in trainers}
    if floor is not None:
        best["floor"] = float("inf")
    for _ in range(repeats):
        if floor is not None:
            best["floor"] = min(best["floor"], floor())
        for name, epoch in trainers.items():
            # Let the previous implementation's idle threads stop spinning (OpenBLAS's workers busy-wait about
            # 0.1 s after a threaded call, OpenMP's a little), or the next one starts with a core taken.
            time.sleep(settle)
            t0 = time.perf_counter()
            epoch()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def learn_fashion_mnist(fastnn_model, torch_model, epochs, n_threads, clipnorm=None, shape=(-1, 28, 28)):
    """Train ``fastnn_model`` (compiled) and ``torch_model`` (a ``torch.nn.Module`` giving logits, or None) on all
    of Fashion-MNIST for ``epochs`` epochs (Adam 1e-3, batch 128, shuffled; ``clipnorm`` clips PyTorch's
    gradients as fastnn's optimizer does), at ``n_threads``; print each one's test accuracy and training time."""
    import time

    import fastnn

    (X, y), (Xt, yt) = fastnn.datasets.load_fashion_mnist(scale=True)
    t0 = time.perf_counter()
    fastnn_model.fit(X, y, epochs=epochs, batch_size=128, n_threads=n_threads, verbose=0)
    seconds = time.perf_counter() - t0
    print(f"fastnn:  test accuracy {fastnn_model.evaluate(Xt, yt)['accuracy']:.4f} after {epochs} epochs, "
          f"{seconds:.1f} s of training")
    if torch_model is None:
        return
    import torch

    torch.set_num_threads(n_threads)
    torch.manual_seed(0)
    opt = torch.optim.Adam(torch_model.parameters(), 1e-3)
    Xs, ys = torch.from_numpy(X).reshape(shape), torch.from_numpy(y.astype(np.int64))
    generator = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(Xs), generator=generator)
        for i in range(0, len(Xs), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(torch_model(Xs[idx]), ys[idx]).backward()
            if clipnorm:
                torch.nn.utils.clip_grad_norm_(torch_model.parameters(), clipnorm)
            opt.step()
    seconds = time.perf_counter() - t0
    torch_model.eval()
    with torch.no_grad():
        accuracy = (torch_model(torch.from_numpy(Xt).reshape(shape)).argmax(1).numpy() == yt).mean()
    print(f"PyTorch: test accuracy {accuracy:.4f} after {epochs} epochs, {seconds:.1f} s of training")


def available(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


_controller = None


def blas_threads(n):
    """A context manager holding numpy's/scipy's BLAS at ``n`` threads (a kept controller)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=n, user_api="blas")
