"""The learning-rate range test (Leslie Smith, "Cyclical Learning Rates for Training Neural Networks", 2017, as
fastai's ``lr_find`` runs it): :func:`lr_find` trains a compiled model for a short while at an exponentially
increasing learning rate, records the loss of each update, and then puts the model back as it was."""
import math

import numpy as np

from .._core.validation import check_float, check_int

__all__ = ["lr_find", "LRFinderResult"]

#: fastai's smoothing of the recorded losses (an exponential moving average, debiased).
SMOOTHING = 0.98
#: The run stops once the smoothed loss exceeds this many times its lowest value so far (fastai's rule).
DIVERGENCE = 4.0


class LRFinderResult:
    """What :func:`lr_find` recorded.

    Attributes
    ----------
    lrs : ndarray
        The learning rate of each update, rising exponentially.
    losses : ndarray
        The smoothed training loss of each update (fastai's ``recorder.losses``): an exponential moving average
        of the batches' losses with factor 0.98, debiased.
    suggestion : float
        The suggested learning rate (see :func:`lr_find`'s ``suggest``); NaN when no update ran.
    method : str
        How ``suggestion`` was chosen: ``'minimum'`` or ``'steepest'``.
    """

    def __init__(self, lrs, losses, suggestion, method):
        self.lrs, self.losses, self.suggestion, self.method = lrs, losses, suggestion, method

    def __repr__(self):
        return f"LRFinderResult(updates={len(self.lrs)}, suggestion={self.suggestion:.3g}, method={self.method!r})"

    def plot(self, path=None, ax=None):
        """The loss against the learning rate (logarithmic axis), the suggestion marked, as fastai draws it.

        Needs matplotlib (``pip install matplotlib``); drawn without pyplot, on a new figure (or on ``ax``).

        Parameters
        ----------
        path : str or path-like, optional
            Also write the figure to this file, in the format its extension names.
        ax : matplotlib Axes, optional
            Draw on these axes instead of a new figure's.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from ..plotting import _matplotlib, check_destination

        if path is not None:
            check_destination(path)
        if ax is None:
            Figure, FigureCanvasAgg = _matplotlib()
            fig = Figure(figsize=(5.5, 3.8), layout="constrained")
            FigureCanvasAgg(fig)
            ax = fig.add_subplot()
        ax.plot(self.lrs, self.losses)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss (smoothed)")
        if math.isfinite(self.suggestion):
            at = int(np.argmin(np.abs(np.log(self.lrs) - math.log(self.suggestion))))
            ax.plot([self.suggestion], [self.losses[at]], "o", color="red", label=f"{self.method}: {self.suggestion:.2e}")
            ax.legend()
        if path is not None:
            ax.figure.savefig(path)
        return ax


def _steepest(lrs, losses):
    """fastai's ``steep``: the rate where the smoothed loss falls fastest against log(rate), leaving out the first
    tenth and the last five updates."""
    n = len(lrs)
    lo, hi = n // 10, n - 5
    if hi - lo < 2:
        lo, hi = 0, n
    lr, loss = np.log(lrs[lo:hi]), losses[lo:hi]
    if len(lr) < 2:
        return float(lrs[int(np.argmin(losses))])
    slopes = np.diff(loss) / np.diff(lr)
    return float(lrs[lo + int(np.argmin(slopes))])


def _minimum(lrs, losses):
    """fastai's ``minimum``: a tenth of the rate with the lowest smoothed loss."""
    return float(lrs[int(np.argmin(losses))]) / 10


#: How ``suggestion`` is chosen, by name.
SUGGESTIONS = {"minimum": _minimum, "steepest": _steepest}


def lr_find(model, X, y, start_lr=1e-7, end_lr=10.0, num_iter=100, batch_size=32, suggest="minimum",
            stop_div=True, seed=0):
    """The learning-rate range test: train ``model`` for ``num_iter`` updates whose rate rises exponentially from
    ``start_lr`` to ``end_lr``, recording the loss of each, then restore the model (Leslie Smith's test; fastai's
    ``lr_find``).

    Update ``i`` (from 0) runs at ``start_lr * (end_lr / start_lr) ** (i / (num_iter - 1))``, one
    ``train_on_batch`` on the next ``batch_size`` rows of a shuffled pass over ``(X, y)`` (another pass follows
    when one is not enough). The optimizer is the one ``compile`` chose, starting from a fresh state (no moments,
    update count 0), its rate set before each update. With ``stop_div`` the run stops once the smoothed loss
    exceeds 4 times its lowest value, or when an update makes the loss or a weight NaN or infinite (fastai's
    rule). Afterwards the weights, the running statistics, the optimizer's rate, state and update count and the
    model's random generator are those from before: the test leaves no trace on the model.

    Parameters
    ----------
    model : Sequential
        A compiled model.
    X, y : array-like
        Training data, as :meth:`~fastnn.Sequential.fit` takes it.
    start_lr, end_lr : float, default=1e-7 and 10
        The first and the last rate (``0 < start_lr < end_lr``).
    num_iter : int, default=100
        Updates to run (at least 2).
    batch_size : int, default=32
    suggest : {'minimum', 'steepest'}, default='minimum'
        How :attr:`LRFinderResult.suggestion` is chosen: ``'minimum'``, a tenth of the rate of the lowest smoothed
        loss (fastai's ``minimum``, the rule of its first versions); ``'steepest'``, the rate where the smoothed loss
        falls fastest against the logarithm of the rate (fastai's ``steep``: its gradient's minimum, leaving out the
        first tenth and the last five updates). The steepest point follows the batches' noise where the loss is
        flat, so on small or noisy data (batches of a few dozen rows) it can land far below any useful rate; the
        minimum's tenth is the steadier default. :meth:`LRFinderResult.plot` marks the one chosen.
    stop_div : bool, default=True
        Stop when the loss diverges.
    seed : int, default=0
        Seeds the shuffle of the rows (the model's own generator is left alone).

    Returns
    -------
    LRFinderResult
        ``lrs``, ``losses`` (smoothed), ``suggestion`` and ``plot()``.

    Examples
    --------
    >>> import numpy as np, fastnn
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(512, 8)).astype(np.float32); y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> model = fastnn.Sequential([fastnn.Dense(8, 32, "relu"), fastnn.Dense(32, 2, "softmax")], seed=0)
    >>> model.compile(optimizer=fastnn.SGD(momentum=0.9))  # doctest: +ELLIPSIS
    Sequential(...)
    >>> before = model.get_weights()
    >>> result = fastnn.lr_find(model, X, y, num_iter=60)
    >>> 1e-7 <= result.suggestion <= 10, len(result.lrs) == len(result.losses) <= 60
    (True, True)
    >>> all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    True
    """
    model._require_compiled("lr_find")
    start_lr = check_float(start_lr, "start_lr", low=0.0, low_inclusive=False)
    end_lr = check_float(end_lr, "end_lr", low=0.0, low_inclusive=False)
    if not end_lr > start_lr:
        raise ValueError(f"end_lr must be above start_lr, got start_lr={start_lr:g} and end_lr={end_lr:g}")
    num_iter = check_int(num_iter, "num_iter", minimum=2)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if suggest not in SUGGESTIONS:
        raise ValueError(f"suggest must be one of {sorted(SUGGESTIONS)}, got {suggest!r}")
    if not isinstance(stop_div, (bool, np.bool_)):
        raise TypeError(f"stop_div must be a bool, got {type(stop_div).__name__}")
    seed = check_int(seed, "seed", minimum=0)
    from .data import prepare_fit_data

    (Xs, _, _, _), _ = prepare_fit_data(model, X, y, None, None, None, 0.0, None)  # checked, scaled, flat
    targets = np.asarray(y)
    n = Xs.shape[0]
    rows = np.concatenate([np.random.default_rng(seed).permutation(n)
                           for _ in range(-(-num_iter * min(batch_size, n) // n))])
    size = min(batch_size, n)
    rates = start_lr * (end_lr / start_lr) ** (np.arange(num_iter) / (num_iter - 1))
    # the scaler (if any) was applied by prepare_fit_data: train on the prepared rows without it
    saved = (model._params.copy(), model._state.copy(), model._step.copy(), model._buffers.copy(),
             model.optimizer.lr, model._rng.bit_generator.state, model._scaler)
    lrs, losses = [], []
    try:
        model._state[...] = 0
        model._step[...] = 0
        model._scaler = None
        average, best = 0.0, math.inf
        for i, rate in enumerate(rates):
            take = rows[i * size:(i + 1) * size]
            model.optimizer.lr = float(rate)
            try:
                loss = model.train_on_batch(Xs[take], targets[take])
            except FloatingPointError:
                break
            average = SMOOTHING * average + (1 - SMOOTHING) * loss
            smoothed = average / (1 - SMOOTHING ** (i + 1))
            lrs.append(float(rate))
            losses.append(smoothed)
            best = min(best, smoothed)
            if stop_div and (not math.isfinite(smoothed) or smoothed > DIVERGENCE * best):
                break
    finally:
        params, state, step, buffers, lr, rng_state, scaler = saved
        model._params[...], model._state[...], model._step[...], model._buffers[...] = params, state, step, buffers
        model.optimizer.lr = lr
        model._rng.bit_generator.state = rng_state
        model._scaler = scaler
    lrs, losses = np.array(lrs), np.array(losses)
    suggestion = SUGGESTIONS[suggest](lrs, losses) if len(lrs) else math.nan
    return LRFinderResult(lrs, losses, suggestion, suggest)
