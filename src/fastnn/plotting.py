"""Learning curves: the per-epoch loss and accuracy of a training run, drawn with matplotlib.

matplotlib is an optional extra (``pip install matplotlib``) imported only when a plot is drawn. The figure
is a plain ``matplotlib.figure.Figure`` on an Agg canvas: pyplot, its current figure and its backend are left
alone, so plotting works without a display and from any thread.
"""
import os

from ._core.validation import check_output_path

__all__ = ["plot_history"]

# The families drawn by default, in this order; any other recorded per-epoch value is drawn when asked for.
_DEFAULT_METRICS = ("loss", "accuracy")
# Up to this many epochs each value is marked, so that a short run (even one epoch) shows its points.
_MARKER_EPOCHS = 30


def _matplotlib():
    """``(Figure, FigureCanvasAgg)``, or an ImportError that says how to install matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from exc
    return Figure, FigureCanvasAgg


def check_destination(path):
    """Check, before any work, that a figure can be written to ``path``: its folder exists, it is not a folder,
    and matplotlib writes the format its extension names (no extension: PNG).

    Raises
    ------
    ImportError
        matplotlib is not installed.
    FileNotFoundError, IsADirectoryError, ValueError
        A missing folder, a folder in place of the file, an unknown format.
    """
    Figure, FigureCanvasAgg = _matplotlib()
    path = check_output_path(path)
    extension = os.path.splitext(path)[1][1:].lower()
    formats = FigureCanvasAgg(Figure()).get_supported_filetypes()
    if extension and extension not in formats:
        raise ValueError(f"cannot save to {path}: unknown figure format {extension!r} (use one of "
                         f"{', '.join(sorted(formats))})")


def _records(history):
    """``(per-epoch values by name, 1-based epoch numbers)`` of a History or a dict of lists."""
    if isinstance(history, dict):
        values, epochs = history, None
    elif isinstance(getattr(history, "history", None), dict):
        values, epochs = history.history, getattr(history, "epoch", None)
    else:
        raise TypeError(f"history must be a fastnn History or a dict of per-epoch lists (Keras's "
                        f"history.history), got {type(history).__name__}")
    try:
        values = {str(k): list(v) for k, v in values.items()}
    except TypeError:
        raise TypeError("history must map each name to a list of per-epoch values") from None
    lengths = {len(v) for v in values.values()}
    if len(lengths) > 1:
        shown = ", ".join(f"{k}: {len(v)}" for k, v in values.items())
        raise ValueError(f"the history's lists must have one value per epoch, got different lengths ({shown})")
    n = lengths.pop() if lengths else 0
    if n == 0:
        raise ValueError("the history is empty: no epochs were recorded, so there is nothing to plot")
    if epochs is None or len(epochs) != n:
        return values, list(range(1, n + 1))
    return values, [int(e) + 1 for e in epochs]  # History counts from 0; people count epochs from 1


def _families(values, metrics):
    """The metric families to draw: names whose training (``name``) or validation (``val_name``) values were
    recorded."""
    recorded = list(dict.fromkeys(k[4:] if k.startswith("val_") else k for k in values))
    if metrics is None:
        chosen = [m for m in _DEFAULT_METRICS if m in recorded]
        if not chosen:
            raise ValueError(f"the history records neither loss nor accuracy (it has {', '.join(values)}): "
                             "name the values to draw with metrics=[...]")
        return chosen
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    if not metrics:
        raise ValueError(f"metrics is empty: name at least one of {', '.join(recorded)}")
    unknown = [m for m in metrics if m not in recorded]
    if unknown:
        hint = ""
        if any(isinstance(m, str) and m.startswith("val_") and m[4:] in recorded for m in unknown):
            hint = " (validation values are drawn beside the training ones: ask for the name without 'val_')"
        raise ValueError(f"metrics not recorded in this history: {', '.join(map(repr, unknown))}; it records "
                         f"{', '.join(recorded)}{hint}")
    return list(dict.fromkeys(metrics))


def plot_history(history, path=None, metrics=None):
    """Learning curves of a training run: one panel per metric, training and validation values by epoch.

    Parameters
    ----------
    history : History or dict of str to list
        What ``fit`` returned (or ``model.history``), or a plain dict of per-epoch lists such as Keras's
        ``history.history``. Validation values are the keys prefixed with ``'val_'``.
    path : str or path-like, optional
        Also write the figure to this file, in the format its extension names (``.png``, ``.svg``, ``.pdf``,
        ...; PNG without an extension). Its folder must exist.
    metrics : list of str, optional
        The panels to draw, e.g. ``['loss']`` or ``['accuracy']``. By default ``loss`` and, when recorded,
        ``accuracy``; other recorded per-epoch values (``'seconds'``, ``'iterations'``) only when named here.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, with one axes per metric (in ``fig.axes``), lines labelled ``'training'`` and
        ``'validation'``, and the epoch numbers counted from 1 on the x axis. It is not registered with pyplot:
        show it in a notebook by leaving it as a cell's value, or write it with ``fig.savefig``.

    Raises
    ------
    ValueError
        An empty history, lists of different lengths, or ``metrics`` naming values the history does not record.
    ImportError
        matplotlib is not installed (``pip install matplotlib``).

    Examples
    --------
    >>> from fastnn.plotting import plot_history
    >>> fig = plot_history({"loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.7, 0.6]})
    >>> [ax.get_title() for ax in fig.axes]
    ['loss']
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['training', 'validation']
    """
    Figure, FigureCanvasAgg = _matplotlib()
    values, epochs = _records(history)
    families = _families(values, metrics)
    if path is not None:
        check_destination(path)
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(4.8 * len(families), 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    marker = "o" if len(epochs) <= _MARKER_EPOCHS else None
    for i, name in enumerate(families):
        ax = fig.add_subplot(1, len(families), i + 1)
        for key, label in ((name, "training"), ("val_" + name, "validation")):
            if key in values:
                ax.plot(epochs, [float("nan") if v is None else float(v) for v in values[key]], label=label,
                        marker=marker, markersize=3)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best")
    n = len(epochs)
    fig.suptitle(f"Learning curves ({n} epoch{'s' if n != 1 else ''})")
    if path is not None:
        fig.savefig(path)
    return fig
