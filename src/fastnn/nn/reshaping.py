"""Views that give samples another shape, without a copy: :class:`Reshape` and :class:`Flatten`."""
import math
import numbers

from .._core.registry import register
from .._core.validation import check_int
from .base import _Layer

__all__ = ["Reshape", "Flatten"]


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
