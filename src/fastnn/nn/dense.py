"""Fully connected layers: :class:`Dense` and its PyTorch name :class:`Linear`."""
from .. import _kernels
from .._core.registry import register
from .._core.validation import check_int
from .base import _check_activation, _check_kernel_initializer, _check_use_bias, _Weighted

__all__ = ["Dense", "Linear"]


@register
class Dense(_Weighted):
    r"""Fully connected layer: :math:`y = f(x W^T + b)`.

    Parameters
    ----------
    in_features : int
        Size of each input sample.
    out_features : int
        Size of each output sample.
    activation : str or None, default=None
        Applied to the output: ``'identity'``, ``'relu'``, ``'sigmoid'``, ``'tanh'``, ``'softmax'``,
        ``'leaky_relu'``, ``'elu'``, ``'softplus'`` or ``'gelu'``; ``None`` and ``'linear'`` mean the identity. As in PyTorch's defaults,
        ``leaky_relu`` has negative slope 0.01, ``elu`` has alpha 1, ``softplus`` is ``log(1 + e^z)`` and
        ``gelu`` is the exact ``z * Phi(z)`` (the normal CDF, via ``erf``).
    use_bias : bool, default=True
        Whether the layer adds a bias ``b`` (Keras's name). ``False``: the layer has no bias parameter at all
        (``bias`` is None; parameter counts, model files and ONNX exports leave it out).
    kernel_initializer : str or None, default=None
        How the model initialises the weight: ``'he_normal'``, ``'he_uniform'``, ``'glorot_uniform'``,
        ``'glorot_normal'``, ``'orthogonal'`` or ``'zeros'`` (Keras's names and formulas, with ``fan_in = in_features`` and
        ``fan_out = out_features``; ``he_normal`` and ``glorot_normal`` are truncated normals of variance
        ``2 / fan_in`` and ``2 / (fan_in + fan_out)``; ``orthogonal`` gives orthonormal rows, or columns when
        there are more rows). None: He-uniform or Glorot-uniform by the activation (see Notes).

    Attributes
    ----------
    weight : ndarray of shape (out_features, in_features)
        Writable view into the model's parameter buffer, once the layer is part of a
        :class:`~fastnn.Sequential`; ``None`` before. Assigning an array copies it in.
    bias : ndarray of shape (out_features,) or None
        Likewise; None with ``use_bias=False``.
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

    Shape: input ``(n_samples, in_features)``, output ``(n_samples, out_features)``; on sequences (the output
    of a recurrent layer with ``return_sequences=True``) input ``(n_samples, steps, in_features)``, output
    ``(n_samples, steps, out_features)``: the layer applies to every step (PyTorch's ``Linear`` on the last
    axis), and a loss on such an output averages over samples and steps.

    Examples
    --------
    >>> import fastnn
    >>> layer = fastnn.Dense(784, 128, activation="relu")
    >>> layer
    Dense(784, 128, activation='relu')
    >>> fastnn.Dense(64, 32, use_bias=False, kernel_initializer="orthogonal")
    Dense(64, 32, activation='identity', use_bias=False, kernel_initializer='orthogonal')
    """

    _FIXED = {"in_features": lambda self, v: check_int(v, "in_features", minimum=1),
              "out_features": lambda self, v: check_int(v, "out_features", minimum=1),
              "use_bias": _check_use_bias, "kernel_initializer": _check_kernel_initializer}
    _LIVE = {"activation": _check_activation}

    _CONFIG = {"in_features": "size", "out_features": "size", "activation": "name", "use_bias": "flag",
               "kernel_initializer": "initializer"}

    def __init__(self, in_features, out_features, activation=None, use_bias=True, kernel_initializer=None):
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
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
        if len(shape) not in (1, 2):
            raise ValueError("Dense takes flat inputs (n_samples, in_features), or sequences (n_samples, steps, "
                             "in_features) on whose every step it applies: put a Flatten() before it")
        if shape[-1] != self.in_features:
            raise ValueError(f"its in_features={self.in_features} differs from the {shape[-1]} features it gets")
        return shape[:-1] + (self.out_features,)

    def _layout(self, shape):
        # on sequences, every step (PyTorch's Linear on the last axis)
        return {"kind": _kernels.LAYER_DENSE, "steps": shape[0] if len(shape) == 2 else 0,
                "no_bias": int(not self.use_bias)}

    def __repr__(self):
        return f"Dense({self.in_features}, {self.out_features}, activation={self.activation!r}{self._repr_options()})"


#: PyTorch's name for :class:`Dense`.
Linear = Dense
