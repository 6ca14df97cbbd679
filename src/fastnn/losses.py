"""Loss functions.

All losses are means over the samples of a batch (and over the output units where stated), so the gradient
does not grow with the batch size.

* :class:`CrossEntropy` (``"cross_entropy"``): :math:`-\\sum_k t_k \\log p_k` per sample, with
  :math:`p = \\mathrm{softmax}(z)` computed inside the loss from the logits (a max-subtracted log-sum-exp, so a
  confident wrong prediction gives a large finite loss, never ``log(0)``). Targets are integer class labels
  ``(n_samples,)`` or one-hot / probability rows ``(n_samples, n_classes)``. The output layer must use
  ``softmax``.
* :class:`BinaryCrossEntropy` (``"binary_cross_entropy"``): :math:`-\\frac1K\\sum_k [t_k\\log a_k +
  (1-t_k)\\log(1-a_k)]` per sample, computed stably from the logits; targets in ``[0, 1]``, ``(n_samples,)`` for
  one output or ``(n_samples, K)``. The output layer must use ``sigmoid``.
* :class:`MeanSquaredError` (``"mse"``): :math:`\\frac1K\\sum_k (a_k - t_k)^2` per sample (PyTorch's
  ``MSELoss`` and Keras's ``mse``), for any output activation.
* :class:`Huber` (``"huber"``): PyTorch's ``HuberLoss(delta)``, the mean over units of
  :math:`\\tfrac12 e^2` where :math:`|e| \\le \\delta` and :math:`\\delta(|e| - \\tfrac12\\delta)` beyond, with
  :math:`e = a - t`: quadratic near the target, linear (robust to outliers) far from it. For regression and
  Q-learning.
* :class:`MeanAbsoluteError` (``"mae"``): :math:`\\frac1K\\sum_k |a_k - t_k|` (PyTorch's ``L1Loss``; the
  gradient at :math:`e = 0` is 0).

Every loss accepts per-sample weights in ``fit``/``evaluate``: the batch loss is then
:math:`\\sum_i w_i l_i / \\sum_i w_i`.

A loss fastnn lacks can be written in Python (:class:`CustomLoss`): any object with ``forward(outputs, targets)``
(the batch's loss) and ``backward(outputs, targets)`` (its gradient with respect to the outputs), in NumPy.
"""
import numpy as np

from . import _kernels
from ._core.validation import check_float

__all__ = ["Loss", "CrossEntropy", "BinaryCrossEntropy", "MeanSquaredError", "Huber", "MeanAbsoluteError",
           "CustomLoss", "get_loss"]


class Loss:
    """Base class: a named loss with a kernel code and the output activation it needs."""

    name = None
    code = None
    #: Activation the output layer must have, or None for any.
    requires_activation = None
    #: Whether the loss has a natural accuracy metric.
    has_accuracy = False

    def check_output(self, layer):
        if self.requires_activation is not None and layer.activation != self.requires_activation:
            raise ValueError(f"loss {self.name!r} needs a {self.requires_activation!r} output layer, but the last "
                             f"layer's activation is {layer.activation!r}")

    def get_config(self):
        """Settings of the loss (saved in model files)."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash(type(self))

    def _engine(self, engine, output_shape):
        """The engine a model compiled with this loss trains and evaluates with (the compiled one)."""
        return engine


class CrossEntropy(Loss):
    name = "cross_entropy"
    code = _kernels.LOSS_CROSS_ENTROPY
    requires_activation = "softmax"
    has_accuracy = True

    def check_output(self, layer):
        super().check_output(layer)
        if layer.out_features < 2:
            raise ValueError("loss 'cross_entropy' needs at least 2 output units; for two classes with one unit "
                             "use a 'sigmoid' output and loss='binary_cross_entropy'")


class BinaryCrossEntropy(Loss):
    name = "binary_cross_entropy"
    code = _kernels.LOSS_BINARY_CROSS_ENTROPY
    requires_activation = "sigmoid"
    has_accuracy = True


class MeanSquaredError(Loss):
    name = "mse"
    code = _kernels.LOSS_MSE


class Huber(Loss):
    """PyTorch's ``HuberLoss(delta=1.0)``, averaged over output units and samples.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.losses.Huber(delta=2.0)
    Huber(delta=2.0)
    """

    name = "huber"
    code = _kernels.LOSS_HUBER

    def __init__(self, delta=1.0):
        self.delta = check_float(delta, "delta", low=0.0, low_inclusive=False)

    def get_config(self):
        return {"delta": self.delta}


class MeanAbsoluteError(Loss):
    name = "mae"
    code = _kernels.LOSS_MAE


class CustomLoss(Loss):
    """A loss written in Python: subclass it (or pass any object with these two methods to ``compile``) and
    define, in NumPy,

    * ``forward(outputs, targets)``: the batch's loss, a float (a mean over the batch, so that its gradient does
      not grow with the batch size);
    * ``backward(outputs, targets)``: its gradient with respect to ``outputs``, an array of their shape.

    ``outputs`` are the model's outputs for the batch, ``(batch_size, *model.output_shape)`` (after the last
    layer's activation, as ``predict`` gives them, computed in training mode: dropout active); ``targets`` the
    ``y`` rows of the batch, of that shape too (given as ``fit`` takes regression targets). fastnn
    backpropagates the gradient through the network and applies the optimizer's update.

    Each batch goes through Python (a training forward pass, the loss, then the compiled backward pass and
    update), so training is slower than with the built-in losses, which run whole epochs in compiled code: use
    it for a loss fastnn lacks. Sample and class weights are not taken (weigh inside the loss); no accuracy is
    recorded; a model file keeps the weights but not the loss (compile the loaded model again to keep training).

    Examples
    --------
    >>> import numpy as np, fastnn
    >>> class LogCosh(fastnn.losses.CustomLoss):
    ...     def forward(self, outputs, targets):
    ...         return float(np.mean(np.log(np.cosh(outputs - targets))))
    ...     def backward(self, outputs, targets):
    ...         return np.tanh(outputs - targets) / outputs.size
    >>> model = fastnn.Sequential([fastnn.Dense(3, 8, "tanh"), fastnn.Dense(8, 1)], seed=0)
    >>> model = model.compile(loss=LogCosh(), optimizer=fastnn.SGD(lr=0.1))
    >>> history = model.fit(np.ones((16, 3)), np.zeros(16), epochs=2, verbose=0)
    """

    code = _kernels.LOSS_GIVEN

    def forward(self, outputs, targets):
        raise NotImplementedError(f"{type(self).__name__} must define forward(outputs, targets)")

    def backward(self, outputs, targets):
        raise NotImplementedError(f"{type(self).__name__} must define backward(outputs, targets)")

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __repr__(self):
        return f"{type(self).__name__}()"

    def _engine(self, engine, output_shape):
        return _PythonLossEngine(engine, self, output_shape)


class _Wrapped(CustomLoss):
    """A loss object of another class that has ``forward`` and ``backward`` (a plain class, PyTorch's habit)."""

    def __init__(self, loss):
        self.loss = loss
        self.forward, self.backward = loss.forward, loss.backward

    def __repr__(self):
        return repr(self.loss)


class _PythonLossEngine:
    """A compiled engine whose loss is a :class:`CustomLoss`: batch by batch, the training pass's outputs go to the
    loss's ``forward`` and ``backward`` in Python, then the engine backpropagates the gradient and applies the
    update (its loss takes the gradient as given). Everything else is the engine's."""

    def __init__(self, engine, loss, output_shape):
        self._engine, self._loss, self._shape = engine, loss, tuple(output_shape)

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def _no_weights(self, weights):
        if weights is not None:
            raise ValueError(f"the custom loss {self._loss!r} takes no sample_weight or class_weight: weigh the "
                             "samples inside its forward and backward")

    def _value(self, outputs, targets):
        value = self._loss.forward(outputs, targets)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{self._loss!r}.forward must return a number, got {type(value).__name__}") from None

    def _gradient(self, outputs, targets):
        grad = np.asarray(self._loss.backward(outputs, targets))
        if grad.shape != outputs.shape or grad.dtype.kind not in "biuf":
            raise ValueError(f"{self._loss!r}.backward must return real numbers of the outputs' shape "
                             f"{outputs.shape}, got {grad.dtype} of shape {grad.shape}")
        return np.ascontiguousarray(grad.reshape(outputs.shape[0], -1), dtype=outputs.dtype)

    def train(self, X, perm, labels, targets, weights, batch_size, first_batch, last_batch, settings, step,
              n_threads, totals, apply=True):
        """As the engine's ``train``, one batch at a time."""
        self._no_weights(weights)
        n, K = X.shape[0], targets.shape[1]
        for b in range(first_batch, last_batch):
            rows = perm[b * batch_size:min((b + 1) * batch_size, n)]
            xb, tb = np.ascontiguousarray(X[rows]), targets[rows].reshape((len(rows),) + self._shape)
            outputs = np.empty((len(rows), K), dtype=X.dtype)
            self._engine.train_forward(xb, outputs, int(step[0]), n_threads)
            outputs = outputs.reshape(tb.shape)
            value = self._value(outputs, tb)
            grad = self._gradient(outputs, tb)
            if not np.isfinite(value) or not np.all(np.isfinite(grad)):
                return 1, b
            sums = np.zeros(4)
            status, _ = self._engine.train(xb, np.arange(len(rows), dtype=np.int64), None, grad, None, len(rows), 0,
                                           1, settings, step, n_threads, sums, apply)
            if status != 0:
                return status, b
            totals += (value * len(rows), sums[1], 0.0, len(rows))
        return 0, last_batch

    def evaluate(self, X, labels, targets, weights, n_threads, block=None):
        """``(loss times rows, 0, rows)`` of the whole of ``X`` (the loss's mean)."""
        self._no_weights(weights)
        outputs = np.empty((X.shape[0], targets.shape[1]), dtype=X.dtype)
        self._engine.forward(X, outputs, n_threads, block)
        shape = (X.shape[0],) + self._shape
        return self._value(outputs.reshape(shape), targets.reshape(shape)) * X.shape[0], 0.0, float(X.shape[0])


_ALIASES = {
    "cross_entropy": CrossEntropy,
    "crossentropy": CrossEntropy,
    "categorical_crossentropy": CrossEntropy,
    "sparse_categorical_crossentropy": CrossEntropy,
    "binary_cross_entropy": BinaryCrossEntropy,
    "binary_crossentropy": BinaryCrossEntropy,
    "bce": BinaryCrossEntropy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "huber": Huber,
    "huber_loss": Huber,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "l1": MeanAbsoluteError,
}


def get_loss(loss, **config):
    """Return a :class:`Loss` for a name (with ``config``, its settings) or an instance."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss) and loss is not Loss:
        return loss(**config)
    if not isinstance(loss, (str, type)) and callable(getattr(loss, "forward", None)) \
            and callable(getattr(loss, "backward", None)):
        return _Wrapped(loss)
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a name, a fastnn loss or an object with forward(outputs, targets) and "
                        f"backward(outputs, targets) methods, got {type(loss).__name__}")
    key = loss.lower().replace("-", "_")
    if key not in _ALIASES:
        raise ValueError(f"unknown loss {loss!r}; choose one of 'cross_entropy', 'binary_cross_entropy', 'mse', "
                         "'huber', 'mae'")
    return _ALIASES[key](**config)
