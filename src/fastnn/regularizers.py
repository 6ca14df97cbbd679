"""Weight regularizers.

A regularizer adds a penalty on the weights (never the biases) to the training loss:

* ``L2(alpha)``: :math:`\\frac{\\alpha}{2}\\sum w^2`, gradient :math:`\\alpha w`. This is exactly PyTorch's
  ``weight_decay=alpha`` (and half of Keras's ``l2(alpha)``, which omits the 1/2).
* ``L1(alpha)``: :math:`\\alpha\\sum |w|`, gradient :math:`\\alpha\\,\\mathrm{sign}(w)` (0 at 0).
* ``L1L2(l1, l2)``: both.

The penalty is part of the loss that ``fit`` reports and that ``evaluate`` returns.
"""
import numpy as np

from ._core.validation import check_float

__all__ = ["Regularizer", "L1", "L2", "L1L2"]


class Regularizer:
    """Penalty ``l1 * sum|w| + l2 / 2 * sum w**2`` over all weight matrices."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = check_float(l1, "l1", low=0.0)
        self.l2 = check_float(l2, "l2", low=0.0)

    def penalty(self, weights):
        """The penalty for an iterable of weight arrays (float64)."""
        total = 0.0
        for w in weights:
            w64 = np.asarray(w, dtype=np.float64)
            if self.l1:
                total += self.l1 * float(np.abs(w64).sum())
            if self.l2:
                total += 0.5 * self.l2 * float(np.square(w64).sum())
        return total

    def __repr__(self):
        return f"{type(self).__name__}(l1={self.l1}, l2={self.l2})"


class L1(Regularizer):
    """L1 penalty ``alpha * sum|w|``."""

    def __init__(self, alpha=0.01):
        super().__init__(l1=check_float(alpha, "alpha", low=0.0))

    def __repr__(self):
        return f"L1({self.l1})"


class L2(Regularizer):
    """L2 penalty ``alpha / 2 * sum w**2`` (gradient ``alpha * w``, PyTorch's weight decay)."""

    def __init__(self, alpha=0.01):
        super().__init__(l2=check_float(alpha, "alpha", low=0.0))

    def __repr__(self):
        return f"L2({self.l2})"


class L1L2(Regularizer):
    """Both penalties: ``l1 * sum|w| + l2 / 2 * sum w**2``."""
