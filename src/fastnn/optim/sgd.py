"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay (PyTorch's ``SGD``)."""
from .. import _kernels
from .._core.validation import check_float
from .base import _UNSET, _check_bool, _check_clipnorm, _check_lr, Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay.

    For each weight or bias :math:`p` with gradient :math:`g` of the batch's mean loss (plus the model's
    regularizer), one step is, as in PyTorch:

    .. math::
        g &\leftarrow g + \lambda p \quad \text{(weights only, } \lambda = \text{weight\_decay)} \\
        v &\leftarrow \mu v + g \\
        g &\leftarrow g + \mu v \ \text{if nesterov, else } v \\
        p &\leftarrow p - \eta g

    with :math:`v` starting at zero; with ``momentum=0`` it is plain :math:`p \leftarrow p - \eta g`. The whole
    update runs in one compiled pass over the model's flat parameter buffer. Unlike PyTorch, weight decay never
    touches biases (neither does the model's regularizer).

    Parameters
    ----------
    lr : float or Schedule, default=0.01
        Learning rate, > 0.
    momentum : float, default=0.0
        Momentum factor in [0, 1).
    nesterov : bool, default=False
        Use Nesterov momentum (needs ``momentum > 0``).
    weight_decay : float, default=0.0
        L2 decay of the weights, >= 0; not included in the reported loss (use ``fastnn.L2`` for a penalty that
        is).
    learning_rate : float, optional
        Keras's name for ``lr``; give one or the other.
    clipnorm : float, optional
        Clip each step's gradients to this global norm (see :attr:`Optimizer.clipnorm`); None: no clipping.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.SGD(lr=0.05, momentum=0.9)
    SGD(lr=0.05, momentum=0.9, nesterov=False, weight_decay=0.0)
    """

    kind = _kernels.OPT_SGD
    _config_keys = ("lr", "momentum", "nesterov", "weight_decay")

    def __init__(self, lr=_UNSET, momentum=0.0, nesterov=False, weight_decay=0.0, learning_rate=_UNSET, clipnorm=None):
        self.clipnorm = _check_clipnorm(clipnorm)
        self._lr = _check_lr(lr, learning_rate, default=0.01)
        self.momentum = check_float(momentum, "momentum", low=0.0, high=1.0, high_inclusive=False)
        self.nesterov = _check_bool(nesterov, "nesterov")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov momentum needs momentum > 0")
        self.weight_decay = check_float(weight_decay, "weight_decay", low=0.0)

    def n_state(self):
        return 1

    def _fields(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}
