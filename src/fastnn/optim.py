r"""Optimizers: SGD, Adam, AdamW and RMSprop with PyTorch's update rules and defaults.

Each is a kind of the compiled engine: its update runs fused with the weight gradients, one block of the flat
parameter buffer at a time, over state rows of the same layout (momentum; Adam's moments). State and the update
count are part of the model: saved in model files and checkpoints, so a resumed run is bit-identical.

Two conventions hold for every optimizer: ``weight_decay`` and the model's regularizer act on the weights only,
never the biases (PyTorch decays every parameter unless given parameter groups: fastnn equals PyTorch with the
biases in a group of their own without decay); and ``lr`` may be a float or a schedule from
:mod:`fastnn.schedules`, evaluated per update inside the compiled loop.
"""
import numbers

import numpy as np

from . import _kernels
from ._validation import check_float
from .schedules import Schedule, get_schedule

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "get_optimizer", "OPTIMIZERS"]

_UNSET = object()


def _check_lr(lr, learning_rate=_UNSET, default=_UNSET):
    """The ``lr`` argument (or Keras's ``learning_rate``; ``default`` when neither is given): a positive float
    or a schedule."""
    if lr is not _UNSET and learning_rate is not _UNSET:
        raise TypeError("give lr or learning_rate (the same setting), not both")
    lr = learning_rate if learning_rate is not _UNSET else lr
    lr = default if lr is _UNSET else lr
    if isinstance(lr, Schedule):
        return lr
    if isinstance(lr, type) and issubclass(lr, Schedule):
        raise TypeError("lr must be a schedule object, e.g. CosineDecay(1e-3, decay_steps=1000), not the class")
    return check_float(lr, "lr", low=0.0, low_inclusive=False)


def _check_betas(betas):
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
    return (check_float(b1, "betas[0]", low=0.0, high=1.0, high_inclusive=False),
            check_float(b2, "betas[1]", low=0.0, high=1.0, high_inclusive=False))


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


class Optimizer:
    """Base class: a kind of the compiled update, its settings, and the state rows it needs."""

    kind = None
    #: Settings that ``get_config`` reports, in the order of the constructor.
    _config_keys = ()
    #: Counts changes of the settings, so that a model rebuilds its compiled copy of them only when needed.
    _version = 0

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        object.__setattr__(self, "_version", self._version + 1)

    @property
    def lr(self):
        """The learning rate: a float, or a schedule (see :mod:`fastnn.schedules`)."""
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = _check_lr(value)

    def current_lr(self, step=0):
        """The rate of update ``step`` (counted from 0): ``lr`` itself, or the schedule's value."""
        return self._lr if isinstance(self._lr, numbers.Real) else self._lr(step)

    def n_state(self):
        """Rows of state the update keeps (each as long as the parameters)."""
        raise NotImplementedError

    def _fields(self):
        """This optimizer's own settings, by the field names of its compiled struct (``_engine/types.pxi``)."""
        raise NotImplementedError

    def _hyper(self, l1, l2):
        """The compiled settings the engine reads (``_kernels.Settings``), with the model's L1/L2 penalties."""
        if isinstance(self._lr, Schedule):
            lr, schedule = 0.0, (self._lr.kind, self._lr._params())
        else:
            lr, schedule = self._lr, None
        return _kernels.Settings(self.kind, self._fields(), lr=lr, weight_decay=self.weight_decay, l1=l1, l2=l2,
                                 schedule=schedule)

    def get_config(self):
        """Settings as plain values; a scheduled ``lr`` as ``{"schedule": name, "config": {...}}``."""
        config = {k: getattr(self, k) for k in self._config_keys}
        if isinstance(self._lr, Schedule):
            config["lr"] = {"schedule": type(self._lr).__name__, "config": self._lr.get_config()}
        if "betas" in config:
            config["betas"] = list(config["betas"])
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        lr = config.get("lr")
        if isinstance(lr, dict):
            config["lr"] = get_schedule(lr.get("schedule"), lr.get("config") or {})
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash(type(self).__name__)

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._config_keys)
        return f"{type(self).__name__}({args})"


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

    Examples
    --------
    >>> import fastnn
    >>> fastnn.SGD(lr=0.05, momentum=0.9)
    SGD(lr=0.05, momentum=0.9, nesterov=False, weight_decay=0.0)
    """

    kind = _kernels.OPT_SGD
    _config_keys = ("lr", "momentum", "nesterov", "weight_decay")

    def __init__(self, lr=_UNSET, momentum=0.0, nesterov=False, weight_decay=0.0, learning_rate=_UNSET):
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
                 learning_rate=_UNSET):
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

    Examples
    --------
    >>> import fastnn
    >>> fastnn.RMSprop(lr=1e-3, momentum=0.9)
    RMSprop(lr=0.001, alpha=0.99, eps=1e-08, momentum=0.9, weight_decay=0.0)
    """

    kind = _kernels.OPT_RMSPROP
    _config_keys = ("lr", "alpha", "eps", "momentum", "weight_decay")

    def __init__(self, lr=_UNSET, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0, learning_rate=_UNSET):
        self._lr = _check_lr(lr, learning_rate, default=1e-2)
        self.alpha = check_float(alpha, "alpha", low=0.0, high=1.0, high_inclusive=False)
        self.eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
        self.momentum = check_float(momentum, "momentum", low=0.0, high=1.0, high_inclusive=False)
        self.weight_decay = check_float(weight_decay, "weight_decay", low=0.0)

    def n_state(self):
        return 2 if self.momentum else 1

    def _fields(self):
        return {"alpha": self.alpha, "eps": self.eps, "momentum": self.momentum}


#: Optimizer names accepted by ``compile(optimizer=...)``, mapped to their classes (default settings).
OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}
_BY_CLASS = {cls.__name__: cls for cls in OPTIMIZERS.values()}


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
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a fastnn optimizer or its name, got {type(optimizer).__name__}")
    return optimizer


def optimizer_from_config(name, config):
    """Rebuild an optimizer from its class name and :meth:`Optimizer.get_config` (model files)."""
    if name not in _BY_CLASS:
        raise ValueError(f"unknown optimizer {name!r}")
    return _BY_CLASS[name].from_config(config)

