"""Autoencoders: a Sequential that learns to reproduce its input through a narrow code layer.

``Autoencoder([784, 256, 64, 10])`` builds the encoder 784 -> 256 -> 64 -> 10 and the mirrored decoder
10 -> 64 -> 256 -> 784. It is a :class:`~fastnn.Sequential` (compile, fit, save, load, threads, callbacks all
work as there) whose ``fit`` takes the inputs as their own targets, with :meth:`Autoencoder.encode`,
:meth:`~Autoencoder.decode`, :meth:`~Autoencoder.reconstruct` and :meth:`~Autoencoder.reconstruction_error` on
top.
"""
import numpy as np

from .._core.registry import register
from .._core.threads import resolve_n_threads
from .._core.validation import check_bool, check_features, check_float, check_int
from ..nn import Dense, Dropout
from ..nn.base import _activation_name
from ..training import inference
from ..training.inference import PREDICT_BLOCK as _PREDICT_BLOCK
from .sequential import Sequential

__all__ = ["Autoencoder"]


@register
class Autoencoder(Sequential):
    """An encoder of the given widths and its mirror image as decoder.

    Parameters
    ----------
    widths : sequence of int
        ``[n_features, hidden..., code]``: at least two widths.
    activation : str, default='relu'
        Activation of the hidden layers of both halves.
    output_activation : str or None, default=None
        Activation of the reconstruction: ``'sigmoid'`` for data in [0, 1] (with ``loss='mse'`` or
        ``'binary_cross_entropy'``), None (identity) for standardized data.
    code_activation : str or None, default=None
        Activation of the code layer (linear by default).
    input_noise : float in [0, 1), default=0.0
        For a denoising autoencoder: while training, each input value is dropped with this probability (an input
        :class:`~fastnn.Dropout`, counter-based, kept values scaled by ``1 / (1 - p)``); the targets stay clean.
    tied : bool, default=False
        Tied weights: each decoder layer's weight matrix is the transpose of its mirror encoder layer's (one
        matrix, half the weights to learn; biases stay separate). The matrix's gradient is the sum of its two
        uses, computed in the compiled training loop. The decoder's ``weight`` views hold the transposes (kept
        equal by training); set weights through the encoder's layers: ``fit`` copies them into the decoder.
    seed, dtype
        As :class:`~fastnn.Sequential`.

    Attributes
    ----------
    encoder_widths, activation, output_activation, code_activation, input_noise, tied
        The settings it was built with, fixed (setting them raises ``AttributeError``). A layer's own
        ``activation`` or dropout rate ``p`` may still be set on ``model.layers[i]``: ``summary()`` shows the
        layers as they compute.

    Examples
    --------
    >>> import numpy as np, fastnn
    >>> X = np.random.default_rng(0).random((256, 20)).astype(np.float32)
    >>> ae = fastnn.Autoencoder([20, 8, 3], output_activation="sigmoid", seed=0)
    >>> ae.compile(loss="mse", optimizer=fastnn.Adam(1e-2))  # doctest: +ELLIPSIS
    Autoencoder(...)
    >>> history = ae.fit(X, epochs=5, batch_size=32, verbose=0)
    >>> ae.encode(X).shape, ae.decode(ae.encode(X)).shape
    ((256, 3), (256, 20))
    """

    def __init__(self, widths, activation="relu", output_activation=None, code_activation=None, input_noise=0.0,
                 tied=False, seed=None, dtype="float32"):
        try:
            widths = [check_int(w, f"widths[{i}]", minimum=1) for i, w in enumerate(widths)]
        except TypeError as exc:
            if "widths[" in str(exc):
                raise
            raise TypeError(f"widths must be a sequence of integers, got {type(widths).__name__}") from None
        if len(widths) < 2:
            raise ValueError("widths must hold the number of features and at least a code width")
        noise = check_float(input_noise, "input_noise", low=0.0, high=1.0, high_inclusive=False)
        check_bool(tied, "tied")
        _activation_name(activation)  # checked even when no hidden layer uses it
        encoder = [Dense(a, b, activation if i < len(widths) - 2 else code_activation)
                   for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))]
        back = widths[::-1]
        decoder = [Dense(a, b, activation if i < len(back) - 2 else output_activation)
                   for i, (a, b) in enumerate(zip(back[:-1], back[1:]))]
        super().__init__(([Dropout(noise)] if noise else []) + encoder + decoder, seed=seed, dtype=dtype)
        self.encoder_widths = widths
        self.activation = activation
        self.output_activation = output_activation
        self.code_activation = code_activation
        self.input_noise = noise
        self.tied = bool(tied)
        self.metadata["autoencoder"] = {"widths": widths, "activation": activation,
                                        "output_activation": output_activation,
                                        "code_activation": code_activation, "input_noise": noise}
        if self.tied:
            depth = len(widths) - 1
            self.metadata["autoencoder"]["tied"] = True
            self._ties = [-1] * depth + [depth - 1 - i for i in range(depth)]
            self._sync_tied_weights()

    _SETTINGS = ("encoder_widths", "activation", "output_activation", "code_activation", "input_noise", "tied")

    def __setattr__(self, name, value):
        if name in self._SETTINGS and name in self.__dict__:
            raise AttributeError(f"Autoencoder.{name} is fixed when the autoencoder is built: build a new "
                                 "Autoencoder (a layer's activation or dropout rate may be set on model.layers[i])")
        super().__setattr__(name, value)

    def _sync_tied_weights(self):
        """Copy each encoder layer's weights, transposed, into its mirror decoder layer."""
        for l, s in enumerate(self._ties):
            if s >= 0:
                self._dense[l].weight[...] = self._dense[s].weight.T

    def add(self, layer):
        """Refused: an autoencoder's layers are fixed by its widths (build a new one, or a
        :class:`~fastnn.Sequential`)."""
        raise TypeError("an Autoencoder's layers are fixed by its widths: build a new Autoencoder, or a Sequential "
                        "of the layers you want")

    def get_config(self):
        """The constructor's arguments (Keras's ``get_config``); :meth:`from_config` builds a new autoencoder of
        this architecture, with new weights."""
        return {"widths": list(self.encoder_widths), "activation": self.activation,
                "output_activation": self.output_activation, "code_activation": self.code_activation,
                "input_noise": self.input_noise, "tied": self.tied, "seed": self.seed, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config):
        """A new autoencoder from :meth:`get_config`'s values."""
        return cls(**config)

    @property
    def code_size(self):
        return self.encoder_widths[-1]

    def _depth(self):
        return len(self.encoder_widths) - 1

    def fit(self, X, y=None, epochs=1, batch_size=32, validation_data=None, **kwargs):
        """Train to reproduce ``X``: ``fit(X, X, ...)``. ``validation_data`` may be ``X_val`` alone (its own
        target) or a pair; other arguments are :meth:`Sequential.fit`'s. ``y`` defaults to ``X`` (give it for a
        denoising setup with noisy inputs and clean targets of your own)."""
        if validation_data is not None and not isinstance(validation_data, (tuple, list)):
            validation_data = (validation_data, validation_data)
        if self.tied:
            self._sync_tied_weights()
        return super().fit(X, X if y is None else y, epochs=epochs, batch_size=batch_size,
                           validation_data=validation_data, **kwargs)

    def evaluate(self, X, y=None, batch_size=None, sample_weight=None, n_threads=None, verbose=0):
        """Reconstruction loss (including the regularization penalty) on ``X``: :meth:`Sequential.evaluate` with
        ``X`` as its own target (``y`` defaults to ``X``). Returns ``{'loss': float}``, with ``'accuracy'`` only
        when ``compile`` was asked for it (``metrics=['accuracy']``), as in Keras, and the other metrics it was
        given (``'mae'``, ``'mse'``). ``verbose`` as in :meth:`Sequential.evaluate`."""
        return super().evaluate(X, X if y is None else y, batch_size=batch_size, sample_weight=sample_weight,
                                n_threads=n_threads, verbose=verbose)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, n_threads=None):
        """One update on the batch ``x`` with ``x`` as its own target (``y`` defaults to ``x``); see
        :meth:`Sequential.train_on_batch`."""
        return super().train_on_batch(x, x if y is None else y, sample_weight=sample_weight,
                                      class_weight=class_weight, n_threads=n_threads)

    def loss_and_gradient(self, X, y=None, n_threads=None):
        """:meth:`Sequential.loss_and_gradient` with ``X`` as its own target (``y`` defaults to ``X``).

        With ``tied=True`` each shared matrix is stored twice in :attr:`parameters`: as the encoder layer's
        ``W`` and as the decoder layer's ``W.T``. The gradient holds, in both places, the gradient with respect
        to the shared matrix: the sum of its two uses (transposed in the decoder's place), with the regularizer's
        term counted once. It is the step the shared matrix takes, and both copies take it. A finite-difference
        check must therefore move an entry in both copies together (the encoder's ``W[j, i]`` and the decoder's
        ``W[i, j]``); moving one copy alone measures one of the two uses only.

        Examples
        --------
        >>> import numpy as np, fastnn
        >>> ae = fastnn.Autoencoder([5, 2], tied=True, seed=0, dtype="float64").compile("mse")
        >>> loss, grad = ae.loss_and_gradient(np.ones((4, 5)))
        >>> enc, dec = grad[:10].reshape(2, 5), grad[12:22].reshape(5, 2)  # W of layers[0], W.T of layers[1]
        >>> bool(np.array_equal(dec, enc.T))
        True
        """
        return super().loss_and_gradient(X, X if y is None else y, n_threads=n_threads)

    def _records_accuracy(self):
        # a reconstruction has no classes: accuracy only when asked for (Keras records the metrics asked for)
        return "accuracy" in self.metrics

    def _is_classifier(self):
        return False

    def encode(self, X, batch_size=None, n_threads=None):
        """The codes of ``X``, shape (n_samples, code size)."""
        return self.predict(X, batch_size=batch_size, n_threads=n_threads, layer=len(self.layers) - 1 - self._depth())

    def decode(self, Z, batch_size=None, n_threads=None):
        """Reconstructions from codes ``Z`` of shape (n_samples, code size)."""
        block = _PREDICT_BLOCK if batch_size is None else check_int(batch_size, "batch_size", minimum=1)
        Z = check_features(Z, "Z", self.dtype, self.code_size, fitted_by="the code size is")
        depth = self._depth()
        return inference.forward_range(self, Z, depth, 2 * depth, block, resolve_n_threads(n_threads))

    def reconstruct(self, X, batch_size=None, n_threads=None):
        """``decode(encode(X))`` in one pass (the model's output)."""
        return self.predict(X, batch_size=batch_size, n_threads=n_threads)

    def reconstruction_error(self, X, batch_size=None, n_threads=None):
        """Mean squared error of each sample's reconstruction (after the model's scaler, if any), shape
        (n_samples,): large values flag inputs unlike the training data."""
        Xs = self._inputs(X)
        R = self.reconstruct(Xs if self.scaler is None else X, batch_size=batch_size, n_threads=n_threads)
        return np.mean((R.astype(np.float64) - Xs) ** 2, axis=1)

    def __repr__(self):
        tied = ", tied=True" if self.tied else ""
        return (f"Autoencoder({self.encoder_widths}, activation={self.activation!r}, "
                f"output_activation={self.output_activation!r}{tied}, dtype='{self.dtype.name}')")
