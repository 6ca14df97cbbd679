"""Callbacks: EarlyStopping, ReduceLROnPlateau, ModelCheckpoint, LearningRateScheduler and users' own, checked
against Keras's rules replayed on the recorded history."""
import math

import numpy as np
import pytest

import fastnn
from fastnn.callbacks import (Callback, EarlyStopping, LearningRateScheduler, ModelCheckpoint,
                              ReduceLROnPlateau)

EPOCHS = 30


@pytest.fixture(scope="module")
def noisy():
    """Few samples whose labels depend weakly on one feature: a wide network's validation loss falls for two
    epochs, then rises (with noise) while its training loss keeps falling."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = (X[:, 0] + rng.normal(size=60) > 0).astype(int)
    return X, y


def _model(lr=0.002, seed=0):
    model = fastnn.Sequential([fastnn.Dense(5, 256, "relu"), fastnn.Dense(256, 2, "softmax")], seed=seed,
                              dtype="float64")
    return model.compile(optimizer=fastnn.SGD(lr=lr, momentum=0.9))


def _fit(model, data, callbacks, epochs=EPOCHS, **kwargs):
    X, y = data
    kwargs.setdefault("validation_split", 0.3)
    return model.fit(X, y, epochs=epochs, batch_size=8, callbacks=callbacks, verbose=0, **kwargs)


class Recorder(Callback):
    """Every hook call as (name, epoch), and the weights at the end of every epoch."""

    def __init__(self):
        self.calls = []
        self.weights = {}
        self.logs = {}

    def on_train_begin(self, model, logs):
        self.calls.append(("on_train_begin", None))
        self.begin_logs = dict(logs)

    def on_epoch_begin(self, model, epoch, logs):
        self.calls.append(("on_epoch_begin", epoch))

    def on_epoch_end(self, model, epoch, logs):
        self.calls.append(("on_epoch_end", epoch))
        self.weights[epoch] = model.get_weights()
        self.logs[epoch] = dict(logs)

    def on_train_end(self, model, logs):
        self.calls.append(("on_train_end", None))


def _improves(value, best, min_delta, higher):
    if best is None:
        return True
    return value - min_delta > best if higher else value + min_delta < best


def keras_early_stopping(values, patience, min_delta=0.0, higher=False):
    """(best epoch, best value, stopped epoch or None) of Keras's EarlyStopping over per-epoch values."""
    best = best_epoch = None
    wait = 0
    for epoch, value in enumerate(values):
        wait += 1
        if _improves(value, best, min_delta, higher):
            best, best_epoch, wait = value, epoch, 0
            continue
        if wait >= patience:
            return best_epoch, best, epoch
    return best_epoch, best, None


def _assert_weights_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# -- EarlyStopping ---------------------------------------------------------------------------------------------

def test_the_run_overfits(noisy):
    history = _fit(_model(), noisy, None)
    val, loss = history["val_loss"], history["loss"]
    best = int(np.argmin(val))
    assert 0 < best < 5 and val[-1] > val[best] + 0.03  # validation loss turns up early...
    assert loss[-1] < loss[best] - 0.1  # ...while the training loss keeps falling


@pytest.mark.parametrize("patience, min_delta", [(0, 0.0), (1, 0.0), (3, 0.0), (5, 0.0), (3, 0.05), (2, 0.5)])
def test_early_stopping_stops_as_keras_does_and_restores_the_best_epoch(noisy, patience, min_delta):
    reference = _fit(_model(), noisy, None)
    best_epoch, best, stopped = keras_early_stopping(reference["val_loss"], patience, min_delta)
    assert stopped is not None

    recorder = Recorder()
    stop = EarlyStopping(monitor="val_loss", patience=patience, min_delta=min_delta, restore_best_weights=True)
    model = _model()
    history = _fit(model, noisy, [recorder, stop])
    assert history.epoch == list(range(stopped + 1))
    assert history["val_loss"] == reference["val_loss"][:stopped + 1]  # the same run, cut short
    assert (stop.stopped_epoch, stop.best_epoch, stop.best) == (stopped, best_epoch, best)
    _assert_weights_equal(model.get_weights(), recorder.weights[best_epoch])
    assert model.evaluate(*[a[42:] for a in noisy])["loss"] == pytest.approx(best, rel=1e-10)
    assert model.epochs_trained == stopped + 1


def test_early_stopping_without_restoring_keeps_the_last_weights(noisy):
    recorder = Recorder()
    stop = EarlyStopping(patience=2)
    model = _model()
    history = _fit(model, noisy, [recorder, stop])
    assert stop.stopped_epoch == history.epoch[-1] < EPOCHS - 1
    _assert_weights_equal(model.get_weights(), recorder.weights[stop.stopped_epoch])


def test_restore_best_weights_also_when_training_ends_without_stopping(noisy):
    """Keras (3) restores the best weights at the end of training whether or not it stopped early."""
    recorder = Recorder()
    stop = EarlyStopping(patience=100, restore_best_weights=True)
    model = _model()
    history = _fit(model, noisy, [recorder, stop], epochs=10)
    assert len(history) == 10 and stop.stopped_epoch is None
    best = int(np.argmin(history["val_loss"]))
    assert stop.best_epoch == best != 9
    _assert_weights_equal(model.get_weights(), recorder.weights[best])


@pytest.mark.parametrize("monitor, mode, higher", [
    ("val_accuracy", "auto", True), ("val_accuracy", "max", True), ("val_loss", "max", True),
    ("accuracy", "auto", True), ("loss", "min", False), ("val_loss", "auto", False), ("val_accuracy", "min", False),
])
def test_early_stopping_modes(noisy, monitor, mode, higher):
    reference = _fit(_model(), noisy, None)
    best_epoch, best, stopped = keras_early_stopping(reference[monitor], 2, higher=higher)
    stop = EarlyStopping(monitor=monitor, patience=2, mode=mode)
    history = _fit(_model(), noisy, [stop])
    assert stop.best_epoch == best_epoch and stop.best == best and stop.stopped_epoch == stopped
    assert len(history) == (EPOCHS if stopped is None else stopped + 1)


def test_early_stopping_counts_epochs_over_the_models_life(noisy):
    model = _model()
    _fit(model, noisy, None, epochs=3)
    stop = EarlyStopping(patience=1)
    history = _fit(model, noisy, [stop])
    assert history.epoch[0] == 3
    assert stop.stopped_epoch == history.epoch[-1] and stop.best_epoch >= 3


def test_early_stopping_settings_are_checked():
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="maximum")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(TypeError, match="restore_best_weights"):
        EarlyStopping(restore_best_weights="yes")
    with pytest.raises(TypeError, match="monitor"):
        EarlyStopping(monitor=None)


# -- ReduceLROnPlateau ----------------------------------------------------------------------------------------

def keras_reduce_lr(values, lr, factor, patience, min_lr=0.0, min_delta=1e-4, cooldown=0, higher=False):
    """The learning rate of every epoch (the first is ``lr``) under Keras's ReduceLROnPlateau."""
    rates = [lr]
    best, wait, cooling = None, 0, 0
    for value in values[:-1]:
        if cooling > 0:
            cooling -= 1
            wait = 0
        if _improves(value, best, min_delta, higher):
            best, wait = value, 0
        elif cooling == 0:
            wait += 1
            if wait >= patience and lr > min_lr:
                lr = max(lr * factor, min_lr)
                cooling, wait = cooldown, 0
        rates.append(lr)
    return rates


@pytest.mark.parametrize("factor, patience, min_lr, cooldown", [(0.5, 2, 0.0, 0), (0.5, 1, 3e-4, 0),
                                                                (0.1, 3, 1e-5, 0), (0.5, 1, 0.0, 2)])
def test_reduce_lr_on_plateau(noisy, factor, patience, min_lr, cooldown):
    plateau = ReduceLROnPlateau(monitor="val_loss", factor=factor, patience=patience, min_lr=min_lr,
                                cooldown=cooldown)
    model = _model()
    history = _fit(model, noisy, [plateau])
    expected = keras_reduce_lr(history["val_loss"], 0.002, factor, patience, min_lr, cooldown=cooldown)
    np.testing.assert_allclose(history["lr"], expected, rtol=1e-15)
    assert min(history["lr"]) >= min_lr and history["lr"][-1] < 0.002
    if min_lr:
        assert history["lr"][-1] == min_lr  # reached the floor and stayed there
    assert history["lr"] == sorted(history["lr"], reverse=True)


def test_reduce_lr_on_plateau_changes_the_updates(noisy):
    """The reduced rate is the one the next epoch trains with: equal to a run with that rate set by hand."""
    plateau = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1)
    model = _model()
    history = _fit(model, noisy, [plateau], epochs=8)
    manual = _model()
    for lr in history["lr"]:
        manual.optimizer.lr = lr
        _fit(manual, noisy, None, epochs=1)
    np.testing.assert_array_equal(model.parameters, manual.parameters)


def test_reduce_lr_on_plateau_refuses_a_schedule(noisy):
    model = fastnn.Sequential([fastnn.Dense(5, 2, "softmax")], seed=0, dtype="float64")
    model.compile(optimizer=fastnn.SGD(lr=fastnn.schedules.CosineDecay(0.1, decay_steps=100)))
    before = model.parameters.copy()
    with pytest.raises(ValueError, match="ReduceLROnPlateau needs an optimizer whose lr is a number"):
        _fit(model, noisy, [ReduceLROnPlateau()])
    np.testing.assert_array_equal(model.parameters, before)
    assert model.epochs_trained == 0


def test_reduce_lr_on_plateau_settings_are_checked():
    for factor in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="factor"):
            ReduceLROnPlateau(factor=factor)
    with pytest.raises(ValueError, match="min_lr"):
        ReduceLROnPlateau(min_lr=-1)


# -- ModelCheckpoint ----------------------------------------------------------------------------------------

def _improving_epochs(values, higher=False):
    out, best = [], None
    for epoch, value in enumerate(values):
        if _improves(value, best, 0.0, higher):
            out.append(epoch)
            best = value
    return out


def test_checkpoint_save_best_only_keeps_the_best_epoch(noisy, tmp_path):
    recorder = Recorder()
    path = tmp_path / "best.fnn"
    keep = ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    model = _model()
    history = _fit(model, noisy, [recorder, keep])
    best = int(np.argmin(history["val_loss"]))
    assert keep.saved == [str(path)] * len(_improving_epochs(history["val_loss"]))
    saved = fastnn.load(path)
    _assert_weights_equal(saved.get_weights(), recorder.weights[best])
    assert saved.epochs_trained == best + 1
    assert saved.evaluate(*[a[42:] for a in noisy])["loss"] == pytest.approx(history["val_loss"][best], rel=1e-10)


@pytest.mark.parametrize("monitor", ["val_loss", "val_accuracy"])
def test_checkpoint_save_best_only_writes_only_on_improvement(noisy, tmp_path, monitor):
    recorder = Recorder()
    keep = ModelCheckpoint(tmp_path / "m-{epoch:02d}.fnn", monitor=monitor, save_best_only=True)
    history = _fit(_model(), noisy, [recorder, keep], epochs=12)
    improving = _improving_epochs(history[monitor], higher=monitor.endswith("accuracy"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"m-{e + 1:02d}.fnn" for e in improving]
    for e in improving:
        _assert_weights_equal(fastnn.load(tmp_path / f"m-{e + 1:02d}.fnn").get_weights(), recorder.weights[e])


def test_checkpoint_every_epoch_with_epoch_and_metrics_in_the_name(noisy, tmp_path):
    recorder = Recorder()
    keep = ModelCheckpoint(str(tmp_path / "model-{epoch}-{val_loss:.4f}.fnn"))
    history = _fit(_model(), noisy, [recorder, keep], epochs=4)
    names = [f"model-{e + 1}-{history['val_loss'][e]:.4f}.fnn" for e in range(4)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    for e, name in enumerate(names):
        _assert_weights_equal(fastnn.load(tmp_path / name).get_weights(), recorder.weights[e])


@pytest.mark.parametrize("path", ["m-{val_loss}.fnn", "m-{val_accuracy:.2f}.fnn", "m-{acc}.fnn", "m-{}.fnn",
                                  "m-{epoch:s}.fnn"])
def test_checkpoint_path_fields_are_checked_before_training(noisy, tmp_path, path):
    """A field the run does not record is refused before the first epoch, not after it trained."""
    model = _model()
    before = model.parameters.copy()
    with pytest.raises(ValueError, match="ModelCheckpoint"):
        _fit(model, noisy, [ModelCheckpoint(tmp_path / path)], validation_split=0.0)
    np.testing.assert_array_equal(model.parameters, before)
    assert model.epochs_trained == 0 and list(tmp_path.iterdir()) == []


def test_checkpoint_needs_an_existing_folder(noisy, tmp_path):
    model = _model()
    with pytest.raises(ValueError, match="does not exist"):
        _fit(model, noisy, [ModelCheckpoint(tmp_path / "missing" / "m.fnn")])
    assert model.epochs_trained == 0


# -- LearningRateScheduler -----------------------------------------------------------------------------------

def test_learning_rate_scheduler_sets_each_epochs_rate(noisy):
    calls = []

    def schedule(epoch, lr):
        calls.append((epoch, lr))
        return 0.01 * 0.5 ** epoch

    model = _model()
    history = _fit(model, noisy, [LearningRateScheduler(schedule)], epochs=5)
    rates = [0.01 * 0.5 ** e for e in range(5)]
    assert history["lr"] == rates
    assert calls == list(zip(range(5), [0.002] + rates[:-1]))  # (epoch, the rate in force)
    assert model.optimizer.lr == rates[-1]
    manual = _model()
    for lr in rates:
        manual.optimizer.lr = lr
        _fit(manual, noisy, None, epochs=1)
    np.testing.assert_array_equal(model.parameters, manual.parameters)


def test_learning_rate_scheduler_epochs_continue_over_the_models_life(noisy):
    seen = []
    model = _model()
    _fit(model, noisy, None, epochs=2)
    _fit(model, noisy, [LearningRateScheduler(lambda epoch, lr: seen.append(epoch) or lr)], epochs=3)
    assert seen == [2, 3, 4]


@pytest.mark.parametrize("bad", [float("nan"), 0, 0.0, -1, float("inf"), "0.1", None, True, np.nan])
def test_learning_rate_scheduler_refuses_a_bad_rate_after_complete_epochs(noisy, bad):
    model = _model()
    schedule = LearningRateScheduler(lambda epoch, lr: 0.005 if epoch < 2 else bad)
    with pytest.raises(ValueError, match="LearningRateScheduler: schedule"):
        _fit(model, noisy, [schedule], epochs=5)
    assert model.history.epoch == [0, 1] and model.history["lr"] == [0.005, 0.005]
    assert model.epochs_trained == 2
    reference = _model()
    reference.optimizer.lr = 0.005
    history = _fit(reference, noisy, None, epochs=2)
    np.testing.assert_array_equal(model.parameters, reference.parameters)
    assert model.history["loss"] == history["loss"] and model.history["val_loss"] == history["val_loss"]


def test_learning_rate_scheduler_refuses_a_schedule_and_non_callables(noisy):
    with pytest.raises(TypeError, match="callable"):
        LearningRateScheduler(0.1)
    model = fastnn.Sequential([fastnn.Dense(5, 2, "softmax")], seed=0).compile(
        optimizer=fastnn.Adam(lr=fastnn.schedules.ExponentialDecay(0.01, 10, 0.5)))
    with pytest.raises(ValueError, match="lr is a number"):
        _fit(model, noisy, [LearningRateScheduler(lambda e, lr: lr)])
    assert model.epochs_trained == 0


# -- monitors that the run does not record ------------------------------------------------------------------

@pytest.mark.parametrize("callback, validation_split", [
    (lambda p: EarlyStopping(monitor="val_acc"), 0.3),
    (lambda p: EarlyStopping(monitor="val_loss"), 0.0),
    (lambda p: EarlyStopping(monitor="val_accuracy"), 0.0),
    (lambda p: EarlyStopping(monitor="mse"), 0.3),
    (lambda p: ReduceLROnPlateau(monitor="val_los"), 0.3),
    (lambda p: ReduceLROnPlateau(monitor="val_loss"), 0.0),
    (lambda p: ModelCheckpoint(p, monitor="accuracy_val", save_best_only=True), 0.3),
    (lambda p: ModelCheckpoint(p, monitor="val_loss", save_best_only=True), 0.0),
])
def test_unknown_monitor_is_refused_before_training(noisy, tmp_path, callback, validation_split):
    model = _model()
    _fit(model, noisy, None, epochs=1)
    before = model.parameters.copy(), model.history, model.epochs_trained
    recorder = Recorder()
    with pytest.raises(ValueError, match="which this fit does not record"):
        _fit(model, noisy, [recorder, callback(tmp_path / "m.fnn")], validation_split=validation_split)
    np.testing.assert_array_equal(model.parameters, before[0])
    assert model.history is before[1] and model.epochs_trained == before[2]
    assert recorder.calls == [("on_train_begin", None)]
    assert list(tmp_path.iterdir()) == []


def test_accuracy_monitor_needs_a_classification_loss(rng):
    X = rng.normal(size=(20, 3))
    model = fastnn.Sequential([fastnn.Dense(3, 1)], seed=0).compile("mse")
    with pytest.raises(ValueError, match="records \\['loss', 'val_loss'\\]"):
        model.fit(X, X[:, :1], epochs=2, validation_split=0.2, callbacks=[EarlyStopping("val_accuracy")],
                  verbose=0)


# -- users' callbacks ---------------------------------------------------------------------------------------

def test_hooks_run_in_order_with_the_right_epochs(noisy):
    recorder = Recorder()
    model = _model()
    history = _fit(model, noisy, [recorder], epochs=3)
    expected = [("on_train_begin", None)]
    for e in range(3):
        expected += [("on_epoch_begin", e), ("on_epoch_end", e)]
    assert recorder.calls == expected + [("on_train_end", None)]
    assert recorder.begin_logs["metrics"] == ["loss", "accuracy", "val_loss", "val_accuracy"]
    for e in range(3):  # epoch-end logs are the epoch's record
        assert recorder.logs[e] == {k: v[e] for k, v in history.history.items()}
    recorder.calls.clear()
    _fit(model, noisy, [recorder], epochs=2)
    assert recorder.calls == [("on_train_begin", None), ("on_epoch_begin", 3), ("on_epoch_end", 3),
                              ("on_epoch_begin", 4), ("on_epoch_end", 4), ("on_train_end", None)]


def test_callbacks_run_in_list_order_and_any_object_with_hooks_works(noisy):
    calls = []

    class Plain:  # not a Callback subclass: only the hooks it has are called
        def __init__(self, name):
            self.name = name

        def on_epoch_end(self, model, epoch, logs):
            calls.append((self.name, epoch))

    _fit(_model(), noisy, [Plain("a"), Plain("b")], epochs=2)
    assert calls == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    calls.clear()
    _fit(_model(), noisy, Plain("single"), epochs=1)  # one callback, not in a list
    assert calls == [("single", 0)]
    with pytest.raises(TypeError, match="has none of the callback methods"):
        _fit(_model(), noisy, [object()])


@pytest.mark.parametrize("hook", ["on_epoch_end", "on_epoch_begin"])
def test_a_callback_that_raises_leaves_the_last_complete_epoch(noisy, hook):
    class Boom(Callback):
        def __getattribute__(self, name):
            if name == hook:
                def fail(model, epoch, logs):
                    if epoch == 2:
                        raise RuntimeError("boom")
                return fail
            return super().__getattribute__(name)

    model = _model()
    recorder = Recorder()
    with pytest.raises(RuntimeError, match="boom"):
        _fit(model, noisy, [recorder, Boom()], epochs=5)
    done = 3 if hook == "on_epoch_end" else 2  # an epoch-end call comes after the epoch is complete
    reference = _model()
    history = _fit(reference, noisy, None, epochs=done)
    np.testing.assert_array_equal(model.parameters, reference.parameters)
    assert model.history.epoch == list(range(done)) and model.epochs_trained == done
    assert model.history["val_loss"] == history["val_loss"]
    assert ("on_train_end", None) not in recorder.calls
    # the model trains on afterwards as if nothing happened
    _fit(model, noisy, None, epochs=1)
    _fit(reference, noisy, None, epochs=1)
    np.testing.assert_array_equal(model.parameters, reference.parameters)


def test_stop_training_from_a_callback(noisy):
    class StopAt(Callback):
        def on_epoch_end(self, model, epoch, logs):
            if epoch == 1:
                model.stop_training = True

    recorder = Recorder()
    model = _model()
    history = _fit(model, noisy, [StopAt(), recorder])
    assert history.epoch == [0, 1] and model.epochs_trained == 2
    assert recorder.calls[-2:] == [("on_epoch_end", 1), ("on_train_end", None)]  # later callbacks still run
    history = _fit(model, noisy, None, epochs=3)  # the next fit starts afresh
    assert history.epoch == [2, 3, 4]


def test_stop_training_set_at_epoch_begin_ends_after_that_epoch(noisy):
    class StopAtBegin(Callback):
        def on_epoch_begin(self, model, epoch, logs):
            if epoch == 1:
                model.stop_training = True

    history = _fit(_model(), noisy, [StopAtBegin()])
    assert history.epoch == [0, 1]


def test_callbacks_see_nan_monitor_values_as_no_improvement():
    """A NaN validation loss neither improves nor counts towards patience (it is skipped)."""
    model = _model()
    stop = EarlyStopping(patience=1)
    stop.on_train_begin(model, {"metrics": ["loss", "val_loss"]})
    for epoch, value in enumerate([1.0, math.nan, 0.5, 0.7]):
        stop.on_epoch_end(model, epoch, {"val_loss": value})
    assert stop.best == 0.5 and stop.best_epoch == 2 and stop.stopped_epoch == 3


# -- batch hooks -------------------------------------------------------------------------------------------------

class BatchRecorder(Callback):
    """Every epoch and batch hook call as (name, epoch or batch, logs)."""

    def __init__(self):
        self.calls = []

    def on_epoch_begin(self, model, epoch, logs):
        self.calls.append(("epoch_begin", epoch, None))

    def on_train_batch_begin(self, model, batch, logs):
        self.calls.append(("batch_begin", batch, dict(logs)))

    def on_train_batch_end(self, model, batch, logs):
        self.calls.append(("batch_end", batch, dict(logs)))

    def on_epoch_end(self, model, epoch, logs):
        self.calls.append(("epoch_end", epoch, None))


def test_batch_hooks_are_called_once_per_batch_with_its_index_size_and_loss(noisy):
    X, y = noisy
    recorder = BatchRecorder()
    model = _model()
    history = model.fit(X, y, epochs=2, batch_size=8, shuffle=False, callbacks=[recorder], verbose=0)
    sizes = [8] * 7 + [4]  # 60 samples
    expected = []
    for e in range(2):
        expected.append(("epoch_begin", e))
        for b, size in enumerate(sizes):
            expected += [("batch_begin", b), ("batch_end", b)]
        expected.append(("epoch_end", e))
    assert [c[:2] for c in recorder.calls] == expected
    begins = [logs for name, _, logs in recorder.calls if name == "batch_begin"]
    ends = [logs for name, _, logs in recorder.calls if name == "batch_end"]
    assert begins == [{"batch": b, "size": s} for b, s in enumerate(sizes)] * 2
    # each batch's loss is the loss train_on_batch reports for the same update, bit for bit
    reference = _model()
    for e in range(2):
        for b, size in enumerate(sizes):
            rows = slice(8 * b, 8 * b + size)
            accuracy = np.mean(reference.predict(X[rows]).argmax(1) == y[rows])  # before the update
            loss = reference.train_on_batch(X[rows], y[rows])
            logs = ends[e * len(sizes) + b]
            assert logs == {"batch": b, "size": size, "loss": loss, "accuracy": accuracy}
    np.testing.assert_array_equal(model.parameters, reference.parameters)
    epoch_loss = sum(logs["loss"] * logs["size"] for logs in ends[len(sizes):]) / 60
    assert history["loss"][1] == pytest.approx(epoch_loss, rel=1e-12)


def test_training_is_bit_identical_with_and_without_a_batch_hook(noisy):
    X, y = noisy
    counted = []

    class Count(Callback):
        def on_batch_end(self, model, batch, logs):  # Keras's older name
            counted.append(batch)

    results = []
    for callbacks in (None, [Count()]):
        model = fastnn.Sequential([fastnn.Dense(5, 64, "relu"), fastnn.Dropout(0.3), fastnn.Dense(64, 2, "softmax")],
                                  seed=4).compile(optimizer=fastnn.Adam(1e-2), regularizer=fastnn.L2(1e-3))
        history = model.fit(X, y, epochs=3, batch_size=7, validation_split=0.2, callbacks=callbacks, verbose=0)
        results.append((model.parameters.copy(), model._state.copy(),
                        {k: v for k, v in history.history.items() if k != "seconds"}))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert results[0][2] == results[1][2]
    assert counted == list(range(7)) * 3  # 48 training samples at 7 a batch


def test_keras_batch_hook_names_and_plain_objects():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(10, 5)), rng.integers(0, 2, 10)
    calls = []

    class Old(Callback):
        def on_batch_begin(self, model, batch, logs):
            calls.append(("old_begin", batch))

        def on_batch_end(self, model, batch, logs):
            calls.append(("old_end", batch))

    class Both(Callback):  # the newer name wins, as in Keras
        def on_train_batch_end(self, model, batch, logs):
            calls.append(("new_end", batch))

        def on_batch_end(self, model, batch, logs):
            calls.append(("never", batch))

    class Plain:
        def on_train_batch_begin(self, model, batch, logs):
            calls.append(("plain_begin", batch))

    _model().fit(X, y, epochs=1, batch_size=5, callbacks=[Old(), Both(), Plain()], verbose=0)
    assert calls == [("old_begin", 0), ("plain_begin", 0), ("old_end", 0), ("new_end", 0),
                     ("old_begin", 1), ("plain_begin", 1), ("old_end", 1), ("new_end", 1)]


def test_stop_training_from_a_batch_hook_ends_after_that_batch(noisy):
    X, y = noisy

    class StopAtBatch(Callback):
        def on_train_batch_end(self, model, batch, logs):
            if model.epochs_trained == 1 and batch == 2:
                model.stop_training = True

    recorder = BatchRecorder()
    model = _model()
    history = model.fit(X, y, epochs=5, batch_size=8, callbacks=[StopAtBatch(), recorder], verbose=0)
    assert history.epoch == [0, 1] and model.epochs_trained == 2
    assert history["iterations"] == [8, 3] and int(model._step[0]) == 8 + 3
    ends = [logs for name, _, logs in recorder.calls if name == "batch_end"][8:]
    assert history["loss"][1] == pytest.approx(sum(l["loss"] for l in ends) / 3, rel=1e-12)
    assert recorder.calls[-1][:2] == ("epoch_end", 1)

    class StopAtEpochBegin(BatchRecorder):  # set before the epoch's batches: the epoch still runs them all
        def on_epoch_begin(self, model, epoch, logs):
            model.stop_training = True

    history = model.fit(X, y, epochs=5, batch_size=8, callbacks=[StopAtEpochBegin()], verbose=0)
    assert history.epoch == [2] and history["iterations"] == [8]


def test_hooks_fit_never_calls_are_warned_about_once_per_fit(noisy, recwarn):
    X, y = noisy

    class Typos(Callback):
        def on_epoch_ends(self, model, epoch, logs):
            pass

        def on_predict_begin(self, logs=None):
            pass

    class Plain:
        def on_train_begin(self, model, logs):
            pass

        def on_test_end(self, logs=None):
            pass

    with pytest.warns(UserWarning) as record:
        _model().fit(X, y, epochs=1, callbacks=[Typos(), Plain()], verbose=0)
    assert len(record) == 1
    message = str(record[0].message)
    assert message.startswith("callbacks[0] (Typos) defines on_epoch_ends, on_predict_begin; callbacks[1] (Plain) "
                              "defines on_test_end, which fit never calls: fastnn's hooks are on_train_begin, "
                              "on_epoch_begin, on_train_batch_begin (or on_batch_begin), on_train_batch_end (or "
                              "on_batch_end), on_epoch_end and on_train_end")
    assert record[0].filename == __file__
    recwarn.clear()
    _model().fit(X, y, epochs=1, callbacks=[BatchRecorder(), Recorder(), EarlyStopping("loss")], verbose=0)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_a_hook_without_the_model_argument_is_refused_before_training(noisy):
    X, y = noisy

    class KerasStyle(Callback):
        def on_batch_end(self, batch, logs=None):
            pass

    model = _model()
    before = model.parameters.copy()
    with pytest.raises(TypeError, match=r"callbacks\[0\] \(KerasStyle\).on_batch_end\(batch, logs=None\) cannot "
                                        r"take fastnn's arguments: fit calls on_batch_end\(model, batch, logs\), "
                                        "the model first"):
        model.fit(X, y, epochs=1, callbacks=[KerasStyle()], verbose=0)
    np.testing.assert_array_equal(model.parameters, before)
    assert model.epochs_trained == 0


def test_fit_returns_to_python_per_batch_only_for_batch_hooks(monkeypatch):
    """Without a batch hook, fit runs many batches per compiled call (returning about every 0.1 s); with one,
    one batch per call."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(2000, 8)).astype(np.float32), rng.integers(0, 3, 2000)

    def counted(model):
        calls, build = [], model._engine

        class Counting:
            def __init__(self, engine):
                self._engine = engine

            def __getattr__(self, name):
                return getattr(self._engine, name)

            def train(self, *args):
                calls.append(args)
                return self._engine.train(*args)

        monkeypatch.setattr(model, "_engine", lambda capacity: Counting(build(capacity)))
        return calls

    class OnBatch(Callback):
        def on_train_batch_end(self, model, batch, logs):
            pass

    for callbacks, most in (([], 20), ([OnBatch()], 500)):
        model = fastnn.Sequential(fastnn.Dense(8, 16, "relu"), fastnn.Dense(16, 3, "softmax"), seed=0)
        model.compile("cross_entropy", fastnn.SGD(lr=0.01))
        calls = counted(model)
        model.fit(X, y, epochs=1, batch_size=4, callbacks=callbacks, verbose=0)  # 500 batches
        assert 1 <= len(calls) <= most, len(calls)
        if callbacks:
            assert len(calls) == 500
