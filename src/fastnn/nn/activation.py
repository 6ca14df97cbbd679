"""An activation as a layer of its own: :class:`Activation` (Keras's ``Activation``; PyTorch's ``nn.ReLU``,
``nn.Tanh``, ...)."""
from .. import _kernels
from .._core.registry import register
from .base import _check_activation, _Layer

__all__ = ["Activation"]


@register
class Activation(_Layer):
    """Apply ``activation`` to its input, keeping its shape: ``Conv2D -> BatchNorm2d -> Activation("relu")``
    reads as in Keras.

    Parameters
    ----------
    activation : str
        One of :class:`~fastnn.Dense`'s activations (``'relu'``, ``'tanh'``, ``'sigmoid'``, ``'gelu'``, ...;
        ``'softmax'`` over the features of flat samples). May be set after the model is built, as a ``Dense``
        layer's.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.Activation("relu")
    Activation('relu')
    """

    _engine_row = True
    _LIVE = {"activation": _check_activation}
    _CONFIG = {"activation": "name"}

    def __init__(self, activation):
        self.activation = activation

    def _output_shape(self, shape):
        return shape

    def _layout(self, shape):
        return {"kind": _kernels.LAYER_ACTIVATION}

    def __repr__(self):
        return f"Activation({self.activation!r})"
