"""Optimizers."""
from ._validation import check_float

__all__ = ["SGD", "get_optimizer"]

_UNSET = object()


class SGD:
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
    lr : float, default=0.01
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

    Examples
    --------
    >>> import fastnn
    >>> fastnn.SGD(lr=0.05, momentum=0.9)
    SGD(lr=0.05, momentum=0.9, nesterov=False, weight_decay=0.0)
    """

    def __init__(self, lr=_UNSET, momentum=0.0, nesterov=False, weight_decay=0.0, learning_rate=_UNSET):
        if lr is not _UNSET and learning_rate is not _UNSET:
            raise TypeError("give lr or learning_rate (the same setting), not both")
        lr = learning_rate if learning_rate is not _UNSET else (0.01 if lr is _UNSET else lr)
        self.lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
        self.momentum = check_float(momentum, "momentum", low=0.0, high=1.0, high_inclusive=False)
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be a bool, got {type(nesterov).__name__}")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov momentum needs momentum > 0")
        self.nesterov = nesterov
        self.weight_decay = check_float(weight_decay, "weight_decay", low=0.0)

    def get_config(self):
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}

    def __repr__(self):
        return (f"SGD(lr={self.lr}, momentum={self.momentum}, nesterov={self.nesterov}, "
                f"weight_decay={self.weight_decay})")


#: Optimizer names accepted by ``compile(optimizer=...)``, mapped to their classes (default settings).
OPTIMIZERS = {"sgd": SGD}


def get_optimizer(optimizer):
    """An optimizer instance for ``compile``: None gives ``SGD()``, a name its class with default settings."""
    if optimizer is None:
        return SGD()
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {sorted(OPTIMIZERS)} or pass an "
                             "optimizer object")
        return OPTIMIZERS[key]()
    if not isinstance(optimizer, tuple(OPTIMIZERS.values())):
        raise TypeError(f"optimizer must be a fastnn optimizer or its name, got {type(optimizer).__name__}")
    return optimizer
