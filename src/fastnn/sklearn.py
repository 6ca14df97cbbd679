"""scikit-learn estimators: :class:`MLPClassifier` and :class:`MLPRegressor`, drop-in replacements for
scikit-learn's, trained by :class:`fastnn.Sequential`.

Needs scikit-learn 1.6 or later (``pip install "scikit-learn>=1.6"``). The parameters, their defaults, the fitted
attributes and the convergence rule are scikit-learn's; ``MLPRegressor(loss='poisson')`` is not supported. Three
more parameters are fastnn's: ``dropout`` (rate on every hidden layer's output), ``n_threads`` and ``dtype``.

``X`` may be a ``scipy.sparse`` matrix (converted to CSR): training and prediction turn it into dense rows one
batch (or block of rows) at a time, never the whole matrix at once. Sparse and dense inputs give the same
network, except with dropout (whose masks then differ) and for a mini-batch whose sample weights are all 0, which
sparse input skips and dense input takes a step of the penalty alone on. The stochastic solvers train both
through :meth:`Sequential.fit` (sparse input as its batches): the epochs are counted in ``model_.epochs_trained``
and ``model_.history``, and an epoch whose loss or weights become NaN or infinite is undone and raises
``FloatingPointError``.

``fastnn.save(est, path)`` writes an estimator in fastnn's safe file format (no pickle): its parameters and, when
fitted, its network (``model_``), ``classes_`` (strings included) and the other fitted attributes;
``fastnn.load(path)`` gives it back, predicting bit for bit as before and ready for ``partial_fit``. Save the
estimator rather than its ``model_``, whose file knows nothing of ``classes_``.

How scikit-learn's training maps onto fastnn
--------------------------------------------
* **L2 penalty.** scikit-learn adds ``0.5 * alpha * ||W||^2 / m`` to the loss of each batch of ``m`` samples
  (``m`` is the sum of the batch's sample weights when they are given), so the weights' gradient gets
  ``alpha * W / m``. fastnn's ``L2(a)`` adds ``a / 2 * ||W||^2`` per batch (gradient ``a * W``), so the
  estimators compile ``L2(alpha / batch_size)``: exact for every full batch without sample weights. The last
  batch of an epoch, when ``n_samples`` is not a multiple of ``batch_size``, gets ``alpha / batch_size`` where
  scikit-learn uses ``alpha / len(batch)``; with sample weights the penalty is divided by the batch size, not by
  the batch's weight sum.
* **Loss scale.** scikit-learn's gradients are those of the summed (not averaged) output units for multilabel
  classification, and of half the squared error summed over outputs for regression, while fastnn's losses
  average over the output units. The data gradient is then ``c`` times fastnn's (``c = n_outputs`` multilabel,
  ``n_outputs / 2`` regression, 1 otherwise); the estimators reproduce it exactly by training with
  ``lr * c`` and ``L2(alpha / (batch_size * c))`` (SGD) or ``eps / c`` and the same ``L2`` (Adam, invariant to
  the gradient's scale otherwise). ``loss_curve_`` holds scikit-learn's loss; for multi-output regression its
  penalty part is the end-of-epoch penalty rather than the average over the epoch's batches.
* **SGD** is PyTorch's form (``v = mu v + g; p -= lr v``), equal to scikit-learn's (``v = mu v - lr g;
  p += v``) at a constant rate; when ``learning_rate='invscaling'`` or ``'adaptive'`` changes the rate between
  epochs the momentum buffer is rescaled by ``old_lr / new_lr``, which keeps the two equal.
* **Adam** differs only in where epsilon goes: scikit-learn adds it to ``sqrt(v)`` before the bias correction,
  fastnn (as PyTorch) after it.
* **L-BFGS** (``solver='lbfgs'``, scikit-learn's advice for small data sets) is ``scipy.optimize.minimize(
  method='L-BFGS-B')`` on the whole training set's loss and gradient (:meth:`Sequential.loss_and_gradient`),
  with scikit-learn's objective (its loss scale and ``0.5 * alpha * ||W||^2 / sum(sample_weight)``) and options
  (``maxiter=max_iter``, ``maxfun=max_fun``, ``gtol=tol``); ``n_iter_`` and the ``ConvergenceWarning`` come from
  scikit-learn's own check of the result. ``loss_curve_`` is not set, as in scikit-learn; ``partial_fit`` is not
  available, and ``dropout`` must be 0 (the objective must not change between calls).
* **Initial weights** are fastnn's (He uniform for relu, Glorot uniform otherwise), not scikit-learn's.
* **Predictions** are computed in blocks of a fixed number of rows (``_ROW_BLOCK``, the last one padded), so that
  a sample's prediction does not depend on which other samples it is predicted with, bit for bit (a product's
  last bits depend on the shape of the call).
"""
import numbers
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils._available_if import available_if
    from sklearn.utils.optimize import _check_optimize_result
    from sklearn.utils._param_validation import Integral, Interval, Options, Real, StrOptions
    from sklearn.utils.multiclass import type_of_target, unique_labels
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - exercised without scikit-learn installed
    raise ImportError('fastnn.sklearn needs scikit-learn 1.6 or later: pip install "scikit-learn>=1.6"') from exc

from ._core.registry import register
from .callbacks import Callback
from .nn import Dense, Dropout
from .models import Sequential
from .optim import SGD, Adam
from .regularizers import L2

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
#: Rows of every block a prediction is computed in (the last block padded with zeros).
_ROW_BLOCK = 64
#: Rows made dense at once from a sparse matrix (prediction, and L-BFGS's loss and gradient).
_SPARSE_ROWS = 16 * _ROW_BLOCK


def _dense_rows(X, rows):
    """``X[rows]`` as a dense array (rows of a CSR matrix made dense; a slice of an array as it is)."""
    part = X[rows]
    return part.toarray() if scipy.sparse.issparse(part) else part


class _SparseBatches:
    """The batches of one epoch of ``model.fit`` over a CSR matrix, drawn anew each time it is iterated: the
    shuffle ``fit`` draws over an array (from the model's generator, at the epoch's start), the same batches of
    rows, each made dense when it is trained on. ``fit`` then counts the epochs, calls the callbacks and, when a
    batch diverges, restores the epoch's start and raises, as over arrays. A batch whose sample weights are all 0
    is left out (an array's takes a step of the penalty alone)."""

    def __init__(self, model, X, targets, sample_weight, batch_size, shuffle):
        self.model, self.X, self.targets, self.sample_weight = model, X, targets, sample_weight
        self.batch_size, self.shuffle = batch_size, shuffle

    def __iter__(self):
        n = self.X.shape[0]
        perm = self.model._rng.permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, n, self.batch_size):
            rows = perm[start:start + self.batch_size]
            if self.sample_weight is None:
                yield self.X[rows].toarray(), self.targets[rows]
            elif self.sample_weight[rows].sum() > 0:
                yield self.X[rows].toarray(), self.targets[rows], self.sample_weight[rows]


def _check_solver(est):
    """scikit-learn's rule: ``partial_fit`` exists for the stochastic solvers only."""
    if est.solver not in ("sgd", "adam"):
        raise AttributeError(f"partial_fit is only available for stochastic optimizers. {est.solver} is not "
                             "stochastic.")
    return True


class _Convergence(Callback):
    """scikit-learn's end-of-epoch bookkeeping: ``loss_curve_``, the no-improvement count (training loss, or the
    validation score with early stopping), the 'invscaling' and 'adaptive' rates, and the stop."""

    def __init__(self, est, validation, incremental):
        self.est = est
        self.validation = validation
        self.incremental = incremental
        self.stopped = False

    def _set_lr(self, model, lr):
        old = model.optimizer.lr
        if lr == old:
            return
        if isinstance(model.optimizer, SGD) and model.optimizer.momentum > 0:
            model.optimizer_state[0] *= old / lr  # keeps PyTorch's SGD equal to scikit-learn's across the change
        model.optimizer.lr = lr

    def on_epoch_end(self, model, epoch, logs):
        est = self.est
        loss = est._sklearn_loss(logs["loss"])
        est.n_iter_ += 1
        est.loss_ = loss
        est.t_ += est._n_train
        est.loss_curve_.append(loss)
        if est.verbose:
            print("Iteration %d, loss = %.8f" % (est.n_iter_, loss))
        if self.validation is not None:
            X_val, y_val, w_val = self.validation
            score = est._score_model(X_val, y_val, w_val)
            est.validation_scores_.append(score)
            if est.verbose:
                print("Validation score: %f" % score)
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_params = model.parameters.copy()
        else:
            if loss > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if loss < est.best_loss_:
                est.best_loss_ = loss
        sgd = est.solver == "sgd"
        rate = est._rate  # scikit-learn's learning rate (before the loss-scale factor)
        if sgd and est.learning_rate == "invscaling":
            rate = float(est.learning_rate_init) / (est.t_ + 1) ** est.power_t
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.validation is not None else "Training loss"
            msg = (f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} "
                   "consecutive epochs.")
            if not (sgd and est.learning_rate == "adaptive"):
                if est.verbose:
                    print(msg + " Stopping.")
                self.stopped = True
            elif rate <= 1e-6:
                if est.verbose:
                    print(msg + " Learning rate too small. Stopping.")
                self.stopped = True
            else:
                rate /= 5.0
                if est.verbose:
                    print(msg + " Setting learning rate to %f" % rate)
                est._no_improvement_count = 0
        if rate != est._rate:
            est._rate = rate
            self._set_lr(model, rate * est._scale if sgd else rate)
        if self.stopped:
            model.stop_training = True


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share."""

    #: The kind of file fastnn.save writes it to (see fastnn._core.registry).
    _file_format = "fastnn-estimator"

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "n_threads": [None, Interval(Integral, 1, None, closed="left")],
        "dtype": [StrOptions({"float32", "float64"})],
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    @property
    def coefs_(self):
        """Each Dense layer's weight matrix as scikit-learn shapes it, ``(n_in, n_out)``: writable views (the
        transposes) of ``model_``'s weights, of the estimator's dtype."""
        return [layer.weight.T for layer in self.model_.layers if isinstance(layer, Dense)]

    @property
    def intercepts_(self):
        """Each Dense layer's bias, ``(n_out,)``: writable views of ``model_``'s biases."""
        return [layer.bias for layer in self.model_.layers if isinstance(layer, Dense)]

    # -- checks -------------------------------------------------------------------------------------------------

    def _check_settings(self):
        self._validate_params()
        if self.solver == "lbfgs" and self.dropout > 0:
            raise ValueError("dropout must be 0 with solver='lbfgs': L-BFGS needs the same objective at every "
                             "evaluation, and dropout draws new masks each time")
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if not hasattr(sizes, "__iter__") else list(sizes)
        for s in sizes:
            if not isinstance(s, numbers.Integral) or s < 1:
                raise ValueError(f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}")
        return [int(s) for s in sizes]

    # -- the network ----------------------------------------------------------------------------------------------

    def _build(self, n_features, n_outputs, out_activation, rs):
        sizes = self._check_settings()
        act = _ACTIVATIONS[self.activation]
        widths = [n_features] + sizes
        layers = []
        for i in range(len(sizes)):
            if i > 0 and self.dropout > 0:
                layers.append(Dropout(self.dropout))
            layers.append(Dense(widths[i], widths[i + 1], activation=act))
        if sizes and self.dropout > 0:
            layers.append(Dropout(self.dropout))
        layers.append(Dense(widths[-1], n_outputs, activation=out_activation))
        seed = int(rs.randint(np.iinfo(np.int32).max))
        return Sequential(layers, seed=seed, dtype=self.dtype)

    def _optimizer(self):
        if self.solver == "sgd":
            mu = float(self.momentum)
            return SGD(lr=self._rate * self._scale, momentum=mu, nesterov=bool(self.nesterovs_momentum and mu > 0))
        return Adam(lr=float(self.learning_rate_init), betas=(float(self.beta_1), float(self.beta_2)),
                    eps=float(self.epsilon) / self._scale)

    def _initialize(self, y2d):
        """Fresh fitted state (the first fit, every fit without warm_start, the first partial_fit)."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y2d.shape[1]
        self.out_activation_ = self._out_activation()
        self.n_layers_ = len(self._check_settings()) + 2
        for name in ("loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_"):
            self.__dict__.pop(name, None)
        self._no_improvement_count = 0
        if self.solver != "lbfgs":
            self._initialize_curves()

    def _initialize_curves(self):
        """The stochastic solvers' bookkeeping: the loss curve and the no-improvement count."""
        self._no_improvement_count = 0
        self.loss_curve_ = []
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _fit(self, X, y, sample_weight, incremental):
        self._check_settings()
        first = not hasattr(self, "model_")
        reset = first or not (self.warm_start or incremental)
        X, y = self._validate_input(X, y, incremental, reset=reset)
        y2d = y.reshape(-1, 1) if y.ndim == 1 else y
        if sample_weight is not None:
            from sklearn.utils.validation import _check_sample_weight

            sample_weight = _check_sample_weight(sample_weight, X)
        if reset:
            self._initialize(y2d)
        elif y2d.shape[1] != self.n_outputs_ or X.shape[1] != self.model_.n_features:
            raise ValueError(f"X or y does not match the fitted model ({self.model_.n_features} features, "
                             f"{self.n_outputs_} outputs)")
        rs = check_random_state(self.random_state)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        self._scale = self._loss_scale()
        if self.solver != "lbfgs" and not hasattr(self, "loss_curve_"):
            self._initialize_curves()  # warm start after L-BFGS: the stochastic solvers' bookkeeping begins
        if reset:
            self.model_ = self._build(X.shape[1], self.n_outputs_, _ACTIVATIONS.get(self.out_activation_,
                                                                                   self.out_activation_), rs)
        if reset or not incremental or not hasattr(self, "_rate"):
            self._rate = float(self.learning_rate_init)
            self.model_.compile(loss=self._fastnn_loss(), optimizer=self._optimizer())
        if self.solver == "lbfgs":
            return self._fit_lbfgs(X, self._fastnn_targets(y), sample_weight)

        validation = None
        if self.early_stopping:
            stratify = y if (self._is_classifier() and self.n_outputs_ == 1) else None
            parts = [X, y] + ([sample_weight] if sample_weight is not None else [])
            split = train_test_split(*parts, random_state=rs, test_size=self.validation_fraction,
                                     stratify=stratify)
            X, X_val, y, y_val = split[:4]
            sample_weight, w_val = (split[4], split[5]) if sample_weight is not None else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of "
                                 "your dataset.")
            if self._is_classifier():
                y_val = self._label_binarizer.inverse_transform(y_val)
            validation = (X_val, y_val, w_val)
            self._best_params = self.model_.parameters.copy()
        n = X.shape[0]
        self._n_train = n
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                              stacklevel=3)
            batch_size = int(np.clip(self.batch_size, 1, n))
        self.model_.regularizer = L2(float(self.alpha) / (batch_size * self._scale)) if self.alpha > 0 else None
        monitor = _Convergence(self, validation, incremental)
        epochs = 1 if incremental else int(self.max_iter)
        if not incremental:
            self.n_iter_ = 0
        targets = self._fastnn_targets(y)
        if scipy.sparse.issparse(X):  # the same fit, over batches made dense one at a time
            X, targets, sample_weight = _SparseBatches(self.model_, X, targets, sample_weight, batch_size,
                                                       bool(self.shuffle)), None, None
        self.model_.fit(X, targets, epochs=epochs, batch_size=batch_size, shuffle=bool(self.shuffle),
                        sample_weight=sample_weight, callbacks=[monitor], n_threads=self.n_threads, verbose=0)
        if validation is not None:
            self.model_.parameters[...] = self._best_params
            del self._best_params
        if not incremental and not monitor.stopped and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=3)
        return self

    def _fit_lbfgs(self, X, targets, sample_weight):
        """scikit-learn's ``_fit_lbfgs``: L-BFGS-B over the flat parameters, on the whole training set."""
        model = self.model_
        weight_sum = float(X.shape[0] if sample_weight is None else np.sum(sample_weight))
        model.regularizer = L2(float(self.alpha) / (weight_sum * self._scale)) if self.alpha > 0 else None
        params = model.parameters

        def loss_and_gradient(x):
            params[...] = x
            loss, grad = self._loss_and_gradient(X, targets, sample_weight)
            return self._sklearn_loss(loss), grad.astype(np.float64) * self._scale

        result = scipy.optimize.minimize(loss_and_gradient, params.astype(np.float64), method="L-BFGS-B",
                                         jac=True, options={"maxfun": self.max_fun, "maxiter": self.max_iter,
                                                            "gtol": self.tol})
        self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        params[...] = result.x
        self.loss_ = self._sklearn_loss(self._loss_and_gradient(X, targets, sample_weight)[0])
        if not np.all(np.isfinite(params)):
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             "values and need to be preprocessed.")
        return self

    def _loss_and_gradient(self, X, targets, sample_weight):
        """fastnn's loss (with the penalty) and gradient on all of ``X``: one call, or for a sparse ``X`` blocks
        of dense rows, combined in proportion to their (weighted) sizes."""
        model, n = self.model_, X.shape[0]
        if not scipy.sparse.issparse(X):
            return model.loss_and_gradient(X, targets, n_threads=self.n_threads, sample_weight=sample_weight)
        total = float(n) if sample_weight is None else float(np.sum(sample_weight))
        loss, grad = 0.0, np.zeros(model.n_params)
        for start in range(0, n, _SPARSE_ROWS):
            rows = slice(start, start + _SPARSE_ROWS)
            weights = None if sample_weight is None else sample_weight[rows]
            share = (min(n, start + _SPARSE_ROWS) - start if weights is None else float(np.sum(weights))) / total
            if share == 0:
                continue
            part_loss, part_grad = model.loss_and_gradient(X[rows].toarray(), targets[rows],
                                                           n_threads=self.n_threads, sample_weight=weights)
            loss += share * part_loss
            grad += share * part_grad
        return loss, grad

    def _outputs(self, X):
        """``model_.predict(X)`` as float64, computed in blocks of ``_ROW_BLOCK`` rows (the last one padded with
        zero rows), from dense rows ``_SPARSE_ROWS`` at a time for a sparse ``X``."""
        model, n = self.model_, X.shape[0]
        out = np.empty((n, model.n_outputs), dtype=np.float64)
        step = _SPARSE_ROWS if scipy.sparse.issparse(X) else max(n, 1)
        for start in range(0, n, step):
            part = _dense_rows(X, slice(start, start + step))
            m = part.shape[0]
            pad = -m % _ROW_BLOCK
            if pad:
                part = np.concatenate([part, np.zeros((pad, part.shape[1]), dtype=part.dtype)])
            out[start:start + m] = model.predict(part, batch_size=_ROW_BLOCK, n_threads=self.n_threads)[:m]
        return out

    def _forward(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=False)
        return self._outputs(X)

    def fit(self, X, y, sample_weight=None):
        """Fit the model to ``X`` and ``y`` (``max_iter`` epochs at most; see the class's description).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _is_classifier(self):
        return False

    # -- files (fastnn.save / fastnn.load, see fastnn.saving.estimators) ----------------------------------------

    _FILE_ATTRIBUTES = ("model_", "n_features_in_", "n_outputs_", "out_activation_", "n_iter_", "t_", "loss_",
                        "loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_", "_rate",
                        "_no_improvement_count")

    def _file_attributes(self):
        """The fitted attributes a file keeps: the network, scikit-learn's attributes and what ``partial_fit``
        and ``warm_start`` continue from."""
        out = {k: getattr(self, k, None) for k in self._FILE_ATTRIBUTES}
        if hasattr(self, "feature_names_in_"):
            out["feature_names_in_"] = self.feature_names_in_
        return out

    def _restore_attributes(self, attrs):
        """Set the fitted attributes read from a file, each checked (against the network and the parameters)
        first."""
        model = attrs.model("model_")
        n_features = attrs.integer("n_features_in_", minimum=1)
        n_outputs = attrs.integer("n_outputs_", minimum=1)
        out_activation = attrs.string("out_activation_", {"softmax", "logistic", "identity"})
        if (model.n_features, model.n_outputs) != (n_features, n_outputs):
            raise ValueError(f"model_ takes {model.n_features} features to {model.n_outputs} outputs, but the "
                             f"estimator records {n_features} and {n_outputs}")
        if getattr(model.layers[-1], "activation", None) != _ACTIVATIONS.get(out_activation, out_activation):
            raise ValueError(f"model_'s output activation does not match out_activation_={out_activation!r}")
        if model.loss is None or model.dtype != np.dtype(self.dtype):
            raise ValueError("model_ must be compiled and of the estimator's dtype")
        fitted = dict(model_=model, n_features_in_=n_features, n_outputs_=n_outputs,
                      out_activation_=out_activation, n_iter_=attrs.integer("n_iter_"), t_=attrs.integer("t_"),
                      loss_=attrs.real("loss_", default=None), loss_curve_=attrs.reals("loss_curve_", optional=True),
                      best_loss_=attrs.real("best_loss_", finite=False, optional=True),
                      validation_scores_=attrs.reals("validation_scores_", optional=True),
                      best_validation_score_=attrs.real("best_validation_score_", finite=False, optional=True),
                      _no_improvement_count=attrs.integer("_no_improvement_count", default=0))
        if fitted["loss_curve_"] is None:  # fitted by L-BFGS: no stochastic solver's records
            for name in ("loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_"):
                del fitted[name]
        fitted["n_layers_"] = sum(isinstance(layer, Dense) for layer in model.layers) + 1
        rate = attrs.real("_rate", default=None)
        if rate is not None:
            if not rate > 0:
                raise ValueError("attribute _rate must be above 0")
            fitted["_rate"] = rate
        names = attrs.feature_names(n_features)
        if names is not None:
            fitted["feature_names_in_"] = names
        fitted.update(self._restore_labels(attrs, out_activation, n_outputs))
        attrs.done()
        self.__dict__.update(fitted)


@register
class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier`` trained by :class:`fastnn.Sequential`.

    Parameters are scikit-learn's, plus ``dropout`` (rate on the hidden layers'
    outputs), ``n_threads`` (None: every core within OpenMP's limit) and ``dtype`` (``'float32'`` or
    ``'float64'``). Binary targets train one logistic output, multiclass a softmax, multilabel targets (a 0/1
    matrix) one logistic output per label with binary cross-entropy.

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_, loss_, loss_curve_, best_loss_, validation_scores_,
    best_validation_score_, n_iter_, t_, n_layers_, n_outputs_, out_activation_ : as in scikit-learn
        (``loss_curve_`` and the other stochastic solvers' records are not set by ``solver='lbfgs'``)
    coefs_ : list of ndarray of shape (n_in, n_out)
        Writable views of the network's weight matrices (transposed: fastnn stores ``(n_out, n_in)``).
    intercepts_ : list of ndarray of shape (n_out,)
        Writable views of the biases.
    model_ : fastnn.Sequential
        The trained network.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastnn.sklearn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dropout=0.0, n_threads=None,
                 dtype="float32"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.n_threads = n_threads
        self.dtype = dtype

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _is_classifier(self):
        return True

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse="csr", multi_output=True, dtype=(np.float64, np.float32),
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if reset and not incremental:
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        elif not hasattr(self, "classes_"):
            raise ValueError("classes must be passed on the first call to partial_fit.")
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the "
                                     f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        self._y_type = self._label_binarizer.y_type_
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y

    def _out_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _fastnn_loss(self):
        return "cross_entropy" if self.out_activation_ == "softmax" else "binary_cross_entropy"

    def _loss_scale(self):
        return float(self.n_outputs_) if self.out_activation_ == "logistic" else 1.0

    def _sklearn_loss(self, loss):
        return loss * self._scale

    def _fastnn_targets(self, y):
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        if self.out_activation_ == "softmax":
            return y.argmax(axis=1).astype(np.int64)
        return y.astype(self.dtype)

    def _score_model(self, X, y, sample_weight):
        return accuracy_score(y, self._predict_checked(X), sample_weight=sample_weight)

    def _predict_checked(self, X):
        out = self._outputs(X)
        if self.n_outputs_ == 1:
            out = out.ravel()
        return self._label_binarizer.inverse_transform(out)

    def fit(self, X, y, sample_weight=None):
        """Fit the model to ``X`` and the labels ``y`` (see :meth:`_BaseMLP.fit`)."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(_check_solver)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``(X, y)``; ``classes`` (all labels) is needed on the first call. Only for the
        stochastic solvers (``'sgd'``, ``'adam'``), as in scikit-learn.

        Returns
        -------
        self
        """
        if not hasattr(self, "classes_"):
            if classes is None and not type_of_target(y).startswith("multilabel"):
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel") else classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(f"`classes={classes!r}` is not the same as on the first call to partial_fit, "
                             f"which was {self.classes_!r}")
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predicted labels (for multilabel targets, the 0/1 indicator matrix)."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=False)
        return self._predict_checked(X)

    def _file_attributes(self):
        out = super()._file_attributes()
        out["classes_"] = self.classes_
        out["label_type_"] = self._label_binarizer.y_type_
        return out

    def _restore_labels(self, attrs, out_activation, n_outputs):
        """``classes_`` and the label binarizer from a file, checked against the network's outputs."""
        y_type = attrs.string("label_type_", {"binary", "multiclass", "multilabel-indicator"})
        classes = attrs.array("classes_", "biufUO", (None,))
        if len(set(classes.tolist())) != len(classes):
            raise ValueError("attribute classes_ holds a label twice")
        expected = {"binary": ("logistic", 1, (1, 2)), "multiclass": ("softmax", n_outputs, (n_outputs,)),
                    "multilabel-indicator": ("logistic", n_outputs, (n_outputs,))}[y_type]
        if (out_activation, n_outputs) != expected[:2] or len(classes) not in expected[2]:
            raise ValueError(f"{len(classes)} classes of type {y_type!r} do not match a network with {n_outputs} "
                             f"{out_activation} outputs")
        binarizer = LabelBinarizer()
        binarizer.classes_, binarizer.y_type_, binarizer.sparse_input_ = classes, y_type, False
        return {"classes_": classes, "_label_binarizer": binarizer, "_y_type": y_type}

    def predict_proba(self, X):
        """Class probabilities, columns ordered as :attr:`classes_`."""
        out = self._forward(X)
        if self.n_outputs_ == 1:
            out = out.ravel()
            return np.vstack([1 - out, out]).T
        return out

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)


@register
class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` trained by :class:`fastnn.Sequential`.

    Parameters are scikit-learn's (``loss='squared_error'`` only), plus
    ``dropout``, ``n_threads`` and ``dtype``. The output layer is linear (``out_activation_ == 'identity'``);
    ``y`` may have several columns.

    Attributes
    ----------
    n_features_in_, feature_names_in_, loss_, loss_curve_, best_loss_, validation_scores_,
    best_validation_score_, n_iter_, t_, n_layers_, n_outputs_, out_activation_, coefs_, intercepts_ : as in
        :class:`MLPClassifier`
    model_ : fastnn.Sequential
        The trained network.
    """

    _parameter_constraints: dict = {**_BaseMLP._parameter_constraints,
                                    "loss": [StrOptions({"squared_error", "poisson"})]}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dropout=0.0, n_threads=None,
                 dtype="float32"):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.n_threads = n_threads
        self.dtype = dtype

    def _check_settings(self):
        sizes = super()._check_settings()
        if self.loss == "poisson":
            raise ValueError("loss='poisson' is not supported by fastnn's MLPRegressor: use loss='squared_error'")
        return sizes

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse="csr", multi_output=True, y_numeric=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _out_activation(self):
        return "identity"

    def _fastnn_loss(self):
        return "mse"

    def _loss_scale(self):
        return self.n_outputs_ / 2.0

    def _sklearn_loss(self, loss):
        # fastnn's epoch loss is mse + P / c (P scikit-learn's penalty); scikit-learn's is mse / 2 + P
        if self.n_outputs_ == 1:
            return loss / 2.0
        penalty = self.model_.penalty() * self._scale
        return loss / 2.0 + penalty * (1.0 - 1.0 / (2.0 * self._scale))

    def _fastnn_targets(self, y):
        return (y.reshape(-1, 1) if y.ndim == 1 else y).astype(self.dtype)

    def _score_model(self, X, y, sample_weight):
        pred = self._outputs(X)
        if self.n_outputs_ == 1:
            pred = pred.ravel()
        return r2_score(y, pred, sample_weight=sample_weight)

    @available_if(_check_solver)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``; only for the stochastic solvers (``'sgd'``, ``'adam'``), as in scikit-learn.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _restore_labels(self, attrs, out_activation, n_outputs):
        if out_activation != "identity":
            raise ValueError(f"an MLPRegressor's out_activation_ is 'identity', not {out_activation!r}")
        return {}

    def predict(self, X):
        """Predicted values, of shape ``(n_samples,)`` for one output, else ``(n_samples, n_outputs)``."""
        out = self._forward(X)
        return out.ravel() if self.n_outputs_ == 1 else out
