"""Adam and AdamW with PyTorch's update rules and defaults."""
from .. import _kernels
from .._core.validation import check_float
from .base import _UNSET, _check_betas, _check_bool, _check_clipnorm, _check_lr, Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam (Kingma and Ba), with PyTorch's update rule and defaults.

    With :math:`t` the update count (from 1), per weight or bias :math:`p` with gradient :math:`g`:

    .. math::
        g &\leftarrow g + \lambda p \quad \text{(weights only, } \lambda = \text{weight\_decay)} \\
        m &\leftarrow \beta_1 m + (1 - \beta_1) g \\
        v &\leftarrow \beta_2 v + (1 - \beta_2) g^2 \\
        \hat v &\leftarrow \max(\hat v, v) \text{ if amsgrad, else } v \\
        p &\leftarrow p - \frac{\eta}{1 - \beta_1^t} \, \frac{m}{\sqrt{\hat v} / \sqrt{1 - \beta_2^t} + \epsilon}

    Parameters
    ----------
    lr : float or Schedule, default=1e-3
    betas : (float, float), default=(0.9, 0.999)
        Each in [0, 1).
    eps : float, default=1e-8
        > 0.
    weight_decay : float, default=0.0
        L2 term added to the weights' gradient (coupled, as PyTorch's ``Adam``; see :class:`AdamW`).
    amsgrad : bool, default=False
        Use the running maximum of the second moment (one more state row).
    learning_rate : float, optional
        Keras's name for ``lr``.
    clipnorm : float, optional
        Clip each step's gradients to this global norm (see :attr:`Optimizer.clipnorm`); None: no clipping.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.Adam(lr=3e-4)
    Adam(lr=0.0003, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0, amsgrad=False)
    """

    kind = _kernels.OPT_ADAM
    _config_keys = ("lr", "betas", "eps", "weight_decay", "amsgrad")
    _default_weight_decay = 0.0

    def __init__(self, lr=_UNSET, betas=(0.9, 0.999), eps=1e-8, weight_decay=_UNSET, amsgrad=False,
                 learning_rate=_UNSET, clipnorm=None):
        self.clipnorm = _check_clipnorm(clipnorm)
        self._lr = _check_lr(lr, learning_rate, default=1e-3)
        self.betas = _check_betas(betas)
        self.eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
        if weight_decay is _UNSET:
            weight_decay = self._default_weight_decay
        self.weight_decay = check_float(weight_decay, "weight_decay", low=0.0)
        self.amsgrad = _check_bool(amsgrad, "amsgrad")

    def n_state(self):
        return 3 if self.amsgrad else 2

    def _fields(self):
        return {"beta1": self.betas[0], "beta2": self.betas[1], "eps": self.eps, "amsgrad": self.amsgrad}


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov and Hutter), PyTorch's ``AdamW``.

    The same as :class:`Adam` except for the decay, which shrinks the weights before the Adam step instead of
    entering the gradient: :math:`p \leftarrow p (1 - \eta \lambda)`, then the Adam update without
    :math:`\lambda`. Default ``weight_decay=0.01``.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.AdamW()
    AdamW(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01, amsgrad=False)
    """

    kind = _kernels.OPT_ADAMW
    _default_weight_decay = 0.01
