"""The checks of what ``fit``, ``train_on_batch``, ``evaluate`` and ``predict`` are given: inputs (their shape,
dtype and scaling), targets (labels or rows), sample and class weights, validation data. Each function takes
the model first and raises a ``ValueError``/``TypeError`` naming the argument before anything is computed.
"""
import math

import numpy as np

from .. import _kernels
from .._core.validation import (check_class_labels, check_float, check_int, check_probability_rows, check_sample_weight,
                          check_targets)
from ..losses import CrossEntropy

# Losses that compare the activated output with target rows (regression).
_ON_OUTPUT = (_kernels.LOSS_MSE, _kernels.LOSS_HUBER, _kernels.LOSS_MAE)

__all__ = ["flat_inputs", "prepare_targets", "prepare_weights", "prepare_fit_data", "prepare_validation", "batch_data",
           "batch_stream", "stream_batch", "BatchStream", "check_batch_rows", "tensor_to_array"]


def prepare_targets(model, y, name, n_samples):
    """Validated targets as ``(labels, targets)``, exactly one of them not None."""
    if model._output_steps > 1:
        return _step_targets(model, y, name, n_samples)
    K = model.n_outputs
    if isinstance(model.loss, CrossEntropy):
        arr = np.asarray(y) if not isinstance(y, (str, bytes)) else y
        if isinstance(arr, np.ndarray) and arr.ndim == 2 and arr.shape[1] == K and K > 1:
            return None, check_probability_rows(arr, name, n_samples, K, model.dtype)
        if isinstance(arr, np.ndarray) and arr.ndim == 2 and arr.shape[1] > 1 and K > 1:
            raise ValueError(f"{name} has shape {arr.shape}: cross-entropy takes class labels (n_samples,) or one-hot "
                             f"(probability) rows (n_samples, {K}) for the output layer's {K} classes")
        return check_class_labels(y, name, n_samples, K), None
    if model.loss.name == "binary_cross_entropy":
        return None, check_targets(y, name, n_samples, K, model.dtype, low=0.0, high=1.0)
    return None, check_targets(y, name, n_samples, K, model.dtype)


def _step_targets(model, y, name, n_samples):
    """Targets of an output with a value (or row) a step: labels ``(n_samples, steps)``, probability rows or
    regression targets ``(n_samples, steps, K)`` (``(n_samples, steps)`` when ``K == 1``), flattened to what the
    engine reads (labels or rows of step ``t`` of sample ``i`` at ``i * steps + t``)."""
    S = model._output_steps
    K = model.n_outputs // S
    arr = np.asarray(y) if not isinstance(y, (str, bytes)) else None
    if arr is None or arr.ndim < 2 or arr.shape[1] != S:
        got = "a string" if arr is None else f"shape {arr.shape}"
        raise ValueError(f"{name} must hold a target for each of the output's {S} steps, (n_samples, {S})"
                         f"{f' or (n_samples, {S}, {K})' if K > 1 or not isinstance(model.loss, CrossEntropy) else ''}"
                         f", got {got}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} samples but X has {n_samples}")
    if isinstance(model.loss, CrossEntropy):
        if arr.ndim == 3 and arr.shape[2] == K and K > 1:
            return None, check_probability_rows(arr.reshape(-1, K), name, n_samples * S, K, model.dtype).reshape(
                n_samples, S * K)
        if arr.ndim != 2:
            raise ValueError(f"{name} must hold a class label a step, shape (n_samples, {S}), got shape {arr.shape}")
        return check_class_labels(arr.reshape(-1), name, n_samples * S, K), None
    if arr.ndim == 2 and K == 1:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] != K:
        raise ValueError(f"{name} must hold {K} value{'s' if K > 1 else ''} a step, shape (n_samples, {S}, {K}), "
                         f"got shape {arr.shape}")
    low, high = (0.0, 1.0) if model.loss.name == "binary_cross_entropy" else (None, None)
    flat = arr.reshape(n_samples, S * K)
    if low is None:
        return None, check_targets(flat, name, n_samples, S * K, model.dtype)
    return None, check_targets(flat, name, n_samples, S * K, model.dtype, low=low, high=high)


def flat_inputs(model, X, name):
    """Inputs ``(n_samples, *input_shape)`` (and ``(n_samples, H, W)`` for images of one channel) as flat rows (a
    view when possible); others unchanged, but for a number of dimensions no input shape has, refused with a
    message saying how to pass them."""
    shape = model.input_shape
    if isinstance(X, (str, bytes)) or (len(shape) == 1 and not (isinstance(X, np.ndarray) and X.ndim > 2)):
        return X
    arr = X if isinstance(X, np.ndarray) else np.asarray(X)
    one, rest = _channel_axis(model)
    if arr.ndim >= 2 and (arr.shape[1:] == shape or (one == 1 and arr.shape[1:] == rest)):
        return arr.reshape(arr.shape[0], -1)
    if arr.ndim != 2 or _sequence_model(model):
        raise ValueError(shape_error(model, arr.shape, name))
    return arr


def _channel_axis(model):
    """``(channels, the other sizes)`` of the model's input shape: images of one channel may come without the
    channel axis. Channels come first, or last for a model whose first image layer takes Keras's
    ``data_format="channels_last"``; ``(None, None)`` for inputs that are not images."""
    shape = model.input_shape
    if len(shape) != 3:
        return None, None
    if getattr(model, "_channels_last_input", False):
        return shape[-1], shape[:-1]
    return shape[0], shape[1:]


def _sequence_model(model):
    """Whether the model starts with a recurrent layer, which takes sequences ``(n_samples, steps, features)``
    only: a flat row would hide which values belong to which step."""
    row = model._layout[0]
    return isinstance(row, dict) and row["kind"] in (_kernels.LAYER_RNN, _kernels.LAYER_LSTM, _kernels.LAYER_GRU)


def one_sample_hint(got, n, name):
    """The advice for inputs of shape ``got`` that hold exactly one sample of ``n`` values without its batch axis
    (else an empty string)."""
    if got is None or math.prod(got) != n:
        return ""
    return f": {name} looks like one sample; give it as a batch of one, {name}[None]"


def shape_error(model, got, name):
    """Why inputs of shape ``got`` do not fit, and how to pass them."""
    shape, n = model.input_shape, model.n_features
    takes = ", ".join(map(str, shape))
    one, rest = _channel_axis(model)
    forms = [f"(n_samples, {takes})"] + ([f"(n_samples, {', '.join(map(str, rest))})"] if one == 1 else [])
    forms += [f"(n_samples, {n})"] if len(shape) > 1 and not _sequence_model(model) else []
    message = f"{name} has shape {got}, but the model takes {' or '.join(forms)}"
    if len(got) == 2 and _sequence_model(model):
        free, features = getattr(model, "_steps_free", False), shape[1]
        message = (f"{name} has shape {got}, but the model's first layer, {type(model._engine_layers[0]).__name__}, "
                   f"takes sequences (n_samples, {'steps' if free else shape[0]}, {features})")
        if free and got[1] % features == 0:
            return f"{message}: reshape the rows, {name}.reshape(len({name}), -1, {features})"
        return message + (f": reshape the rows, {name}.reshape(len({name}), {takes})" if got[1] == n else "")
    if len(got) >= 2 and math.prod(got[1:]) == n:
        sample = ", ".join(map(str, got[1:]))
        if len(shape) == 1:
            return (f"{message}: flatten the samples, {name}.reshape(len({name}), -1), or declare the input's "
                    f"shape, Sequential(layers, input_shape=({sample}))")
        last = getattr(model, "_channels_last_input", False)
        if one is not None and one > 1 and not last and tuple(got[1:]) == shape[1:] + shape[:1]:
            return (f"{message}: its channels come last; put them first (as PyTorch), {name}.transpose(0, 3, 1, 2), "
                    "or build the model's image layers with data_format='channels_last'")
        if one is not None and one > 1 and last and tuple(got[1:]) == shape[-1:] + shape[:-1]:
            return f"{message}: its channels come first; put them last (as Keras), {name}.transpose(0, 2, 3, 1)"
        layout = " (channels last, as Keras)" if last else " (channels first, as PyTorch)" if one else ""
        return f"{message}: reshape it to (n_samples, {takes}){layout}, {name}.reshape(len({name}), {takes})"
    if one_sample_hint(got, n, name):
        return f"{message}{one_sample_hint(got, n, name)} (or {name}.reshape(1, {takes}))"
    return message + (f"; its samples hold {math.prod(got[1:])} values, not {n}" if len(got) >= 2 else "")


def prepare_weights(model, sample_weight, class_weight, labels, targets, n, name="sample_weight", where=""):
    """Per-sample weights of the model's dtype from ``sample_weight`` and ``class_weight`` (None if neither)."""
    if sample_weight is None and class_weight is None:
        return None
    weights = np.ones(n, dtype=np.float64)
    if sample_weight is not None:
        weights *= check_sample_weight(sample_weight, name, n)
    if class_weight is not None:
        if model._output_steps > 1:
            raise ValueError("class_weight weighs a sample by its class, but this model's output has a class a step: "
                             "weigh samples with sample_weight")
        weights *= class_weights(model, class_weight, labels, targets)
    if not weights.sum() > 0:
        given = " and ".join(k for k, v in ((name, sample_weight), ("class_weight", class_weight))
                             if v is not None)
        raise ValueError(f"{given} give every sample weight 0{where}: nothing would be learned")
    return weights.astype(model.dtype)


def class_weights(model, class_weight, labels, targets):
    """Each sample's class weight: a dict ``{class: weight}`` (missing classes weigh 1) or ``'balanced'``
    (scikit-learn's ``n_samples / (n_classes * count(class))``)."""
    if not model.loss.has_accuracy or (labels is None and model.n_outputs > 1 and model.loss.name != "cross_entropy"):
        raise ValueError("class_weight needs a classification loss with one class a sample "
                         "('cross_entropy', or 'binary_cross_entropy' with one output)")
    if labels is not None:
        classes = labels.astype(np.int64)
    elif model.n_outputs == 1:
        classes = (targets[:, 0] >= 0.5).astype(np.int64)
    else:
        classes = targets.argmax(axis=1)
    n_classes = max(model.n_outputs, 2)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be a dict or 'balanced', got {class_weight!r}")
        counts = np.bincount(classes, minlength=n_classes).astype(np.float64)
        present = counts > 0
        table = np.ones(n_classes)
        table[present] = classes.shape[0] / (present.sum() * counts[present])
        return table[classes]
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict or 'balanced', got {type(class_weight).__name__}")
    table = np.ones(n_classes)
    for key, value in class_weight.items():
        cls = check_int(key, "class_weight key", minimum=0, maximum=n_classes - 1)
        table[cls] = check_float(value, f"class_weight[{cls}]", low=0.0)
    return table[classes]


def prepare_fit_data(model, X, y, sample_weight, class_weight, validation_data, validation_split, scaler):
    """Validated training and validation data: ``(train, val)``, each ``(X, labels, targets, weights)``
    (``val`` None without validation)."""
    X = model._inputs(X, scaler=scaler, lazy=True)
    labels, targets = prepare_targets(model, y, "y", X.shape[0])
    if sample_weight is not None:
        sample_weight = check_sample_weight(sample_weight, "sample_weight", X.shape[0])
    if validation_data is not None and validation_split:
        raise ValueError("give validation_data or validation_split, not both")
    val = prepare_validation(model, validation_data, scaler)
    if validation_split:
        split = int(X.shape[0] * (1.0 - validation_split))
        if split < 1 or split >= X.shape[0]:
            raise ValueError(f"validation_split={validation_split} leaves {split} of {X.shape[0]} samples for "
                             "training: both parts must be non-empty")
        parts = [(a[:split], a[split:]) if a is not None else (None, None)
                 for a in (X, labels, targets, sample_weight)]
        Xv, lv, tv, sv = (p[1] for p in parts)
        X, labels, targets, sample_weight = (p[0] for p in parts)
        # as in Keras, class weights weigh the training loss only; sample weights go with their samples
        val = (Xv, lv, tv, prepare_weights(model, sv, None, lv, tv, Xv.shape[0], where=" in the validation part"))
    weights = prepare_weights(model, sample_weight, class_weight, labels, targets, X.shape[0],
                                    where=" in the training part" if validation_split else "")
    return (X, labels, targets, weights), val


def prepare_validation(model, validation_data, scaler):
    """Validated ``validation_data`` as ``(X, labels, targets, weights)``, or None."""
    if validation_data is None:
        return None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError("validation_data must be a tuple (X_val, y_val) or (X_val, y_val, sample_weight)")
    Xv = model._inputs(validation_data[0], "validation_data[0]", scaler=scaler, lazy=True)
    lv, tv = prepare_targets(model, validation_data[1], "validation_data[1]", Xv.shape[0])
    wv = None
    if len(validation_data) == 3 and validation_data[2] is not None:
        wv = prepare_weights(model, validation_data[2], None, lv, tv, Xv.shape[0], "validation_data[2]")
    return Xv, lv, tv, wv


class BatchStream:
    """Batches for ``fit`` from a Python generator, an iterator or any iterable of ``(x, y)`` (a PyTorch
    ``DataLoader``, say), as Keras takes them: with ``steps_per_epoch``, each epoch draws that many batches and the
    next epoch goes on where it stopped; without, an epoch runs to the end of the iterable, and the next epoch
    iterates it again (an iterator or generator, which cannot start again, then has nothing left)."""

    def __init__(self, source, steps_per_epoch):
        self.source = source
        self.steps_per_epoch = steps_per_epoch
        self.iterator = iter(source) if steps_per_epoch is not None else None
        self.ended = False

    def epoch(self, steps):
        """The batches of one epoch; ``ended`` tells afterwards whether the source ran out."""
        self.ended = False
        iterator = self.iterator if self.iterator is not None else iter(self.source)
        b = 0
        while steps is None or b < steps:
            try:
                batch = next(iterator)
            except StopIteration:
                self.ended = steps is not None or iterator is self.source
                return
            yield batch
            b += 1


def batch_stream(X, y, sample_weight, validation_split, steps_per_epoch):
    """A :class:`BatchStream` when ``X`` is a generator, an iterator or an iterable of batches other than an array
    (and then ``y`` and ``sample_weight`` must be None), else None (``steps_per_epoch`` is then refused)."""
    if isinstance(X, (np.ndarray, list, tuple, str, bytes, dict)) or hasattr(X, "__array__") \
            or hasattr(X, "shape") or not (hasattr(X, "__next__") or hasattr(X, "__iter__")):
        if steps_per_epoch is not None:
            raise ValueError("steps_per_epoch is for batches from a generator or an iterable of (x, y) batches; with "
                             "arrays, an epoch is ceil(n_samples / batch_size) batches")
        return None
    if y is not None:
        raise ValueError(f"X is {type(X).__name__}, an iterable of batches: it must give (x, y) pairs, and y must be "
                         "None")
    if sample_weight is not None:
        raise ValueError("sample_weight goes with the batches of a generator: give (x, y, sample_weight) batches")
    if validation_split:
        raise ValueError("validation_split needs arrays; with batches from a generator, give validation_data")
    return BatchStream(X, steps_per_epoch)


def stream_batch(model, batch, class_weight, b):
    """Batch ``b`` of a stream, ``(x, y)`` or ``(x, y, sample_weight)``, checked as ``train_on_batch`` checks
    one."""
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        raise ValueError(f"batch {b} of the epoch is {type(batch).__name__}: a generator for fit must give "
                         "(x, y) or (x, y, sample_weight) tuples")
    x, y = (tensor_to_array(v) for v in batch[:2])
    weights = tensor_to_array(batch[2]) if len(batch) == 3 else None
    return batch_data(model, x, y, weights, class_weight)


def tensor_to_array(value):
    """``value``, or for a PyTorch tensor its values as a NumPy array (detached and moved to the CPU first)."""
    if value is not None and not isinstance(value, np.ndarray) and hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    return value


def batch_data(model, x, y, sample_weight, class_weight):
    """Validated ``(X, labels, targets, weights)`` of one batch; arrays already of the model's types pass
    with a finiteness check and no copy."""
    K = model.n_outputs
    X = x if model._ready(x) else model._inputs(x)
    n = X.shape[0]
    labels = targets = None
    if type(y) is np.ndarray and y.shape[0] == n:
        if model.loss.code == _kernels.LOSS_CROSS_ENTROPY and y.ndim == 1 and y.dtype.kind in "iu" \
                and 0 <= y.min() and y.max() < K:
            labels = y if y.dtype == np.int32 else y.astype(np.int32)
        elif model.loss.code in _ON_OUTPUT and y.dtype == model.dtype and y.ndim == 2 and y.shape[1] == K \
                and y.flags.c_contiguous and _kernels.all_finite(y):
            targets = y
    if labels is None and targets is None:
        labels, targets = prepare_targets(model, y, "y", n)
    weights = prepare_weights(model, sample_weight, class_weight, labels, targets, n)
    return X, labels, targets, weights


def check_batch_rows(model, sizes, what="a batch", advice=None):
    """Refuse training batches of one row when a BatchNorm layer needs the batch's statistics (PyTorch refuses
    them too: a variance of one value is 0); ``advice`` (default: choosing another batch_size) ends the message."""
    advice = advice or "choose a batch_size that leaves no batch of one row"
    if 1 not in sizes:
        return
    bn = next((layer for layer in model._engine_layers if hasattr(layer, "running_var")), None)
    if bn is not None:
        raise ValueError(f"{what} of 1 row: {bn!r} normalises by the batch's statistics while training, which "
                         f"needs at least 2 rows a batch (PyTorch refuses it too); {advice}")


# Rows converted at a time from a lazy source: about this many bytes of the model's dtype.
CHUNK_BYTES = 32 << 20


class Rows:
    """Inputs converted a block of rows at a time, never whole: integer arrays (uint8 pixels) and memory-mapped
    files (``np.memmap``) whose values need a conversion or the model's scaler. ``take(rows)`` gives the rows
    (a slice or an index array) in the model's dtype, scaled: the same values, bit for bit, as converting the
    whole array first; ``rows[a:b]`` is another lazy source over those rows."""

    def __init__(self, source, dtype, scaler, name):
        self.source, self.dtype, self.scaler, self.name = source, np.dtype(dtype), scaler, name
        self.shape = source.shape
        self.ndim = 2
        self.chunk_rows = max(1, CHUNK_BYTES // (self.dtype.itemsize * max(1, source.shape[1])))

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, index):
        if not isinstance(index, slice):
            raise TypeError("lazy rows are sliced, or read with take(rows)")
        return Rows(self.source[index], self.dtype, self.scaler, self.name)

    def take(self, rows):
        block = self.source[rows]
        if self.scaler is not None:
            return self.scaler.transform(block, dtype=self.dtype)
        return np.ascontiguousarray(block, dtype=self.dtype)

    def extremes(self, step=1):
        """Each feature's largest magnitude after conversion (float64), from the smallest and largest raw values
        of every ``step``-th row, read a block at a time, the two converted (the scalers are monotone in each
        feature)."""
        low = high = None
        for lo in range(0, self.shape[0], self.chunk_rows * step):
            block = self.source[lo:lo + self.chunk_rows * step:step]
            low = block.min(axis=0) if low is None else np.minimum(low, block.min(axis=0))
            high = block.max(axis=0) if high is None else np.maximum(high, block.max(axis=0))
        ends = np.stack([low, high])
        ends = self.scaler.transform(ends, dtype=self.dtype) if self.scaler is not None else ends.astype(self.dtype)
        return np.abs(ends).max(axis=0).astype(np.float64)

    def check_finite(self):
        """Refuse NaN or infinity (read once, a block at a time), before anything trains."""
        if self.source.dtype.kind not in "f":
            return self  # integers are always finite
        for lo in range(0, self.shape[0], self.chunk_rows):
            block = self.source[lo:lo + self.chunk_rows]
            if not _kernels.all_finite(np.ascontiguousarray(block)):
                raise ValueError(f"{self.name} contains NaN or infinity")
        return self


def lazy_source(model, X, scaler):
    """Whether ``X`` is read a block at a time (see :class:`Rows`): integer arrays, and memory-mapped files that
    need a conversion or a scaler. Not for an Embedding's token ids, which are integers by nature."""
    if not isinstance(X, np.ndarray) or X.ndim < 2 or X.dtype.kind not in "iuf":
        return False
    first = model._layout[0]
    if isinstance(first, dict) and first["kind"] == _kernels.LAYER_EMBEDDING:
        return False
    if X.dtype.kind in "iu":
        return True
    return isinstance(X, np.memmap) and (scaler is not None or X.dtype != model.dtype)


def lazy_inputs(model, X, name, scaler):
    """``X`` as :class:`Rows` of ``(n_samples, n_features)``, checked as ``Sequential._inputs`` checks arrays."""
    X = flat_inputs(model, X, name)
    if X.ndim != 2:
        raise ValueError(shape_error(model, X.shape, name))
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if X.shape[1] != model.n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but the model expects {model.n_features}")
    if scaler is not None and getattr(scaler, "n_features_in_", X.shape[1]) != X.shape[1]:
        raise ValueError(f"{name} has {X.shape[1]} features, but the model's scaler was fitted on "
                         f"{scaler.n_features_in_}")
    return Rows(X, model.dtype, scaler, name).check_finite()


def batch_part(data, rows):
    """``(X, rows, labels, targets, weights)`` for an engine call on the rows ``rows`` of ``data``: as they are
    for arrays; for :class:`Rows`, those rows converted, in order, with their targets."""
    X, labels, targets, weights = data
    if not isinstance(X, Rows):
        return X, rows, labels, targets, weights
    pick = (lambda a: None if a is None else np.ascontiguousarray(a[rows]))
    return X.take(rows), np.arange(len(rows), dtype=np.int64), pick(labels), pick(targets), pick(weights)


def row_blocks(X, block):
    """``(first, stop, array)`` of consecutive blocks of ``X``: the whole array once, or for :class:`Rows` chunks
    of a multiple of ``block`` rows, converted."""
    if not isinstance(X, Rows):
        yield 0, X.shape[0], X
        return
    step = max(block, X.chunk_rows // block * block)
    for lo in range(0, X.shape[0], step):
        hi = min(lo + step, X.shape[0])
        yield lo, hi, X.take(slice(lo, hi))
