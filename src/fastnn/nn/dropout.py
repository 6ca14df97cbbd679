"""Dropout: units of the previous layer's output zeroed at random while training."""
from .._core.registry import register
from .._core.validation import check_float
from .base import _Layer

__all__ = ["Dropout"]


@register
class Dropout(_Layer):
    r"""Inverted dropout: while training, each unit of the previous layer's output is zeroed with probability
    ``p`` and the kept ones are scaled by :math:`1/(1-p)`; ``predict`` and ``evaluate`` use every unit unscaled.

    The masks come from a counter-based generator keyed on the model's seed, the update count, the row's
    position in the batch and the unit, so training stays bit-identical for any ``n_threads`` and a resumed run
    equals an uninterrupted one. A ``Dropout`` first in the model drops inputs.

    Parameters
    ----------
    p : float in [0, 1)
        Probability of dropping a unit. May be set at any time (checked as the argument is): the model's next
        ``fit`` uses it.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.Sequential([fastnn.Dense(784, 512, "relu"), fastnn.Dropout(0.2),
    ...                    fastnn.Dense(512, 10, "softmax")], seed=0)
    Sequential([Dense(784, 512, activation='relu'), Dropout(0.2), Dense(512, 10, activation='softmax')], dtype='float32')
    """

    _LIVE = {"p": lambda self, v: check_float(v, "p", low=0.0, high=1.0, high_inclusive=False)}

    _CONFIG = {"p": "rate"}

    def _note(self):
        return f"{self.p:g}"

    def __init__(self, p=0.5):
        self.p = p

    def __repr__(self):
        return f"Dropout({self.p})"
