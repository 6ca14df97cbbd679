"""Layers and activations."""
import numpy as np

from . import _kernels
from ._validation import check_int

__all__ = ["Dense", "Linear", "Dropout", "ACTIVATIONS"]

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


class Dense:
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

    def __init__(self, in_features, out_features, activation=None):
        self.in_features = check_int(in_features, "in_features", minimum=1)
        self.out_features = check_int(out_features, "out_features", minimum=1)
        self.activation = _activation_name(activation)
        self._weight = None
        self._bias = None

    @property
    def activation_code(self):
        return ACTIVATIONS[self.activation]

    @property
    def n_params(self):
        """Number of parameters (weights and biases)."""
        return self.out_features * (self.in_features + 1)

    def _bind(self, weight, bias):
        self._weight = weight
        self._bias = bias

    @property
    def weight(self):
        return self._weight

    @weight.setter
    def weight(self, value):
        self._assign("weight", value, (self.out_features, self.in_features))

    @property
    def bias(self):
        return self._bias

    @bias.setter
    def bias(self, value):
        self._assign("bias", value, (self.out_features,))

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

    def __repr__(self):
        return f"Dense({self.in_features}, {self.out_features}, activation={self.activation!r})"


#: PyTorch's name for :class:`Dense`.
Linear = Dense


class Dropout:
    r"""Inverted dropout: while training, each unit of the previous layer's output is zeroed with probability
    ``p`` and the kept ones are scaled by :math:`1/(1-p)`; ``predict`` and ``evaluate`` use every unit unscaled.

    The masks come from a counter-based generator keyed on the model's seed, the update count, the row's
    position in the batch and the unit, so training stays bit-identical for any ``n_threads`` and a resumed run
    equals an uninterrupted one. A ``Dropout`` first in the model drops inputs.

    Parameters
    ----------
    p : float in [0, 1)
        Probability of dropping a unit.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.Sequential([fastnn.Dense(784, 512, "relu"), fastnn.Dropout(0.2),
    ...                    fastnn.Dense(512, 10, "softmax")], seed=0)
    Sequential([Dense(784, 512, activation='relu'), Dropout(0.2), Dense(512, 10, activation='softmax')], dtype='float32')
    """

    def __init__(self, p=0.5):
        from ._validation import check_float

        self.p = check_float(p, "p", low=0.0, high=1.0, high_inclusive=False)

    def __repr__(self):
        return f"Dropout({self.p})"
