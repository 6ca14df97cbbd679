"""Estimator files: :class:`~fastnn.KMeans`, the scalers and :mod:`fastnn.sklearn`'s MLP estimators in fastnn's
safe format (a ZIP of a JSON header and ``.npy`` arrays, no pickle), written atomically and validated on load.
:func:`fastnn.save` and :func:`fastnn.load` use this module.

Format (``format`` ``"fastnn-estimator"``, ``format_version`` 1)
-----------------------------------------------------------------
``header.json`` holds ``estimator`` (the class name: ``KMeans``, ``StandardScaler``, ``MinMaxScaler``,
``LogScaler``, ``MLPClassifier`` or ``MLPRegressor``), ``library_version``, ``params`` (the constructor's
arguments as ``get_params()`` gives them), ``fitted`` (whether the estimator was fitted) and ``attributes`` (its
fitted attributes, such as ``cluster_centers_``, ``mean_``, ``classes_`` or ``model_``; ``null`` when it was
not fitted: an unfitted estimator is saved as its parameters alone, and loads unfitted).

Values JSON cannot hold are written as tagged objects:

* ``{"tuple": [...]}``: a tuple (``hidden_layer_sizes=(100,)``);
* ``{"float": "inf"}`` (or ``"-inf"``, ``"nan"``): a float that is not finite (``n_iter_no_change=np.inf``);
* ``{"array": name, "dtype": ..., "shape": [...]}``: a NumPy array of numbers, booleans or fixed-width strings,
  stored as the standard ``.npy`` member ``arrays/<name>.npy`` and read with ``allow_pickle=False`` after its
  dtype and shape have been checked against the header;
* ``{"objects": [...], "shape": [n]}``: a one-dimensional array of Python objects (strings or numbers, such as
  class labels or feature names taken from pandas);
* ``{"model": prefix}``: a fastnn model stored in the model format of :mod:`fastnn.saving.format`, its members under
  ``prefix`` (``model_/header.json``, ``model_/parameters.npy``, ...).

Loading checks the header's size and every field, rebuilds the estimator from its parameters, then checks each
fitted attribute (type, shape, range, agreement with the others) before setting it, so a truncated, corrupted or
hostile file raises :class:`~fastnn.ModelFileError` and never yields an estimator whose compiled code could
read out of bounds.
"""
import json
import math
import numbers

import numpy as np

from .._core import registry
from .format import (MAX_HEADER_BYTES, SAVABLE, ModelFileError, _fail, _get, _npy_bytes, _read_array, guarded,
                 model_members, read_model, write_members)

FORMAT = "fastnn-estimator"
FORMAT_VERSION = 1
# Bounds of what a file may declare (checked before anything is read).
_MAX_ARRAYS = 64
_MAX_ELEMENTS = 1 << 31
_MAX_STRING = 4096
_MAX_DEPTH = 8


def _classes():
    """Estimator classes by name (the MLP estimators only when scikit-learn is there to be asked for)."""
    return {name: registry.get(name) for name in ("KMeans", "StandardScaler", "MinMaxScaler", "LogScaler")}


def _mlp_class(name):
    return registry.get(name)  # fastnn.sklearn needs scikit-learn: its ImportError says how to install it


def is_saved_estimator(obj):
    """Whether :func:`save_estimator` saves ``obj``."""
    cls = type(obj)
    if cls in _classes().values():
        return True
    return cls.__module__ == "fastnn.sklearn" and cls.__name__ in ("MLPClassifier", "MLPRegressor")


class _Writer:
    """Turns parameters and attributes into JSON values, collecting the arrays and models they hold."""

    def __init__(self, owner):
        self.owner = owner
        self.members = []

    def value(self, v, where):
        Sequential = registry.get("Sequential")
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, np.generic) and not isinstance(v, np.ndarray):
            v = v.item()
            if isinstance(v, (bool, str)):
                return v
        if isinstance(v, numbers.Integral):
            return int(v)
        if isinstance(v, numbers.Real):
            v = float(v)
            return v if math.isfinite(v) else {"float": repr(v)}
        if isinstance(v, tuple):
            return {"tuple": [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)]}
        if isinstance(v, list):
            return [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, np.ndarray):
            return self.array(v, where)
        if isinstance(v, Sequential):
            prefix = f"{where}/"
            self.members += model_members(v, prefix=prefix)
            return {"model": prefix}
        raise TypeError(f"{self.owner} {where}={v!r} cannot be saved: fastnn files hold numbers, strings, tuples, "
                        "lists and arrays (set it to such a value, e.g. an int seed, before saving)")

    def array(self, arr, where):
        if arr.dtype.kind in "biufU":
            name = f"arrays/{len(self.members)}_{where}.npy"
            self.members.append((name, _npy_bytes(arr)))
            return {"array": name, "dtype": arr.dtype.str, "shape": list(arr.shape)}
        if arr.dtype.kind == "O" and arr.ndim == 1:
            return {"objects": [self.value(x, f"{where}[{i}]") for i, x in enumerate(arr.tolist())],
                    "shape": [arr.shape[0]]}
        raise TypeError(f"{self.owner} {where} is an array of {arr.dtype} with shape {arr.shape}, which cannot be "
                        "saved (numbers, booleans and strings can)")


def save_estimator(est, path):
    """Write ``est`` (fitted or not) to ``path`` atomically (see the module documentation)."""
    from .. import __version__
    from .._core.validation import check_output_path

    if not is_saved_estimator(est):
        raise TypeError(f"fastnn.save saves {SAVABLE}, got {type(est).__module__}.{type(est).__name__}")
    path = check_output_path(path)
    name = type(est).__name__
    writer = _Writer(name)
    params = {k: writer.value(v, k) for k, v in est.get_params(deep=False).items()}
    fitted = bool(est.__sklearn_is_fitted__()) if hasattr(est, "__sklearn_is_fitted__") else \
        hasattr(est, "model_")
    attributes = None
    if fitted:
        attributes = {k: writer.value(v, k) for k, v in est._file_attributes().items()}
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "library_version": __version__,
              "estimator": name, "params": params, "fitted": fitted, "attributes": attributes}
    data = json.dumps(header, indent=1, allow_nan=False).encode("utf-8")
    if len(data) > MAX_HEADER_BYTES:
        raise ValueError(f"the {name}'s header would take {len(data)} bytes, more than the {MAX_HEADER_BYTES} a "
                         "file may hold")
    write_members(path, [("header.json", data)] + writer.members)


class _Reader:
    """Turns a header's JSON values back into Python values, reading the arrays and models they name."""

    def __init__(self, z, path):
        self.z, self.path = z, path
        self.arrays = 0

    def fail(self, msg):
        _fail(self.path, msg)

    def value(self, v, where, depth=0):
        if depth > _MAX_DEPTH:
            self.fail(f"{where} is nested too deeply")
        if v is None or isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, float):
            return v
        if isinstance(v, list):
            return [self.value(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(v)]
        if not isinstance(v, dict) or len(v) not in (1, 2, 3):
            self.fail(f"{where} holds {type(v).__name__} {v!r:.60}, not a value fastnn writes")
        if set(v) == {"tuple"} and isinstance(v["tuple"], list):
            return tuple(self.value(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(v["tuple"]))
        if set(v) == {"float"} and v["float"] in ("inf", "-inf", "nan"):
            return float(v["float"])
        if set(v) == {"array", "dtype", "shape"}:
            return self.array(v, where)
        if set(v) == {"objects", "shape"} and isinstance(v["objects"], list) and v["shape"] == [len(v["objects"])]:
            items = [self.value(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(v["objects"])]
            if not all(isinstance(x, (bool, int, float, str)) for x in items):
                self.fail(f"{where} must hold strings or numbers")
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out
        if set(v) == {"model"} and v["model"] == f"{where}/":
            return read_model(self.z, self.path, v["model"])
        self.fail(f"{where} holds {v!r:.80}, not a value fastnn writes")

    def array(self, spec, where):
        self.arrays += 1
        if self.arrays > _MAX_ARRAYS:
            self.fail(f"more than {_MAX_ARRAYS} arrays")
        name, dtype, shape = spec["array"], spec["dtype"], spec["shape"]
        if not (isinstance(name, str) and name.startswith("arrays/") and name.endswith(".npy")):
            self.fail(f"{where} names the member {name!r}, not one of arrays/")
        try:
            dt = np.dtype(dtype) if isinstance(dtype, str) else None
        except (TypeError, ValueError):
            dt = None
        if dt is None or dt.kind not in "biufU" or dt.byteorder not in "=|" or dt.itemsize > 4 * _MAX_STRING \
                or (dt.kind != "U" and dt.itemsize > 8) or (dt.kind == "f" and dt.itemsize < 4):
            self.fail(f"{where} has dtype {dtype!r}, not a native integer, float32, float64, boolean or string type")
        if not (isinstance(shape, list) and len(shape) <= 4 and all(
                isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= _MAX_ELEMENTS for s in shape)
                and math.prod(shape) <= _MAX_ELEMENTS):
            self.fail(f"{where} has shape {shape!r}, not at most 4 sizes of at most {_MAX_ELEMENTS} elements")
        return _read_array(self.z, name, dt, tuple(shape), self.path)


def load_estimator(z, path, header):
    """The estimator the open archive ``z`` of ``path`` holds (``header`` its header.json)."""
    version = _get(header, "format_version", int, path)
    if not 1 <= version <= FORMAT_VERSION:
        _fail(path, f"format version {version} of estimator files is not supported by this fastnn (reads up to "
                    f"{FORMAT_VERSION}); upgrade fastnn")
    name = _get(header, "estimator", str, path)
    classes = _classes()
    if name in ("MLPClassifier", "MLPRegressor"):
        cls = _mlp_class(name)
    elif name in classes:
        cls = classes[name]
    else:
        _fail(path, f"unknown estimator {name!r}")
    reader = _Reader(z, path)
    params = _get(header, "params", dict, path)
    valid = cls._get_param_names() if hasattr(cls, "_get_param_names") else cls._param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        _fail(path, f"{name} has no parameters {unknown}")
    params = guarded(path, lambda: {k: reader.value(v, f"params {k}") for k, v in params.items()})
    try:
        est = cls(**params)
    except (TypeError, ValueError) as exc:
        _fail(path, f"invalid {name} parameters ({exc})")
    fitted = _get(header, "fitted", bool, path)
    if not fitted:
        return est
    attributes = _get(header, "attributes", dict, path)
    values = guarded(path, lambda: {k: reader.value(v, k) for k, v in attributes.items()})
    try:
        est._restore_attributes(Attributes(values, name))
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        _fail(path, f"invalid fitted {name} ({exc})")
    return est


class Attributes:
    """The fitted attributes read from a file, taken one at a time with a check of each (a ``ValueError``
    naming the attribute when one is missing or wrong)."""

    def __init__(self, values, owner):
        self.values, self.owner = dict(values), owner

    def _get(self, name, default=KeyError):
        if name not in self.values:
            if default is KeyError:
                raise ValueError(f"attribute {name} is missing")
            return default
        return self.values.pop(name)

    def integer(self, name, minimum=0, default=KeyError):
        v = self._get(name, default)
        if v is None and default is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ValueError(f"attribute {name} must be an integer of at least {minimum}, got {v!r:.60}")
        return v

    def real(self, name, finite=True, optional=False, default=KeyError):
        v = self._get(name, default)
        if v is None and (optional or default is None):
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (finite and not math.isfinite(v)):
            raise ValueError(f"attribute {name} must be a {'finite ' if finite else ''}number, got {v!r:.60}")
        return float(v)

    def string(self, name, choices):
        v = self._get(name)
        if v not in choices:
            raise ValueError(f"attribute {name} must be one of {sorted(choices)}, got {v!r:.60}")
        return v

    def reals(self, name, optional=False):
        """A list of finite numbers (a loss curve)."""
        v = self._get(name)
        if v is None and optional:
            return None
        if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                              and math.isfinite(x) for x in v):
            raise ValueError(f"attribute {name} must be a list of finite numbers")
        return [float(x) for x in v]

    def array(self, name, kinds, shape, finite=True, default=KeyError):
        """An array whose dtype kind is in ``kinds`` and whose shape matches ``shape`` (None: any size)."""
        v = self._get(name, default)
        if v is None and default is None:
            return None
        if not isinstance(v, np.ndarray) or v.dtype.kind not in kinds or v.ndim != len(shape) or any(
                want is not None and have != want for have, want in zip(v.shape, shape)):
            want = tuple("n" if s is None else s for s in shape)
            got = f"{v.dtype} {v.shape}" if isinstance(v, np.ndarray) else type(v).__name__
            raise ValueError(f"attribute {name} must be an array of shape {want}, got {got}")
        if finite and v.dtype.kind == "f" and not np.all(np.isfinite(v)):
            raise ValueError(f"attribute {name} contains NaN or infinity")
        return v

    def feature_names(self, n_features):
        """``feature_names_in_`` (strings, one per feature) or None."""
        v = self._get("feature_names_in_", None)
        if v is None:
            return None
        if not isinstance(v, np.ndarray) or v.shape != (n_features,) or not all(isinstance(x, str) for x in v):
            raise ValueError(f"attribute feature_names_in_ must hold {n_features} strings")
        return v.astype(object)

    def model(self, name):
        v = self._get(name)
        if not isinstance(v, registry.get("Sequential")):
            raise ValueError(f"attribute {name} must be a fastnn model")
        return v

    def done(self):
        """Refuse attributes nothing took."""
        if self.values:
            raise ValueError(f"unknown attributes {sorted(self.values)}")


registry.register_format("fastnn-estimator", save_estimator, load_estimator)
