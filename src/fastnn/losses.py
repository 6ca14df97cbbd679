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
"""
from . import _kernels
from ._core.validation import check_float

__all__ = ["Loss", "CrossEntropy", "BinaryCrossEntropy", "MeanSquaredError", "Huber", "MeanAbsoluteError",
           "get_loss"]


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
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a name or a fastnn loss, got {type(loss).__name__}")
    key = loss.lower().replace("-", "_")
    if key not in _ALIASES:
        raise ValueError(f"unknown loss {loss!r}; choose one of 'cross_entropy', 'binary_cross_entropy', 'mse', "
                         "'huber', 'mae'")
    return _ALIASES[key](**config)
