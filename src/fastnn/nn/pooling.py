"""Pooling over images: :class:`MaxPool2D`, :class:`AvgPool2D` and :class:`GlobalAvgPool2D`."""
from .. import _kernels
from .._core.registry import register
from .base import _check_data_format, _data_format_repr, _image_shape, _Layer, _pair

__all__ = ["MaxPool2D", "AvgPool2D", "GlobalAvgPool2D"]


class _Pool2D(_Layer):
    kind = None
    _engine_row = True
    activation = "identity"  # what the engine applies to its output: nothing (pooling has no activation to set)
    _FIXED = {"pool_size": lambda self, v: _pair(v, "pool_size", 1), "stride": lambda self, v: _pair(v, "stride", 1),
              "data_format": _check_data_format}
    _READONLY = ("activation", "kind")

    _CONFIG = {"pool_size": "pair", "stride": "pair", "data_format": "name"}

    def __init__(self, pool_size, stride=None, data_format="channels_first"):
        self.pool_size = pool_size
        self.stride = self.pool_size if stride is None else stride
        self.data_format = data_format

    def _output_shape(self, shape):
        c, h, w = _image_shape(shape, type(self).__name__)
        (kh, kw), (sh, sw) = self.pool_size, self.stride
        if kh > h or kw > w:
            raise ValueError(f"its window {kh}x{kw} is larger than the input {h}x{w}")
        return (c, (h - kh) // sh + 1, (w - kw) // sw + 1)

    def _layout(self, shape):
        return (self.kind,) + tuple(shape) + self._output_shape(shape) + self.pool_size + self.stride + (0, 0)

    def __repr__(self):
        return f"{type(self).__name__}({self.pool_size}, stride={self.stride}{_data_format_repr(self)})"


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
    data_format : {'channels_first', 'channels_last'}, default='channels_first'
        Images ``(C, H, W)`` or, as Keras's default, ``(H, W, C)`` (see :class:`Conv2D`).

    Notes
    -----
    Shape: ``(n, C, H, W)`` to ``(n, C, (H - kh) // sh + 1, (W - kw) // sw + 1)`` (channels last: ``(n, H, W,
    C)`` to ``(n, H_out, W_out, C)``).

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
    data_format : {'channels_first', 'channels_last'}, default='channels_first'
        Images ``(C, H, W)`` or, as Keras's default, ``(H, W, C)`` (see :class:`Conv2D`).

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
    ``AdaptiveAvgPool2d(1)`` then ``flatten``): ``(n, C, H, W)`` to ``(n, C)``, or ``(n, H, W, C)`` to ``(n, C)``
    with Keras's ``data_format="channels_last"``.

    It replaces the Flatten and the large Dense layer after a stack of convolutions with C values an image (the
    classic head of ResNet-style networks), whatever the image size. In the engine it is average pooling with
    one window the size of the image.

    Parameters
    ----------
    data_format : {'channels_first', 'channels_last'}, default='channels_first'
        As for :class:`Conv2D`.

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
    _FIXED = {"data_format": _check_data_format}
    _CONFIG = {"data_format": "name"}

    def __init__(self, data_format="channels_first"):
        self.data_format = data_format

    def _output_shape(self, shape):
        return (_image_shape(shape, "GlobalAvgPool2D")[0],)

    def _layout(self, shape):
        c, h, w = _image_shape(shape, "GlobalAvgPool2D")
        return (self.kind, c, h, w, c, 1, 1, h, w, h, w, 0, 0)

    def __repr__(self):
        return f"GlobalAvgPool2D({_data_format_repr(self)[2:]})"
