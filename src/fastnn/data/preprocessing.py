"""Feature scaling with scikit-learn's words: ``fit``, ``transform``, ``fit_transform``, ``inverse_transform``
and fitted attributes ending in ``_``.

Statistics are accumulated in float64, a block of rows at a time, so fitting never copies the data. Results are
float64 for float64 input and float32 otherwise (integers, such as uint8 pixels, and float32), or the ``dtype``
given to ``transform``; they are computed block by block, so no full-size float64 temporary is made. NaN or
infinite values, wrong shapes, empty input and ``transform`` before ``fit`` raise clear errors. Every scaler can
be stored and restored with :meth:`get_state` / ``from_state`` (plain numbers and arrays, no pickle): a
model's file keeps its scaler, and ``fastnn.save(scaler, path)`` / ``fastnn.load(path)`` save a scaler alone
(fitted or not), which then transforms bit for bit as before.
"""
import numbers

import numpy as np

from .. import _kernels
from .._core.estimator import Estimator
from .._core.registry import register
from .._core.validation import check_dtype

__all__ = ["StandardScaler", "MinMaxScaler", "LogScaler", "scaler_from_state", "get_scaler"]

# Rows are processed in blocks of at most this many float64 bytes (and at most _BLOCK_ROWS rows), which bounds
# the temporaries of fit and transform whatever the size of the data.
_BLOCK_BYTES = 1 << 22
_BLOCK_ROWS = 4096


def _blocks(X):
    """Slices of ``X``'s rows, each small enough for a float64 temporary of ``_BLOCK_BYTES``."""
    step = max(1, min(_BLOCK_ROWS, _BLOCK_BYTES // (8 * X.shape[1])))
    return [slice(i, min(i + step, X.shape[0])) for i in range(0, X.shape[0], step)]


def _output_dtype(X, dtype):
    """``dtype`` when given, else float64 for float64 input and float32 for anything else."""
    if dtype is not None:
        return check_dtype(dtype)
    return np.dtype(np.float64) if X.dtype == np.float64 else np.dtype(np.float32)


def _map_blocks(X, func, dtype):
    """``func`` (float64 block -> float64 block, free to work in place) applied to ``X`` block by block into a new
    array of ``dtype``."""
    out = np.empty(X.shape, dtype=_output_dtype(X, dtype))
    for rows in _blocks(X):
        out[rows] = func(np.array(X[rows], dtype=np.float64))
    return out


class _Scaler(Estimator):
    #: The kind of file fastnn.save writes it to (see fastnn._core.registry).
    _file_format = "fastnn-estimator"
    _fitted_attr = None
    _state_arrays = ()

    def _check_fitted(self):
        if not self.__sklearn_is_fitted__():
            raise self._not_fitted()

    def _fit_input(self, X):
        """``X`` validated for ``fit``. Integer and boolean arrays are kept as they are (they are always finite;
        checking one row checks their type and shape), so that uint8 pixels are never copied to float64 as a
        whole."""
        return self._validate(X, reset=True, keep_integers=True)

    def _fitted_input(self, X):
        """``X`` validated against the fitted scaler."""
        return self._validate(X, keep_integers=True)

    def _fitted_on(self, X):
        """Record what ``fit`` saw; returns self."""
        self.n_samples_seen_ = X.shape[0]
        return self

    def fit_transform(self, X, y=None, dtype=None):
        """Fit to ``X``, then transform it (see ``transform`` for ``dtype``)."""
        return self.fit(X).transform(X, dtype=dtype)

    def transform(self, X, dtype=None):
        """Scale ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        dtype : {'float32', 'float64'}, optional
            Type of the result; default float64 for float64 input and float32 otherwise (integers included).

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        return _map_blocks(self._fitted_input(X), self._forward, dtype)

    def inverse_transform(self, X, dtype=None):
        """Undo ``transform`` (``dtype`` as there)."""
        return _map_blocks(self._fitted_input(X), self._inverse, dtype)

    def _state_params(self):
        return self.get_params()

    def get_state(self):
        """Parameters and fitted statistics as plain values and arrays."""
        self._check_fitted()
        state = {"class": type(self).__name__, "params": self._state_params(),
                 "n_features_in_": int(self.n_features_in_)}
        state["arrays"] = {k: np.asarray(getattr(self, k), dtype=np.float64) for k in self._state_arrays}
        return state

    @classmethod
    def _from_state(cls, state):
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in state["params"].items()}
        obj = cls(**params)
        obj._set_state(int(state["n_features_in_"]), state["arrays"])
        return obj

    def _set_state(self, n, arrays):
        """Set the fitted statistics ``arrays`` (by name) of ``n`` features on a new scaler, checked."""
        for key in self._state_arrays:
            arr = np.asarray(arrays[key], dtype=np.float64)
            if arr.shape != (n,) or not np.all(np.isfinite(arr)):
                raise ValueError(f"scaler state {key!r} must hold {n} finite values")
            setattr(self, key, arr)
        self.n_features_in_ = n
        self._validate_state()

    # -- files (fastnn.save / fastnn.load, see fastnn.saving.estimators) ----------------------------------------

    def _file_attributes(self):
        """The fitted attributes a file keeps."""
        out = {"n_features_in_": int(self.n_features_in_)}
        out.update(self.get_state()["arrays"])
        for key in ("n_samples_seen_", "feature_names_in_"):
            if hasattr(self, key):
                out[key] = getattr(self, key)
        return out

    def _restore_attributes(self, attrs):
        """Set the fitted attributes read from a file, each checked first."""
        n = attrs.integer("n_features_in_", minimum=1)
        arrays = {key: attrs.array(key, "f", (n,)) for key in self._state_arrays}
        seen = attrs.integer("n_samples_seen_", minimum=1, default=None)
        names = attrs.feature_names(n)
        attrs.done()
        self._set_state(n, arrays)
        if seen is not None:
            self.n_samples_seen_ = seen
        if names is not None:
            self.feature_names_in_ = names

    def _validate_state(self):
        pass

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


@register
class StandardScaler(_Scaler):
    """Standardize features: ``(X - mean_) / scale_``.

    Parameters
    ----------
    with_mean : bool, default=True
    with_std : bool, default=True

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    var_ : ndarray of shape (n_features,)
        Population variance (``ddof=0``), as scikit-learn.
    scale_ : ndarray of shape (n_features,)
        Standard deviation; 1 for constant features, so they map to 0 instead of dividing by zero.
    n_features_in_, n_samples_seen_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from fastnn.preprocessing import StandardScaler
    >>> StandardScaler().fit_transform(np.array([[0.0, 5.0], [2.0, 5.0]]))
    array([[-1.,  0.],
           [ 1.,  0.]])
    """

    _fitted_attr = "scale_"
    _state_arrays = ("mean_", "var_", "scale_")

    def __init__(self, with_mean=True, with_std=True):
        self.with_mean = with_mean
        self.with_std = with_std

    def _state_params(self):
        return {"with_mean": bool(self.with_mean), "with_std": bool(self.with_std)}

    def fit(self, X, y=None):
        """Compute ``mean_``, ``var_`` and ``scale_`` of ``X`` (n_samples, n_features): two passes over blocks of
        rows with float64 sums, the second with scikit-learn's correction term for rounding in the mean."""
        X = self._fit_input(X)
        n = X.shape[0]
        total = np.zeros(X.shape[1])
        for rows in _blocks(X):
            total += X[rows].sum(axis=0, dtype=np.float64)
        mean = total / n
        squares = np.zeros(X.shape[1])
        correction = np.zeros(X.shape[1])
        for rows in _blocks(X):
            d = X[rows] - mean  # float64, one block
            correction += d.sum(axis=0)
            d *= d
            squares += d.sum(axis=0)
            del d  # before the next block's is made
        var = np.maximum((squares - correction ** 2 / n) / n, 0.0)
        # Variances within rounding noise of zero mark constant features (scikit-learn's rule).
        eps = np.finfo(np.float64).eps
        constant = var <= n * eps * var + (n * mean * eps) ** 2
        scale = np.where(constant, 1.0, np.sqrt(var))
        self.mean_ = mean if self.with_mean else np.zeros_like(mean)
        self.var_ = var
        self.scale_ = scale if self.with_std else np.ones_like(scale)
        return self._fitted_on(X)

    def _forward(self, block):
        block -= self.mean_
        block /= self.scale_
        return block

    def _inverse(self, block):
        block *= self.scale_
        block += self.mean_
        return block

    def _validate_state(self):
        if np.any(self.scale_ <= 0):
            raise ValueError("scaler state 'scale_' must be positive")


@register
class MinMaxScaler(_Scaler):
    """Scale each feature to ``feature_range``: ``X * scale_ + min_``.

    Parameters
    ----------
    feature_range : tuple (min, max), default=(0, 1)

    Attributes
    ----------
    data_min_, data_max_, data_range_ : ndarray of shape (n_features,)
    scale_, min_ : ndarray of shape (n_features,)
        A constant feature (zero range) gets the range 1, as in scikit-learn.
    n_features_in_, n_samples_seen_ : int
    """

    _fitted_attr = "scale_"
    _state_arrays = ("data_min_", "data_max_", "data_range_", "scale_", "min_")

    def __init__(self, feature_range=(0, 1)):
        self.feature_range = feature_range

    def _range(self):
        """``feature_range`` checked: two finite floats, the first below the second."""
        feature_range = self.feature_range
        try:
            lo, hi = feature_range
        except (TypeError, ValueError):
            raise TypeError("feature_range must be a pair (min, max)") from None
        for v in (lo, hi):
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v):
                raise ValueError(f"feature_range must hold two finite numbers, got {feature_range!r}")
        if not lo < hi:
            raise ValueError(f"feature_range minimum must be below its maximum, got {feature_range!r}")
        return float(lo), float(hi)

    def _state_params(self):
        return {"feature_range": list(self._range())}

    def fit(self, X, y=None):
        """Compute the minimum and maximum of each feature of ``X`` (n_samples, n_features)."""
        lo, hi = self._range()
        X = self._fit_input(X)
        self.data_min_ = X.min(axis=0).astype(np.float64)  # in X's own dtype: no temporary copy
        self.data_max_ = X.max(axis=0).astype(np.float64)
        self.data_range_ = self.data_max_ - self.data_min_
        rng = np.where(self.data_range_ == 0, 1.0, self.data_range_)
        self.scale_ = (hi - lo) / rng
        self.min_ = lo - self.data_min_ * self.scale_
        return self._fitted_on(X)

    def _forward(self, block):
        block *= self.scale_
        block += self.min_
        return block

    def _inverse(self, block):
        block -= self.min_
        block /= self.scale_
        return block

    def _validate_state(self):
        self._range()
        if np.any(self.scale_ == 0):
            raise ValueError("scaler state 'scale_' must be non-zero")


@register
class LogScaler(_Scaler):
    """``log1p`` scaling for heavy-tailed non-negative features: ``transform(X) = log(1 + X)``.

    Counts, prices and other skewed non-negative features become roughly symmetric. Negative values are refused
    with a ``ValueError`` naming the first offending feature (``log1p`` of values below 0 would either be
    undefined or fold the scale); ``inverse_transform`` is ``expm1``.

    Attributes
    ----------
    data_max_ : ndarray of shape (n_features,)
        Largest value of each feature seen in ``fit`` (for reference).
    n_features_in_, n_samples_seen_ : int
    """

    _fitted_attr = "data_max_"
    _state_arrays = ("data_max_",)
    _positive_only = True

    def __init__(self):
        pass

    @staticmethod
    def _check_non_negative(X, name):
        low = X.min(axis=0)
        if np.any(low < 0):
            col = int(np.nonzero(low < 0)[0][0])
            raise ValueError(f"Negative values in data passed to LogScaler: {name} has negative values (feature {col}, "
                             f"minimum {low[col].item()!r}): LogScaler needs non-negative features; shift them or "
                             "use StandardScaler")

    def fit(self, X, y=None):
        """Check that ``X`` (n_samples, n_features) is non-negative and record each feature's maximum."""
        X = self._fit_input(X)
        self._check_non_negative(X, "X")
        self.data_max_ = X.max(axis=0).astype(np.float64)
        return self._fitted_on(X)

    def transform(self, X, dtype=None):
        X = self._fitted_input(X)
        self._check_non_negative(X, "X")
        return _map_blocks(X, lambda block: np.log1p(block, out=block), dtype)

    transform.__doc__ = _Scaler.transform.__doc__

    def inverse_transform(self, X, dtype=None):
        """``expm1(X)`` (``dtype`` as in ``transform``); values whose result overflows raise ``ValueError``."""
        with np.errstate(over="ignore"):
            out = _map_blocks(self._fitted_input(X), lambda block: np.expm1(block, out=block), dtype)
        if not _kernels.all_finite(out):
            raise ValueError("X holds values too large to invert (expm1 overflows)")
        return out


_CLASSES = {cls.__name__: cls for cls in (StandardScaler, MinMaxScaler, LogScaler)}
_NAMES = {"standard": StandardScaler, "minmax": MinMaxScaler, "log": LogScaler}


def scaler_from_state(state):
    """Rebuild a fitted scaler from :meth:`get_state`'s output (validated)."""
    try:
        cls = _CLASSES[state["class"]]
    except (KeyError, TypeError):
        raise ValueError("unknown scaler in state") from None
    try:
        return cls._from_state(state)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed {state['class']} state: {exc}") from None


def get_scaler(name):
    """A new scaler for ``'standard'``, ``'minmax'`` or ``'log'`` (None or ``'none'`` give None)."""
    if name is None or name == "none":
        return None
    if name not in _NAMES:
        raise ValueError(f"scale must be one of 'standard', 'minmax', 'log', 'none', got {name!r}")
    return _NAMES[name]()
