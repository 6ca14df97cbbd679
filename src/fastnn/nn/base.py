"""Layers and activations.

A layer declares what the model needs from it: its output shape for an input shape (``_output_shape``), its
parameter tensors (:meth:`params`: name, shape, initialiser, whether weight decay applies), its constructor's
arguments (:meth:`get_config` / :meth:`from_config`, by which model files store it) and its row of the
engine's layer table (``_layout``). The model lays every layer's parameters out in one flat buffer in the order
``params`` gives, binds them to the layer's attributes, initialises them and saves them from that alone.
"""
import math
import numbers
import weakref
from typing import NamedTuple

import numpy as np

from .. import _kernels
from .._core.registry import register
from .._core.validation import check_bool, check_float, check_int

__all__ = ["Dense", "Linear", "Dropout", "Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "Flatten", "Reshape",
           "ACTIVATIONS",
           "ParamSpec", "INITIALIZERS"]

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


#: Initialisers by name: ``init(rng, shape, (fan_in, fan_out))`` returns the values (or a scalar to fill with).
#: He (Kaiming) uniform ``U(-sqrt(6 / fan_in), +)``, Glorot (Xavier) uniform ``U(-sqrt(6 / (fan_in + fan_out)),
#: +)``, zeros.
INITIALIZERS = {"he_uniform": _he_uniform, "glorot_uniform": _glorot_uniform, "zeros": _zeros}


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
    #: model files store a layer as its class name and config (``fastnn.io`` checks each value by its kind).
    _CONFIG = {}
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

    def __setattr__(self, name, value):
        if name in self._READONLY:
            raise AttributeError(f"{type(self).__name__}.{name} cannot be set")
        fixed = name in self._FIXED
        check = self._FIXED[name] if fixed else self._LIVE.get(name, _check_trainable if name == "trainable" else None)
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


class _Weighted(_Layer):
    """What layers with parameters share: ``weight`` and ``bias`` as writable views into the model's flat
    parameter buffer, bound by the model (``weight_shape`` and ``bias_shape`` give their shapes)."""

    _weight = None
    _bias = None
    _engine_row = True

    def params(self):
        """The weight (He-uniform initialised before a ReLU-like activation, Glorot-uniform otherwise; decayed)
        and the bias (zeros; not decayed)."""
        init = "he_uniform" if self.activation in RELU_LIKE else "glorot_uniform"
        return (ParamSpec("weight", self.weight_shape, init, True),
                ParamSpec("bias", self.bias_shape, "zeros", False))

    def _bind(self, name, view):
        """Make attribute ``name`` view ``view`` (the layer's part of the model's flat buffer), or None."""
        object.__setattr__(self, "_" + name, view)

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
        self._assign("bias", value, self.bias_shape)

    def _assign(self, name, value, shape):
        target = getattr(self, "_" + name)
        if target is None:
            raise RuntimeError(f"this layer belongs to no model yet, so it has no {name} to set")
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        arr = arr.astype(target.dtype, copy=False)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinity")
        target[...] = arr


@register
class Dense(_Weighted):
    r"""Fully connected layer: :math:`y = f(x W^T + b)`.

    Parameters
    ----------
    in_features : int
        Size of each input sample.
    out_features : int
        Size of each output sample.
    activation : {None, 'identity', 'relu', 'sigmoid', 'tanh', 'softmax', 'leaky_relu', 'elu', 'softplus', \
'gelu'}, default=None
        Applied to the output; ``None`` and ``'linear'`` mean the identity. As in PyTorch's defaults,
        ``leaky_relu`` has negative slope 0.01, ``elu`` has alpha 1, ``softplus`` is ``log(1 + e^z)`` and
        ``gelu`` is the exact ``z * Phi(z)`` (the normal CDF, via ``erf``).

    Attributes
    ----------
    weight : ndarray of shape (out_features, in_features)
        Writable view into the model's parameter buffer, once the layer is part of a
        :class:`~fastnn.Sequential`; ``None`` before. Assigning an array copies it in.
    bias : ndarray of shape (out_features,)
        Likewise.
    activation : str
        May be set at any time (checked as the argument is): the model's next ``predict``, ``evaluate`` and
        ``fit`` use it, and :meth:`~fastnn.Sequential.save` writes it. ``in_features`` and ``out_features`` are
        fixed once the layer belongs to a model (setting them raises ``AttributeError``).

    Notes
    -----
    Weights are initialised by the model from its seed: He-uniform,
    :math:`U(-\sqrt{6/n_{in}}, \sqrt{6/n_{in}})`, for ``relu``, ``leaky_relu``, ``elu``, ``gelu`` and
    ``softplus`` layers, and Glorot-uniform,
    :math:`U(-\sqrt{6/(n_{in}+n_{out})}, \sqrt{6/(n_{in}+n_{out})})`, otherwise. Biases start at zero.

    Shape: input ``(n_samples, in_features)``, output ``(n_samples, out_features)``.

    Examples
    --------
    >>> import fastnn
    >>> layer = fastnn.Dense(784, 128, activation="relu")
    >>> layer
    Dense(784, 128, activation='relu')
    """

    _FIXED = {"in_features": lambda self, v: check_int(v, "in_features", minimum=1),
              "out_features": lambda self, v: check_int(v, "out_features", minimum=1)}
    _LIVE = {"activation": _check_activation}

    _CONFIG = {"in_features": "size", "out_features": "size", "activation": "name"}

    def __init__(self, in_features, out_features, activation=None):
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self._weight = None
        self._bias = None

    @property
    def weight_shape(self):
        return (self.out_features, self.in_features)

    @property
    def bias_shape(self):
        return (self.out_features,)

    @property
    def fans(self):
        """``(fan_in, fan_out)`` of the weight initialisation."""
        return self.in_features, self.out_features

    def _output_shape(self, shape):
        if len(shape) != 1:
            raise ValueError("Dense takes flat inputs (n_samples, in_features): put a Flatten() before it")
        if shape[0] != self.in_features:
            raise ValueError(f"its in_features={self.in_features} differs from the {shape[0]} features it gets")
        return (self.out_features,)

    def _layout(self, shape):
        return (_kernels.LAYER_DENSE,) + (0,) * 12

    def __repr__(self):
        return f"Dense({self.in_features}, {self.out_features}, activation={self.activation!r})"


#: PyTorch's name for :class:`Dense`.
Linear = Dense


@register
class Dropout(_Layer):
    r"""Inverted dropout: while training, each unit of the previous layer's output is zeroed with probability
    ``p`` and the kept ones are scaled by :math:`1/(1-p)`; ``predict`` and ``evaluate`` use every unit unscaled.

    The masks come from a counter-based generator keyed on the model's seed, the update count, the row's
    position in the batch and the unit, so training stays bit-identical for any ``n_threads`` and a resumed run
    equals an uninterrupted one. A ``Dropout`` first in the model drops inputs.

    Parameters
    ----------
    p : float in [0, 1)
        Probability of dropping a unit. May be set at any time (checked as the argument is): the model's next
        ``fit`` uses it.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.Sequential([fastnn.Dense(784, 512, "relu"), fastnn.Dropout(0.2),
    ...                    fastnn.Dense(512, 10, "softmax")], seed=0)
    Sequential([Dense(784, 512, activation='relu'), Dropout(0.2), Dense(512, 10, activation='softmax')], dtype='float32')
    """

    _LIVE = {"p": lambda self, v: check_float(v, "p", low=0.0, high=1.0, high_inclusive=False)}

    _CONFIG = {"p": "rate"}

    def _note(self):
        return f"{self.p:g}"

    def __init__(self, p=0.5):
        self.p = p

    def __repr__(self):
        return f"Dropout({self.p})"


def _pair(value, name, minimum):
    """An int or a pair of ints as a pair, each at least ``minimum``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return tuple(check_int(v, name, minimum=minimum) for v in value)
    v = check_int(value, name, minimum=minimum)
    return (v, v)


def _image_shape(shape, what):
    if len(shape) != 3:
        raise ValueError(f"{what} takes images (n_samples, channels, height, width), but gets samples of shape "
                         f"{shape}: start the model with Reshape((channels, height, width))")
    return shape


@register
class Conv2D(_Weighted):
    r"""Two-dimensional convolution (PyTorch's ``Conv2d`` without dilation and groups), NCHW:
    :math:`y[o] = f(b[o] + \sum_c W[o, c] \star x[c])`.

    Parameters
    ----------
    in_channels : int
        Channels of the input images.
    out_channels : int
        Channels of the output (the number of filters).
    kernel_size : int or (int, int)
        Height and width of the kernel.
    stride : int or (int, int), default=1
    padding : int, (int, int) or 'same', default=0
        Zeros added on each side of the input (height, width). ``'same'`` (stride 1 only, as in PyTorch) pads
        so that the output has the input's size: ``(k - 1) // 2`` before and the rest after.
    activation : str or None, default=None
        As for :class:`Dense`, except ``'softmax'``.

    Attributes
    ----------
    weight : ndarray of shape (out_channels, in_channels, kh, kw)
        Writable view into the model's parameter buffer once the layer is part of a model.
    bias : ndarray of shape (out_channels,)
    activation : str
        May be set at any time, as for :class:`Dense`; the other settings are fixed once the layer belongs to a
        model.

    Notes
    -----
    Shape: input ``(n_samples, in_channels, H, W)``, output ``(n_samples, out_channels, H_out, W_out)`` with
    ``H_out = (H + 2 * padding - kh) // stride + 1`` (likewise ``W_out``). Initialised like :class:`Dense`
    with ``fan_in = in_channels * kh * kw`` and ``fan_out = out_channels * kh * kw`` (He-uniform for the
    ReLU family, Glorot-uniform otherwise; Keras's rules), biases zero. Computed as im2col and one matrix
    product per image.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.Conv2D(1, 32, kernel_size=3, activation="relu")
    Conv2D(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(0, 0), activation='relu')
    """

    def _check_stride(self, value):
        stride = _pair(value, "stride", 1)
        if getattr(self, "padding", None) == "same" and stride != (1, 1):
            raise ValueError("padding='same' needs stride 1 (as in PyTorch)")
        return stride

    def _check_padding(self, padding):
        if isinstance(padding, str):
            if padding.lower() not in ("same", "valid"):
                raise ValueError(f"padding must be an int, a pair of ints, 'same' or 'valid', got {padding!r}")
            padding = padding.lower()
            if padding == "same" and getattr(self, "stride", (1, 1)) != (1, 1):
                raise ValueError("padding='same' needs stride 1 (as in PyTorch)")
            return padding if padding == "same" else (0, 0)
        return _pair(padding, "padding", 0)

    def _check_activation(self, value):
        name = _activation_name(value)
        if name == "softmax":
            raise ValueError("Conv2D does not take activation='softmax': use a Dense softmax output layer")
        return name

    _FIXED = {"in_channels": lambda self, v: check_int(v, "in_channels", minimum=1),
              "out_channels": lambda self, v: check_int(v, "out_channels", minimum=1),
              "kernel_size": lambda self, v: _pair(v, "kernel_size", 1),
              "stride": _check_stride, "padding": _check_padding}
    _LIVE = {"activation": _check_activation}

    _CONFIG = {"in_channels": "size", "out_channels": "size", "kernel_size": "pair", "stride": "pair",
               "padding": "padding", "activation": "name"}

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, activation=None):
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.activation = activation
        self._weight = None
        self._bias = None

    @property
    def weight_shape(self):
        return (self.out_channels, self.in_channels) + self.kernel_size

    @property
    def bias_shape(self):
        return (self.out_channels,)

    @property
    def fans(self):
        k = self.kernel_size[0] * self.kernel_size[1]
        return self.in_channels * k, self.out_channels * k

    def _pads(self):
        """Padding before (top, left)."""
        if self.padding == "same":
            return tuple((k - 1) // 2 for k in self.kernel_size)
        return self.padding

    def _output_shape(self, shape):
        c, h, w = _image_shape(shape, "Conv2D")
        if c != self.in_channels:
            raise ValueError(f"its in_channels={self.in_channels} differs from the {c} channels it gets")
        if self.padding == "same":
            return (self.out_channels, h, w)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if kh > h + 2 * ph or kw > w + 2 * pw:
            raise ValueError(f"its kernel {kh}x{kw} is larger than the padded input {h + 2 * ph}x{w + 2 * pw}")
        return (self.out_channels, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)

    def _layout(self, shape):
        out = self._output_shape(shape)
        return (_kernels.LAYER_CONV2D,) + tuple(shape) + out + self.kernel_size + self.stride + self._pads()

    def __repr__(self):
        padding = repr(self.padding)
        return (f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={padding}, activation={self.activation!r})")


class _Pool2D(_Layer):
    kind = None
    _engine_row = True
    activation = "identity"  # what the engine applies to its output: nothing (pooling has no activation to set)
    _FIXED = {"pool_size": lambda self, v: _pair(v, "pool_size", 1), "stride": lambda self, v: _pair(v, "stride", 1)}
    _READONLY = ("activation", "kind")

    _CONFIG = {"pool_size": "pair", "stride": "pair"}

    def __init__(self, pool_size, stride=None):
        self.pool_size = pool_size
        self.stride = self.pool_size if stride is None else stride

    def _output_shape(self, shape):
        c, h, w = _image_shape(shape, type(self).__name__)
        (kh, kw), (sh, sw) = self.pool_size, self.stride
        if kh > h or kw > w:
            raise ValueError(f"its window {kh}x{kw} is larger than the input {h}x{w}")
        return (c, (h - kh) // sh + 1, (w - kw) // sw + 1)

    def _layout(self, shape):
        return (self.kind,) + tuple(shape) + self._output_shape(shape) + self.pool_size + self.stride + (0, 0)

    def __repr__(self):
        return f"{type(self).__name__}({self.pool_size}, stride={self.stride})"


@register
class MaxPool2D(_Pool2D):
    """Max pooling over windows of ``pool_size`` (PyTorch's ``MaxPool2d``, no padding, floor mode).

    The gradient of each window goes to its largest input (the first one on ties); the arg-max indices are
    kept from the forward pass.

    Parameters
    ----------
    pool_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``pool_size``.

    Notes
    -----
    Shape: ``(n, C, H, W)`` to ``(n, C, (H - kh) // sh + 1, (W - kw) // sw + 1)``.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.MaxPool2D(2)
    MaxPool2D((2, 2), stride=(2, 2))
    """

    kind = _kernels.LAYER_MAXPOOL2D


@register
class AvgPool2D(_Pool2D):
    """Average pooling over windows of ``pool_size`` (PyTorch's ``AvgPool2d``, no padding, floor mode).

    Parameters
    ----------
    pool_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``pool_size``.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.AvgPool2D(2, stride=1)
    AvgPool2D((2, 2), stride=(1, 1))
    """

    kind = _kernels.LAYER_AVGPOOL2D


@register
class GlobalAvgPool2D(_Layer):
    """The mean of each channel over the whole image (Keras's ``GlobalAveragePooling2D``; PyTorch's
    ``AdaptiveAvgPool2d(1)`` then ``flatten``): ``(n, C, H, W)`` to ``(n, C)``.

    It replaces the Flatten and the large Dense layer after a stack of convolutions with C values an image (the
    classic head of ResNet-style networks), whatever the image size. In the engine it is average pooling with
    one window the size of the image.

    Examples
    --------
    >>> import numpy as np, fastnn
    >>> model = fastnn.Sequential([fastnn.Conv2D(1, 8, 3, activation="relu"), fastnn.GlobalAvgPool2D(),
    ...                            fastnn.Dense(8, 10, "softmax")], input_shape=(1, 28, 28))
    >>> model.predict(np.zeros((2, 1, 28, 28), dtype=np.float32)).shape
    (2, 10)
    """

    kind = _kernels.LAYER_AVGPOOL2D
    activation = "identity"  # what the engine applies to its output: nothing
    _READONLY = ("activation", "kind")
    _engine_row = True

    def _output_shape(self, shape):
        return (_image_shape(shape, "GlobalAvgPool2D")[0],)

    def _layout(self, shape):
        c, h, w = _image_shape(shape, "GlobalAvgPool2D")
        return (self.kind, c, h, w, c, 1, 1, h, w, h, w, 0, 0)

    def __repr__(self):
        return "GlobalAvgPool2D()"


@register
class Reshape(_Layer):
    """Give each sample the shape ``shape`` (a view: no copy), e.g. flat 784-pixel rows to ``(1, 28, 28)``.

    First in a model, it sets the model's input: samples given flat ``(n, prod(shape))`` or already shaped
    ``(n, *shape)``.

    Parameters
    ----------
    shape : tuple of int
        The shape of one sample, ``(channels, height, width)`` for convolutions.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.Reshape((1, 28, 28))
    Reshape((1, 28, 28))
    """

    def _check_shape(self, shape):
        if isinstance(shape, numbers.Integral):
            shape = (shape,)
        try:
            shape = tuple(shape)
        except TypeError:
            raise TypeError(f"shape must be a tuple of ints, got {type(shape).__name__}") from None
        if not shape:
            raise ValueError("shape must hold at least one size")
        return tuple(check_int(v, "shape", minimum=1) for v in shape)

    _FIXED = {"shape": _check_shape}

    _CONFIG = {"shape": "shape"}

    def __init__(self, shape):
        self.shape = shape

    def _output_shape(self, shape):
        if math.prod(shape) != math.prod(self.shape):
            raise ValueError(f"it gets {math.prod(shape)} values a sample, which cannot take the shape {self.shape}")
        return self.shape

    def __repr__(self):
        return f"Reshape({self.shape})"


@register
class Flatten(_Layer):
    """Flatten each sample to one row (a view: no copy), PyTorch's and Keras's ``Flatten``.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.Flatten()
    Flatten()
    """

    def _output_shape(self, shape):
        return (math.prod(shape),)

    def __repr__(self):
        return "Flatten()"
