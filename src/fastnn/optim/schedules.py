"""Learning-rate schedules, evaluated per update inside the compiled training loop.

Pass one as an optimizer's ``lr``: ``fastnn.Adam(lr=fastnn.schedules.CosineDecay(1e-3, decay_steps=10_000))``.
The rate of update ``t`` (counted from 0 over the model's life, saved in model files and checkpoints) is computed
in compiled code for every batch, so a schedule costs no return to Python. Calling a schedule, ``schedule(t)``,
gives the same rate the engine uses (it runs the same code), handy for plotting it.

Formulas (``t`` = update number from 0):

* :class:`CosineDecay` (Keras's ``CosineDecay``): after ``warmup_steps`` updates rising linearly from 0,
  ``initial_lr * ((1 - alpha) * (1 + cos(pi * min(t', decay_steps) / decay_steps)) / 2 + alpha)`` with
  ``t' = t - warmup_steps``.
* :class:`ExponentialDecay` (Keras's): ``initial_lr * decay_rate ** (t / decay_steps)``, the exponent floored
  when ``staircase``.
* :class:`OneCycle` (PyTorch's ``OneCycleLR`` with cosine annealing and ``three_phase=False``): from
  ``max_lr / div_factor`` up to ``max_lr`` by update ``pct_start * total_steps - 1``, then down to
  ``max_lr / div_factor / final_div_factor`` at update ``total_steps - 1``; the rate stays there afterwards
  (PyTorch raises instead). Momentum is not cycled.
"""
import numpy as np

from .. import _kernels
from .._core.validation import check_float, check_int

__all__ = ["Schedule", "CosineDecay", "ExponentialDecay", "OneCycle", "get_schedule"]


class Schedule:
    """Base class of the compiled schedules: a kind code and up to six parameters."""

    kind = _kernels.SCHED_CONSTANT

    def _params(self):
        """The six float parameters the compiled code reads."""
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    def rates(self, steps):
        """Learning rates of updates ``0 .. steps - 1`` (float64 array)."""
        steps = check_int(steps, "steps", minimum=0)
        return _kernels.schedule_rates(self.kind, self._params(), 0, steps)

    def __call__(self, step):
        """The learning rate of update ``step`` (counted from 0)."""
        step = check_int(step, "step", minimum=0)
        return float(_kernels.schedule_rates(self.kind, self._params(), step, 1)[0])

    @property
    def initial_lr(self):
        return self(0)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class CosineDecay(Schedule):
    """Cosine decay from ``initial_lr`` to ``alpha * initial_lr`` over ``decay_steps`` updates, after an
    optional linear warm-up from 0 over ``warmup_steps`` updates (Keras's ``CosineDecay`` with
    ``warmup_target=initial_lr``).

    Parameters
    ----------
    initial_lr : float
        Rate at the end of the warm-up (> 0).
    decay_steps : int
        Updates over which the rate decays (>= 1); afterwards it stays at ``alpha * initial_lr``.
    alpha : float in [0, 1], default=0.0
        Final rate as a fraction of ``initial_lr``.
    warmup_steps : int, default=0

    Examples
    --------
    >>> from fastnn.schedules import CosineDecay
    >>> s = CosineDecay(0.1, decay_steps=100)
    >>> round(s(0), 6), round(s(50), 6), round(s(100), 6)
    (0.1, 0.05, 0.0)
    """

    kind = _kernels.SCHED_COSINE

    def __init__(self, initial_lr, decay_steps, alpha=0.0, warmup_steps=0):
        self.initial_lr_ = check_float(initial_lr, "initial_lr", low=0.0, low_inclusive=False)
        self.decay_steps = check_int(decay_steps, "decay_steps", minimum=1)
        self.alpha = check_float(alpha, "alpha", low=0.0, high=1.0)
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=0)

    def _params(self):
        return (self.initial_lr_, self.decay_steps, self.alpha, self.warmup_steps, 0.0, 0.0)

    def get_config(self):
        return {"initial_lr": self.initial_lr_, "decay_steps": self.decay_steps, "alpha": self.alpha,
                "warmup_steps": self.warmup_steps}


class ExponentialDecay(Schedule):
    """``initial_lr * decay_rate ** (step / decay_steps)`` (Keras's ``ExponentialDecay``).

    Parameters
    ----------
    initial_lr : float
    decay_steps : int
    decay_rate : float
        In (0, 1] to decay (values above 1 grow the rate and are refused).
    staircase : bool, default=False
        Floor the exponent: the rate drops every ``decay_steps`` updates.

    Examples
    --------
    >>> from fastnn.schedules import ExponentialDecay
    >>> ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)(25)
    0.025
    """

    kind = _kernels.SCHED_EXPONENTIAL

    def __init__(self, initial_lr, decay_steps, decay_rate, staircase=False):
        self.initial_lr_ = check_float(initial_lr, "initial_lr", low=0.0, low_inclusive=False)
        self.decay_steps = check_int(decay_steps, "decay_steps", minimum=1)
        self.decay_rate = check_float(decay_rate, "decay_rate", low=0.0, high=1.0, low_inclusive=False)
        if not isinstance(staircase, (bool, np.bool_)):
            raise TypeError(f"staircase must be a bool, got {type(staircase).__name__}")
        self.staircase = bool(staircase)

    def _params(self):
        return (self.initial_lr_, self.decay_steps, self.decay_rate, float(self.staircase), 0.0, 0.0)

    def get_config(self):
        return {"initial_lr": self.initial_lr_, "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase}


class OneCycle(Schedule):
    """The one-cycle policy (PyTorch's ``OneCycleLR``, cosine annealing, two phases).

    Parameters
    ----------
    max_lr : float
    total_steps : int
        Updates in the cycle (>= 2): usually ``epochs * ceil(n_samples / batch_size)``.
    pct_start : float in (0, 1), default=0.3
        Fraction of the cycle spent raising the rate.
    div_factor : float, default=25.0
        The first rate is ``max_lr / div_factor``.
    final_div_factor : float, default=1e4
        The last rate is ``max_lr / div_factor / final_div_factor``.

    Examples
    --------
    >>> from fastnn.schedules import OneCycle
    >>> s = OneCycle(0.1, total_steps=100)
    >>> round(s(0), 6), round(s(29), 6)
    (0.004, 0.1)
    """

    kind = _kernels.SCHED_ONECYCLE

    def __init__(self, max_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
        self.max_lr = check_float(max_lr, "max_lr", low=0.0, low_inclusive=False)
        self.total_steps = check_int(total_steps, "total_steps", minimum=2)
        self.pct_start = check_float(pct_start, "pct_start", low=0.0, high=1.0, low_inclusive=False,
                                     high_inclusive=False)
        self.div_factor = check_float(div_factor, "div_factor", low=0.0, low_inclusive=False)
        self.final_div_factor = check_float(final_div_factor, "final_div_factor", low=0.0, low_inclusive=False)
        peak = self.pct_start * self.total_steps - 1
        if not 0 < peak < self.total_steps - 1:
            raise ValueError(f"pct_start={self.pct_start} with total_steps={self.total_steps} puts the peak at update "
                             f"{peak:g}: it must fall strictly inside the cycle")

    def _params(self):
        return (self.max_lr, self.total_steps, self.pct_start, self.div_factor, self.final_div_factor, 0.0)

    def get_config(self):
        return {"max_lr": self.max_lr, "total_steps": self.total_steps, "pct_start": self.pct_start,
                "div_factor": self.div_factor, "final_div_factor": self.final_div_factor}


SCHEDULES = {cls.__name__: cls for cls in (CosineDecay, ExponentialDecay, OneCycle)}


def get_schedule(name, config):
    """Rebuild a schedule from its class name and :meth:`get_config` (model files)."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}")
    return SCHEDULES[name](**config)
