"""``fastnn.schedules``: the learning-rate schedules, which live in :mod:`fastnn.optim.schedules`."""
from .optim.schedules import CosineDecay, ExponentialDecay, OneCycle, Schedule, get_schedule

__all__ = ["Schedule", "CosineDecay", "ExponentialDecay", "OneCycle", "get_schedule"]
