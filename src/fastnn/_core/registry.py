"""fastnn's classes and file formats by name, for the code that saves and loads them.

The file code (:mod:`fastnn.saving`) lies below the classes it rebuilds - models, estimators, agents - and finds
them here by name instead of importing the modules above it (fastnn's modules import only downwards; an
import-linter contract in the tests checks it). A class registers itself with :func:`register`. A class or file
format whose module is not imported with ``fastnn`` (it may need an optional package, such as the scikit-learn
estimators) is listed with the module that defines it, imported the first time it is asked for.
"""
import importlib

__all__ = ["register", "get", "register_format", "get_format"]

_classes = {}
_formats = {}
# Defined by modules that ``import fastnn`` does not import: imported when first asked for (their ImportError,
# for a missing optional package, says what to install).
_CLASS_MODULES = {"MLPClassifier": "fastnn.sklearn", "MLPRegressor": "fastnn.sklearn",
                  "DQN": "fastnn.rl.dqn", "QLearning": "fastnn.rl.qlearning"}
_FORMAT_MODULES = {"fastnn-estimator": "fastnn.saving.estimators", "fastnn-rl": "fastnn.rl._io"}


def register(cls):
    """Class decorator: make ``cls`` known by its name to the file code."""
    _classes[cls.__name__] = cls
    return cls


def _lookup(table, modules, name, what):
    """``table[name]``, importing the module that fills it first when ``modules`` names one."""
    if name not in table and name in modules:
        importlib.import_module(modules[name])
    try:
        return table[name]
    except KeyError:
        raise KeyError(f"no fastnn {what} is named {name!r}") from None


def get(name):
    """The class registered as ``name``."""
    return _lookup(_classes, _CLASS_MODULES, name, "class")


def register_format(name, save, load):
    """Make the file format ``name`` known: ``save(obj, path)`` writes an object of it, ``load(z, path, header)``
    rebuilds one from the open archive ``z`` of the file ``path`` whose header is ``header``."""
    _formats[name] = (save, load)


def get_format(name):
    """``(save, load)`` of the file format ``name``."""
    return _lookup(_formats, _FORMAT_MODULES, name, "file format")
