"""Keras's CSVLogger, TensorBoard, TerminateOnNaN and LambdaCallback, used as Keras's users use them."""
import csv
import glob
import os
import struct

import numpy as np
import pytest

import fastnn
from fastnn.callbacks import CSVLogger, LambdaCallback, TensorBoard, TerminateOnNaN


def _fit(callbacks, epochs=3, validation=True, **kwargs):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] > 0).astype(int)
    model = fastnn.Sequential([fastnn.Dense(4, 2, activation="softmax")], seed=0).compile(optimizer="adam")
    history = model.fit(X, y, epochs=epochs, batch_size=30, validation_split=0.25 if validation else 0.0,
                        callbacks=callbacks, verbose=0, **kwargs)
    return model, history


def test_csv_logger_writes_keras_columns(tmp_path):
    path = tmp_path / "training.log"
    _, history = _fit([CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    keys = sorted(history.history)
    assert rows[0] == ["epoch"] + keys
    assert [int(r[0]) for r in rows[1:]] == history.epoch == [0, 1, 2]
    for r, i in zip(rows[1:], range(3)):
        assert [float(v) for v in r[1:]] == [history.history[k][i] for k in keys]
    # append=True adds rows under the header; the default overwrites
    _fit([CSVLogger(path, append=True)], epochs=2)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1 + 3 + 2 and rows[4][0] == "0" and rows.count(rows[0]) == 1
    _fit([CSVLogger(path, separator=";")], epochs=1)
    with open(path) as f:
        assert f.readline().strip() == ";".join(["epoch"] + keys) and len(f.readlines()) == 1


def test_csv_logger_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="one character"):
        CSVLogger(tmp_path / "a.csv", separator=", ")
    with pytest.raises(TypeError, match="append must be a bool"):
        CSVLogger(tmp_path / "a.csv", append="yes")
    with pytest.raises(ValueError, match="does not exist"):
        _fit([CSVLogger(tmp_path / "missing" / "a.csv")])


def _read_events(path):
    """The scalars of a TensorBoard event file: TFRecords of ``Event`` protocol buffers, decoded with tensorboardX's
    own protocol classes."""
    from tensorboardX.proto import event_pb2

    scalars = {}
    with open(path, "rb") as f:
        data = f.read()
    at = 0
    while at < len(data):
        (length,) = struct.unpack("<Q", data[at:at + 8])
        event = event_pb2.Event.FromString(data[at + 12:at + 12 + length])
        at += 12 + length + 4
        for value in event.summary.value:
            scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_tensorboard_writes_the_scalars_keras_writes(tmp_path):
    pytest.importorskip("tensorboardX")
    _, history = _fit([TensorBoard(log_dir=tmp_path)])
    train = glob.glob(str(tmp_path / "train" / "events.out.tfevents.*"))
    validation = glob.glob(str(tmp_path / "validation" / "events.out.tfevents.*"))
    assert len(train) == 1 and len(validation) == 1 and os.path.getsize(train[0]) > 0
    scalars = _read_events(train[0])
    assert sorted(scalars) == ["epoch_accuracy", "epoch_learning_rate", "epoch_loss"]
    steps, values = zip(*scalars["epoch_loss"])
    assert list(steps) == [0, 1, 2]
    np.testing.assert_allclose(values, history.history["loss"], rtol=1e-6)  # stored as float32
    val = _read_events(validation[0])
    np.testing.assert_allclose([v for _, v in val["epoch_loss"]], history.history["val_loss"], rtol=1e-6)
    try:  # TensorBoard's own reader, when it is installed
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        return
    accumulator = EventAccumulator(str(tmp_path / "train"))
    accumulator.Reload()
    assert [e.step for e in accumulator.Scalars("epoch_loss")] == [0, 1, 2]


def test_tensorboard_names_the_package_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match="pip install tensorboardX"):
        TensorBoard("logs")


def test_terminate_on_nan_stops_quietly(capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)) * 1e3
    y = rng.normal(size=(64, 1)) * 1e18
    model = fastnn.Sequential([fastnn.Dense(4, 1)], seed=0).compile(loss="mse", optimizer=fastnn.SGD(lr=1e3))
    start = model.get_weights()
    with pytest.warns(UserWarning, match="unit scale"):
        history = model.fit(X, y, epochs=5, batch_size=16, callbacks=[TerminateOnNaN()], verbose=0)
    assert "Invalid loss, terminating training" in capsys.readouterr().out
    assert len(history.epoch) < 5
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    if not history.epoch:  # the first epoch diverged: the weights are those it started from
        assert all(np.array_equal(a, b) for a, b in zip(start, model.get_weights()))
    with pytest.raises(FloatingPointError):  # without it, as before
        model.fit(X, y, epochs=5, batch_size=16, verbose=0)


def test_lambda_callback_with_keras_arguments():
    calls = []
    callback = LambdaCallback(on_train_begin=lambda logs: calls.append("train_begin"),
                              on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
                              on_batch_end=lambda batch, logs: calls.append(("batch", batch, logs["size"])),
                              on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, logs["val_loss"])),
                              on_train_end=lambda logs: calls.append("train_end"))
    _, history = _fit([callback], epochs=2)
    assert calls[0] == "train_begin" and calls[-1] == "train_end"
    assert calls[1:5] == [("epoch_begin", 0), ("batch", 0, 30), ("batch", 1, 30), ("batch", 2, 30)]
    assert [c for c in calls if c[0] == "epoch_end"] == [("epoch_end", e, v) for e, v in
                                                         zip(history.epoch, history.history["val_loss"])]
    with pytest.raises(TypeError, match=r"on_epoch_end must take 2 arguments"):
        LambdaCallback(on_epoch_end=lambda logs: None)
    with pytest.raises(TypeError, match="must be callable"):
        LambdaCallback(on_train_end=3)


def test_lambda_callback_without_batch_hooks_keeps_the_compiled_loop():
    from fastnn.callbacks import CallbackList

    assert not CallbackList([LambdaCallback(on_epoch_end=lambda e, l: None)]).has_batch_hooks
    assert CallbackList([LambdaCallback(on_train_batch_begin=lambda b, l: None)]).has_batch_hooks
