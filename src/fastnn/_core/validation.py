"""Input checks, called at the Python boundary only.

The compiled kernels run without bounds checks and trust their inputs; every public function validates here
first and raises a ``TypeError`` (wrong kind of object or dtype) or ``ValueError`` (wrong value or shape) that
names the argument, before any state is changed.
"""
import math
import numbers
import operator
import os
import sys
import warnings

import numpy as np

from .. import _kernels

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_dtype(dtype, name="dtype"):
    """Return ``np.float32`` or ``np.float64`` for a user's dtype argument."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name} must be 'float32' or 'float64', got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be 'float32' or 'float64', got {dt.name}")
    return dt


def check_bool(value, name):
    """``value`` as a bool, or a TypeError naming ``name`` (NumPy's bools count; 0 and 1 do not)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_verbose(verbose):
    """``verbose`` as 0, 1 or 2 (Keras's levels), or a ValueError."""
    if verbose not in (0, 1, 2) or isinstance(verbose, (bool, np.bool_)):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def check_int(value, name, minimum=None, maximum=None):
    """A Python or NumPy integer (not bool) within bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = operator.index(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_float(value, name, low=None, high=None, low_inclusive=True, high_inclusive=True):
    """A finite real number within bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {op} {low}, got {value}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        op = "<=" if high_inclusive else "<"
        raise ValueError(f"{name} must be {op} {high}, got {value}")
    return value


def _as_numeric_array(X, name):
    if isinstance(X, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers, got {type(X).__name__}")
    if type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{name} is a scipy sparse matrix, which fastnn does not take: pass a dense array "
                        f"({name}.toarray())")
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
    kind = arr.dtype.kind
    if kind not in "biuf":
        what = {"c": "complex", "O": "object", "U": "string", "S": "bytes", "M": "datetime",
                "m": "timedelta", "V": "structured"}.get(kind, arr.dtype.name)
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype} ({what})")
    return arr


def check_features(X, name, dtype=None, n_features=None, fitted_by="the model expects", suffix=""):
    """A finite, non-empty ``(n_samples, n_features)`` C-contiguous array, copied only if needed.

    ``dtype`` None keeps float32 and float64 and converts other numbers to float64. A wrong feature count is
    reported as "``name`` has N features, but ``fitted_by`` M``suffix``".
    """
    arr = _as_numeric_array(X, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: it has 0 features")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features, but {fitted_by} {n_features}{suffix}")
    if dtype is None:
        dtype = arr.dtype if arr.dtype in FLOAT_DTYPES else np.dtype(np.float64)
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 8:
        arr = arr.astype(np.float64)
    with np.errstate(over="ignore"):  # a finite float64 too large for float32 becomes inf: caught below
        out = np.ascontiguousarray(arr, dtype=dtype)
    if not _kernels.all_finite(out):
        raise ValueError(f"{name} contains NaN or infinity" +
                         (f" (or values too large for {np.dtype(dtype).name})" if out.dtype != arr.dtype else ""))
    return out


def check_class_labels(y, name, n_samples, n_classes):
    """Integer class labels in ``[0, n_classes)`` of length ``n_samples``, as int32."""
    arr = _as_numeric_array(y, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional class labels, got shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} labels but X has {n_samples} samples")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinity")
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer class labels, found non-integer values")
    if arr.size:
        lo, hi = arr.min(), arr.max()
        if lo < 0 or hi >= n_classes:
            bad = (lo if lo < 0 else hi).item()
            raise ValueError(f"{name} holds label {bad} outside [0, {n_classes - 1}]: the output layer has "
                             f"{n_classes} units")
    return np.ascontiguousarray(arr, dtype=np.int32)


def check_probability_rows(y, name, n_samples, n_classes, dtype):
    """Probability (or one-hot) targets for cross-entropy: values in [0, 1], each row summing to 1."""
    out = check_targets(y, name, n_samples, n_classes, dtype, low=0.0, high=1.0)
    sums = out.sum(axis=1, dtype=np.float64)
    bad = np.abs(sums - 1.0) > (1e-3 if out.dtype == np.float32 else 1e-6) * n_classes
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{name} rows must sum to 1 (probabilities over {n_classes} classes for cross-entropy), "
                         f"but row {row} sums to {sums[row]:.6g}; for independent 0/1 targets use a sigmoid output "
                         "and loss='binary_cross_entropy'")
    return out


def check_targets(y, name, n_samples, n_outputs, dtype, low=None, high=None):
    """Dense targets ``(n_samples, n_outputs)`` of ``dtype``; a 1-d array is accepted for one output."""
    arr = _as_numeric_array(y, name)
    if arr.ndim == 1 and n_outputs == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != n_outputs:
        raise ValueError(f"{name} must have shape ({n_samples}, {n_outputs}) to match the output layer, "
                         f"got {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} rows but X has {n_samples} samples")
    out = np.ascontiguousarray(arr, dtype=dtype)
    if not _kernels.all_finite(out):
        raise ValueError(f"{name} contains NaN or infinity")
    if low is not None and out.size and (out.min() < low or out.max() > high):
        raise ValueError(f"{name} must lie in [{low}, {high}], found values in [{out.min()}, {out.max()}]")
    return out


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _inside_fastnn(filename):
    """Whether code of the file ``filename`` is fastnn's own: a module of the package or of one of its subpackages,
    except ``fastnn.rl``, whose calls are the place a warning points at."""
    folder = os.path.dirname(os.path.abspath(filename))
    return folder == _PACKAGE_DIR or (os.path.dirname(folder) == _PACKAGE_DIR and os.path.basename(folder) != "rl")


def warn_user(message, category=UserWarning):
    """``warnings.warn`` pointing at the first caller outside fastnn, wherever inside fastnn it is called."""
    frame, level = sys._getframe(1), 2  # stacklevel 1 is this function, 2 its caller
    while frame is not None and _inside_fastnn(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def check_sample_weight(w, name, n_samples):
    """Non-negative, finite per-sample weights of length ``n_samples``, as float64."""
    arr = _as_numeric_array(w, name)
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(f"{name} must have shape ({n_samples},), one weight a sample, got {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be >= 0, found {arr.min()}")
    return arr


def check_output_path(path):
    """``path`` as a string, after checking that a file can be written there: its folder exists and the path
    is not a folder (``FileNotFoundError`` / ``IsADirectoryError`` naming them)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot save to {path}: it is a folder")
    return path
