"""Normalization layers, PyTorch's: :class:`BatchNorm1d` (after a dense layer) and :class:`BatchNorm2d` (after a
convolution), with their running statistics as non-trained state, and :class:`LayerNorm` (each sample, or each
step of a sequence, normalised on its own)."""
import math

from .. import _kernels
from .._core.registry import register
from .._core.validation import check_bool, check_float, check_int, warn_user
from .base import (BufferSpec, ParamSpec, _activation_name, _check_data_format, _data_format_repr, _image_shape,
                   _Weighted)

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


def _check_activation(layer, value):
    name = _activation_name(value)
    if name == "softmax":
        raise ValueError(f"{type(layer).__name__} does not take activation='softmax': use a Dense softmax output "
                         "layer")
    return name


def _check_momentum(layer, value):
    """PyTorch's momentum, in [0, 1]; a warning for Keras's habit (0.99 there is 0.01 here)."""
    value = check_float(value, "momentum", low=0.0, high=1.0)
    if value > 0.5:
        warn_user(f"{type(layer).__name__}(momentum={value}) moves the running statistics {value:.0%} of the way "
                  "to each batch's (PyTorch's convention, running = (1 - momentum) * running + momentum * batch); "
                  f"Keras's BatchNormalization(momentum={value}) is momentum={1 - value:.3g} here")
    return value


class _BatchNorm(_Weighted):
    r"""What both batch normalizations share. While training, each channel ``c`` is normalised by the batch's mean
    and (biased) variance over the rows (and positions), :math:`y = \gamma_c (x - \mu_c) / \sqrt{\sigma_c^2 +
    \epsilon} + \beta_c`, and each update moves the running statistics: ``running_mean = (1 - momentum) *
    running_mean + momentum * mu``, the same for ``running_var`` with the unbiased variance. ``predict`` and
    ``evaluate`` normalise with the running statistics."""

    _FIXED = {"num_features": lambda self, v: check_int(v, "num_features", minimum=1),
              "eps": lambda self, v: check_float(v, "eps", low=0.0, low_inclusive=False),
              "momentum": _check_momentum}
    _LIVE = {"activation": _check_activation}
    _CONFIG = {"num_features": "size", "eps": "rate", "momentum": "rate", "activation": "name"}
    _running_mean = None
    _running_var = None
    _affine = None

    def __init__(self, num_features, eps=1e-5, momentum=0.1, activation=None):
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.activation = activation
        self._weight = None
        self._bias = None

    def params(self):
        """The pairs ``(gamma_c, beta_c)``, starting at ``(1, 0)``; never decayed."""
        return (ParamSpec("affine", (self.num_features, 2), "scale_shift", False),)

    def buffers(self):
        """The running mean (starting at 0), then the running variance (starting at 1)."""
        return (BufferSpec("running_mean", (self.num_features,), 0.0),
                BufferSpec("running_var", (self.num_features,), 1.0))

    def _bind(self, name, view):
        object.__setattr__(self, "_affine", view)
        object.__setattr__(self, "_weight", None if view is None else view[:, 0])
        object.__setattr__(self, "_bias", None if view is None else view[:, 1])

    @property
    def affine(self):
        """``(num_features, 2)``: the pairs ``(gamma_c, beta_c)`` as the model's buffer holds them (``weight`` and
        ``bias`` view its columns)."""
        return self._affine

    @property
    def weight_shape(self):
        return (self.num_features,)

    @property
    def bias_shape(self):
        return (self.num_features,)

    @property
    def fans(self):
        return self.num_features, self.num_features

    @property
    def running_mean(self):
        """``(num_features,)``: the running mean, a writable view into the model's state (PyTorch's buffer)."""
        return self._running_mean

    @property
    def running_var(self):
        """``(num_features,)``: the running (unbiased) variance."""
        return self._running_var

    def _layout_of(self, shape, c, h, w):
        return {"kind": _kernels.LAYER_BATCHNORM, "c": c, "h": h, "w": w, "co": c, "ho": h, "wo": w,
                "eps": self.eps, "momentum": self.momentum}

    def _note(self):
        return ""

    def __repr__(self):
        extra = f", activation={self.activation!r}" if self.activation != "identity" else ""
        return f"{type(self).__name__}({self.num_features}, eps={self.eps}, momentum={self.momentum}{extra})"


@register
class BatchNorm1d(_BatchNorm):
    """Batch normalization of features (PyTorch's ``BatchNorm1d`` on ``(n, num_features)``), usually between a
    ``Dense`` layer (without activation) and the activation, which it can apply itself.

    Parameters
    ----------
    num_features : int
    eps : float, default=1e-5
    momentum : float, default=0.1
        PyTorch's meaning: the weight of the new batch's statistics in the running ones (Keras's
        ``momentum=0.99`` is ``0.01`` here; values above 0.5 warn).
    activation : str or None, default=None
        Applied after the normalization (as :class:`Dense` takes it, except ``'softmax'``).

    Attributes
    ----------
    weight, bias : ndarray of shape (num_features,)
        ``gamma`` and ``beta`` (PyTorch's names), writable views once the layer belongs to a model. Neither is
        decayed or penalised.
    running_mean, running_var : ndarray of shape (num_features,)
        The running statistics (non-trained state), saved with the model.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.Sequential([fastnn.Dense(4, 8), fastnn.BatchNorm1d(8, activation="relu"), fastnn.Dense(8, 2)], seed=0)
    Sequential([Dense(4, 8, activation='identity'), BatchNorm1d(8, eps=1e-05, momentum=0.1, activation='relu'), Dense(8, 2, activation='identity')], dtype='float32')
    """

    def _output_shape(self, shape):
        if len(shape) != 1 or shape[0] != self.num_features:
            raise ValueError(f"BatchNorm1d({self.num_features}) takes ({self.num_features},) features a sample")
        return shape

    def _layout(self, shape):
        return self._layout_of(shape, self.num_features, 1, 1)


@register
class BatchNorm2d(_BatchNorm):
    """Batch normalization of image channels (PyTorch's ``BatchNorm2d`` on ``(n, C, H, W)``): each channel's
    statistics over the batch and every position; usually between a ``Conv2D`` (without activation) and the
    activation, which it can apply itself.

    Parameters, attributes: as :class:`BatchNorm1d`, ``num_features`` the channels, and ``data_format``
    (``'channels_first'``, the default, or Keras's ``'channels_last'``: images ``(n, H, W, C)``, normalised per
    channel as Keras's ``BatchNormalization(axis=-1)``; see :class:`Conv2D`).

    Examples
    --------
    >>> import fastnn
    >>> fastnn.BatchNorm2d(32, activation="relu")
    BatchNorm2d(32, eps=1e-05, momentum=0.1, activation='relu')
    """

    _FIXED = {**_BatchNorm._FIXED, "data_format": _check_data_format}
    _CONFIG = {**_BatchNorm._CONFIG, "data_format": "name"}

    def __init__(self, num_features, eps=1e-5, momentum=0.1, activation=None, data_format="channels_first"):
        super().__init__(num_features, eps, momentum, activation)
        self.data_format = data_format

    def __repr__(self):
        return super().__repr__()[:-1] + _data_format_repr(self) + ")"

    def _output_shape(self, shape):
        c, _, _ = _image_shape(shape, "BatchNorm2d")
        if c != self.num_features:
            raise ValueError(f"BatchNorm2d({self.num_features}) takes {self.num_features} channels, not {c}")
        return shape

    def _layout(self, shape):
        return self._layout_of(shape, *shape)


@register
class BatchNorm(BatchNorm2d):
    """Batch normalization after a ``Dense`` layer or a ``Conv2D``, chosen by its input as Keras's
    ``BatchNormalization``: on ``(n, num_features)`` rows it is :class:`BatchNorm1d`, on ``(n, C, H, W)`` images
    (or ``(n, H, W, C)`` with ``data_format="channels_last"``) :class:`BatchNorm2d`, per channel. PyTorch's math
    either way; the parameters and attributes are theirs.

    Parameters
    ----------
    num_features : int
        The features of a row after ``Dense``, or the channels of an image.
    eps : float, default=1e-5
        Added to the variance before its square root.
    momentum : float, default=0.1
        PyTorch's meaning: the weight of the new batch's statistics in the running ones (Keras's
        ``momentum=0.99`` is ``0.01`` here; values above 0.5 warn).
    activation : str or None, default=None
        Applied after the normalization (as :class:`Dense` takes it, except ``'softmax'``).
    data_format : {'channels_first', 'channels_last'}, default='channels_first'
        For images: ``(n, C, H, W)``, or Keras's ``(n, H, W, C)``.

    Examples
    --------
    >>> import fastnn
    >>> model = fastnn.Sequential([fastnn.Conv2D(1, 8, 3), fastnn.BatchNorm(8, activation="relu"),
    ...                            fastnn.Flatten(), fastnn.Dense(8 * 6 * 6, 16), fastnn.BatchNorm(16),
    ...                            fastnn.Dense(16, 2, "softmax")], input_shape=(1, 8, 8), seed=0)
    >>> model.layers[1], model.layers[4]
    (BatchNorm(8, eps=1e-05, momentum=0.1, activation='relu'), BatchNorm(16, eps=1e-05, momentum=0.1))
    """

    def _output_shape(self, shape):
        if len(shape) == 1:
            if shape[0] != self.num_features:
                raise ValueError(f"BatchNorm({self.num_features}) takes {self.num_features} features a sample (or "
                                 f"channels of an image), not {shape[0]}")
            return shape
        c, _, _ = _image_shape(shape, "BatchNorm")
        if c != self.num_features:
            raise ValueError(f"BatchNorm({self.num_features}) takes {self.num_features} channels, not {c}")
        return shape

    def _layout(self, shape):
        if len(shape) == 1:
            return self._layout_of(shape, self.num_features, 1, 1)
        return super()._layout(shape)


def _check_normalized_shape(layer, value):
    """An int or a tuple of 1 to 4 positive ints, as a tuple."""
    if isinstance(value, (tuple, list)):
        if not 1 <= len(value) <= 4:
            raise ValueError(f"normalized_shape must hold 1 to 4 sizes, got {tuple(value)}")
        return tuple(check_int(v, "normalized_shape", minimum=1) for v in value)
    return (check_int(value, "normalized_shape", minimum=1),)


@register
class LayerNorm(_Weighted):
    r"""Layer normalization (PyTorch's ``nn.LayerNorm``): each sample's last ``len(normalized_shape)`` dimensions
    normalised by their own mean and (biased) variance,

    .. math:: y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \gamma + \beta,

    the same in training and at inference. After a ``Dense`` layer it normalises each sample's features; after a
    recurrent layer with ``return_sequences=True`` (``(n, T, F)``, ``normalized_shape=F``) each step's.

    Parameters
    ----------
    normalized_shape : int or tuple of int
        The trailing dimensions of a sample to normalise over (an int: the last one).
    eps : float, default=1e-5
        Added to the variance.
    elementwise_affine : bool, default=True
        Whether the layer has the scale ``weight`` (starting at 1) and shift ``bias`` (starting at 0) of shape
        ``normalized_shape``; neither is decayed or penalised.

    Attributes
    ----------
    weight, bias : ndarray of shape normalized_shape, or None
        ``gamma`` and ``beta``, writable views once the layer belongs to a model (None without
        ``elementwise_affine``).

    Notes
    -----
    No statistic is shared between samples: a batch of one row trains as any other, and results are
    bit-identical for any ``n_threads``. ONNX export writes ``LayerNormalization`` (opset 17 and later).

    Examples
    --------
    >>> import numpy as np, fastnn
    >>> model = fastnn.Sequential([fastnn.Dense(4, 8), fastnn.LayerNorm(8), fastnn.Activation("relu"),
    ...                            fastnn.Dense(8, 2)], seed=0)
    >>> model.predict(np.ones((3, 4))).shape
    (3, 2)
    """

    _FIXED = {"normalized_shape": _check_normalized_shape,
              "eps": lambda self, v: check_float(v, "eps", low=0.0, low_inclusive=False),
              "elementwise_affine": lambda self, v: check_bool(v, "elementwise_affine")}
    _LIVE = {}
    _CONFIG = {"normalized_shape": "shape", "eps": "rate", "elementwise_affine": "flag"}
    #: What the engine applies to the layer's output: nothing (as PyTorch's LayerNorm).
    _engine_activation = "identity"
    _affine = None

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True):
        self.normalized_shape = normalized_shape
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self._weight = None
        self._bias = None

    @property
    def _size(self):
        return math.prod(self.normalized_shape)

    def params(self):
        """The pairs ``(gamma_j, beta_j)``, starting at ``(1, 0)``, never decayed; none without
        ``elementwise_affine``."""
        return (ParamSpec("affine", (self._size, 2), "scale_shift", False),) if self.elementwise_affine else ()

    def _bind(self, name, view):
        object.__setattr__(self, "_affine", view)
        for part, attr in enumerate(("_weight", "_bias")):
            object.__setattr__(self, attr, None if view is None else view[:, part].reshape(self.normalized_shape))

    def _assign(self, name, value, shape):
        if not self.elementwise_affine:
            raise AttributeError(f"this LayerNorm has no {name} (elementwise_affine=False)")
        super()._assign(name, value, shape)

    @property
    def affine(self):
        """``(prod(normalized_shape), 2)``: the pairs ``(gamma_j, beta_j)`` as the model's buffer holds them
        (``weight`` and ``bias`` view its columns)."""
        return self._affine

    @property
    def weight_shape(self):
        return self.normalized_shape

    @property
    def bias_shape(self):
        return self.normalized_shape

    @property
    def fans(self):
        return self._size, self._size

    def _output_shape(self, shape):
        n = len(self.normalized_shape)
        if tuple(shape[-n:]) != self.normalized_shape or len(shape) < n:
            raise ValueError(f"LayerNorm({self.normalized_shape}) normalises the last dimensions "
                             f"{self.normalized_shape} of a sample, but gets samples of shape {tuple(shape)}")
        return shape

    def _layout(self, shape):
        return {"kind": _kernels.LAYER_LAYERNORM, "c": self._size, "steps": math.prod(shape) // self._size,
                "eps": self.eps, "affine": int(self.elementwise_affine)}

    def __repr__(self):
        shape = self.normalized_shape[0] if len(self.normalized_shape) == 1 else self.normalized_shape
        extra = "" if self.elementwise_affine else ", elementwise_affine=False"
        return f"LayerNorm({shape}, eps={self.eps}{extra})"
