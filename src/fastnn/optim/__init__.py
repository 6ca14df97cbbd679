r"""Optimizers: SGD, Adam, AdamW and RMSprop with PyTorch's update rules and defaults.

Each is a kind of the compiled engine: its update runs fused with the weight gradients, one block of the flat
parameter buffer at a time, over state rows of the same layout (momentum; Adam's moments). State and the update
count are part of the model: saved in model files and checkpoints, so a resumed run is bit-identical.

Two conventions hold for every optimizer: ``weight_decay`` and the model's regularizer act on the weights only,
never the biases (PyTorch decays every parameter unless given parameter groups: fastnn equals PyTorch with the
biases in a group of their own without decay); and ``lr`` may be a float or a schedule from
:mod:`fastnn.schedules`, evaluated per update inside the compiled loop.

One module per optimizer over :mod:`fastnn.optim.base`; :mod:`fastnn.optim.lookup` finds them by name.
"""
from .adam import Adam, AdamW
from .base import Optimizer
from .lookup import OPTIMIZERS, get_optimizer, optimizer_from_config
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "get_optimizer", "optimizer_from_config", "OPTIMIZERS"]
