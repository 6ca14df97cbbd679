"""Training: the fit driver (:mod:`~fastnn.training.trainer`), the checks of the data it is given
(:mod:`~fastnn.training.data`) and the :class:`~fastnn.training.history.History` it returns."""
from .._core.threads import resolve_n_threads  # offered here before the subpackages
from .history import History
from .trainer import fit

__all__ = ["History", "fit", "resolve_n_threads"]
