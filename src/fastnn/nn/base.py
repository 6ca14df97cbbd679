"""The layer interface, shared by every layer family (:mod:`fastnn.nn.dense`, :mod:`~fastnn.nn.conv`,
:mod:`~fastnn.nn.pooling`, :mod:`~fastnn.nn.reshaping`, :mod:`~fastnn.nn.dropout`), and the activations and
initialisers by name.

A layer declares what the model needs from it: its output shape for an input shape (``_output_shape``), its
parameter tensors (:meth:`params`: name, shape, initialiser, whether weight decay applies), its constructor's
arguments (:meth:`get_config` / :meth:`from_config`, by which model files store it) and its row of the
engine's layer table (``_layout``). The model lays every layer's parameters out in one flat buffer in the order
``params`` gives, binds them to the layer's attributes, initialises them and saves them from that alone.
"""
import functools
import inspect
import math
import weakref
from typing import NamedTuple

import numpy as np

from .. import _kernels
from .._core.validation import check_bool, check_int

__all__ = ["ACTIVATIONS", "ParamSpec", "BufferSpec", "INITIALIZERS", "KERNEL_INITIALIZERS"]


#: Activation names accepted by :class:`Dense`, mapped to kernel codes.
ACTIVATIONS = {
    "identity": _kernels.ACT_IDENTITY,
    "linear": _kernels.ACT_IDENTITY,
    "relu": _kernels.ACT_RELU,
    "sigmoid": _kernels.ACT_SIGMOID,
    "tanh": _kernels.ACT_TANH,
    "softmax": _kernels.ACT_SOFTMAX,
    "leaky_relu": _kernels.ACT_LEAKY_RELU,
    "elu": _kernels.ACT_ELU,
    "softplus": _kernels.ACT_SOFTPLUS,
    "gelu": _kernels.ACT_GELU,
}
#: Other spellings users bring from Keras and PyTorch, mapped to the names above.
_ALIASES = {"linear": "identity", "leakyrelu": "leaky_relu", "leaky-relu": "leaky_relu"}
#: Activations initialised with He (Kaiming) uniform; the others get Glorot (Xavier) uniform.
RELU_LIKE = ("relu", "leaky_relu", "elu", "gelu", "softplus")


class BufferSpec(NamedTuple):
    """One tensor of a layer's non-trained state (PyTorch's ``register_buffer``): ``name``, the layer's attribute
    that views it; ``shape``; ``fill``, its starting value. Saved with the model, updated by the engine (BatchNorm's
    running statistics), never by the optimizer."""

    name: str
    shape: tuple
    fill: float


def state_sizes(layers):
    """Values of each layer's non-trained state (:meth:`_Layer.buffers`), in the layers' order."""
    return [sum(math.prod(spec.shape) for spec in layer.buffers()) for layer in layers]


class ParamSpec(NamedTuple):
    """One parameter tensor of a layer: ``name``, the layer's attribute that views it; ``shape``; ``init``, a
    key of :data:`INITIALIZERS`; ``decayed``, whether weight decay and L1/L2 penalties apply to it (weights,
    not biases)."""

    name: str
    shape: tuple
    init: str
    decayed: bool


def _he_uniform(rng, shape, fans):
    limit = math.sqrt(6.0 / fans[0])
    return rng.uniform(-limit, limit, size=shape)


def _glorot_uniform(rng, shape, fans):
    limit = math.sqrt(6.0 / (fans[0] + fans[1]))
    return rng.uniform(-limit, limit, size=shape)


def _zeros(rng, shape, fans):
    return 0.0


#: Keras's ``VarianceScaling``: the standard deviation of a standard normal truncated at two standard deviations
#: (its draws are divided by it, so that the truncated values keep the variance asked for).
_TRUNCATED_STD = 0.87962566103423978


def _truncated_normal(rng, shape, std):
    """``N(0, std^2)`` values, those more than two standard deviations from 0 drawn again (Keras's
    ``TruncatedNormal``)."""
    values = rng.standard_normal(size=shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(size=int(outside.sum()))
        outside = np.abs(values) > 2
    return values * std


def _he_normal(rng, shape, fans):
    return _truncated_normal(rng, shape, math.sqrt(2.0 / fans[0]) / _TRUNCATED_STD)


def _glorot_normal(rng, shape, fans):
    return _truncated_normal(rng, shape, math.sqrt(2.0 / (fans[0] + fans[1])) / _TRUNCATED_STD)


def _orthogonal(rng, shape, fans):
    """Keras's ``Orthogonal`` (gain 1) on the weight as ``shape[0]`` rows of ``prod(shape[1:])`` values
    (PyTorch's orientation): the QR decomposition of a standard normal matrix, signs fixed by ``R``'s diagonal, so
    that the rows (when there are no more rows than columns) or the columns are orthonormal."""
    rows, cols = shape[0], math.prod(shape[1:])
    q, r = np.linalg.qr(rng.standard_normal(size=(max(rows, cols), min(rows, cols))))
    q *= np.sign(np.diag(r))
    return (q.T if rows < cols else q).reshape(shape)


def _recurrent_uniform(rng, shape, fans):
    limit = 1.0 / math.sqrt(fans[0])
    return rng.uniform(-limit, limit, size=shape)


def _normal(rng, shape, fans):
    return rng.standard_normal(size=shape)


def _scale_shift(rng, shape, fans):
    """Pairs ``(1, 0)``: a normalisation's scale and shift, as PyTorch starts them."""
    out = np.zeros(shape)
    out[:, 0] = 1
    return out


#: Initialisers by name: ``init(rng, shape, (fan_in, fan_out))`` returns the values (or a scalar to fill with).
#: Keras's formulas and names: He (Kaiming) uniform ``U(-sqrt(6 / fan_in), +)``, Glorot (Xavier) uniform
#: ``U(-sqrt(6 / (fan_in + fan_out)), +)``, He normal and Glorot normal (truncated normals of variance ``2 /
#: fan_in`` and ``2 / (fan_in + fan_out)``), orthogonal and zeros; then PyTorch's recurrent ``U(-1 / sqrt(fan_in),
#: +)`` (``fan_in``: the hidden size), the standard normal (PyTorch's embeddings) and a normalisation's ``(1, 0)``
#: pairs.
INITIALIZERS = {"he_uniform": _he_uniform, "glorot_uniform": _glorot_uniform, "he_normal": _he_normal,
                "glorot_normal": _glorot_normal, "orthogonal": _orthogonal, "zeros": _zeros,
                "recurrent_uniform": _recurrent_uniform, "normal": _normal, "scale_shift": _scale_shift}
#: The names a layer's ``kernel_initializer`` takes (Keras's).
KERNEL_INITIALIZERS = ("he_normal", "he_uniform", "glorot_uniform", "glorot_normal", "orthogonal", "zeros")


def _activation_name(activation):
    if activation is None:
        return "identity"
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a string or None, got {type(activation).__name__}")
    name = activation.lower()
    name = _ALIASES.get(name, name)
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(set(ACTIVATIONS))} or None, got {activation!r}")
    return name


class _Layer:
    """What every layer shares: its settings are validated whenever they are set, and the models it belongs to
    follow them.

    ``_FIXED`` maps the settings that fix the model's shapes and parameters (``in_features``, ``kernel_size``,
    ...) to their checks: they may change until the layer joins a model and are refused after (build a new
    layer). ``_LIVE`` maps the settings a model computes with (``activation``, a dropout rate): once checked, every
    model holding the layer is told (``model._check_layer_setting`` may refuse the value first) and its next
    ``predict``, ``evaluate`` or ``fit`` uses them. ``_READONLY`` names class attributes that cannot be set.
    """

    _FIXED = {}
    _LIVE = {}
    _READONLY = ()
    #: The constructor's arguments, by the kind of value a file holds for each (``size``: a positive int;
    #: ``pair``: two ints; ``padding``: two ints or ``"same"``; ``shape``: 1 to 4 positive ints; ``name``: a
    #: string; ``rate``: a number). :meth:`get_config` returns them, :meth:`from_config` takes them back, and
    #: model files store a layer as its class name and config (``fastnn.saving.format`` checks each value by its
    #: kind).
    _CONFIG = {}
    #: Keys of ``_CONFIG`` added after model files first stored the layer: a file without them gets the
    #: constructor's defaults (``initializer``: an initialiser's name or None).
    _CONFIG_ADDED = ("use_bias", "kernel_initializer", "data_format")
    #: Whether the layer is a row of the engine's layer table (``_layout``); views (Reshape, Flatten) and
    #: Dropout (which marks the next row's input) are not.
    _engine_row = False
    _owner_refs = ()
    #: Whether ``fit`` (and ``train_on_batch``, DQN's updates) trains the layer's parameters (Keras's
    #: ``layer.trainable``). A frozen layer's weights and biases, and their optimizer state, stay as they are:
    #: no gradient step, no weight decay, no L1/L2 penalty (it is not part of the loss either, as in Keras),
    #: while the gradient still flows through the layer to the layers before it. Set it at any time (True or
    #: False): the next ``fit`` call, or the next epoch of a running one, follows it. Saved in model files.
    #: Layers without parameters accept it and are unaffected.
    trainable = True
    #: The layer's name (Keras's ``layer.name``): given by ``name=`` to any layer's constructor or set later, else
    #: given by the model it joins, unique within it (``"dense"``, ``"dense_1"``, ...; see ``Sequential.get_layer``).
    name = None

    def __init_subclass__(cls, **kwargs):
        # every layer's constructor takes Keras's ``name=`` keyword, without each family repeating it
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:
            cls.__init__ = _takes_name(init)

    def __setattr__(self, name, value):
        if name in self._READONLY:
            raise AttributeError(f"{type(self).__name__}.{name} cannot be set")
        fixed = name in self._FIXED
        check = self._FIXED[name] if fixed else self._LIVE.get(name, _COMMON.get(name))
        if check is None:
            object.__setattr__(self, name, value)
            return
        models = self._models()
        if fixed and (models or getattr(self, "_weight", None) is not None):
            raise AttributeError(f"{type(self).__name__}.{name} cannot change once the layer belongs to a model "
                                 f"(it fixes the model's shapes): build a new {type(self).__name__} layer and a new "
                                 "model")
        value = check(self, value)
        for model in models:
            model._check_layer_setting(self, name, value)
        object.__setattr__(self, name, value)
        for model in models:
            model._layer_changed(self, name)

    def params(self):
        """The layer's parameter tensors, in the order they lie in the model's flat buffer (none by default)."""
        return ()

    def buffers(self):
        """The layer's non-trained state tensors (:class:`BufferSpec`), in the order they lie in the model's flat
        buffer of state (none by default)."""
        return ()

    def _bind_buffer(self, name, view):
        """Make attribute ``name`` view ``view`` (the layer's part of the model's state buffer), or None."""
        object.__setattr__(self, "_" + name, view)

    @property
    def _engine_activation(self):
        """The activation the engine applies to the layer's output (by name): its ``activation`` setting, or
        none."""
        return getattr(self, "activation", "identity")

    def _note(self):
        """What ``summary()`` shows beside the layer's kind (its settings that matter at a glance)."""
        return ""

    def get_config(self):
        """The layer's constructor arguments as plain values (lists for tuples), as Keras's ``get_config``."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in ((key, getattr(self, key)) for key in self._CONFIG)}

    @classmethod
    def from_config(cls, config):
        """A new layer from :meth:`get_config`'s values."""
        return cls(**config)

    def _models(self):
        """The live models this layer belongs to."""
        return [m for m in (ref() for ref in self._owner_refs) if m is not None]

    def _adopt(self, model):
        """Record that ``model`` holds this layer (a weak reference: the layer does not keep the model alive)."""
        refs = [ref for ref in self._owner_refs if ref() is not None and ref() is not model]
        object.__setattr__(self, "_owner_refs", tuple(refs) + (weakref.ref(model),))

    def __getstate__(self):
        # copies and pickles of a layer belong to no model
        state = self.__dict__.copy()
        state.pop("_owner_refs", None)
        return state


def _check_activation(layer, value):
    return _activation_name(value)


def _check_trainable(layer, value):
    return check_bool(value, "trainable")


def _check_name(layer, value):
    if not isinstance(value, str) or not value:
        raise TypeError(f"name must be a non-empty string, got {value!r}")
    return value


#: The settings every layer has, and their checks.
_COMMON = {"trainable": _check_trainable, "name": _check_name}


def _takes_name(init):
    """``init`` taking also the keyword ``name=`` (set after ``init`` ran, when given)."""
    @functools.wraps(init)
    def __init__(self, *args, name=None, **kwargs):
        init(self, *args, **kwargs)
        if name is not None:
            self.name = name
    signature = inspect.signature(init)
    params = list(signature.parameters.values())
    at = next((i for i, p in enumerate(params) if p.kind is p.VAR_KEYWORD), len(params))
    params.insert(at, inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=None))
    __init__.__signature__ = signature.replace(parameters=params)
    return __init__


def _check_use_bias(layer, value):
    return check_bool(value, "use_bias")


def _check_name_in(value, name, names, none=False):
    """``value``, one of the strings ``names`` (any case; or None when ``none``), in lower case."""
    if none and value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string{' or None' if none else ''}, got {type(value).__name__}")
    if value.lower() not in names:
        raise ValueError(f"{name} must be one of {list(names)}{' or None' if none else ''}, got {value!r}")
    return value.lower()


def _check_kernel_initializer(layer, value):
    return _check_name_in(value, "kernel_initializer", KERNEL_INITIALIZERS, none=True)


class _Weighted(_Layer):
    """What layers with parameters share: ``weight`` and ``bias`` as writable views into the model's flat
    parameter buffer, bound by the model (``weight_shape`` and ``bias_shape`` give their shapes)."""

    _weight = None
    _bias = None
    _engine_row = True
    #: Whether the layer has a bias (Keras's ``use_bias``; Dense and Conv2D take it as an argument).
    use_bias = True
    #: The weight's initialiser (a key of :data:`KERNEL_INITIALIZERS`), or None for the layer's default.
    kernel_initializer = None

    def params(self):
        """The weight (``kernel_initializer``; by default He-uniform before a ReLU-like activation and
        Glorot-uniform otherwise; decayed) and, with ``use_bias``, the bias (zeros; not decayed)."""
        init = self.kernel_initializer or ("he_uniform" if self.activation in RELU_LIKE else "glorot_uniform")
        weight = ParamSpec("weight", self.weight_shape, init, True)
        return (weight, ParamSpec("bias", self.bias_shape, "zeros", False)) if self.use_bias else (weight,)

    def _bind(self, name, view):
        """Make attribute ``name`` view ``view`` (the layer's part of the model's flat buffer), or None."""
        object.__setattr__(self, "_" + name, view)

    def _repr_options(self):
        """``use_bias`` and ``kernel_initializer`` for ``repr``, where they differ from their defaults."""
        return ((", use_bias=False" if not self.use_bias else "")
                + (f", kernel_initializer={self.kernel_initializer!r}" if self.kernel_initializer else ""))

    @property
    def n_params(self):
        """Number of parameters (weights and biases)."""
        return sum(math.prod(spec.shape) for spec in self.params())

    @property
    def activation_code(self):
        return ACTIVATIONS[self.activation]

    @property
    def weight(self):
        return self._weight

    @weight.setter
    def weight(self, value):
        self._assign("weight", value, self.weight_shape)

    @property
    def bias(self):
        return self._bias

    @bias.setter
    def bias(self, value):
        if not self.use_bias:
            raise AttributeError(f"this {type(self).__name__} has no bias (use_bias=False)")
        self._assign("bias", value, self.bias_shape)

    def _assign(self, name, value, shape):
        target = getattr(self, "_" + name)
        if target is None:
            raise RuntimeError(f"this layer belongs to no model yet, so it has no {name} to set")
        self._assign_into(target, value, name)

    @staticmethod
    def _assign_into(target, value, name):
        """Copy ``value`` into the view ``target``, checked (real, of its shape, finite) first."""
        shape = target.shape
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        arr = arr.astype(target.dtype, copy=False)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinity")
        target[...] = arr




def _pair(value, name, minimum):
    """An int or a pair of ints as a pair, each at least ``minimum``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return tuple(check_int(v, name, minimum=minimum) for v in value)
    v = check_int(value, name, minimum=minimum)
    return (v, v)


#: Keras's ``data_format`` values: images ``(channels, height, width)`` (PyTorch's NCHW, the default) or
#: ``(height, width, channels)`` (Keras's default layout).
DATA_FORMATS = ("channels_first", "channels_last")


def _check_data_format(layer, value):
    return _check_name_in(value, "data_format", DATA_FORMATS)


def _data_format_repr(layer):
    """``data_format`` for ``repr``, where it is not the default."""
    return ", data_format='channels_last'" if layer.data_format == "channels_last" else ""


def _image_shape(shape, what):
    if len(shape) != 3:
        raise ValueError(f"{what} takes images (n_samples, channels, height, width), but gets samples of shape "
                         f"{shape}: start the model with Reshape((channels, height, width))")
    return shape
