"""RMSprop with PyTorch's update rule and defaults."""
from .. import _kernels
from .._core.validation import check_float
from .base import _UNSET, _check_clipnorm, _check_lr, Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop with PyTorch's update rule and defaults (not centered).

    .. math::
        g &\leftarrow g + \lambda p \quad \text{(weights only)} \\
        s &\leftarrow \alpha s + (1 - \alpha) g^2 \\
        b &\leftarrow \mu b + g / (\sqrt{s} + \epsilon), \quad p \leftarrow p - \eta b
        \quad \text{(with momentum } \mu > 0\text{; else } p \leftarrow p - \eta g / (\sqrt{s} + \epsilon))

    Parameters
    ----------
    lr : float or Schedule, default=1e-2
    alpha : float in [0, 1), default=0.99
    eps : float, default=1e-8
    momentum : float in [0, 1), default=0.0
    weight_decay : float, default=0.0
    learning_rate : float, optional
    clipnorm : float, optional
        Clip each step's gradients to this global norm (see :attr:`Optimizer.clipnorm`); None: no clipping.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.RMSprop(lr=1e-3, momentum=0.9)
    RMSprop(lr=0.001, alpha=0.99, eps=1e-08, momentum=0.9, weight_decay=0.0)
    """

    kind = _kernels.OPT_RMSPROP
    _config_keys = ("lr", "alpha", "eps", "momentum", "weight_decay")

    def __init__(self, lr=_UNSET, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0, learning_rate=_UNSET,
                 clipnorm=None):
        self.clipnorm = _check_clipnorm(clipnorm)
        self._lr = _check_lr(lr, learning_rate, default=1e-2)
        self.alpha = check_float(alpha, "alpha", low=0.0, high=1.0, high_inclusive=False)
        self.eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
        self.momentum = check_float(momentum, "momentum", low=0.0, high=1.0, high_inclusive=False)
        self.weight_decay = check_float(weight_decay, "weight_decay", low=0.0)

    def n_state(self):
        return 2 if self.momentum else 1

    def _fields(self):
        return {"alpha": self.alpha, "eps": self.eps, "momentum": self.momentum}
