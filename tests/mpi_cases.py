"""Distributed training and k-means, run by tests/test_mpi.py under ``mpiexec -n P python tests/mpi_cases.py CASE
OUT``: each case compares a DataParallel run with one process's and rank 0 writes what it found to OUT (JSON)."""
import json
import os
import signal
import sys

import numpy as np

import fastnn
from fastnn.distributed import DataParallel


def _data(n=301, d=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(np.int64) + (X[:, 2] > 0.5)
    return X, y % k


def _dense(dtype="float64", dropout=0.2, seed=1):
    model = fastnn.Sequential([fastnn.Dense(12, 16, "relu"), fastnn.Dropout(dropout), fastnn.Dense(16, 3, "softmax")],
                              seed=seed, dtype=dtype)
    model.compile("cross_entropy", fastnn.Adam(1e-2, clipnorm=1.0), regularizer=fastnn.L1L2(l1=1e-4, l2=1e-3),
                  metrics=["accuracy"])
    return model


def _relative(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300))


def _same_on_ranks(dp, arr):
    return all(np.array_equal(arr, other) for other in dp.comm.allgather(arr))


def _ring_order(dp):
    """The ring's sums, against each part summed in ring order from its own rank, bit for bit."""
    from fastnn.distributed import part_bounds

    g = np.random.default_rng(dp.rank).standard_normal(1001) * 10.0 ** np.arange(-6, 7).repeat(77)
    every = dp.comm.allgather(g.copy())
    dp.allreduce_(g)
    expected = np.empty_like(g)
    for k in range(dp.size):
        lo, hi = part_bounds(g.size, dp.size, k)
        total = every[k][lo:hi].copy()
        for j in range(1, dp.size):
            total = every[(k + j) % dp.size][lo:hi] + total
        expected[lo:hi] = total
    return bool(np.array_equal(g, expected)) and _same_on_ranks(dp, g)


def case_fit(dp, out):
    X, y = _data()
    w = np.random.default_rng(5).uniform(0.5, 2.0, len(X))
    found = {"ring_order": _ring_order(dp)}
    # a dense net with dropout, clipping, L1/L2, sample weights, a validation split and early stopping; 301 rows
    # in batches of 64 do not divide evenly among 2 or 3 ranks
    kwargs = dict(epochs=4, batch_size=64, validation_split=0.2, sample_weight=w, verbose=0,
                  callbacks=[fastnn.callbacks.EarlyStopping(patience=1)])
    one = _dense()
    h1 = one.fit(X, y, **kwargs)
    many = _dense(seed=None)  # another start on every rank: rank 0's is sent to the others
    many._params[...] = _dense()._params
    many._rng = _dense()._rng
    many._dropout_seed = one._dropout_seed
    kwargs["callbacks"] = [fastnn.callbacks.EarlyStopping(patience=1)]
    hd = many.fit(X, y, distribute=dp, **kwargs)
    found["dense"] = {"relative": _relative(one.parameters, many.parameters),
                      "epochs": [len(h1.epoch), len(hd.epoch)],
                      "loss": [_relative(np.array(h1.history[k]), np.array(hd.history[k]))
                               for k in ("loss", "val_loss", "val_accuracy")],
                      "same_on_ranks": _same_on_ranks(dp, many.parameters)}
    again = _dense()
    again.fit(X, y, distribute=dp, **dict(kwargs, callbacks=[fastnn.callbacks.EarlyStopping(patience=1)]))
    found["rerun_identical"] = bool(np.array_equal(again.parameters, many.parameters))
    # float32, a convolution and dropout on its feature maps
    rng = np.random.default_rng(2)
    images, labels = rng.standard_normal((90, 1, 8, 8)), rng.integers(0, 2, 90)

    def cnn():
        m = fastnn.Sequential([fastnn.Conv2D(1, 4, 3, activation="relu"), fastnn.Dropout(0.3),
                               fastnn.MaxPool2D(2), fastnn.Flatten(), fastnn.Dense(36, 2, "softmax")],
                              seed=3, dtype="float64", input_shape=(1, 8, 8))
        m.compile("cross_entropy", fastnn.SGD(0.05, momentum=0.9))
        return m

    a, b = cnn(), cnn()
    a.fit(images, labels, epochs=2, batch_size=32, verbose=0)
    b.fit(images, labels, epochs=2, batch_size=32, verbose=0, distribute=dp)
    found["cnn"] = {"relative": _relative(a.parameters, b.parameters), "same_on_ranks": _same_on_ranks(dp, b.parameters)}
    # a recurrent net, one output a step
    seqs, targets = rng.standard_normal((40, 5, 3)), rng.standard_normal((40, 5, 2))

    def rnn():
        m = fastnn.Sequential([fastnn.GRU(3, 6, return_sequences=True), fastnn.Dense(6, 2)], seed=4, dtype="float64")
        m.compile("mse", fastnn.RMSprop(1e-2))
        return m

    a, b = rnn(), rnn()
    a.fit(seqs, targets, epochs=2, batch_size=16, verbose=0)
    b.fit(seqs, targets, epochs=2, batch_size=16, verbose=0, distribute=dp)
    found["rnn"] = {"relative": _relative(a.parameters, b.parameters), "same_on_ranks": _same_on_ranks(dp, b.parameters)}
    # uint8 rows, scaled as each batch is gathered, train as their scaled float copy
    U = np.clip(X * 40 + 128, 0, 255).astype(np.uint8)
    scaler = fastnn.StandardScaler().fit(U)
    a, b = _dense("float32"), _dense("float32")
    a.fit(scaler.transform(U), y, epochs=2, batch_size=50, validation_split=0.2, verbose=0)
    b.scaler = scaler
    b.fit(U, y, epochs=2, batch_size=50, validation_split=0.2, verbose=0, distribute=dp)
    found["uint8"] = {"relative": _relative(a.parameters.astype(np.float64), b.parameters.astype(np.float64)),
                      "same_on_ranks": _same_on_ranks(dp, b.parameters)}
    # float32 trains alike on every rank
    f32 = _dense("float32")
    f32.fit(X.astype(np.float32), y, epochs=2, batch_size=50, verbose=0, distribute=dp)
    found["float32_same_on_ranks"] = _same_on_ranks(dp, f32.parameters)
    return found


def case_local(dp, out):
    """Each rank its own rows: without shuffling, a batch is the ranks' local batches in rank order, so one
    process given those batches one after another trains alike."""
    X, y = _data(n=157)
    parts = [np.array_split(np.arange(len(X)), dp.size)[r] for r in range(dp.size)]
    batch = 24
    local_batch = [batch // dp.size + (r < batch % dp.size) for r in range(dp.size)]
    order = []
    iterations = max(-(-len(p) // b) for p, b in zip(parts, local_batch))
    sizes = []
    for i in range(iterations):
        step = [p[i * b:(i + 1) * b] for p, b in zip(parts, local_batch)]
        order.extend(np.concatenate(step))
        sizes.append(sum(len(s) for s in step))
    found = {"batch_sizes": sizes}
    mine = parts[dp.rank]
    model = _dense(dropout=0.0)
    model.fit(X[mine], y[mine], epochs=2, batch_size=batch, shuffle=False, verbose=0,
              distribute=DataParallel(dp.comm, local_data=True))
    if len(set(sizes[:-1])) == 1 and sizes[-1] <= sizes[0]:  # batches one process can form: all full but the last
        one = _dense(dropout=0.0)
        one.fit(X[order], y[order], epochs=2, batch_size=sizes[0], shuffle=False, verbose=0)
        found["relative"] = _relative(one.parameters, model.parameters)
    found["same_on_ranks"] = _same_on_ranks(dp, model.parameters)
    shuffled = [_dense(), _dense()]
    for m in shuffled:
        m.fit(X[mine], y[mine], epochs=2, batch_size=batch, verbose=0, distribute=DataParallel(dp.comm, local_data=True))
    found["shuffled_rerun_identical"] = bool(np.array_equal(*(m.parameters for m in shuffled)))
    found["shuffled_same_on_ranks"] = _same_on_ranks(dp, shuffled[0].parameters)
    return found


def case_kmeans(dp, out):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.standard_normal((97, 5)) + c for c in (0, 4, 8)])
    found = {}
    for dtype in ("float64", "float32"):
        for init in ("k-means++", "random"):
            a = fastnn.KMeans(4, init=init, random_state=0).fit(X.astype(dtype))
            b = fastnn.KMeans(4, init=init, random_state=0).fit(X.astype(dtype), distribute=dp)
            found[f"{dtype} {init}"] = {"relative": _relative(a.cluster_centers_.astype(np.float64),
                                                              b.cluster_centers_.astype(np.float64)),
                                        "labels": bool(np.array_equal(a.labels_, b.labels_)),
                                        "inertia": abs(a.inertia_ - b.inertia_) / a.inertia_,
                                        "n_iter": [a.n_iter_, b.n_iter_],
                                        "same_on_ranks": _same_on_ranks(dp, b.cluster_centers_)}
    small = np.array([[0.0], [0.1], [0.2], [10.0], [10.1]])  # an empty cluster, restarted from the farthest point
    init = np.array([[0.1], [100.0], [10.0]])
    a, b = fastnn.KMeans(3, init=init).fit(small), fastnn.KMeans(3, init=init).fit(small, distribute=dp)
    found["empty"] = {"centers": bool(np.allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12)),
                      "labels": bool(np.array_equal(a.labels_, b.labels_)),
                      "counts": sorted(np.bincount(b.labels_, minlength=3).tolist())}
    mine = X[dp.rank::dp.size]
    local = fastnn.KMeans(4, random_state=0).fit(mine, distribute=DataParallel(dp.comm, local_data=True))
    found["local"] = {"same_on_ranks": _same_on_ranks(dp, local.cluster_centers_),
                      "labels": bool(np.array_equal(local.labels_, local.predict(mine))),
                      "rows": len(local.labels_) == len(mine)}
    return found


def case_checkpoint(dp, out):
    """Only rank 0 writes; a distributed run resumed from its checkpoint ends as an uninterrupted one."""
    X, y = _data()
    folder = os.path.dirname(out)
    path = os.path.join(folder, "ck.fnn")
    best = os.path.join(folder, "best-{epoch}.fnn")
    whole = _dense()
    whole.fit(X, y, epochs=4, batch_size=32, verbose=0, distribute=dp)
    first = _dense()
    first.fit(X, y, epochs=2, batch_size=32, verbose=0, distribute=dp, checkpoint=path,
              callbacks=[fastnn.callbacks.ModelCheckpoint(best, monitor="loss")])
    dp.comm.Barrier()
    resumed = _dense()
    resumed.fit(X, y, epochs=4, batch_size=32, verbose=0, distribute=dp, checkpoint=path, resume=True)
    dp.comm.Barrier()
    return {"resumed_equal": bool(np.array_equal(whole.parameters, resumed.parameters)),
            "files": sorted(f for f in os.listdir(folder) if f.endswith(".fnn"))}


def case_error(dp, out):
    """Rank 1 fails in a callback at its second epoch: every rank must end, the error reported once."""
    class Fail(fastnn.callbacks.Callback):
        def on_epoch_end(self, model, epoch, logs):
            if dp.rank == 1 and epoch == 1:
                raise RuntimeError("a failure on rank 1")

    X, y = _data()
    _dense().fit(X, y, epochs=50, batch_size=16, verbose=0, distribute=dp, callbacks=[Fail()])
    return {"finished": True}


def case_killed(dp, out):
    """Rank 1 is killed outright in its second epoch: the job must end, no rank left waiting."""
    class Die(fastnn.callbacks.Callback):
        def on_epoch_end(self, model, epoch, logs):
            if dp.rank == 1 and epoch == 1:
                os.kill(os.getpid(), signal.SIGKILL)

    X, y = _data()
    _dense().fit(X, y, epochs=50, batch_size=16, verbose=0, distribute=dp, callbacks=[Die()])
    return {"finished": True}


def case_interrupt(dp, out):
    """Trains until Ctrl-C (the test sends SIGINT to mpiexec once every rank has started)."""
    class Started(fastnn.callbacks.Callback):  # a file a rank, once it trains
        def on_epoch_begin(self, model, epoch, logs):
            if epoch == 0:
                open(os.path.join(os.path.dirname(out), f"started-{dp.rank}"), "w").close()

    X, y = _data(n=2000)
    _dense().fit(X, y, epochs=100000, batch_size=16, verbose=0, distribute=dp, callbacks=[Started()])
    return {"finished": True}


def case_refusals(dp, out):
    found = {}
    model = fastnn.Sequential([fastnn.Dense(12, 8), fastnn.BatchNorm1d(8), fastnn.Dense(8, 3, "softmax")], seed=0)
    model.compile("cross_entropy")
    X, y = _data()
    try:
        model.fit(X, y, distribute=dp, verbose=0)
    except ValueError as exc:
        found["batchnorm"] = str(exc)
    try:
        _dense().fit(X, y, distribute="mpi", verbose=0)
    except TypeError as exc:
        found["not_dp"] = str(exc)
    bad = X[dp.rank::dp.size].copy()
    if dp.rank == dp.size - 1:
        bad[1, 2] = np.nan  # one rank's own rows are refused: every rank raises, none waits
    try:
        _dense().fit(bad, y[dp.rank::dp.size], distribute=DataParallel(dp.comm, local_data=True), verbose=0)
    except (ValueError, RuntimeError) as exc:
        found["one_rank_refused"] = f"{type(exc).__name__}: {exc}"
    try:
        fastnn.KMeans(2).fit(bad, distribute=DataParallel(dp.comm, local_data=True))
    except (ValueError, RuntimeError) as exc:
        found["kmeans_one_rank_refused"] = f"{type(exc).__name__}: {exc}"
    found["after"] = float(fastnn.KMeans(2, random_state=0).fit(X, distribute=dp).inertia_)
    return found


if __name__ == "__main__":
    case, out = sys.argv[1], sys.argv[2]
    dp = DataParallel()
    result = globals()[f"case_{case}"](dp, out)
    result["size"] = dp.size
    if dp.rank == 0:
        with open(out, "w") as f:
            json.dump(result, f)
