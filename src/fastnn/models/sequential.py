"""The model: a stack of layers (dense, convolution, pooling) trained by compiled mini-batch gradient descent."""
import copy
import math
import threading

import numpy as np

from .. import _kernels, training
from .._core import threads as _threads
from .._core.registry import register
from .._core.threads import blas_single_thread, resolve_n_threads
from .._core.validation import check_dtype, check_features, check_int, warn_user
from ..nn import Dense, Dropout, Embedding
from ..nn.base import ACTIVATIONS, INITIALIZERS, _Layer, _Weighted, state_sizes
from ..losses import get_loss
from ..metrics import Metric, get_metric
from ..optim import get_optimizer
from ..regularizers import Regularizer
from ..training import data as _data
from ..training import inference
from ..training.blocks import train_batch, training_block
from ..training.engine import EngineLoan, exclusive
from ..nn.reshaping import engine_activations, output_layer
from .container import Container, assign_names, check_names
from .stack import LAYER_NAMES, Stack, check_input_shape, dropout_rates

__all__ = ["Sequential"]

# OpenBLAS computes a product of at most this many multiply-adds on one thread, whatever its thread setting
# (interface/gemm.c: 65536 * GEMM_MULTITHREAD_THRESHOLD); calls whose every product is that small run in the
# calling thread without entering the BLAS limit (which costs far more than such a call).
_SERIAL_PRODUCT = 65536 * 4
# fit warns when the largest per-feature root-mean-square of the inputs is above this (or all below its inverse).
_UNIT_SCALE_LIMIT = 20.0
# predict and evaluate warn when an input feature's magnitude passes this many times the larger of its own largest
# magnitude in fit and the mean of those largest magnitudes (so a feature that was always 0 in fit is not flagged
# for small values); they look at this many rows at least (every row of a smaller input, else evenly spaced rows).
_RANGE_FACTOR = 10.0
_RANGE_ROWS = 256
# fit notes the training inputs' range from all their rows up to twice this many, else from evenly spaced rows.
_PEAK_ROWS = 4096


class _Probe:
    """An output layer as ``Loss.check_output`` sees it, with the activation about to be set."""

    def __init__(self, activation, out_features):
        self.activation, self.out_features = activation, out_features


#: Keras's and scikit-learn's names of accuracy, recorded as "accuracy".
_ACCURACY_NAMES = ("accuracy", "acc", "accuracy_score", "categorical_accuracy", "sparse_categorical_accuracy",
                   "binary_accuracy")


def _check_metrics(metrics, loss, units):
    """The metrics ``compile`` was given, checked against the loss and the output: ``(names, metrics)``, the
    names recorded and the :class:`~fastnn.metrics.Metric` of each beyond accuracy (which the engine counts)."""
    if metrics is None:
        return [], []
    if isinstance(metrics, (str, Metric)):
        metrics = [metrics]
    try:
        given = list(metrics)
    except TypeError:
        raise TypeError(f"metrics must be a list of names, got {type(metrics).__name__}") from None
    names, extra = [], []
    for item in given:
        if isinstance(item, str) and item.lower() in _ACCURACY_NAMES:
            if not loss.has_accuracy:
                raise ValueError(f"metric 'accuracy' needs a classification loss, not {loss.name or type(loss).__name__!r}")
            name = "accuracy"
        else:
            metric = get_metric(item)
            inference.check_metric(metric, loss, units)
            extra.append(metric)
            name = metric.name
        if name in names:
            raise ValueError(f"metrics holds {name!r} twice (give a TopKAccuracy another name=)")
        names.append(name)
    return names, extra


@register
class Sequential(Container):
    """A network of layers applied in order: a multilayer perceptron of Dense layers, a convolutional network
    (Conv2D, BatchNorm2d, MaxPool2D/AvgPool2D/GlobalAvgPool2D, Flatten, then Dense layers) or a recurrent one
    (Embedding, SimpleRNN/LSTM/GRU, then Dense layers, on the last step or on every step).

    Parameters
    ----------
    *layers : layers, or one list of layers
        ``Sequential([a, b])`` (Keras) or ``Sequential(a, b)`` (PyTorch). Each layer must take the previous
        one's output: shapes are computed here, and a mismatch raises a ``ValueError`` naming both layers.
    input_shape : tuple of int, optional
        The shape of one input sample (Keras's ``Input(shape)``), e.g. ``(1, 28, 28)`` for one-channel images
        (channels first; ``(28, 28, 1)`` when the image layers take ``data_format="channels_last"``, as Keras):
        a model of images may then start with ``Conv2D``. Checked against the first layer (a
        ``Dense`` layer's ``in_features`` must be its size). By default the first layer decides it: a
        ``Dense``'s ``(in_features,)``, or a ``Reshape((channels, height, width))`` (the older way of starting a
        model of images, which still works).
    seed : int or None, default=None
        Seeds ``numpy.random.default_rng``, which draws the initial weights and then every shuffle of ``fit``:
        the same seed and the same calls give the same model, bit for bit, whatever ``n_threads`` is.
    dtype : {'float32', 'float64'}, default='float32'
        Floating-point type of the parameters and of all computation. Inputs are converted to it.

    Attributes
    ----------
    layers : list of layers
        The layers; ``layers[i].weight`` and ``.bias`` (Dense, Conv2D) are writable views into :attr:`parameters`.
    input_shape : tuple of int
        The shape of one input sample: as given, or ``(n_features,)``, or ``(C, H, W)`` after a leading
        ``Reshape``. Inputs are taken shaped ``(n_samples, *input_shape)`` or flat ``(n_samples, n_features)``,
        and images of one channel ``(1, H, W)`` also as ``(n_samples, H, W)``.
    parameters : ndarray of shape (n_params,)
        All parameters in one flat buffer, ``[W_0, b_0, W_1, b_1, ...]``, each weight matrix in C order.
    history : History or None
        The record of the last ``fit`` (kept, epochs so far, if it was interrupted).
    scaler : StandardScaler, MinMaxScaler, LogScaler or None
        A fitted scaler that is part of the model: when set, ``fit``, ``predict``, ``evaluate`` and
        ``loss_and_gradient`` transform their inputs with it first, and :meth:`save` stores it.
    epochs_trained : int
        Epochs completed over the model's life (saved with it; ``fit`` continues the count).
    input_peak_ : ndarray of shape (n_features,) or None
        The largest absolute value of each input feature among the inputs the model was trained on (beyond
        8,192 rows, among about 4,096 evenly spaced ones), after :attr:`scaler` (widened by every ``fit``, and
        by ``train_on_batch`` once set; saved with the model), or None before the first ``fit``. ``predict``
        and ``evaluate`` warn (once per model) when inputs lie far beyond it, such as raw 0-255 pixels given to a model trained on pixels divided by 255.
    classes : list or None
        The original class labels, by output unit, when the model was trained on labels that were mapped to
        ``0 .. n_classes - 1`` (the command line does this); saved with the model.
    metadata : dict
        JSON-serialisable notes saved with the model (the command line records how the data was split).

    Examples
    --------
    >>> import numpy as np, fastnn
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4)).astype(np.float32)
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    >>> model = fastnn.Sequential([fastnn.Dense(4, 16, activation="relu"),
    ...                            fastnn.Dense(16, 2, activation="softmax")], seed=0)
    >>> model.compile(loss="cross_entropy", optimizer=fastnn.SGD(lr=0.1, momentum=0.9))  # returns the model
    Sequential([Dense(4, 16, activation='relu'), Dense(16, 2, activation='softmax')], dtype='float32')
    >>> history = model.fit(X, y, epochs=20, batch_size=20, verbose=0)
    >>> model.evaluate(X, y)["accuracy"] > 0.9
    True

    A convolutional network declares its input's shape and takes images ``(n, 28, 28)`` as one channel:

    >>> cnn = fastnn.Sequential([fastnn.Conv2D(1, 8, 3, activation="relu"), fastnn.MaxPool2D(2), fastnn.Flatten(),
    ...                          fastnn.Dense(8 * 13 * 13, 10, "softmax")], input_shape=(1, 28, 28), seed=0)
    >>> cnn.predict(np.zeros((2, 28, 28))).shape
    (2, 10)
    """

    @staticmethod
    def _check_layers(layers, input_shape=None):
        """``layers`` checked and laid out for the engine (a ``Stack``), without building a model (the file
        reader checks a file's architecture before it allocates anything)."""
        return Stack(layers, input_shape)

    def __init__(self, *layers, seed=None, dtype="float32", input_shape=None):
        if len(layers) >= 1 and not isinstance(layers[0], _Layer):
            # Keras style: one list of layers, optionally followed by seed and dtype given by position
            if len(layers) > 3:
                raise TypeError("Sequential takes a list of layers, or layers as separate arguments")
            extra = layers[1:]
            layers = layers[0]
            if extra:
                seed = extra[0]
            if len(extra) > 1:
                dtype = extra[1]
        elif any(not isinstance(layer, _Layer) for layer in layers):
            bad = next(i for i, layer in enumerate(layers) if not isinstance(layer, _Layer))
            raise TypeError(f"layers[{bad}] must be {LAYER_NAMES}, got {type(layers[bad]).__name__} "
                            "(pass seed and dtype by keyword: Sequential(layer, layer, seed=0))")
        try:
            layers = list(layers)
        except TypeError:
            raise TypeError(f"layers must be a list of Dense layers, got {type(layers).__name__}") from None
        declared = None if input_shape is None else check_input_shape(input_shape)
        stack = Stack(layers, declared) if layers else None  # no layers yet: Keras's Sequential() then add()
        if stack is not None:
            check_names(layers)
        if seed is not None:
            seed = check_int(seed, "seed", minimum=0)
        self.dtype = check_dtype(dtype)
        self.seed = seed
        self.layers = []
        self._declared_shape = self.input_shape = declared
        # the key of the dropout masks: the seed, or fresh entropy for an unseeded model (saved with the model)
        self._dropout_seed = seed if seed is not None else int(np.random.SeedSequence().entropy % (1 << 63))
        self._step = np.zeros(1, dtype=np.int64)          # updates applied: the schedule's and Adam's step
        self._rng = np.random.default_rng(seed)
        self.loss = None
        self.metrics = []
        self._extra_metrics = []  # the compiled metrics beyond accuracy (fastnn.metrics.Metric)
        self.optimizer = None
        self.regularizer = None
        self.history = None
        self._scaler = None
        self.classes = None
        self.metadata = {}
        self.epochs_trained = 0
        self._fit_state = None
        self._scale_warned = False
        self._input_peak = None  # per feature: the largest magnitude of the training inputs (see input_peak_)
        self._range_check = None  # (the smallest limit, the per-feature limits): what predict compares with
        self._range_warned = False
        self._ties = None  # per Dense layer: the layer whose weights it shares, transposed, or -1 (Autoencoder)
        self._train_lock = threading.Lock()
        self._settings_version = 0  # counts changes of the layers' settings: a kept engine of an older one is stale
        self._forget_engine()
        if stack is not None:
            self._build(layers, stack)

    def _build(self, layers, stack):
        """Lay out ``layers`` (checked as ``stack``) in the model: the layers it held already keep their parameters,
        optimizer state and non-trained state (they come first in the flat buffers); the new ones are initialised
        from the model's generator, as they would have been had they been given to the constructor."""
        built = self._built
        new_weighted = stack.weighted[len(self._dense) if built else 0:]
        n_old, nb_old = (self._params.size, self._buffers.size) if built else (0, 0)
        self.layers = layers
        self._dense = stack.weighted        # the layers with parameters (Dense, Conv2D)
        self._engine_layers = stack.engine  # the engine's layer table: its layers, their rows, dropout on inputs
        self._layout = stack.layout
        self._dropout = stack.rates
        self._shapes = stack.shapes
        self._ends = stack.ends
        self._owners = stack.owners  # the layer whose place each engine row takes
        # channels-last images: which layers' outputs the engine holds channels first, where rows permute them, and
        # whether the model's input is such images
        self._transposed, self._permutes = stack.transposed, stack.permutes
        self._channels_last_input = stack.channels_last_input
        self._steps_free = stack.steps_free
        #: The shape of one input sample: ``input_shape`` when given, else ``(n_features,)``, or ``(C, H, W)`` for
        #: a model that starts with ``Reshape((C, H, W))``. Inputs come flat or shaped (see :meth:`fit`).
        self.input_shape = stack.input_shape
        self.widths = stack.widths
        n = sum(layer.n_params for layer in self._dense)
        params = np.zeros(n, dtype=self.dtype)
        state = np.zeros((self._state.shape[0] if built else 1, n), dtype=self.dtype)  # compile sizes its rows
        buffers = np.zeros(sum(state_sizes(self._engine_layers)), dtype=self.dtype)
        if built:  # the layers held already lie first: copy their values over
            params[:n_old], state[:, :n_old], buffers[:nb_old] = self._params, self._state, self._buffers
        self._params, self._state, self._buffers = params, state, buffers
        self._grads = np.zeros(n, dtype=self.dtype)
        self._bind_layers()
        offset = 0
        for layer in self._engine_layers:  # non-trained state: the new layers' start values
            for spec in layer.buffers():
                if offset >= nb_old:
                    getattr(layer, "_" + spec.name)[...] = spec.fill
                offset += math.prod(spec.shape)
        self._initialize(new_weighted)
        assign_names(layers)
        self._settings_version += 1
        self._forget_engine()
        for layer in self.layers:
            layer._adopt(self)

    def add(self, layer):
        """Add ``layer`` on top of the model (Keras's ``model.add``).

        The layers held already keep their weights (and the optimizer's state); the new layer is initialised from
        the model's generator, so ``Sequential(seed=0)`` followed by ``add`` for each layer gives the weights of
        ``Sequential([...], seed=0)``. Checked first (the shapes, a name already taken, a compiled model's loss
        against the new output layer): a refused layer leaves the model as it was.

        Parameters
        ----------
        layer : a fastnn layer
            A layer that belongs to no model yet.

        Examples
        --------
        >>> import fastnn
        >>> model = fastnn.Sequential(seed=0)
        >>> model.add(fastnn.Dense(4, 8, activation="relu"))
        >>> model.add(fastnn.Dense(8, 3, activation="softmax"))
        >>> len(model), [layer.name for layer in model]
        (2, ['dense', 'dense_1'])
        """
        if not isinstance(layer, _Layer):
            raise TypeError(f"layer must be {LAYER_NAMES}, got {type(layer).__name__}")
        if layer._models() or (isinstance(layer, _Weighted) and layer.weight is not None):
            raise ValueError(f"layer ({layer!r}) already belongs to a model; create a new {type(layer).__name__} "
                             "layer")
        if self._ties is not None:
            raise TypeError(f"a {type(self).__name__}'s layers are fixed by its construction: build a new one")
        layers = self.layers + [layer]
        check_names(layers)
        if not any(l._engine_row for l in layers):  # Dropout, Reshape, ...: built with the first Dense or Conv2D
            assign_names(layers)
            self.layers = layers
            layer._adopt(self)
            return
        shape = self.input_shape if self._built and not self._steps_free else self._declared_shape
        stack = Stack(layers, shape, owned=True, open_end=True)
        if self.loss is not None:
            self.loss.check_output(_Probe(output_layer(stack.engine)._engine_activation, stack.widths[-1]))
        self._build(layers, stack)

    @property
    def _built(self):
        """Whether the model holds its layers' parameters (it has a Dense, Conv2D or pooling layer)."""
        return "_params" in self.__dict__

    def __getattr__(self, name):
        # called only for attributes not found: those a model gets with its first Dense, Conv2D or pooling layer
        if not name.startswith("__") and "layers" in self.__dict__ and not self._built:
            raise AttributeError(f"this {type(self).__name__} has no Dense, Conv2D or pooling layer yet: add its "
                                 "layers first, model.add(layer)")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


    def _bind_layers(self):
        """Make every layer's ``weight`` and ``bias`` views into the flat parameter buffer, and its non-trained
        state views into the flat state buffer."""
        for flat, layers, specs, bind in ((self._params, self._dense, "params", "_bind"),
                                          (self._buffers, self._engine_layers, "buffers", "_bind_buffer")):
            offset = 0
            for layer in layers:
                for spec in getattr(layer, specs)():
                    n = math.prod(spec.shape)
                    getattr(layer, bind)(spec.name, flat[offset:offset + n].reshape(spec.shape))
                    offset += n

    def _buffer_range(self, first, end):
        """``(start, stop)`` of engine layers ``first .. end - 1``'s non-trained state in the flat buffer."""
        sizes = state_sizes(self._engine_layers)
        return sum(sizes[:first]), sum(sizes[:end])

    def _check_layer_setting(self, layer, name, value):
        """Refuse a layer setting this model cannot compute with (called before the layer takes it)."""
        if name == "name" and any(l.name == value for l in self.layers if l is not layer):
            raise ValueError(f"this model has a layer named {value!r} already: layer names are unique in a model")
        if name == "activation" and self.loss is not None and layer is output_layer(self._engine_layers):
            self.loss.check_output(_Probe(value, self.n_outputs // self._output_steps))

    def _layer_changed(self, layer, name):
        """A layer's ``activation``, dropout rate or ``trainable`` changed: the next engine is built with it."""
        if name == "name":
            return  # nothing the engine computes with
        if name == "p":
            self._dropout = dropout_rates(self.layers, self._owners)
        self._settings_version += 1

    # -- copying and pickling -----------------------------------------------------------------------------------

    def __getstate__(self):
        """State for ``pickle`` and ``copy.deepcopy``: the flat buffers once, the layers without their views
        (rebound on unpickling), no lock. Pickle only data you trust; :meth:`save` is the safe format."""
        state = self.__dict__.copy()
        bare = {}
        for layer in self._dense if self._built else ():
            bare[id(layer)] = copy.copy(layer)  # belongs to no model (see _Layer.__getstate__)
            for spec in layer.params():
                bare[id(layer)]._bind(spec.name, None)
            for spec in layer.buffers():
                bare[id(layer)]._bind_buffer(spec.name, None)
        state["layers"] = [bare.get(id(layer), layer) for layer in self.layers]
        if self._built:
            state["_dense"] = [bare[id(layer)] for layer in self._dense]
            state["_engine_layers"] = [bare.get(id(layer), layer) for layer in self._engine_layers]
        for key in ("_train_lock", "_engine_lock", "_kept_engine", "_kept_hyper", "_kept_rows", "_backup"):
            del state[key]
        return state

    def __setstate__(self, state):
        state.setdefault("_ties", None)
        state.setdefault("_steps_free", False)
        state.setdefault("_buffers", np.zeros(0, dtype=state.get("dtype", np.float32)))
        state.setdefault("_settings_version", 0)
        state.setdefault("_declared_shape", None)
        state.setdefault("_extra_metrics", [])
        state.setdefault("_input_peak", None)  # pickled before models kept their inputs' range
        state.setdefault("_range_check", None)
        state.setdefault("_range_warned", False)
        if "_owners" not in state and "_params" in state:  # pickled before channels-last images
            state.update(_owners=[i for i, layer in enumerate(state["layers"]) if layer._engine_row],
                         _transposed=[False] * len(state["layers"]), _permutes={}, _channels_last_input=False)
        self.__dict__.update(state)
        self._train_lock = threading.Lock()
        self._forget_engine()
        if self._built:
            self._bind_layers()
        assign_names(self.layers)  # models pickled before layers had names
        for layer in self.layers:
            layer._adopt(self)

    def _forget_engine(self):
        """Drop the kept engine and what was derived from the settings (after compile, or in a copy)."""
        self._engine_lock = threading.Lock()
        self._kept_engine = None
        self._kept_version = None
        self._kept_hyper = (None, None)
        self._kept_rows = np.arange(0, dtype=np.int64)
        self._backup = None

    @property
    def scaler(self):
        """A fitted :class:`~fastnn.StandardScaler`, :class:`~fastnn.MinMaxScaler` or
        :class:`~fastnn.LogScaler` applied to every input, or None."""
        return self._scaler

    @scaler.setter
    def scaler(self, value):
        from ..data.preprocessing import _Scaler

        if value is not None:
            if not isinstance(value, _Scaler):
                raise TypeError("model.scaler must be a fitted fastnn.StandardScaler, MinMaxScaler or LogScaler "
                                f"(or None), got {type(value).__module__}.{type(value).__name__}; scale the inputs "
                                "yourself before fit/predict to use another scaler")
            if getattr(value, value._fitted_attr, None) is None:
                raise ValueError("model.scaler must be fitted: call scaler.fit(X_train) before attaching it")
            if value.n_features_in_ != self.n_features:
                raise ValueError(f"model.scaler was fitted on {value.n_features_in_} features, but the model takes "
                                 f"{self.n_features}")
        self._scaler = value

    # -- set-up -------------------------------------------------------------------------------------------------

    def _initialize(self, layers=None):
        """Every parameter tensor of ``layers`` (default: all) from its initialiser (``ParamSpec.init``), layer by
        layer, in buffer order."""
        for layer in self._dense if layers is None else layers:
            for spec in layer.params():
                getattr(layer, spec.name)[...] = INITIALIZERS[spec.init](self._rng, spec.shape, layer.fans)

    def compile(self, loss="cross_entropy", optimizer=None, regularizer=None, metrics=None):
        """Choose the loss, the optimizer and the regularizer for ``fit``.

        Parameters
        ----------
        loss : str or Loss, default='cross_entropy'
            ``'cross_entropy'`` (softmax output), ``'binary_cross_entropy'`` (sigmoid output) or ``'mse'``;
            Keras's names (``'sparse_categorical_crossentropy'``, ``'binary_crossentropy'``,
            ``'mean_squared_error'``) work too.
        optimizer : SGD, Adam, AdamW, RMSprop or str, optional
            An optimizer, or its name with default settings (``'sgd'``, ``'adam'``, ``'adamw'``,
            ``'rmsprop'``). Defaults to ``SGD(lr=0.01)``. Compiling resets the optimizer's state and update
            count.
        regularizer : Regularizer, optional
            ``L1``, ``L2`` or ``L1L2`` penalty on the weights (not the biases), included in the reported loss.
        metrics : list of str, optional
            As in Keras; ``'accuracy'`` (or ``'acc'``) is the one metric, recorded for the classification losses
            whether or not it is asked for (by an :class:`~fastnn.Autoencoder` only when asked for). Asking for it
            with ``'mse'`` is an error.

        Returns
        -------
        self
        """
        loss = get_loss(loss)
        loss.check_output(_Probe(output_layer(self._engine_layers)._engine_activation,
                                 self.n_outputs // self._output_steps))
        optimizer = get_optimizer(optimizer)
        if regularizer is not None and not isinstance(regularizer, Regularizer):
            raise TypeError(f"regularizer must be fastnn.L1, L2, L1L2 or None, got {type(regularizer).__name__}")
        self.metrics, self._extra_metrics = _check_metrics(metrics, loss, self.n_outputs // self._output_steps)
        self.loss, self.optimizer, self.regularizer = loss, optimizer, regularizer
        self._state = np.zeros((optimizer.n_state(), self.n_params), dtype=self.dtype)
        self._step[0] = 0
        self._forget_engine()
        return self

    def _require_compiled(self, what):
        if self.loss is None:
            raise RuntimeError(f"call model.compile(loss=...) before {what}")
        if isinstance(self.layers[-1], Dropout):
            raise ValueError("the last layer is a Dropout: add the output layer before training")
        if what != "evaluate":
            self._check_tied_trainable()

    # -- properties ---------------------------------------------------------------------------------------------

    @property
    def parameters(self):
        return self._params

    @property
    def optimizer_state(self):
        """The optimizer's state, ``(n_state, n_params)`` in the parameters' layout (SGD: the momentum buffer;
        Adam: the two moment estimates, and the maximum of the second with ``amsgrad``), a writable view; saved
        in model files and checkpoints."""
        return self._state

    @property
    def n_params(self):
        """Total number of parameters."""
        return self._params.shape[0]

    def _count_params(self):
        """``(trainable, non-trainable)`` parameter counts, a tied matrix counted once."""
        counts = [0, 0]
        for l, (off, (start, stop)) in enumerate(zip(self._frozen(), self._param_ranges())):
            shared = self._engine_layers[l].weight.size if self._ties is not None and self._ties[l] >= 0 else 0
            counts[off] += stop - start - shared
        return counts[0], counts[1]

    @property
    def n_features(self):
        return self.widths[0]

    @property
    def n_outputs(self):
        return self.widths[-1]

    @property
    def output_shape(self):
        """The shape of one sample's output: ``(n_outputs,)``, ``(steps, units)`` for a sequence, ``(C, H, W)``
        for images."""
        return self._shapes[-1]

    @property
    def _output_steps(self):
        """The steps of an output with a value (or row) a step (a Dense layer on every step of a sequence), whose
        loss averages over samples and steps; else 1."""
        row = self._layout[-1]
        return row["steps"] if isinstance(row, dict) and row["kind"] == _kernels.LAYER_DENSE and row["steps"] > 1 else 1

    def _fix_steps(self, X, name):
        """A model that starts with a recurrent layer or an Embedding, built without ``input_shape``, takes its
        steps from the first sequences it is given, ``(n, steps, features)`` (``(n, steps)`` of tokens), as Keras
        builds a model on its first call; they are fixed from then on (and saved with it)."""
        arr = X if isinstance(X, np.ndarray) else np.asarray(X) if not isinstance(X, (str, bytes)) else None
        tokens = isinstance(self._engine_layers[0], Embedding)
        if arr is None or arr.ndim != (2 if tokens else 3) or arr.shape[1] < 1:
            return  # flat or malformed: the usual checks say what the model takes
        shape = (arr.shape[1],) if tokens else (arr.shape[1], self.input_shape[1])
        stack = Stack(self.layers, shape, owned=True)
        self._layout, self._shapes, self._ends, self.widths = stack.layout, stack.shapes, stack.ends, stack.widths
        self.input_shape = stack.input_shape
        self._steps_free = False
        self._settings_version += 1
        self._forget_engine()

    def _shaped(self, out):
        """Outputs ``(n_samples, n_outputs)`` as ``(n_samples, steps, units)`` for a sequence output."""
        shape = self._shapes[-1]
        return out.reshape((out.shape[0],) + shape) if len(shape) == 2 else out

    def _reg(self):
        r = self.regularizer
        return (r.l1, r.l2) if r is not None else (0.0, 0.0)

    def penalty(self):
        """Current regularization penalty (0 without a regularizer): of the trainable layers' weights (a frozen
        layer's are not part of the loss, as in Keras), a tied matrix counted once."""
        if self.regularizer is None:
            return 0.0
        return self.regularizer.penalty(
            layer.weight for l, (layer, off) in enumerate(zip(self._engine_layers, self._frozen()))
            if isinstance(layer, _Weighted) and not off and (self._ties is None or self._ties[l] < 0))

    def _tensors(self):
        """``(layer index among the weighted layers, layer, ParamSpec)`` of every parameter tensor, in buffer
        order."""
        return [(i, layer, spec) for i, layer in enumerate(self._dense) for spec in layer.params()]

    def get_weights(self):
        """Copies of every parameter tensor, ``[W_0, b_0, W_1, b_1, ...]`` (each layer's ``params()`` in order)."""
        return [getattr(layer, spec.name).copy() for _, layer, spec in self._tensors()]

    def set_weights(self, weights):
        """Set all weights and biases from a list like :meth:`get_weights` returns (checked before any change)."""
        weights, tensors = list(weights), self._tensors()
        if len(weights) != len(tensors):
            raise ValueError(f"weights must hold {len(tensors)} arrays, got {len(weights)}")
        staged = []
        for k, (value, (i, layer, spec)) in enumerate(zip(weights, tensors)):
            arr = np.asarray(value)
            what = f"weights[{k}] ({spec.name} of layer {i})"
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"{what} must hold real numbers")
            if arr.shape != tuple(spec.shape):
                raise ValueError(f"{what} must have shape {tuple(spec.shape)}, got {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{what} contains NaN or infinity")
            staged.append(arr)
        for arr, (_, layer, spec) in zip(staged, tensors):
            getattr(layer, spec.name)[...] = arr

    # -- data ---------------------------------------------------------------------------------------------------

    def _inputs(self, X, name="X", scaler=None, lazy=False):
        """Validated inputs of the model's dtype, transformed by ``scaler`` (default :attr:`scaler`) if any. With
        ``lazy``, integer arrays and memory-mapped files come back as rows converted a block at a time
        (:class:`fastnn.training.data.Rows`)."""
        scaler = self.scaler if scaler is None else scaler
        if self._steps_free:
            self._fix_steps(X, name)
        if lazy and _data.lazy_source(self, X, scaler):
            return _data.lazy_inputs(self, X, name, scaler)
        if isinstance(self._engine_layers[0], Embedding):
            kind = getattr(X, "dtype", None) if isinstance(X, np.ndarray) else np.asarray(X).dtype
            if kind is not None and kind.kind not in "iu":
                raise TypeError(f"{X.__class__.__name__ if kind.kind == 'O' else kind} {name}: the model starts with "
                                "an Embedding, which takes integer token ids (n_samples, steps)")
        given = getattr(X, "shape", None)
        X = _data.flat_inputs(self, X, name)
        if scaler is not None:
            X = scaler.transform(X, dtype=self.dtype)  # straight into the model's dtype: no float64 copy
        suffix = f" (flat samples of shape {self.input_shape})" if len(self.input_shape) > 1 else ""
        if given is not None and len(given) > 1:
            suffix += _data.one_sample_hint(given, self.n_features, name)
        X = check_features(X, name, self.dtype, self.n_features, suffix=suffix)
        first = self._engine_layers[0]
        if isinstance(first, Embedding) and X.size:  # indices into the table, checked before any kernel runs
            bad = (X < 0) | (X >= first.num_embeddings) | (X != np.floor(X))
            if bad.any():
                value = X[bad][0].item()
                raise ValueError(f"{name} holds {value:g}, not an index of the Embedding's {first.num_embeddings} "
                                 f"vectors (integers 0 .. {first.num_embeddings - 1})")
        return X

    def save(self, path):
        """Save architecture, weights, optimizer and random state and the scaler to ``path`` (see
        :mod:`fastnn.io`); atomic, no pickle."""
        from ..saving.format import save

        save(self, path)

    def _engine(self, capacity):
        """Workspaces for ``capacity`` rows; an uncompiled model (predict only) needs no loss."""
        loss = self.loss.code if self.loss is not None else _kernels.LOSS_MSE
        param = getattr(self.loss, "delta", 1.0) if self.loss is not None else 1.0
        frozen = self._frozen()
        for (start, stop), off in zip(self._param_ranges(), frozen):
            if off:  # a frozen layer's gradient is never written: keep it zero (loss_and_gradient, clipping)
                self._grads[start:stop] = 0
        engine = _kernels.Engine(self._params, self._grads, self._state, self.widths,
                                 engine_activations(self._engine_layers), loss,
                                 capacity, param, self._dropout, self._dropout_seed, _threads.machine_cores(),
                                 self._layout, frozen, self._buffers)
        if self._ties is not None:
            engine.tie(self._ties)
        return engine if self.loss is None else self.loss._engine(engine, self.output_shape)

    def _param_ranges(self):
        """``(start, stop)`` of each engine layer's parameters in the flat buffers (empty for pooling)."""
        ranges, offset = [], 0
        for layer in self._engine_layers:
            n = layer.n_params if isinstance(layer, _Weighted) else 0
            ranges.append((offset, offset + n))
            offset += n
        return ranges

    def _frozen(self):
        """Per engine layer: whether its parameters are left as they are (``trainable`` False). Both layers of a
        tied pair count as frozen when either is (training refuses that mix: ``_check_tied_trainable``)."""
        frozen = [not layer.trainable and isinstance(layer, _Weighted) for layer in self._engine_layers]
        for l, s in enumerate(self._ties or ()):
            if s >= 0:
                frozen[l] = frozen[s] = frozen[l] or frozen[s]
        return frozen

    def _check_tied_trainable(self):
        for l, s in enumerate(self._ties or ()):
            if s >= 0 and self._engine_layers[l].trainable != self._engine_layers[s].trainable:
                i, j = (next(k for k, layer in enumerate(self.layers) if layer is self._engine_layers[x])
                        for x in (s, l))
                raise ValueError(f"layers[{i}] and layers[{j}] share one weight matrix (tied=True): set their "
                                 "trainable to the same value")

    def _borrow_engine(self, rows):
        """``with self._borrow_engine(rows) as engine``: the model's kept engine, grown to at least ``rows``
        rows, held for the block; or, while another thread uses the kept one, a new engine. Keeping the engine
        saves its set-up on every call; its size never changes results (blocks are passed per call)."""
        return EngineLoan(self, rows)

    def _run(self, engine, rows, n_threads, call):
        """``call(nt)``: in the calling thread when every product over ``rows`` rows is small enough for BLAS to
        run it on one thread anyway (entering the BLAS limit would cost more than such a call), else on
        ``n_threads`` threads with BLAS held at one thread."""
        if rows * engine.row_work <= _SERIAL_PRODUCT:
            return call(1)
        nt = resolve_n_threads(n_threads)
        with blas_single_thread():
            return call(nt)

    def _hyper(self):
        """The optimizer's settings array for the engine, rebuilt only when a setting changed."""
        opt, reg = self.optimizer, self.regularizer
        key = (id(opt), opt._version, None if reg is None else (reg.l1, reg.l2))
        if self._kept_hyper[0] != key:
            self._kept_hyper = (key, opt._hyper(*self._reg()))
        return self._kept_hyper[1]

    def _rows(self, n):
        """``arange(n)`` as int64, kept between calls."""
        if self._kept_rows.shape[0] < n:
            self._kept_rows = np.arange(max(n, 2 * self._kept_rows.shape[0]), dtype=np.int64)
        return self._kept_rows[:n]

    # -- training -----------------------------------------------------------------------------------------------

    def _records_accuracy(self):
        """Whether fit and evaluate record accuracy: for the classification losses."""
        return self.loss.has_accuracy

    def _is_classifier(self):
        """Whether the outputs are class probabilities: a softmax or sigmoid output layer and, once compiled, a
        classification loss."""
        return output_layer(self._engine_layers)._engine_activation in ("softmax", "sigmoid") and (
            self.loss is None or self.loss.has_accuracy)

    def _metric_names(self, with_validation, with_training=True):
        """What each epoch records: the loss, accuracy and the compiled metrics (on the training data when it is
        at hand: not for batches from a generator), then the same on the validation data."""
        base = ["loss"] + (["accuracy"] if self._records_accuracy() else [])
        extra = [metric.name for metric in self._extra_metrics]
        names = base + (extra if with_training else [])
        return names + [f"val_{m}" for m in base + extra] if with_validation else names

    def _outputs_prepared(self, engine, X, nt, block):
        """The outputs of validated ``X`` through a borrowed ``engine``."""
        out = np.empty((X.shape[0], self.n_outputs), dtype=self.dtype)
        for lo, hi, part in _data.row_blocks(X, block):
            engine.forward(part, out[lo:hi], nt, min(block, hi - lo))
        return out

    def _epoch_metrics(self, engine, train, nt, block):
        """The compiled metrics beyond accuracy on the training data (prepared), from the epoch's final model."""
        if not self._extra_metrics or train is None:
            return {}
        X, labels, targets, _ = train
        return inference.metric_scores(self, self._extra_metrics, self._outputs_prepared(engine, X, nt, block),
                                       labels, targets)

    def _snapshot(self):
        """What an update changes - the parameters, the optimizer's state and step, the non-trained state
        (BatchNorm's running statistics) - copied into buffers kept between calls: restored when an update
        diverges."""
        backup, buffers = self._backup, self._buffers
        if backup is None or backup[1].shape != self._state.shape or backup[3].shape != buffers.shape:
            backup = self._backup = (np.empty_like(self._params), np.empty_like(self._state),
                                     np.empty_like(self._step), np.empty_like(buffers))
        np.copyto(backup[0], self._params)
        np.copyto(backup[1], self._state)
        np.copyto(backup[2], self._step)
        if buffers.size:
            np.copyto(backup[3], buffers)
        return backup

    def _restore(self, snapshot):
        self._params[...], self._state[...], self._step[...] = snapshot[:3]
        if self._buffers.size:
            self._buffers[...] = snapshot[3]

    @exclusive
    def fit(self, X, y=None, epochs=1, batch_size=32, validation_data=None, validation_split=0.0, shuffle=True,
            sample_weight=None, class_weight=None, callbacks=None, n_threads=None, verbose=1, checkpoint=None,
            resume=False, on_divergence="raise", initial_epoch=0, steps_per_epoch=None, distribute=None):
        """Train the model with mini-batch gradient descent.

        Each epoch is one pass over the training data in ``ceil(n_samples / batch_size)`` iterations (the last
        batch may be smaller; it is trained, not dropped). The whole loop - shuffle gather, forward pass, loss,
        backward pass and update, with the learning rate's schedule - runs in compiled code without the GIL,
        returning to Python about every 0.1 s for progress output, at each epoch's end for validation and the
        callbacks, and after every batch only when a callback has a batch hook. Ctrl-C stops training before
        the next batch; the model then holds the result of the last complete update and :attr:`history` the
        completed epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape, or batches
            Training inputs; converted to the model's dtype (a C-contiguous array of that dtype is used
            without a copy). Images may come flat, shaped ``(n_samples, C, H, W)`` or, for one channel,
            ``(n_samples, H, W)`` (see :attr:`input_shape`). Or, for data produced on the fly, a Python generator,
            an iterator or any other iterable (a PyTorch ``DataLoader``) of batches ``(x, y)`` or ``(x, y,
            sample_weight)``, as Keras takes them: ``y`` is then None, each batch is checked and trained as
            :meth:`train_on_batch` trains it, ``shuffle`` and ``batch_size`` do not apply, and the compiled
            metrics beyond accuracy are recorded on the validation data only.
        y : array-like
            Integer class labels ``(n_samples,)`` or one-hot/probability rows ``(n_samples, n_classes)`` for
            cross-entropy; values in [0, 1] of shape ``(n_samples,)`` or ``(n_samples, n_outputs)`` for binary
            cross-entropy; ``(n_samples, n_outputs)`` targets for the regression losses.
        epochs : int, default=1
            Number of passes over the data (0 trains nothing).
        batch_size : int, default=32
            Samples per update. A batch whose buffers would take more than 192 MB (wide feature maps, thousands
            of rows) is computed in blocks of rows whose gradients are summed before the one update, so memory
            stays bounded (BatchNorm layers still normalise by the whole batch's statistics, summed over the
            blocks in extra passes).
        validation_data : tuple (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
            Evaluated at the end of every epoch.
        validation_split : float in [0, 1), default=0.0
            Fraction of the samples, taken from the end before any shuffling, held out for validation. Giving
            both this and ``validation_data`` is an error.
        shuffle : bool, default=True
            Shuffle the samples before each epoch (with the model's seeded generator).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights: a batch's loss is ``sum(w_i * l_i) / sum(w_i)``, so integer weights on a full
            batch equal repeating samples. Accuracy counts every sample once.
        class_weight : dict or 'balanced', optional
            Weight of each class (``{class: weight}``, missing classes weigh 1), multiplied into the sample
            weights; 'balanced' uses scikit-learn's ``n_samples / (n_classes * count(class))``.
        callbacks : list of Callback, optional
            See :mod:`fastnn.callbacks` (EarlyStopping, ModelCheckpoint, ReduceLROnPlateau,
            LearningRateScheduler, or your own, with epoch hooks and Keras's batch hooks
            ``on_train_batch_begin``/``on_train_batch_end``, each called with the model first).
        n_threads : int or None, default=None
            Threads to use; None uses every available core (within OpenMP's limit: OMP_NUM_THREADS, or what a
            joblib or Dask worker sets). BLAS is held at one thread meanwhile.
        verbose : {0, 1, 2}, default=1
            0 silent, 1 a progress bar and a line per epoch, 2 a line per epoch.
        checkpoint : str or path-like, optional
            Save the model (weights, optimizer state, random state, the history so far) to this file,
            atomically, at the end of every epoch.
        resume : bool, default=False
            With ``checkpoint``: if the file exists, continue the run it records - restore its weights,
            optimizer state, random state and history, then train the remaining epochs up to ``epochs``. The
            result is the same, bit for bit, as a run that was never interrupted.
        on_divergence : {'raise', 'warn'}, default='raise'
            What a NaN or infinite training loss, or an update that makes a weight NaN or infinite, does: raise
            ``FloatingPointError``, or warn (``RuntimeWarning``) and return the history so far. Either way the
            weights and optimizer state are restored to their values at the start of that epoch.
        initial_epoch : int, default=0
            Keras's: the epoch to start at, counted from 0, so that ``epochs`` is the index of the final epoch
            (``fit(X, y, epochs=10, initial_epoch=6)`` trains 4 epochs, numbered 6 to 9 in the history and the
            callbacks); :attr:`epochs_trained` is set to it first. Not with ``resume`` (which takes the epoch from
            the checkpoint).
        steps_per_epoch : int, optional
            With batches from a generator: the batches of one epoch (Keras's); the next epoch takes the batches
            that follow. Without it an epoch runs to the end of the iterable (and the next epoch iterates it again,
            which a generator cannot: training then stops with a warning, as Keras's does when its input runs
            out).
        distribute : fastnn.distributed.DataParallel, optional
            Train over the processes of an MPI job (``mpiexec -n 4 python train.py``): each batch of
            ``batch_size`` rows is split between the ranks, their gradients summed, and every rank applies the
            same update. See :mod:`fastnn.distributed`.

        Returns
        -------
        History

        Examples
        --------
        Batches produced on the fly, Keras's way:

        >>> import numpy as np, fastnn
        >>> def batches(rng=np.random.default_rng(0)):
        ...     while True:
        ...         x = rng.normal(size=(32, 4))
        ...         yield x, (x[:, 0] > 0).astype(int)
        >>> model = fastnn.Sequential([fastnn.Dense(4, 2, activation="softmax")], seed=0).compile(optimizer="adam")
        >>> history = model.fit(batches(), epochs=3, steps_per_epoch=20, verbose=0)
        >>> history.epoch, history.history["iterations"]
        ([0, 1, 2], [20, 20, 20])

        Raises
        ------
        FloatingPointError
            If the training loss or a weight becomes NaN or infinite (``on_divergence='raise'``); the message
            names the epoch and iteration.
        RuntimeError
            If another thread is training this model at the same moment.
        KeyboardInterrupt
            On Ctrl-C, which stops training before the next batch: the model holds the last complete update and
            :attr:`history` the completed epochs.
        """
        return training.fit(self, X, y, epochs=epochs, batch_size=batch_size, validation_data=validation_data,
                            validation_split=validation_split, shuffle=shuffle, sample_weight=sample_weight,
                            class_weight=class_weight, callbacks=callbacks, n_threads=n_threads, verbose=verbose,
                            checkpoint=checkpoint, resume=resume, on_divergence=on_divergence,
                            initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch, distribute=distribute)

    def _warn_about_scale(self, X):
        """Warn once per model when the training inputs (after the model's scaler) are far from unit scale, the
        usual reason a network trains to chance or diverges (raw 0-255 pixels, say). Indices of an Embedding are
        not features: no warning."""
        if self._scale_warned or isinstance(self._engine_layers[0], Embedding):
            return
        sample = X[::max(1, X.shape[0] // 2048)]
        if isinstance(sample, _data.Rows):
            sample = sample.take(slice(None))
        rms = np.sqrt(np.mean(np.square(sample, dtype=np.float64), axis=0))
        largest = float(rms.max())
        if largest == 0 or 1 / _UNIT_SCALE_LIMIT <= largest <= _UNIT_SCALE_LIMIT:
            return
        self._scale_warned = True
        feature = int(rms.argmax())
        warn_user(f"the inputs are far from unit scale (feature {feature} has root-mean-square {largest:.4g}); "
                      "a network trains poorly or diverges on such inputs. Scale them first: "
                      "model.scaler = fastnn.StandardScaler().fit(X_train), or X / 255 for 0-255 pixels")

    @property
    def input_peak_(self):
        """The largest absolute value of each input feature that the model was trained on (see the class's
        attributes); a copy, or None."""
        return None if self._input_peak is None else self._input_peak.copy()

    def _set_input_peak(self, peak):
        """Keep ``peak`` (see :attr:`input_peak_`, or None) and the limits ``predict`` compares inputs with."""
        self._input_peak = peak
        self._range_check = None
        self._range_warned = False
        if peak is None:
            return
        with np.errstate(over="ignore"):  # limits beyond the dtype's range: the dtype's largest value
            floor = float(peak.mean())
            limit = np.minimum(_RANGE_FACTOR * np.maximum(peak, floor), np.finfo(self.dtype).max)
        if floor > 0:  # inputs that were all 0 give no scale to compare with
            limit = limit.astype(self.dtype)
            self._range_check = (float(limit.min()), limit)

    def _note_inputs(self, X):
        """Widen :attr:`input_peak_` to cover the training inputs ``X`` (validated, scaled, flat: an array or
        :class:`~fastnn.training.data.Rows`): all their rows up to ``2 * _PEAK_ROWS``, else evenly spaced rows,
        so that a fit called once an epoch does not read its data once more each time. An Embedding's token ids
        are not features."""
        if isinstance(self._engine_layers[0], Embedding) or X.shape[0] == 0:
            return
        old = self._input_peak
        step = max(1, X.shape[0] // _PEAK_ROWS) if X.shape[0] > 2 * _PEAK_ROWS else 1
        if (step == 1 and old is not None and type(X) is np.ndarray and old.shape[0] == X.shape[1]
                and not _kernels.beyond_peaks(X, old)):
            return  # within the range already noted (the usual train_on_batch): one compiled pass
        if isinstance(X, _data.Rows):  # the raw extremes of each feature, then those two rows converted (the
            peak = X.extremes(step)     # scalers are monotone per feature): nothing converted in full
        else:
            rows = X[::step]
            peak = np.maximum(rows.max(axis=0), -rows.min(axis=0)).astype(np.float64)
        if old is not None and old.shape == peak.shape:
            if np.array_equal(np.maximum(old, peak, out=peak), old):
                return  # nothing new: the limits stand
        self._set_input_peak(peak)

    def _screen_inputs(self, X, what):
        """Warn when ``X`` (validated, scaled) lies far beyond the inputs the model was trained on."""
        if self._range_check is not None and not self._range_warned:
            self._check_input_range(X, what)

    def _check_input_range(self, X, what):
        """The check of :meth:`_screen_inputs`, on at most about ``2 * _RANGE_ROWS`` evenly spaced rows: one
        comparison with the smallest limit decides for inputs in the training range."""
        smallest, limit = self._range_check
        n = X.shape[0]
        if n == 0 or X.shape[1] != limit.shape[0]:
            return
        sample = X if n <= _RANGE_ROWS else X[::n // _RANGE_ROWS]
        if isinstance(sample, _data.Rows):
            sample = sample.take(slice(None))
        magnitude = np.abs(sample)
        if not magnitude.max() > smallest or not (magnitude > limit).any():
            return
        self._range_warned = True
        feature = int(np.argmax((magnitude / limit).max(axis=0)))
        value = float(magnitude[:, feature].max())
        where = " after model.scaler" if self._scaler is not None else ""
        warn_user(f"X is far outside the range of the inputs this model was trained on (feature {feature} reaches "
                  f"{value:.4g}{where}, where fit saw at most {self._input_peak[feature]:.4g}), so its {what} are "
                  "unreliable: scale X as the training inputs were scaled (X / 255 for 0-255 pixels, or the same "
                  "fitted scaler)")

    @exclusive
    def loss_and_gradient(self, X, y, n_threads=None, sample_weight=None):
        """Loss and its gradient with respect to :attr:`parameters`, on ``(X, y)`` taken as one batch.

        The loss is the mean data loss (with ``sample_weight``, the weighted mean ``sum(w l) / sum(w)``, as
        ``fit`` weighs a batch) plus the regularizer's penalty (the optimizer's ``weight_decay`` is not
        part of it); the gradient has the layout of :attr:`parameters`. Nothing is updated. Useful for
        finite-difference gradient checks (use ``dtype='float64'``).

        A frozen layer (``trainable`` False) is left out as ``fit`` leaves it out: its entries of the gradient
        are 0 and its weights add no penalty to the loss (the gradient of the layers before it still flows
        through it).

        A tied :class:`~fastnn.Autoencoder` stores each shared matrix twice and reports the shared matrix's
        gradient on both copies (see :meth:`Autoencoder.loss_and_gradient`).

        Returns
        -------
        loss : float
        gradient : ndarray of shape (n_params,)
        """
        self._require_compiled("loss_and_gradient")
        nt = resolve_n_threads(n_threads)
        X = self._inputs(X)
        labels, targets = _data.prepare_targets(self, y, "y", X.shape[0])
        n = X.shape[0]
        _data.check_batch_rows(self, [n])
        weights = _data.prepare_weights(self, sample_weight, None, labels, targets, n)
        engine = self._engine(n)
        sums = np.zeros(4)
        with blas_single_thread():
            status, _ = engine.train(X, np.arange(n, dtype=np.int64), labels, targets, weights, n, 0, 1,
                                     self.optimizer._hyper(*self._reg()), np.zeros(1, np.int64), nt, sums,
                                     apply=False)
        if status != 0:
            return float("nan"), np.full_like(self._grads, np.nan)
        return float(sums[0] + sums[1]) / n, self._grads.copy()

    def _ready(self, X):
        """Whether ``X`` can be used as it is: a non-empty C-contiguous 2-d array of the model's dtype and input
        width, finite, with no scaler to apply (the cheap checks of the small-call paths)."""
        return (type(X) is np.ndarray and X.dtype == self.dtype and X.ndim == 2 and X.flags.c_contiguous
                and self._scaler is None and X.shape[1] == self.widths[0] and X.shape[0] > 0
                and not isinstance(self._engine_layers[0], Embedding) and _kernels.all_finite(X))

    @exclusive
    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, n_threads=None):
        """One update on the batch ``(x, y)``: the same step ``fit`` takes per batch (with the optimizer's
        schedule and update count, without shuffling, callbacks or progress output).

        Made for loops that call it many times (reinforcement learning, custom training loops): the model
        keeps its workspaces between calls, arrays already of the model's dtype are used without copies, and a
        batch small enough runs entirely in the calling thread, so a call costs a few microseconds beyond its
        arithmetic. If the update would make a weight NaN or infinite, the model is left as it was and
        ``FloatingPointError`` is raised.

        Parameters
        ----------
        x : array-like of shape (batch_size, n_features) or (batch_size,) + input_shape
            As in :meth:`fit`.
        y : array-like
            As in :meth:`fit`.
        sample_weight : array-like of shape (batch_size,), optional
        class_weight : dict or 'balanced', optional
        n_threads : int or None, default=None

        Returns
        -------
        float
            The batch's loss (including the regularization penalty) before the update.

        Examples
        --------
        >>> import numpy as np, fastnn
        >>> model = fastnn.Sequential(fastnn.Dense(4, 64, "relu"), fastnn.Dense(64, 2), seed=0)
        >>> model.compile(loss="huber", optimizer=fastnn.Adam(lr=1e-3))  # doctest: +ELLIPSIS
        Sequential(...)
        >>> x = np.ones((64, 4), np.float32); y = np.zeros((64, 2), np.float32)
        >>> loss = model.train_on_batch(x, y)
        """
        self._require_compiled("train_on_batch")
        X, labels, targets, weights = _data.batch_data(self, x, y, sample_weight, class_weight)
        _data.check_batch_rows(self, [X.shape[0]])
        n = X.shape[0]
        if n_threads is not None:
            resolve_n_threads(n_threads)
        if self._input_peak is not None:  # a model fit on arrays: what it trains on stays within its range
            self._note_inputs(X)
        block = training_block(self, n)
        with self._borrow_engine(block or n) as engine:
            snapshot = self._snapshot()
            totals = np.zeros(4)
            status, _ = self._run(engine, n, n_threads, lambda nt: train_batch(
                self, engine, (X, labels, targets, weights), n, self._hyper(), nt, totals, block))
        if status != 0:
            self._restore(snapshot)
            raise FloatingPointError("train_on_batch diverged: the loss or a weight became NaN or infinite; the "
                                     "model was left as it was. Try a smaller learning rate or scale the inputs.")
        return float(totals[0] + totals[1]) / n

    # -- inference ----------------------------------------------------------------------------------------------

    def predict(self, X, batch_size=None, n_threads=None, layer=None, verbose=0):
        """Network outputs for ``X``: class probabilities for a softmax or sigmoid output.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
            As in :meth:`fit` (images of one channel may also come as ``(n_samples, H, W)``).
        batch_size : int, optional
            Rows processed per block (bounds memory); default 1024, or fewer so that a block's buffers take about
            32 MB (wide feature maps: each layer's output is still cached when the next reads it), and fewer
            whatever is asked when the blocks' buffers would take more than 256 MB.
        n_threads : int or None, default=None
            Threads to use; None uses every available core (within OpenMP's limit).
        layer : int, optional
            Return the output of ``model.layers[layer]`` (0-based; negative counts from the end) instead of the
            model's: a hidden representation. A ``Dropout`` passes its input on unchanged at inference.
        verbose : {0, 1, 2}, default=0
            Keras's: 0 silent; 1 or 2 print one line when done (samples and seconds).

        Returns
        -------
        ndarray of shape (n_samples,) + that layer's output shape, of the model's dtype
            ``(n_samples, width)`` for Dense layers, ``(n_samples, C, H, W)`` for convolution and pooling.

        Examples
        --------
        >>> import numpy as np, fastnn
        >>> model = fastnn.Sequential(fastnn.Dense(4, 8, "relu"), fastnn.Dense(8, 2, "softmax"), seed=0)
        >>> model.predict(np.ones((3, 4)), layer=0).shape
        (3, 8)
        """
        if verbose:
            return inference.reported(self, "predict", verbose, lambda: self.predict(X, batch_size, n_threads, layer))
        if layer is not None:
            return inference.predict_layer(self, X, layer, batch_size, n_threads)
        if (batch_size is None and n_threads is None and self._ready(X)
                and (X.shape[0] == 1 or X.shape[0] <= inference.inference_block(self))):
            check = self._range_check  # inputs in the training range: one comparison of their largest magnitude
            if check is not None and not self._range_warned and _kernels.any_beyond(X, check[0]):
                self._check_input_range(X, "predictions")
            return self._shaped(self._forward(X, X.shape[0], None))  # the fast path: nothing to convert or check
        block = inference.inference_block(self, batch_size)
        if n_threads is not None:
            resolve_n_threads(n_threads)
        X = self._inputs(X, lazy=True)
        self._screen_inputs(X, "predictions")
        return self._shaped(self._forward(X, min(block, X.shape[0]), n_threads))

    def _forward(self, X, block, n_threads):
        """Outputs of validated ``X``, ``block`` rows at a time. Work whose every product is small enough for
        BLAS to run it on one thread anyway runs in the calling thread, without the BLAS limit's cost."""
        out = np.empty((X.shape[0], self.n_outputs), dtype=self.dtype)
        with self._borrow_engine(block) as engine:
            for lo, hi, part in _data.row_blocks(X, block):
                if block == 1:  # single rows go through fastnn's own matrix-vector product: no BLAS involved
                    engine.forward(part, out[lo:hi], resolve_n_threads(n_threads), 1)
                else:
                    self._run(engine, block, n_threads, lambda nt: engine.forward(part, out[lo:hi], nt, block))
        return out

    def predict_classes(self, X, batch_size=None, n_threads=None):
        """Predicted class of each sample: the arg-max of a softmax (or several-unit sigmoid) output,
        ``output > 0.5`` of a single sigmoid unit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
        batch_size, n_threads
            As in :meth:`predict`.

        Returns
        -------
        ndarray of shape (n_samples,)
            The labels ``model.classes[k]`` of the predicted output units ``k`` when :attr:`classes` is set (for
            a single sigmoid unit ``classes`` holds two labels, negative then positive), else the indices ``k``
            (int64).

        Raises
        ------
        ValueError
            If the model is not a classifier: its output layer must be ``softmax`` or ``sigmoid`` and, once
            compiled, its loss ``'cross_entropy'`` or ``'binary_cross_entropy'``; or if :attr:`classes` does not
            hold one label per class.

        Examples
        --------
        >>> import numpy as np, fastnn
        >>> model = fastnn.Sequential([fastnn.Dense(4, 3, "softmax")], seed=0)
        >>> model.classes = ["cat", "dog", "bird"]
        >>> model.predict_classes(np.ones((2, 4))).tolist()
        ['dog', 'dog']
        """
        if not self._is_classifier():
            output = output_layer(self._engine_layers)._engine_activation
            what = (f"its output layer is {output!r}" if output not in ("softmax", "sigmoid") else
                    f"its loss is {self.loss.name!r}" if self.loss is not None and not self.loss.has_accuracy else
                    f"a {type(self).__name__} reconstructs its inputs")
            raise ValueError(f"predict_classes needs a classifier (a 'softmax' or 'sigmoid' output layer and a "
                             f"classification loss), but {what}: use predict for other models")
        labels = None
        units = self.n_outputs // self._output_steps
        if self.classes is not None:
            labels = list(self.classes)
            needed = 2 if units == 1 else units
            if len(labels) != needed:
                raise ValueError(f"model.classes holds {len(labels)} label{'s' if len(labels) != 1 else ''}, but "
                                 f"this model's {units} output unit{'s' if units > 1 else ''} "
                                 f"needs {needed}")
        index = inference.class_indices(self, X, batch_size=batch_size, n_threads=n_threads)
        if labels is None:
            return index
        same_type = len({type(c.item() if isinstance(c, np.generic) else c) for c in labels}) == 1
        return np.array(labels, dtype=None if same_type else object)[index]

    def _evaluate_prepared(self, engine, X, labels, targets, weights, nt, block):
        """``{'loss': ..., 'accuracy': ..., other compiled metrics}`` of prepared data (the loss weighted when
        ``weights`` is given)."""
        result = self._scores(*self._evaluation_sums(engine, X, labels, targets, weights, nt, block), X.shape[0])
        result.update(self._epoch_metrics(engine, (X, labels, targets, weights), nt, block))
        return result

    def _evaluation_sums(self, engine, X, labels, targets, weights, nt, block):
        """``[sum of (weighted) per-sample losses, sum of accuracies, sum of weights]`` of prepared data (arrays,
        or rows converted a chunk at a time)."""
        sums = np.zeros(3)
        for lo, hi, part in _data.row_blocks(X, block):
            sums += engine.evaluate(part, *(None if a is None else a[lo:hi] for a in (labels, targets, weights)), nt,
                                    block)
        return sums

    def _scores(self, loss_sum, acc_sum, weight_sum, rows):
        """``{'loss': ..., 'accuracy': ...}`` from the sums of per-sample losses, accuracies and weights."""
        result = {"loss": float(loss_sum / weight_sum + self.penalty())}
        if self._records_accuracy():
            result["accuracy"] = float(acc_sum / rows)
        return result

    def evaluate(self, X, y, batch_size=None, sample_weight=None, n_threads=None, verbose=0):
        """Loss (including the regularization penalty) and, for classification losses, accuracy on ``(X, y)``.

        Parameters
        ----------
        X, y : as in :meth:`fit`
        batch_size : int, optional
            Rows processed per block (bounds memory); default 1024, or fewer so that a block's buffers take about
            32 MB (wide feature maps: each layer's output is still cached when the next reads it), and fewer
            whatever is asked when the blocks' buffers would take more than 256 MB.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the loss, ``sum(w_i * l_i) / sum(w_i)``; accuracy and the other metrics count every sample
            once.
        n_threads : int or None, default=None
        verbose : {0, 1, 2}, default=0
            Keras's: 0 silent; 1 or 2 print one line when done (samples, seconds and the scores).

        Returns
        -------
        dict
            ``{'loss': float, 'accuracy': float}`` (``accuracy`` only for the classification losses; for binary
            cross-entropy it is the fraction of output units on the right side of 0.5), and the metrics
            ``compile`` was given (``mae``, ``f1``, ...; see :mod:`fastnn.metrics`).
        """
        if verbose:
            return inference.reported(self, "evaluate", verbose,
                                      lambda: self.evaluate(X, y, batch_size, sample_weight, n_threads))
        self._require_compiled("evaluate")
        block = inference.inference_block(self, batch_size)
        resolve_n_threads(n_threads)  # checked before any work
        X = self._inputs(X, lazy=True)
        labels, targets = _data.prepare_targets(self, y, "y", X.shape[0])
        weights = _data.prepare_weights(self, sample_weight, None, labels, targets, X.shape[0])
        self._screen_inputs(X, "scores")
        block = min(block, X.shape[0])
        with self._borrow_engine(block) as engine:
            return self._run(engine, block, n_threads,
                             lambda nt: self._evaluate_prepared(engine, X, labels, targets, weights, nt, block))

    # -- display ------------------------------------------------------------------------------------------------

    def summary(self, print_fn=None):
        """Print a table of the layers, their output shapes and parameter counts (as Keras does): the total, and
        how many are trainable and non-trainable (the layers whose ``trainable`` is False, marked frozen).

        Parameters
        ----------
        print_fn : callable, optional
            Called with the table's text instead of ``print`` (``str(model)`` gives the same text).
        """
        text = self._summary_text()
        (print if print_fn is None else print_fn)(text)

    def __str__(self):
        return self._summary_text() if self._built else repr(self)

    def _summary_text(self):
        rows = [("Layer", "Output shape", "Activation", "Params"),
                ("input", f"(None, {', '.join(map(str, self.input_shape))})", "", "0")]
        frozen = {id(layer): off for layer, off in zip(self._engine_layers, self._frozen())}
        for layer, shape in zip(self.layers, self._shapes):
            kind = type(layer).__name__
            label = f"{layer.name} ({' '.join(filter(None, (kind, layer._note())))})"  # Keras's: dense (Dense)
            params = "0"
            if layer.params():
                params = f"{layer.n_params:,}" + (" (frozen)" if frozen[id(layer)] else "")
            activation = layer.activation if "activation" in layer._LIVE else ""
            rows.append((label, f"(None, {', '.join(map(str, shape))})", activation, params))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
        rule = "-" * len(lines[0])
        trainable, fixed = self._count_params()
        total = [f"Total params: {self.n_params:,} ({self.dtype.name})", f"Trainable params: {trainable:,}",
                 f"Non-trainable params: {fixed:,}"]
        if self._buffers.size:
            total.append(f"Non-trained state: {self._buffers.size:,} values (running statistics, saved with the "
                         "model)")
        if self._ties is not None:
            shared = sum(self._engine_layers[l].weight.size for l, s in enumerate(self._ties) if s >= 0)
            total.append(f"Tied weights: {shared:,} values stored twice (counted once in the trainable and "
                         "non-trainable params)")
        return "\n".join([lines[0], rule] + lines[1:] + [rule] + total)

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        if not self._built:
            return f"Sequential([{inner}], dtype='{self.dtype.name}')"
        first = next(layer for layer in self.layers if not isinstance(layer, Dropout))
        implied = (first.in_features,) if isinstance(first, Dense) else getattr(first, "shape", None)
        shape = "" if implied == self.input_shape else f", input_shape={self.input_shape}"
        return f"Sequential([{inner}], dtype='{self.dtype.name}'{shape})"
