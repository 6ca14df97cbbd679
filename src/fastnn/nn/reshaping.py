"""Views that give samples another shape, without a copy: :class:`Reshape` and :class:`Flatten`."""
import math
import numbers

from .. import _kernels
from .._core.registry import register
from .._core.validation import check_int
from .base import ACTIVATIONS, _Layer

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


class _Permute(_Layer):
    """A row of the engine's layer table that no layer of the model is: each sample's values, read as a ``rows x
    cols`` matrix, transposed. The model adds one where channels-last images meet the engine's NCHW layout
    (:class:`~fastnn.models.stack.Stack`): ``(H*W) x C`` to ``C x (H*W)`` where they enter, ``C x (H*W)`` to
    ``(H*W) x C`` where they leave (a Flatten then flattens in Keras's ``(h, w, c)`` order). ``carries``: at the
    model's output, it applies the activation of the layer before it instead of that layer (an elementwise
    function commutes with a permutation), so that the output layer's activation is what the loss sees
    (:func:`~fastnn.models.stack.engine_activations`)."""

    _engine_row = True
    _engine_activation = "identity"

    def __init__(self, rows, cols, carries=False):
        self.rows, self.cols, self.carries = rows, cols, carries

    def _output_shape(self, shape):
        return shape

    def _layout(self, shape):
        return {"kind": _kernels.LAYER_PERMUTE, "h": self.rows, "w": self.cols}

    def __repr__(self):
        return f"_Permute({self.rows}, {self.cols})"


def engine_activations(engine):
    """The activation code of each of the engine's rows ``engine``: a layer's own, but identity for a layer whose
    activation the permutation after it applies (:class:`~fastnn.nn.reshaping._Permute`)."""
    names = [layer._engine_activation for layer in engine]
    for r, layer in enumerate(engine):
        if getattr(layer, "carries", False):
            names[r - 1], names[r] = "identity", names[r - 1]
    return [ACTIVATIONS[name] for name in names]


def output_layer(engine):
    """The layer whose activation gives the model's output: the last row, or the one before a permutation that
    carries its activation."""
    return engine[-2] if getattr(engine[-1], "carries", False) else engine[-1]
