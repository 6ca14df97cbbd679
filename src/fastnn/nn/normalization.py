"""Batch normalization: :class:`BatchNorm1d` (after a dense layer) and :class:`BatchNorm2d` (after a convolution),
PyTorch's layers, with their running statistics as non-trained state."""
from .. import _kernels
from .._core.registry import register
from .._core.validation import check_float, check_int
from .base import BufferSpec, ParamSpec, _activation_name, _image_shape, _Weighted

__all__ = ["BatchNorm1d", "BatchNorm2d"]


def _check_activation(layer, value):
    name = _activation_name(value)
    if name == "softmax":
        raise ValueError(f"{type(layer).__name__} does not take activation='softmax': use a Dense softmax output "
                         "layer")
    return name


class _BatchNorm(_Weighted):
    r"""What both batch normalizations share. While training, each channel ``c`` is normalised by the batch's mean
    and (biased) variance over the rows (and positions), :math:`y = \gamma_c (x - \mu_c) / \sqrt{\sigma_c^2 +
    \epsilon} + \beta_c`, and each update moves the running statistics: ``running_mean = (1 - momentum) *
    running_mean + momentum * mu``, the same for ``running_var`` with the unbiased variance. ``predict`` and
    ``evaluate`` normalise with the running statistics."""

    _FIXED = {"num_features": lambda self, v: check_int(v, "num_features", minimum=1),
              "eps": lambda self, v: check_float(v, "eps", low=0.0, low_inclusive=False),
              "momentum": lambda self, v: check_float(v, "momentum", low=0.0, high=1.0)}
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
        PyTorch's meaning: the weight of the new batch's statistics in the running ones.
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

    Parameters, attributes: as :class:`BatchNorm1d`, ``num_features`` the channels.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.BatchNorm2d(32, activation="relu")
    BatchNorm2d(32, eps=1e-05, momentum=0.1, activation='relu')
    """

    def _output_shape(self, shape):
        c, _, _ = _image_shape(shape, "BatchNorm2d")
        if c != self.num_features:
            raise ValueError(f"BatchNorm2d({self.num_features}) takes {self.num_features} channels, not {c}")
        return shape

    def _layout(self, shape):
        return self._layout_of(shape, *shape)
