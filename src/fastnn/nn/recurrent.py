"""Recurrent layers over sequences, batch first: :class:`SimpleRNN`, :class:`LSTM` and :class:`GRU`, with PyTorch's
formulas, gate order, parameter names and initialisation, and Keras's ``return_sequences``."""
from .. import _kernels
from .._core.registry import register
from .._core.validation import check_bool, check_int
from .base import ParamSpec, _Weighted

__all__ = ["SimpleRNN", "LSTM", "GRU"]


def _sequence_shape(shape, layer):
    if len(shape) != 2:
        raise ValueError(f"{type(layer).__name__} takes sequences (n_samples, steps, features), but gets samples of "
                         f"shape {shape}")
    steps, features = shape
    if features != layer.input_size:
        raise ValueError(f"its input_size={layer.input_size} differs from the {features} features a step it gets")
    return steps


class _Recurrent(_Weighted):
    """What the recurrent layers share: one weight matrix ``[W_ih | W_hh]`` of ``gates * hidden_size`` rows and
    ``input_size + hidden_size`` columns, and the bias pairs ``(b_ih, b_hh)`` of each row, in the model's flat
    buffer; ``weight_ih``, ``weight_hh``, ``bias_ih`` and ``bias_hh`` are writable views of them with PyTorch's
    shapes."""

    kind = None
    gates = 1
    #: What the engine applies to the layer's output: nothing (the cells hold their nonlinearities).
    _engine_activation = "identity"
    _FIXED = {"input_size": lambda self, v: check_int(v, "input_size", minimum=1),
              "hidden_size": lambda self, v: check_int(v, "hidden_size", minimum=1),
              "return_sequences": lambda self, v: check_bool(v, "return_sequences")}
    _LIVE = {}
    _READONLY = ("kind", "gates")
    _CONFIG = {"input_size": "size", "hidden_size": "size", "return_sequences": "flag"}

    def __init__(self, input_size, hidden_size, return_sequences=False):
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.return_sequences = return_sequences
        self._weight = None
        self._bias = None

    @property
    def weight_shape(self):
        return (self.gates * self.hidden_size, self.input_size + self.hidden_size)

    @property
    def bias_shape(self):
        return (self.gates * self.hidden_size, 2)

    @property
    def fans(self):
        """``(hidden_size, hidden_size)``: PyTorch draws every parameter from ``U(-1/sqrt(H), 1/sqrt(H))``."""
        return self.hidden_size, self.hidden_size

    def params(self):
        """The weight ``[W_ih | W_hh]`` (decayed) and the bias pairs ``(b_ih, b_hh)`` (not decayed), both drawn
        from ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))`` as PyTorch does."""
        return (ParamSpec("weight", self.weight_shape, "recurrent_uniform", True),
                ParamSpec("bias", self.bias_shape, "recurrent_uniform", False))

    def _view(self, name, part):
        full = getattr(self, "_" + name)
        if full is None:
            return None
        return full[:, part] if name == "bias" else (full[:, :self.input_size] if part == 0
                                                     else full[:, self.input_size:])

    def _set_view(self, name, part, value):
        if getattr(self, "_" + name) is None:
            raise RuntimeError("this layer belongs to no model yet, so it has no parameters to set")
        view = self._view(name, part)
        self._assign_into(view, value, ("bias_ih", "bias_hh")[part] if name == "bias"
                          else ("weight_ih", "weight_hh")[part])

    weight_ih = property(lambda self: self._view("weight", 0), lambda self, v: self._set_view("weight", 0, v),
                         doc="``(gates * hidden_size, input_size)``: the input's weights (PyTorch's ``weight_ih_l0``).")
    weight_hh = property(lambda self: self._view("weight", 1), lambda self, v: self._set_view("weight", 1, v),
                         doc="``(gates * hidden_size, hidden_size)``: the state's weights (``weight_hh_l0``).")
    bias_ih = property(lambda self: self._view("bias", 0), lambda self, v: self._set_view("bias", 0, v),
                       doc="``(gates * hidden_size,)``: the input's bias (``bias_ih_l0``).")
    bias_hh = property(lambda self: self._view("bias", 1), lambda self, v: self._set_view("bias", 1, v),
                       doc="``(gates * hidden_size,)``: the state's bias (``bias_hh_l0``).")

    def _output_shape(self, shape):
        steps = _sequence_shape(shape, self)
        return (steps, self.hidden_size) if self.return_sequences else (self.hidden_size,)

    def _cell_activation(self):
        return _kernels.ACT_TANH

    def _layout(self, shape):
        steps = _sequence_shape(shape, self)
        return {"kind": self.kind, "steps": steps, "feats": self.input_size, "hidden": self.hidden_size,
                "seq": int(self.return_sequences), "cell_act": self._cell_activation()}

    def _note(self):
        return "sequences" if self.return_sequences else ""

    def __repr__(self):
        extra = ", return_sequences=True" if self.return_sequences else ""
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{self._repr_extra()}{extra})"

    def _repr_extra(self):
        return ""


@register
class SimpleRNN(_Recurrent):
    r"""An Elman recurrent layer (PyTorch's ``nn.RNN``, one layer, batch first, zero initial state):
    :math:`h_t = f(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`.

    Parameters
    ----------
    input_size : int
        Features of each step.
    hidden_size : int
        Units of the state.
    activation : {'tanh', 'relu'}, default='tanh'
        The nonlinearity ``f`` (PyTorch's ``nonlinearity``).
    return_sequences : bool, default=False
        Output every step's state ``(n_samples, steps, hidden_size)`` (to stack recurrent layers, or to put a
        :class:`~fastnn.Dense` on every step), rather than the last one's ``(n_samples, hidden_size)``.

    Attributes
    ----------
    weight_ih, weight_hh, bias_ih, bias_hh : ndarray
        Writable views of the parameters with PyTorch's names and shapes, once the layer belongs to a model.

    Notes
    -----
    The number of steps is fixed by the model's ``input_shape=(steps, input_size)``, or, when a model that starts
    with a recurrent layer does not declare it, by the first sequences it is given. Backpropagation through time
    runs in compiled code, in tiles of rows.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.SimpleRNN(8, 16)
    SimpleRNN(8, 16, activation='tanh')
    """

    kind = _kernels.LAYER_RNN
    gates = 1
    _FIXED = dict(_Recurrent._FIXED, activation=lambda self, v: _rnn_activation(v))
    _CONFIG = {"input_size": "size", "hidden_size": "size", "activation": "name", "return_sequences": "flag"}

    def __init__(self, input_size, hidden_size, activation="tanh", return_sequences=False):
        self.activation = activation
        super().__init__(input_size, hidden_size, return_sequences)

    def _cell_activation(self):
        return _kernels.ACT_TANH if self.activation == "tanh" else _kernels.ACT_RELU

    def _repr_extra(self):
        return f", activation={self.activation!r}"


def _rnn_activation(value):
    if not isinstance(value, str) or value.lower() not in ("tanh", "relu"):
        raise ValueError(f"activation must be 'tanh' or 'relu' (PyTorch's nonlinearity), got {value!r}")
    return value.lower()


@register
class LSTM(_Recurrent):
    r"""A long short-term memory layer (PyTorch's ``nn.LSTM``, one layer, batch first, zero initial states):

    .. math::
        i, f, g, o &= \sigma, \sigma, \tanh, \sigma\,(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}) \\
        c_t &= f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t)

    with the gates in PyTorch's order i, f, g, o (rows ``k * hidden_size`` onwards of the weights).

    Parameters
    ----------
    input_size : int
    hidden_size : int
    return_sequences : bool, default=False
        As for :class:`SimpleRNN`.

    Attributes
    ----------
    weight_ih : ndarray of shape (4 * hidden_size, input_size)
    weight_hh : ndarray of shape (4 * hidden_size, hidden_size)
    bias_ih, bias_hh : ndarray of shape (4 * hidden_size,)
        Writable views with PyTorch's names, once the layer belongs to a model.

    Examples
    --------
    >>> import numpy as np, fastnn
    >>> model = fastnn.Sequential([fastnn.LSTM(3, 8), fastnn.Dense(8, 2, activation="softmax")],
    ...                           input_shape=(5, 3), seed=0)
    >>> model.predict(np.zeros((4, 5, 3))).shape
    (4, 2)
    """

    kind = _kernels.LAYER_LSTM
    gates = 4


@register
class GRU(_Recurrent):
    r"""A gated recurrent unit layer (PyTorch's ``nn.GRU``, one layer, batch first, zero initial state):

    .. math::
        r, z &= \sigma(W_{ir,iz} x_t + b_{ir,iz} + W_{hr,hz} h_{t-1} + b_{hr,hz}) \\
        n &= \tanh(W_{in} x_t + b_{in} + r \odot (W_{hn} h_{t-1} + b_{hn})), \qquad
        h_t = (1 - z) \odot n + z \odot h_{t-1}

    with the gates in PyTorch's order r, z, n.

    Parameters
    ----------
    input_size : int
    hidden_size : int
    return_sequences : bool, default=False
        As for :class:`SimpleRNN`.

    Attributes
    ----------
    weight_ih : ndarray of shape (3 * hidden_size, input_size)
    weight_hh : ndarray of shape (3 * hidden_size, hidden_size)
    bias_ih, bias_hh : ndarray of shape (3 * hidden_size,)

    Examples
    --------
    >>> import fastnn
    >>> fastnn.GRU(28, 64, return_sequences=True)
    GRU(28, 64, return_sequences=True)
    """

    kind = _kernels.LAYER_GRU
    gates = 3
