"""The optimizers' base class, :class:`Optimizer`: the learning rate (a float or a schedule), the settings
array the compiled update reads, and the settings model files store; and the checks of the settings the
optimizers share."""
import numbers

import numpy as np

from .. import _kernels
from .._core.validation import check_float
from .schedules import Schedule, get_schedule

__all__ = ["Optimizer"]


_UNSET = object()


def _check_clipnorm(value):
    """None, or a positive finite float."""
    return None if value is None else check_float(value, "clipnorm", low=0.0, low_inclusive=False)


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
    #: Clip each step's gradients to this global 2-norm (Keras's ``clipnorm``; PyTorch's
    #: ``torch.nn.utils.clip_grad_norm_`` before ``step``): all of the model's gradients together are scaled by
    #: ``min(1, clipnorm / (norm + 1e-6))``. The norm is of the loss's gradient, before the model's L1/L2 terms
    #: and the weight decay are added. None: no clipping. Recurrent networks usually want it (1.0 is common).
    clipnorm = None
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
                                 schedule=schedule, clipnorm=self.clipnorm or 0.0)

    def _keys(self):
        """The settings ``get_config`` and ``repr`` show: the constructor's, and ``clipnorm`` when set."""
        return self._config_keys + (("clipnorm",) if self.clipnorm is not None else ())

    def get_config(self):
        """Settings as plain values; a scheduled ``lr`` as ``{"schedule": name, "config": {...}}``."""
        config = {k: getattr(self, k) for k in self._keys()}
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
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._keys())
        return f"{type(self).__name__}({args})"
