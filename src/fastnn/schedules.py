"""``fastnn.schedules``: the learning-rate schedules. The code lives in :mod:`fastnn.optim.schedules`."""
from .optim.schedules import CosineDecay, ExponentialDecay, OneCycle, Schedule, get_schedule

__all__ = ["Schedule", "CosineDecay", "ExponentialDecay", "OneCycle", "get_schedule"]
