"""``fastnn.model``: :class:`Sequential` and the :class:`History` its ``fit`` returns. The code lives in
:mod:`fastnn.models.sequential` and :mod:`fastnn.training.history`."""
from .models.sequential import Sequential
from .training.history import History

__all__ = ["Sequential", "History"]
