"""What ``fit`` returns: :class:`History`, the record of a run, one entry per epoch (Keras's ``History``)."""

__all__ = ["History"]


class History:
    """What ``fit`` recorded, one entry per epoch (Keras's ``History``).

    Attributes
    ----------
    history : dict of str to list
        ``'loss'`` (training loss including the regularization penalty, averaged over the epoch's batches
        weighted by their sizes), ``'accuracy'`` (classification losses), ``'val_loss'`` and ``'val_accuracy'``
        (when there is validation data), the metrics ``compile`` was given (``'f1'``, ``'val_f1'``, ...; see
        :mod:`fastnn.metrics`), ``'lr'`` (the rate of the epoch's first update), ``'iterations'`` (batches in the
        epoch) and ``'seconds'``.
    epoch : list of int
        Epoch numbers, counted from 0 over the model's life.
    params : dict
        The ``fit`` arguments that shape the run (epochs, batch_size, samples, iterations per epoch, n_threads).
    """

    def __init__(self, params=None):
        self.history = {}
        self.epoch = []
        self.params = dict(params or {})

    def _append(self, epoch, record):
        self.epoch.append(epoch)
        for key, value in record.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key):
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def __len__(self):
        return len(self.epoch)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"

    def plot(self, path=None, metrics=None):
        """Learning curves: loss (and accuracy, when recorded) by epoch, training beside validation.

        Needs matplotlib (``pip install matplotlib``); see :func:`fastnn.plotting.plot_history`.

        Parameters
        ----------
        path : str or path-like, optional
            Also write the figure to this file, in the format its extension names (``.png``, ``.svg``,
            ``.pdf``, ...).
        metrics : list of str, optional
            The panels to draw, e.g. ``['loss']``; by default loss and accuracy, when recorded.

        Returns
        -------
        matplotlib.figure.Figure
            One axes per metric, lines labelled ``'training'`` and ``'validation'``, epochs counted from 1.

        Examples
        --------
        >>> import numpy as np, fastnn
        >>> X = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
        >>> y = (X[:, 0] > 0).astype(np.int64)
        >>> model = fastnn.Sequential([fastnn.Dense(3, 2, activation="softmax")], seed=0).compile()
        >>> history = model.fit(X, y, epochs=5, validation_split=0.2, verbose=0)
        >>> fig = history.plot()  # history.plot("curves.png") also writes it to curves.png
        >>> [ax.get_title() for ax in fig.axes]
        ['loss', 'accuracy']
        """
        from ..plotting import plot_history
        return plot_history(self, path=path, metrics=metrics)
