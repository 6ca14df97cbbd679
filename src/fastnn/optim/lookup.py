"""The optimizers by name: for ``compile(optimizer='adam')`` and for model files, which store an optimizer as its
class name and settings."""
from .adam import Adam, AdamW
from .base import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["OPTIMIZERS", "get_optimizer", "optimizer_from_config"]


#: Optimizer names accepted by ``compile(optimizer=...)``, mapped to their classes (default settings).
OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}
_BY_CLASS = {cls.__name__: cls for cls in OPTIMIZERS.values()}


def get_optimizer(optimizer):
    """An optimizer instance for ``compile``: None gives ``SGD()``, a name its class with default settings."""
    if optimizer is None:
        return SGD()
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {sorted(OPTIMIZERS)} or pass an "
                             "optimizer object")
        return OPTIMIZERS[key]()
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a fastnn optimizer or its name, got {type(optimizer).__name__}")
    return optimizer


def optimizer_from_config(name, config):
    """Rebuild an optimizer from its class name and :meth:`Optimizer.get_config` (model files)."""
    if name not in _BY_CLASS:
        raise ValueError(f"unknown optimizer {name!r}")
    return _BY_CLASS[name].from_config(config)
