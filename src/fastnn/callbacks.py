"""Callbacks: code that ``fit`` runs at the start and end of training, of every epoch and, when asked, of every
batch (Keras's hooks, with the model passed first).

A callback is an object with any of these methods; ``fit(..., callbacks=[...])`` calls them in list order:

* ``on_train_begin(model, logs)``: ``logs["metrics"]`` lists the names each epoch will record (``loss``,
  ``accuracy``, ``val_loss``, ``val_accuracy``); raise ``ValueError`` here to refuse a run before it starts;
* ``on_epoch_begin(model, epoch, logs)``;
* ``on_train_batch_begin(model, batch, logs)``: before each batch; ``batch`` counts from 0 within the epoch and
  ``logs`` holds ``batch`` and ``size`` (the batch's samples);
* ``on_train_batch_end(model, batch, logs)``: after each batch's update; ``logs`` holds ``batch``, ``size``,
  ``loss`` (the batch's loss, including the regularization penalty, as ``train_on_batch`` returns it) and, for the
  classification losses, ``accuracy``; set ``model.stop_training = True`` here to end training after this batch
  (the epoch is then recorded over the batches it ran);
* ``on_epoch_end(model, epoch, logs)``: ``logs`` holds the epoch's record (``loss``, ``val_loss``, ...,
  ``lr``); set ``model.stop_training = True`` to end training after this epoch;
* ``on_train_end(model, logs)``.

``on_batch_begin`` and ``on_batch_end`` are Keras's older names of the batch hooks and work too (a callback that
defines ``on_train_batch_end`` is not also called through ``on_batch_end``). ``epoch`` counts from 0 over the
model's life (as ``History.epoch``). Epoch-end calls come after the epoch is complete and recorded in
``model.history``: a callback that raises ends ``fit`` with that exception and leaves the model with its last
complete update and the history so far. Subclass :class:`Callback` for your own.

The compiled training loop returns to Python between batches only when a callback defines a batch hook, so
callbacks without one cost nothing in the loop; with one, every batch is a call from Python (results stay the
same, bit for bit). ``fit`` warns (``UserWarning``) about a callback's other ``on_*`` methods, which it never calls
(a misspelt hook, or one of Keras's that fastnn does not have, such as ``on_predict_begin``), and refuses a hook
that cannot take its arguments (Keras's ``on_epoch_end(epoch, logs)`` without the model) before training.
"""
import csv
import inspect
import math
import numbers
import os
import sys

import numpy as np

from ._core.validation import check_float, check_int, warn_user

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler",
           "CSVLogger", "TensorBoard", "TerminateOnNaN", "LambdaCallback", "CallbackList"]


class Callback:
    """Base class: every hook does nothing. Override the ones you need.

    Examples
    --------
    >>> import fastnn
    >>> class PrintLoss(fastnn.callbacks.Callback):
    ...     def on_epoch_end(self, model, epoch, logs):
    ...         print(f"epoch {epoch}: loss {logs['loss']:.3f}")
    """

    def on_train_begin(self, model, logs):
        pass

    def on_epoch_begin(self, model, epoch, logs):
        pass

    def on_epoch_end(self, model, epoch, logs):
        pass

    def on_train_end(self, model, logs):
        pass

    def on_train_batch_begin(self, model, batch, logs):
        """Before each batch (see the module documentation); calls :meth:`on_batch_begin`, Keras's older name."""
        self.on_batch_begin(model, batch, logs)

    def on_train_batch_end(self, model, batch, logs):
        """After each batch's update; calls :meth:`on_batch_end`, Keras's older name."""
        self.on_batch_end(model, batch, logs)

    def on_batch_begin(self, model, batch, logs):
        pass

    def on_batch_end(self, model, batch, logs):
        pass


class _Monitor(Callback):
    """A callback that watches one recorded metric for improvement."""

    def __init__(self, monitor, mode, min_delta):
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor must be a metric name such as 'val_loss', got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(check_float(min_delta, "min_delta"))
        self._higher_is_better = mode == "max" or (mode == "auto" and "acc" in monitor)

    def _check_monitor(self, logs):
        available = list(logs.get("metrics", []))
        if self.monitor not in available:
            hint = " (validation metrics need validation_data or validation_split)" \
                if self.monitor.startswith("val_") else ""
            raise ValueError(f"{type(self).__name__} monitors {self.monitor!r}, which this fit does not record; "
                             f"it records {available}{hint}")

    def _value(self, logs):
        value = logs.get(self.monitor)
        if value is None or not isinstance(value, numbers.Real) or math.isnan(value):
            return None
        return float(value)

    def _improves(self, value, best):
        if best is None:
            return True
        return value - self.min_delta > best if self._higher_is_better else value + self.min_delta < best


class EarlyStopping(_Monitor):
    """Stop training when a monitored metric has stopped improving (Keras's ``EarlyStopping``).

    Parameters
    ----------
    monitor : str, default='val_loss'
    min_delta : float, default=0.0
        Smaller changes do not count as an improvement.
    patience : int, default=0
        Epochs without improvement after which training stops.
    mode : {'auto', 'min', 'max'}, default='auto'
        'auto' maximises metrics whose name contains "acc" and minimises the others.
    restore_best_weights : bool, default=False
        At the end of training, set the weights back to those of the best epoch.

    Attributes
    ----------
    best : float or None
    best_epoch : int or None
    stopped_epoch : int or None
        The epoch after which training stopped, if it did.

    Examples
    --------
    >>> import fastnn
    >>> stop = fastnn.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto", restore_best_weights=False):
        super().__init__(monitor, mode, min_delta)
        self.patience = check_int(patience, "patience", minimum=0)
        if not isinstance(restore_best_weights, (bool, np.bool_)):
            raise TypeError("restore_best_weights must be a bool")
        self.restore_best_weights = bool(restore_best_weights)

    def on_train_begin(self, model, logs):
        self._check_monitor(logs)
        self.best = self.best_epoch = self.stopped_epoch = None
        self.wait = 0
        self._best_weights = None

    def on_epoch_end(self, model, epoch, logs):
        value = self._value(logs)
        if value is None:
            return
        if self.restore_best_weights and self._best_weights is None:
            self._best_weights = model.get_weights()
        self.wait += 1
        if self._improves(value, self.best):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_weights = model.get_weights()
            return
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            model.stop_training = True

    def on_train_end(self, model, logs):
        if self.restore_best_weights and self._best_weights is not None:
            model.set_weights(self._best_weights)


class ModelCheckpoint(_Monitor):
    """Save the model at the end of every epoch, or only when a monitored metric improves.

    Parameters
    ----------
    path : str or path-like
        File to write (atomically, in fastnn's model format). It may contain ``{epoch}`` (counted from 1) and
        the names of the epoch's record, e.g. ``"model-{epoch:02d}-{val_loss:.3f}.fnn"``; a field the run does
        not record (``{val_loss}`` without validation data) is refused before training starts.
    monitor : str, default='val_loss'
    save_best_only : bool, default=False
    mode : {'auto', 'min', 'max'}, default='auto'

    Examples
    --------
    >>> import fastnn
    >>> keep = fastnn.callbacks.ModelCheckpoint("best.fnn", monitor="val_accuracy", save_best_only=True)
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        super().__init__(monitor, mode, 0.0)
        self.path = os.fspath(path)
        if not isinstance(save_best_only, (bool, np.bool_)):
            raise TypeError("save_best_only must be a bool")
        self.save_best_only = bool(save_best_only)

    def on_train_begin(self, model, logs):
        if self.save_best_only:
            self._check_monitor(logs)
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise ValueError(f"ModelCheckpoint: folder {folder} does not exist")
        self._check_path(logs)
        self.best = None
        self.saved = []

    def _check_path(self, logs):
        """Refuse, before any training, a path whose fields an epoch's record cannot fill."""
        names = list(logs.get("metrics", []))
        sample = dict.fromkeys(names + ["lr", "seconds"], 0.5)
        sample["iterations"] = 1
        try:
            self._format(0, sample)
        except KeyError as exc:
            raise ValueError(f"ModelCheckpoint: path {self.path!r} names {exc.args[0]!r}, which this fit does not "
                             f"record; it records epoch, {', '.join(names)}, lr, iterations and seconds") from None
        except (IndexError, ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"ModelCheckpoint: path {self.path!r} is not a valid format for an epoch's record "
                             f"(fields such as {{epoch:02d}} or {{val_loss:.3f}}): {exc}") from None

    def _format(self, epoch, logs):
        fields = {k: v for k, v in logs.items() if isinstance(k, str) and k != "epoch"}
        return self.path.format(epoch=epoch + 1, **fields)

    def on_epoch_end(self, model, epoch, logs):
        if self.save_best_only:
            value = self._value(logs)
            if value is None or not self._improves(value, self.best):
                return
            self.best = value
        path = self._format(epoch, logs)
        if getattr(model, "_writes_files", True):  # in a distributed fit, rank 0 writes the files
            model.save(path)
        self.saved.append(path)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when a metric has stopped improving (Keras's).

    Parameters
    ----------
    monitor : str, default='val_loss'
    factor : float in (0, 1), default=0.1
    patience : int, default=10
        Epochs without improvement before the rate is reduced.
    min_lr : float, default=0.0
        The rate never goes below this.
    mode : {'auto', 'min', 'max'}, default='auto'
    min_delta : float, default=1e-4
    cooldown : int, default=0
        Epochs to wait after a reduction before counting again.

    The optimizer's ``lr`` must be a float (a schedule already decides the rate).
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, min_lr=0.0, mode="auto", min_delta=1e-4,
                 cooldown=0):
        super().__init__(monitor, mode, min_delta)
        self.factor = check_float(factor, "factor", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        self.patience = check_int(patience, "patience", minimum=0)
        self.min_lr = check_float(min_lr, "min_lr", low=0.0)
        self.cooldown = check_int(cooldown, "cooldown", minimum=0)

    def on_train_begin(self, model, logs):
        self._check_monitor(logs)
        if not isinstance(model.optimizer.lr, numbers.Real):
            raise ValueError("ReduceLROnPlateau needs an optimizer whose lr is a number, not a schedule")
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def on_epoch_end(self, model, epoch, logs):
        value = self._value(logs)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(value, self.best):
            self.best, self.wait = value, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                lr = model.optimizer.lr
                if lr > self.min_lr:
                    model.optimizer.lr = max(lr * self.factor, self.min_lr)
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch to ``schedule(epoch, lr)`` (Keras's).

    Parameters
    ----------
    schedule : callable
        ``schedule(epoch, lr) -> new lr``, with ``epoch`` counted from 0 and ``lr`` the current rate. A result
        that is not a finite number above 0 stops ``fit`` with a ``ValueError`` before that epoch trains.

    Examples
    --------
    >>> import fastnn
    >>> halve = fastnn.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch >= 10 else lr)
    """

    def __init__(self, schedule):
        if not callable(schedule):
            raise TypeError(f"schedule must be callable as schedule(epoch, lr), got {type(schedule).__name__}")
        self.schedule = schedule

    def on_train_begin(self, model, logs):
        if not isinstance(model.optimizer.lr, numbers.Real):
            raise ValueError("LearningRateScheduler needs an optimizer whose lr is a number, not a schedule")

    def on_epoch_begin(self, model, epoch, logs):
        lr = self.schedule(epoch, model.optimizer.lr)
        if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"LearningRateScheduler: schedule({epoch}, {model.optimizer.lr}) returned {lr!r}; "
                             "a learning rate must be a finite number above 0")
        model.optimizer.lr = float(lr)


class CSVLogger(Callback):
    """Write each epoch's record to a CSV file (Keras's ``CSVLogger``): a header row ``epoch`` and the record's
    keys in sorted order (``accuracy``, ``iterations``, ``loss``, ``lr``, ``seconds``, ``val_accuracy``,
    ``val_loss``, ...), then one row an epoch, ``epoch`` counted from 0 as ``History.epoch``.

    Parameters
    ----------
    filename : str or path-like
    separator : str, default=','
        The one character between values.
    append : bool, default=False
        Add to an existing file (its header is kept; a header is written only into an empty file) instead of
        overwriting it.

    Examples
    --------
    >>> import numpy as np, fastnn, tempfile, os
    >>> X = np.random.default_rng(0).normal(size=(64, 3)); y = (X[:, 0] > 0).astype(int)
    >>> model = fastnn.Sequential([fastnn.Dense(3, 2, activation="softmax")], seed=0).compile()
    >>> path = os.path.join(tempfile.mkdtemp(), "training.log")
    >>> history = model.fit(X, y, epochs=2, verbose=0, callbacks=[fastnn.callbacks.CSVLogger(path)])
    >>> open(path).readline().strip()
    'epoch,accuracy,iterations,loss,lr,seconds'
    """

    def __init__(self, filename, separator=",", append=False):
        self.filename = os.fspath(filename)
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator must be one character, got {separator!r}")
        if not isinstance(append, (bool, np.bool_)):
            raise TypeError(f"append must be a bool, got {type(append).__name__}")
        self.separator, self.append = separator, bool(append)
        self._file = self._writer = self.keys = None

    def on_train_begin(self, model, logs):
        folder = os.path.dirname(os.path.abspath(self.filename))
        if not os.path.isdir(folder):
            raise ValueError(f"CSVLogger: folder {folder} does not exist")
        header = not (self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0)
        self._file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self._header, self.keys, self._writer = header, None, None

    def on_epoch_end(self, model, epoch, logs):
        if self.keys is None:
            self.keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys, delimiter=self.separator)
            if self._header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self.keys}})
        self._file.flush()

    def on_train_end(self, model, logs):
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None


class TensorBoard(Callback):
    """Write each epoch's record as scalars that TensorBoard shows (Keras's ``TensorBoard``, through the
    ``tensorboardX`` package: ``pip install tensorboardX``): the training values under ``log_dir/train`` and the
    validation values under ``log_dir/validation``, each tagged ``epoch_<name>`` (``epoch_loss``,
    ``epoch_accuracy``, ...; the learning rate as ``epoch_learning_rate``), at step ``epoch``. View them with
    ``tensorboard --logdir log_dir``.

    Parameters
    ----------
    log_dir : str or path-like, default='logs'

    Examples
    --------
    >>> import numpy as np, fastnn, tempfile
    >>> X = np.random.default_rng(0).normal(size=(64, 3)); y = (X[:, 0] > 0).astype(int)
    >>> model = fastnn.Sequential([fastnn.Dense(3, 2, activation="softmax")], seed=0).compile()
    >>> board = fastnn.callbacks.TensorBoard(log_dir=tempfile.mkdtemp())  # then: tensorboard --logdir <log_dir>
    >>> history = model.fit(X, y, epochs=2, validation_split=0.25, verbose=0, callbacks=[board])
    >>> sorted(os.listdir(board.log_dir))
    ['train', 'validation']
    """

    #: What is written: the record's training and validation metrics, by Keras's tags.
    _SKIPPED = ("iterations", "seconds")

    def __init__(self, log_dir="logs"):
        self.log_dir = os.fspath(log_dir)
        self._writer_class = _summary_writer()
        self._writers = {}

    def on_train_begin(self, model, logs):
        self._writers = {}

    def _writer(self, part):
        if part not in self._writers:
            self._writers[part] = self._writer_class(os.path.join(self.log_dir, part))
        return self._writers[part]

    def on_epoch_end(self, model, epoch, logs):
        for key, value in logs.items():
            if key in self._SKIPPED or not isinstance(value, numbers.Real):
                continue
            part, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            tag = "epoch_learning_rate" if name == "lr" else f"epoch_{name}"
            self._writer(part).add_scalar(tag, float(value), epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, model, logs):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _summary_writer():
    """tensorboardX's ``SummaryWriter``, or an ImportError saying what to install."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ImportError("fastnn.callbacks.TensorBoard writes TensorBoard's files with the tensorboardX package: "
                          "pip install tensorboardX") from None
    return SummaryWriter


class TerminateOnNaN(Callback):
    """Stop training when the loss becomes NaN or infinite (Keras's ``TerminateOnNaN``), without an exception.

    fastnn notices a NaN or infinite loss (or weight) at the batch where it happens; with this callback ``fit``
    then prints ``Batch <b>: Invalid loss, terminating training`` as Keras does and returns the history of the
    completed epochs, instead of raising ``FloatingPointError`` (``on_divergence``). As always, the weights and
    the optimizer's state are those of the start of that epoch (Keras leaves the NaN weights).

    Examples
    --------
    >>> import fastnn
    >>> callbacks = [fastnn.callbacks.TerminateOnNaN()]
    """

    #: Read by ``fit``: a diverging update stops training quietly.
    _stops_on_divergence = True

    def on_epoch_end(self, model, epoch, logs):
        loss = logs.get("loss")
        if isinstance(loss, numbers.Real) and not math.isfinite(loss):
            print(f"Epoch {epoch}: Invalid loss, terminating training", file=sys.stdout)
            model.stop_training = True


class LambdaCallback(Callback):
    """A callback of plain functions (Keras's ``LambdaCallback``), with Keras's arguments, without the model:
    ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``, ``on_train_batch_begin(batch, logs)`` and
    ``on_train_batch_end(batch, logs)`` (or their older names ``on_batch_begin`` and ``on_batch_end``),
    ``on_train_begin(logs)`` and ``on_train_end(logs)``. Only the hooks given are called (a batch hook makes
    ``fit`` return to Python at every batch).

    Examples
    --------
    >>> import numpy as np, fastnn
    >>> X = np.random.default_rng(0).normal(size=(64, 3)); y = (X[:, 0] > 0).astype(int)
    >>> model = fastnn.Sequential([fastnn.Dense(3, 2, activation="softmax")], seed=0).compile()
    >>> losses = []
    >>> log = fastnn.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
    >>> history = model.fit(X, y, epochs=3, verbose=0, callbacks=[log])
    >>> losses == history.history["loss"]
    True
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None, on_batch_end=None,
                 on_train_begin=None, on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None):
        given = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end, "on_batch_begin": on_batch_begin,
                 "on_batch_end": on_batch_end, "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                 "on_train_batch_begin": on_train_batch_begin, "on_train_batch_end": on_train_batch_end}
        for name, function in given.items():
            if function is None:
                continue
            args = _HOOKS[name]
            if not callable(function):
                raise TypeError(f"{name} must be callable as {name}({', '.join(args)}), got "
                                f"{type(function).__name__}")
            try:
                inspect.signature(function).bind(*(None,) * len(args))
            except TypeError:
                raise TypeError(f"{name} must take {len(args)} argument{'s' if len(args) > 1 else ''}, "
                                f"({', '.join(args)}), as Keras's LambdaCallback calls it") from None
            except ValueError:  # builtins without a signature
                pass
            # an instance attribute of the model-first form fit calls (only for the hooks given)
            setattr(self, name, lambda model, *values, _function=function: _function(*values))


# The hooks fit calls, with the arguments it passes after the model, and the batch hooks' older names.
_HOOKS = {"on_train_begin": ("logs",), "on_epoch_begin": ("epoch", "logs"),
          "on_train_batch_begin": ("batch", "logs"), "on_batch_begin": ("batch", "logs"),
          "on_train_batch_end": ("batch", "logs"), "on_batch_end": ("batch", "logs"),
          "on_epoch_end": ("epoch", "logs"), "on_train_end": ("logs",)}
_SUPPORTED = ("on_train_begin, on_epoch_begin, on_train_batch_begin (or on_batch_begin), on_train_batch_end (or "
              "on_batch_end), on_epoch_end and on_train_end")


def _defines(cb, name):
    """Whether ``cb`` has the hook ``name`` of its own (not :class:`Callback`'s, which does nothing)."""
    method = getattr(cb, name, None)
    if not callable(method):
        return False
    return getattr(method, "__func__", None) is not getattr(Callback, name, None)


def _batch_hook(cb, name, alias):
    """``cb``'s batch hook ``name``, or its older name ``alias``, or None."""
    for hook in (name, alias):
        if _defines(cb, hook):
            return getattr(cb, hook)
    return None


class CallbackList:
    """Callbacks called in order; accepts objects with any subset of the hooks. Warns once about ``on_*``
    methods no hook calls, and checks that each hook can take its arguments."""

    def __init__(self, callbacks):
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
            callbacks = [callbacks]
        unknown = []
        for i, cb in enumerate(callbacks):
            if not any(callable(getattr(cb, name, None)) for name in _HOOKS):
                raise TypeError(f"callbacks[{i}] ({type(cb).__name__}) has none of the callback methods; subclass "
                                "fastnn.callbacks.Callback")
            for name, args in _HOOKS.items():
                if _defines(cb, name):
                    self._check_arguments(i, cb, name, args)
            names = sorted(n for n in dir(cb) if n.startswith("on_") and n not in _HOOKS
                           and callable(getattr(cb, n, None)))
            unknown += [f"callbacks[{i}] ({type(cb).__name__}) defines {', '.join(names)}"] if names else []
        if unknown:
            warn_user(f"{'; '.join(unknown)}, which fit never calls: fastnn's hooks are {_SUPPORTED}")
        self.callbacks = list(callbacks)
        self._batch_begin = [h for h in (_batch_hook(cb, "on_train_batch_begin", "on_batch_begin")
                                         for cb in self.callbacks) if h is not None]
        self._batch_end = [h for h in (_batch_hook(cb, "on_train_batch_end", "on_batch_end")
                                       for cb in self.callbacks) if h is not None]

    @staticmethod
    def _check_arguments(i, cb, name, args):
        try:
            signature = inspect.signature(getattr(cb, name))
        except (TypeError, ValueError):  # builtins and the like: nothing to check
            return
        try:
            signature.bind(*(None,) * (1 + len(args)))
        except TypeError:
            raise TypeError(f"callbacks[{i}] ({type(cb).__name__}).{name}{signature} cannot take fastnn's arguments: "
                            f"fit calls {name}(model, {', '.join(args)}), the model first") from None

    @property
    def has_batch_hooks(self):
        """Whether a callback has a batch hook (then fit returns to Python at every batch)."""
        return bool(self._batch_begin or self._batch_end)

    def _call(self, name, *args):
        for cb in self.callbacks:
            method = getattr(cb, name, None)
            if method is not None:
                method(*args)

    def on_train_begin(self, model, logs):
        self._call("on_train_begin", model, logs)

    def on_epoch_begin(self, model, epoch, logs):
        self._call("on_epoch_begin", model, epoch, logs)

    def on_train_batch_begin(self, model, batch, logs):
        for hook in self._batch_begin:
            hook(model, batch, logs)

    def on_train_batch_end(self, model, batch, logs):
        for hook in self._batch_end:
            hook(model, batch, logs)

    def on_epoch_end(self, model, epoch, logs):
        self._call("on_epoch_end", model, epoch, logs)

    def on_train_end(self, model, logs):
        self._call("on_train_end", model, logs)
