"""scikit-learn's estimator protocol for fastnn's own estimators, written by hand so that ``import fastnn`` needs
no scikit-learn.

:class:`KMeans` and the scalers take their parameters in ``__init__`` and keep them as given (checked in
``fit``), answer ``get_params``/``set_params`` and ``__sklearn_tags__`` (which imports scikit-learn only when
scikit-learn itself asks), record ``n_features_in_`` and, for pandas input, ``feature_names_in_``, and raise
:class:`NotFittedError` before ``fit``. With these, they pass ``sklearn.utils.estimator_checks``.
"""
import functools
import inspect
import sys
import warnings

import numpy as np

from .validation import check_features

__all__ = ["NotFittedError", "Estimator"]


class NotFittedError(ValueError, AttributeError, RuntimeError):
    """Raised when a method needs a fitted estimator. Like scikit-learn's ``NotFittedError`` it is both a
    ``ValueError`` and an ``AttributeError``; it is also a ``RuntimeError``, what fastnn raised before. When
    scikit-learn has been imported, the error raised is also an instance of scikit-learn's ``NotFittedError``."""


@functools.cache
def _with_sklearn_not_fitted():
    """A subclass of :class:`NotFittedError` and scikit-learn's (imported only when it already is)."""
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    return type("NotFittedError", (NotFittedError, SklearnNotFittedError), {"__module__": __name__})


def not_fitted_error(message):
    """:class:`NotFittedError`, also scikit-learn's when scikit-learn is loaded (no import of it otherwise)."""
    cls = NotFittedError
    if "sklearn" in sys.modules:
        try:
            cls = _with_sklearn_not_fitted()
        except ImportError:  # pragma: no cover - a broken or blocked scikit-learn
            pass
    return cls(message)


def _feature_names(X):
    """The column names of a DataFrame-like ``X`` when they are all strings, else None."""
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, np.ndarray):
        return None
    names = np.asarray(columns, dtype=object)
    if names.ndim != 1 or names.size == 0 or not all(isinstance(n, str) for n in names):
        return None
    return names


def _as_array(X, name):
    """``X`` as an array where NumPy can make one (lists, DataFrames, array-likes), with scikit-learn's errors
    for complex data and for no features; object arrays of numbers become float64, and anything else in one
    raises the ``TypeError`` of ``float()``. Sparse matrices and what NumPy cannot convert are left to
    ``check_features``, which explains them."""
    if isinstance(X, (str, bytes)) or type(X).__module__.startswith("scipy.sparse"):
        return X
    try:
        arr = np.asarray(X)
    except Exception:  # ragged lists and the like
        return X
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {arr.dtype}")
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold real numbers: {exc}") from exc
    if arr.ndim == 1:
        raise ValueError(f"{name} must be 2-dimensional (n_samples, n_features), got a 1-dimensional array. "
                         "Reshape your data either using X.reshape(-1, 1) if your data has a single feature "
                         "or X.reshape(1, -1) if it contains a single sample.")
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: it has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is "
                         "required.")
    return arr


class Estimator:
    """Parameter protocol, input checks and tags shared by fastnn's scikit-learn-style estimators."""

    _estimator_type = None       # 'clusterer' or None (transformers)
    _fitted_attr = "n_features_in_"  # set once fit has succeeded
    _positive_only = False       # input must be non-negative (LogScaler)
    _preserves_dtype = ("float64", "float32")

    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD]

    def get_params(self, deep=True):
        """The constructor's arguments as given (``deep`` is accepted for scikit-learn; there are no nested
        estimators)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor arguments (checked at the next ``fit``); returns self."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; valid ones are {valid}")
            setattr(self, name, value)
        return self

    def __sklearn_is_fitted__(self):
        return hasattr(self, self._fitted_attr)

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        tags = Tags(estimator_type=self._estimator_type, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags(preserves_dtype=list(self._preserves_dtype)),
                    input_tags=InputTags(allow_nan=False, sparse=False, two_d_array=True,
                                         positive_only=self._positive_only))
        tags.requires_fit = True
        return tags

    def _not_fitted(self):
        return not_fitted_error(f"this {type(self).__name__} is not fitted yet: call fit(X) first")

    def _validate(self, X, name="X", reset=False, dtype=None, keep_integers=False):
        """``X`` checked as fastnn does everywhere (finite, 2-d, non-empty, float32/float64 kept), plus
        scikit-learn's feature names and feature-count message. ``reset`` records them (``fit``); otherwise
        the estimator must be fitted and ``X`` must match. ``keep_integers`` returns integer arrays unconverted
        (the scalers convert block by block)."""
        if not reset and not self.__sklearn_is_fitted__():
            raise self._not_fitted()
        names = _feature_names(X)
        X = _as_array(X, name)
        n_features = None if reset else self.n_features_in_
        expecting = f"{type(self).__name__} is expecting"
        if keep_integers and isinstance(X, np.ndarray) and X.dtype.kind in "biu" and X.ndim == 2:
            check_features(X[:1], name, n_features=n_features, fitted_by=expecting, suffix=" features as input")
        else:
            X = check_features(X, name, dtype, n_features=n_features, fitted_by=expecting,
                               suffix=" features as input")
        if reset:
            self.n_features_in_ = X.shape[1]
            if names is not None:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        else:
            self._check_names(names)
        return X

    def _check_names(self, names):
        fitted = getattr(self, "feature_names_in_", None)
        cls = type(self).__name__
        if fitted is None and names is None:
            return
        if fitted is None:
            warnings.warn(f"X has feature names, but {cls} was fitted without feature names", UserWarning,
                          stacklevel=4)
        elif names is None:
            warnings.warn(f"X does not have valid feature names, but {cls} was fitted with feature names",
                          UserWarning, stacklevel=4)
        elif len(fitted) != len(names) or np.any(fitted != names):
            unexpected = sorted(set(names) - set(fitted))
            missing = sorted(set(fitted) - set(names))
            message = "The feature names should match those that were passed during fit.\n"
            if unexpected:
                message += f"Feature names unseen at fit time: {unexpected}\n"
            if missing:
                message += f"Feature names seen at fit time, yet now missing: {missing}\n"
            if not unexpected and not missing:
                message += "Feature names must be in the same order as they were in fit.\n"
            raise ValueError(message)
