"""Optimizers (:mod:`fastnn.optim.base`) and learning-rate schedules (:mod:`fastnn.optim.schedules`)."""
from .base import OPTIMIZERS, SGD, Adam, AdamW, Optimizer, RMSprop, get_optimizer, optimizer_from_config

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "get_optimizer", "optimizer_from_config", "OPTIMIZERS"]
