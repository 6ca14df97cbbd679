"""The fit driver: what :meth:`fastnn.Sequential.fit` does with a model - check the run's arguments and data,
build (or reuse) the engine, then per epoch run the compiled batches, collect the metrics, call the callbacks,
write checkpoints, and restore the epoch's start when an update diverges - recording the run in a
:class:`~fastnn.training.history.History`.

The functions take the model as their first argument; the model's public methods call them.
"""
import os
import signal
import threading
import time

import numpy as np

from .. import _kernels
from .._core.progress import EpochProgress
from .._core.threads import blas_single_thread, resolve_n_threads
from .._core.validation import check_float, check_int, check_verbose, warn_user
from ..callbacks import CallbackList
from . import data as _data
from .data import check_batch_rows
from .blocks import train_batch, train_parts, training_block
from .history import History
from .inference import PREDICT_BLOCK, inference_block

__all__ = ["fit", "PREDICT_BLOCK"]
# Target seconds between returns to Python during fit (progress output and Ctrl-C).
REPORT_SECONDS = 0.1


def _records(history):
    """The history as a list of per-epoch dicts (for checkpoints)."""
    keys = list(history.history)
    return [{k: history.history[k][i] for k in keys} for i in range(len(history.epoch))]


class _Lease:
    """The model's engine as ``fit`` holds it: grown when a batch of more rows comes (batches of a stream), and
    taken again when a callback changed a layer's setting."""

    def __init__(self, model, rows):
        self.model = model
        self.loan = model._borrow_engine(rows)
        self.engine = self.loan.__enter__()

    def grow(self, rows):
        """The engine, with room for ``rows`` rows."""
        if self.engine.capacity < rows or self.loan.stale():
            self.loan.__exit__()
            self.loan = self.model._borrow_engine(max(rows, self.loan.rows))
            self.engine = self.loan.__enter__()
        return self.engine

    def close(self):
        self.loan.__exit__()


def fit(model, X, y, epochs=1, batch_size=32, validation_data=None, validation_split=0.0, shuffle=True,
        sample_weight=None, class_weight=None, callbacks=None, n_threads=None, verbose=1, checkpoint=None,
        resume=False, on_divergence="raise", initial_epoch=0, steps_per_epoch=None, distribute=None):
    """The body of :meth:`Sequential.fit` (see its documentation): validate, then per epoch run the
    compiled batches, collect the metrics and call the callbacks. With ``distribute`` (a
    :class:`fastnn.distributed.DataParallel`) each batch's gradient is summed over its ranks, and an exception
    on one rank ends them all."""
    if distribute is None:
        return _fit(model, X, y, epochs, batch_size, validation_data, validation_split, shuffle, sample_weight,
                    class_weight, callbacks, n_threads, verbose, checkpoint, resume, on_divergence, initial_epoch,
                    steps_per_epoch, None)
    if not (hasattr(distribute, "_train_batches") and hasattr(distribute, "guard")):
        raise TypeError(f"distribute must be a fastnn.distributed.DataParallel, got {type(distribute).__name__}")
    with distribute.guard():
        model._writes_files = distribute.rank == 0
        try:
            return _fit(model, X, y, epochs, batch_size, validation_data, validation_split, shuffle, sample_weight,
                        class_weight, callbacks, n_threads, verbose if distribute.rank == 0 else 0, checkpoint,
                        resume, on_divergence, initial_epoch, steps_per_epoch, distribute)
        finally:
            del model._writes_files


def _fit(model, X, y, epochs, batch_size, validation_data, validation_split, shuffle, sample_weight, class_weight,
         callbacks, n_threads, verbose, checkpoint, resume, on_divergence, initial_epoch, steps_per_epoch,
         distribute):
    model._require_compiled("fit")
    epochs = check_int(epochs, "epochs", minimum=0)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    validation_split = check_float(validation_split, "validation_split", low=0.0, high=1.0,
                                   high_inclusive=False)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be a bool, got {type(shuffle).__name__}")
    check_verbose(verbose)
    nt = resolve_n_threads(n_threads)
    if distribute is not None:
        nt = distribute.threads(n_threads, nt)
    if on_divergence not in ("raise", "warn"):
        raise ValueError(f"on_divergence must be 'raise' or 'warn', got {on_divergence!r}")
    if not isinstance(resume, (bool, np.bool_)):
        raise TypeError(f"resume must be a bool, got {type(resume).__name__}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=path: the file to resume from")
    initial_epoch = check_int(initial_epoch, "initial_epoch", minimum=0)
    if initial_epoch and resume:
        raise ValueError("give initial_epoch or resume=True, not both: resume continues from the checkpoint's epoch")
    if steps_per_epoch is not None:
        steps_per_epoch = check_int(steps_per_epoch, "steps_per_epoch", minimum=1)
    stream = _data.batch_stream(X, y, sample_weight, validation_split, steps_per_epoch)
    if stream is not None and distribute is not None:
        raise TypeError("distribute splits the batches of arrays (or memory-mapped files) between the ranks: give "
                        "X and y as arrays, not batches from a generator")
    callback_list = CallbackList(callbacks)
    if any(getattr(cb, "_stops_on_divergence", False) for cb in callback_list.callbacks):
        on_divergence = "stop"  # TerminateOnNaN: end the run quietly, as Keras's
    if checkpoint is not None:
        checkpoint = os.fspath(checkpoint)
        folder = os.path.dirname(os.path.abspath(checkpoint))
        if not os.path.isdir(folder):
            raise ValueError(f"checkpoint folder {folder} does not exist")
    ck = resume_state = None
    if resume and os.path.exists(checkpoint):
        ck, resume_state = read_checkpoint(model, checkpoint)
    scaler = ck.scaler if ck is not None and ck.scaler is not None else model.scaler
    if stream is None:
        if y is None:
            raise TypeError("fit needs the targets y (or, for data produced on the fly, X as a generator or iterable of "
                            "(x, y) batches)")
        train, val = _data.prepare_fit_data(model, X, y, sample_weight, class_weight, validation_data,
                                            validation_split, scaler)
        rows = n = train[0].shape[0]
        check_batch_rows(model, [min(batch_size, rows), rows - (-(-rows // batch_size) - 1) * batch_size],
                         f"with batch_size={batch_size}, {rows} training rows make a batch" if rows > 1 else
                         "the training data is one row: a batch", None if rows > 1 else "train on at least 2 rows")
        model._warn_about_scale(train[0])
        model._note_inputs(train[0])  # the range predict and evaluate compare their inputs with
        iterations = -(-n // batch_size)
        params = {"epochs": epochs, "batch_size": batch_size, "samples": n, "iterations": iterations}
    else:
        train, val = None, _data.prepare_validation(model, validation_data, scaler)
        if isinstance(class_weight, str):
            raise ValueError("class_weight='balanced' counts the classes of all the training data: with batches from "
                             "a generator give a dict {class: weight}")
        if class_weight is not None:  # checked now, against the classes, before anything trains
            _data.class_weights(model, class_weight, np.zeros(1, np.int32), None)
        iterations = steps_per_epoch
        params = {"epochs": epochs, "steps": steps_per_epoch}
    metrics = model._metric_names(val is not None, stream is None)
    model.stop_training = False
    callback_list.on_train_begin(model, {"metrics": metrics})  # may refuse the run: nothing changed yet

    if ck is not None:  # every input is valid: now take over the checkpoint's state
        apply_checkpoint(model, ck)
    if distribute is not None:  # the ranks agree on the run's length and start from rank 0's state
        samples, iterations = distribute._begin_fit(model, n, batch_size)
        params.update(samples=samples, iterations=iterations)
    history = History({**params, "n_threads": nt})
    first_epoch = initial_epoch
    if initial_epoch:  # Keras's numbering: this run's epochs are initial_epoch .. epochs - 1
        model.epochs_trained = initial_epoch
    if resume_state is not None:
        first_epoch = min(resume_state["epochs_done"], epochs)
        for i, record in enumerate(resume_state["records"][:first_epoch]):
            history._append(model.epochs_trained - first_epoch + i, record)
    model.history = history
    val_block = min(val[0].shape[0], inference_block(model)) if val is not None else 1
    # the training data's compiled metrics beyond accuracy come from a forward pass over it at each epoch's end
    score_block = min(n, inference_block(model)) if model._extra_metrics and stream is None else 1
    block = training_block(model, min(batch_size, n)) if stream is None else None
    lease = _Lease(model, max(1 if stream is not None else block or min(batch_size, n), val_block, score_block))
    sigint = threading.current_thread() is threading.main_thread() and _kernels.install_sigint() == 0
    try:
        with blas_single_thread():
            for e in range(first_epoch, epochs):
                epoch = model.epochs_trained
                callback_list.on_epoch_begin(model, epoch, {})
                engine = lease.grow(0)  # a callback may have changed a layer's setting: compute with it from now on
                start = time.perf_counter()
                progress = EpochProgress(e + 1, epochs, iterations, verbose)
                lr = model.optimizer.current_lr(int(model._step[0]))
                if stream is None:
                    totals, diverged = train_epoch(model, engine, train, batch_size, shuffle, nt, progress,
                                                   callback_list, distribute, iterations, block)
                    ran_out = False
                else:
                    totals, diverged, ran_out = train_stream_epoch(model, lease, stream, steps_per_epoch,
                                                                   class_weight, nt, progress, callback_list)
                if diverged is not None:
                    _diverged(model, diverged, e, iterations, lr, progress, start, on_divergence)
                    break
                seen = int(totals[3])  # n, unless a batch hook stopped training within the epoch
                if seen == 0:
                    progress.close(time.perf_counter() - start, {}, note="no data")
                    _ran_out(steps_per_epoch, e, epochs)
                    break
                record = {"loss": float(totals[0] + totals[1]) / seen}
                if model._records_accuracy():
                    record["accuracy"] = float(totals[2]) / seen
                engine = lease.grow(max(val_block, score_block))
                record.update(model._epoch_metrics(engine, train, nt, score_block))
                if val is not None:
                    if distribute is None:
                        scores = model._evaluate_prepared(engine, *val, nt, val_block)
                    else:  # the loss over every rank's part; other metrics from all the (same) rows
                        scores = model._scores(*distribute._validation_sums(model, engine, val, nt, val_block))
                        scores.update(model._epoch_metrics(engine, val, nt, val_block))
                    record.update({f"val_{k}": v for k, v in scores.items()})
                record["lr"] = lr
                record["iterations"] = -(-seen // batch_size) if stream is None else int(totals[4])
                record["seconds"] = time.perf_counter() - start
                model.epochs_trained += 1
                history._append(epoch, record)
                if checkpoint is not None and (distribute is None or distribute.rank == 0):
                    from ..saving.format import save

                    save(model, checkpoint, fit_state={"epochs_done": e + 1, "epochs": epochs,
                                                      "records": _records(history)})
                progress.close(record["seconds"], {k: record[k] for k in metrics})
                callback_list.on_epoch_end(model, epoch, dict(record))
                if ran_out and steps_per_epoch is not None:  # within the epoch: it is recorded, short
                    _ran_out(steps_per_epoch, e + 1, epochs, record["iterations"])
                    break
                if ran_out and e + 1 < epochs:  # an iterator that cannot start again
                    _ran_out(steps_per_epoch, e + 1, epochs)
                    break
                if model.stop_training:
                    break
    finally:
        lease.close()
        if sigint and _kernels.restore_sigint():
            os.kill(os.getpid(), signal.SIGINT)
    callback_list.on_train_end(model, {"history": history})
    return history


def _ran_out(steps_per_epoch, e, epochs, short=None):
    """Keras's warning when the batches of a stream end before the run does (``short``: the batches of epoch
    ``e``, when they were fewer than ``steps_per_epoch``)."""
    need = f"{steps_per_epoch} batches an epoch, {epochs} epochs" if steps_per_epoch else f"{epochs} epochs"
    when = (f"in epoch {e} of {epochs} ({short} of its {steps_per_epoch} batches)" if short is not None else
            f"after {e} of {epochs} epochs")
    warn_user(f"the input ran out of data {when}; training stopped. Give enough batches for {need} (a generator "
              "that loops forever, with steps_per_epoch)")


def _sigint_between_batches():
    """Ctrl-C between two batches: hand it to Python's handler, then listen again."""
    if _kernels.restore_sigint():
        os.kill(os.getpid(), signal.SIGINT)
    _kernels.install_sigint()


def train_stream_epoch(model, lease, stream, steps, class_weight, nt, progress, callbacks):
    """One epoch over batches ``(x, y)`` or ``(x, y, sample_weight)`` drawn from ``stream`` (``steps`` of them,
    or until it ends): each checked, then trained as ``train_on_batch`` trains one. Returns the epoch's totals
    (with the batches' count last), ``(batch, snapshot)`` if a batch diverged, else None, and whether the stream
    ended."""
    snapshot = model._snapshot()
    totals = np.zeros(5)
    hooks = callbacks.has_batch_hooks
    for b, batch in enumerate(stream.epoch(steps)):
        X, labels, targets, weights = _data.stream_batch(model, batch, class_weight, b)
        n = X.shape[0]
        check_batch_rows(model, [n], f"batch {b} of the epoch has 1 row: a batch")
        if b == 0:
            model._warn_about_scale(X)
        model._note_inputs(X)
        block = training_block(model, n)
        engine = lease.grow(block or n)
        stopping = model.stop_training
        if hooks:
            callbacks.on_train_batch_begin(model, b, {"batch": b, "size": n})
        sums = np.zeros(4)
        status, _ = train_batch(model, engine, (X, labels, targets, weights), n, model._hyper(), nt, sums, block)
        totals[:4] += sums
        totals[4] += 1
        progress.update(1, int(totals[3]), float(totals[0] + totals[1]) / max(totals[3], 1))
        if status == 1:
            return totals, (b, snapshot), False
        if status == 2:
            _sigint_between_batches()
        if hooks:
            logs = {"batch": b, "size": n, "loss": float(sums[0] + sums[1]) / n}
            if model._records_accuracy():
                logs["accuracy"] = float(sums[2]) / n
            callbacks.on_train_batch_end(model, b, logs)
            if model.stop_training and not stopping:
                return totals, None, False
    return totals, None, stream.ended


def train_epoch(model, engine, data, batch_size, shuffle, nt, progress, callbacks=None, distribute=None,
                iterations=None, block=None):
    """One epoch of compiled batches, returning to Python about every ``REPORT_SECONDS`` for progress output
    and Ctrl-C, and at every batch when ``callbacks`` has batch hooks. Returns the epoch's totals and, if a
    batch diverged, ``(batch, snapshot)``, else None. With ``distribute``, its ranks share each batch (and
    ``iterations`` is theirs); with ``block``, each batch's gradient is summed from blocks of that many rows."""
    X, labels, targets, weights = data
    n = X.shape[0]
    if distribute is None:
        iterations = -(-n // batch_size)
        perm = model._rng.permutation(n) if shuffle else np.arange(n, dtype=np.int64)
        run = engine.train
        if block is not None:  # batches larger than memory allows in one piece

            def run(X, perm, labels, targets, weights, batch_size, b, end, hyper, step, nt, sums):
                return train_parts(model, engine, (X, labels, targets, weights), perm, batch_size, b, end, hyper,
                                   nt, sums, block)
        elif isinstance(X, _data.Rows):  # a chunk of batches at a time, converted as gathered
            per_chunk = max(1, X.chunk_rows // batch_size)

            def run(X, perm, labels, targets, weights, batch_size, b, end, hyper, step, nt, sums):
                end = min(end, b + per_chunk)
                part = _data.batch_part((X, labels, targets, weights), perm[b * batch_size:end * batch_size])
                status, stop = engine.train(*part, batch_size, 0, end - b, hyper, step, nt, sums)
                return status, (end if status == 0 else b + stop)
    else:
        perm = distribute._permutation(model, n, shuffle)

        def run(X, perm, labels, targets, weights, batch_size, b, end, hyper, step, nt, sums):
            return distribute._train_batches(model, engine, (X, labels, targets, weights), perm, batch_size, b,
                                             end, hyper, nt, sums, block)
    snapshot = model._snapshot()
    hyper = model._hyper()
    totals = np.zeros(4)
    hooks = callbacks is not None and callbacks.has_batch_hooks
    b, chunk = 0, 1
    while b < iterations:
        end = min(iterations, b + chunk)
        sums = totals
        if hooks:  # one batch, its sums apart (added to the epoch's below: the same sums in the same order)
            end, sums, stopping = b + 1, np.zeros(4), model.stop_training
            callbacks.on_train_batch_begin(model, b, {"batch": b, "size": min(batch_size, n - b * batch_size)})
            hyper = model._hyper()  # a hook may have changed the learning rate
        t0 = time.perf_counter()
        status, stop = run(X, perm, labels, targets, weights, batch_size, b, end, hyper, model._step, nt, sums)
        dt = time.perf_counter() - t0
        if hooks:
            totals += sums
        progress.update(stop - b, int(totals[3]), float(totals[0] + totals[1]) / max(totals[3], 1))
        if status == 1:
            return totals, (stop, snapshot)
        if status == 2:  # Ctrl-C between two batches: hand it to Python's handler
            _sigint_between_batches()
        if hooks and stop > b:
            logs = {"batch": b, "size": int(sums[3]), "loss": float(sums[0] + sums[1]) / sums[3]}
            if model._records_accuracy():
                logs["accuracy"] = float(sums[2]) / sums[3]
            callbacks.on_train_batch_end(model, b, logs)
            if model.stop_training and not stopping:  # a batch hook ends training after this batch
                return totals, None
        chunk = max(1, min(4096, int(REPORT_SECONDS * max(stop - b, 1) / max(dt, 1e-6))))
        b = stop
    return totals, None


def _diverged(model, diverged, e, iterations, lr, progress, start, on_divergence):
    """The divergence policy: restore the epoch's starting state, then raise, warn or (TerminateOnNaN) stop."""
    stop, snapshot = diverged
    model._restore(snapshot)
    where = f"iteration {stop + 1}" + (f" of {iterations}" if iterations else "")
    progress.close(time.perf_counter() - start, {}, note=f"diverged at {where}")
    message = (f"training diverged at epoch {e + 1}, {where} (after {stop} complete updates in that epoch): "
               f"the loss or a weight became NaN or infinite; the weights were restored to the start of that "
               f"epoch. Try a smaller learning rate (lr={lr:g}) or scale the inputs.")
    if on_divergence == "stop":
        print(f"Batch {stop}: Invalid loss, terminating training")
    elif on_divergence == "warn":
        warn_user(message, RuntimeWarning)
    else:
        raise FloatingPointError(message)


def read_checkpoint(model, path):
    """The model a checkpointing ``fit`` saved in ``path`` and its fit state, checked against this model."""
    from ..saving.format import load_model

    ck = load_model(path)
    state = ck._fit_state
    if state is None:
        raise ValueError(f"{path} is a model file without fit progress: it cannot be resumed from")
    mine = [repr(layer) for layer in model.layers]
    theirs = [repr(layer) for layer in ck.layers]
    if mine != theirs or ck.dtype != model.dtype:
        raise ValueError(f"{path} holds a different model ({ck!r}) than this one ({model!r})")
    return ck, state


def apply_checkpoint(model, ck):
    """Take over a checkpoint's weights, optimizer state, random state, epoch count, scaler and which layers
    are frozen."""
    if ck._state.shape != model._state.shape or type(ck.optimizer) is not type(model.optimizer):
        raise ValueError(f"the checkpoint was trained with {ck.optimizer!r}, this model is compiled with "
                         f"{model.optimizer!r}: compile it with the same optimizer to resume")
    for layer, saved in zip(model.layers, ck.layers):
        if layer.trainable != saved.trainable:
            layer.trainable = saved.trainable
    model._params[...] = ck._params
    model._state[...] = ck._state
    model._step[...] = ck._step
    model._rng.bit_generator.state = ck._rng.bit_generator.state
    model.epochs_trained = ck.epochs_trained
    if ck.scaler is not None:
        model.scaler = ck.scaler
