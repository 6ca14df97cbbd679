"""Two-dimensional convolution over images (NCHW)."""
from .. import _kernels
from .._core.registry import register
from .._core.validation import check_int
from .base import (_activation_name, _check_data_format, _check_kernel_initializer, _check_use_bias,
                   _data_format_repr, _image_shape, _pair, _Weighted)

__all__ = ["Conv2D"]


@register
class Conv2D(_Weighted):
    r"""Two-dimensional convolution (PyTorch's ``Conv2d`` without dilation and groups), NCHW or (Keras's
    ``data_format="channels_last"``) NHWC: :math:`y[o] = f(b[o] + \sum_c W[o, c] \star x[c])`.

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
    use_bias : bool, default=True
        Whether the layer adds a bias per output channel (Keras's name); ``False``: no bias parameter at all.
    kernel_initializer : str or None, default=None
        As for :class:`Dense` (Keras's names), with the fans of Notes.
    data_format : {'channels_first', 'channels_last'}, default='channels_first'
        Keras's option: images ``(channels, height, width)`` (PyTorch's layout) or ``(height, width,
        channels)`` (Keras's). The image layers next to each other (Conv2D, pooling, BatchNorm2d) take the same
        one; a ``Flatten`` after a channels-last layer flattens in ``(h, w, c)`` order, as Keras does. The weight
        keeps PyTorch's layout either way: a Keras kernel ``(kh, kw, in, out)`` is ``kernel.transpose(3, 2, 0,
        1)``.

    Attributes
    ----------
    weight : ndarray of shape (out_channels, in_channels, kh, kw)
        Writable view into the model's parameter buffer once the layer is part of a model.
    bias : ndarray of shape (out_channels,) or None
        None with ``use_bias=False``.
    activation : str
        May be set at any time, as for :class:`Dense`; the other settings are fixed once the layer belongs to a
        model.

    Notes
    -----
    Shape: input ``(n_samples, in_channels, H, W)``, output ``(n_samples, out_channels, H_out, W_out)`` (with
    ``channels_last``: ``(n_samples, H, W, in_channels)`` to ``(n_samples, H_out, W_out, out_channels)``) with
    ``H_out = (H + 2 * padding - kh) // stride + 1`` (likewise ``W_out``). Initialised like :class:`Dense`
    with ``fan_in = in_channels * kh * kw`` and ``fan_out = out_channels * kh * kw`` (He-uniform for the
    ReLU family, Glorot-uniform otherwise; Keras's rules), biases zero. In float32 at stride 1, on machines
    with AVX-512 or AVX2 and FMA, direct kernels compute the output and the gradients from the images where
    they lie; otherwise im2col and one matrix product per group of images.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.Conv2D(1, 32, kernel_size=3, activation="relu")
    Conv2D(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(0, 0), activation='relu')

    Keras's layout: images ``(n, 28, 28, 1)``, and a Keras kernel loaded into the weight:

    >>> import numpy as np
    >>> conv = fastnn.Conv2D(1, 8, 3, data_format="channels_last")
    >>> model = fastnn.Sequential([conv, fastnn.GlobalAvgPool2D(data_format="channels_last")],
    ...                           input_shape=(28, 28, 1))
    >>> kernel = np.ones((3, 3, 1, 8))                  # Keras's (kh, kw, in, out)
    >>> conv.weight = kernel.transpose(3, 2, 0, 1)      # PyTorch's (out, in, kh, kw)
    >>> model.predict(np.ones((2, 28, 28, 1))).shape
    (2, 8)
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
              "stride": _check_stride, "padding": _check_padding, "use_bias": _check_use_bias,
              "kernel_initializer": _check_kernel_initializer, "data_format": _check_data_format}
    _LIVE = {"activation": _check_activation}

    _CONFIG = {"in_channels": "size", "out_channels": "size", "kernel_size": "pair", "stride": "pair",
               "padding": "padding", "activation": "name", "use_bias": "flag", "kernel_initializer": "initializer",
               "data_format": "name"}

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, activation=None, use_bias=True,
                 kernel_initializer=None, data_format="channels_first"):
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.data_format = data_format
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
        fields = ("c", "h", "w", "co", "ho", "wo", "kh", "kw", "sh", "sw", "ph", "pw")
        values = tuple(shape) + out + self.kernel_size + self.stride + self._pads()
        return {"kind": _kernels.LAYER_CONV2D, **dict(zip(fields, values)), "no_bias": int(not self.use_bias)}

    def __repr__(self):
        padding = repr(self.padding)
        return (f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={padding}, activation={self.activation!r}{self._repr_options()}"
                f"{_data_format_repr(self)})")
