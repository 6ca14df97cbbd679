"""Learning curves of reinforcement learning: the return of each training episode and its moving average."""
import numpy as np

from ..plotting import _matplotlib

__all__ = ["plot_returns"]


def plot_returns(returns, path=None, window=100, title=None):
    """Draw episode returns (thin) and their moving average over ``window`` episodes (thick).

    Parameters
    ----------
    returns : sequence of float
        The return of each episode, in order (an agent's ``episode_returns``).
    path : str or None
        Where to write the figure (the extension names the format); None: only return it.
    window : int, default=100
        Episodes in the moving average (fewer at the start: the mean of those so far).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from fastnn.rl import plot_returns
    >>> fig = plot_returns([1.0, 3.0, 2.0, 5.0], window=2)
    >>> fig.axes[0].lines[1].get_ydata().tolist()
    [1.0, 2.0, 2.5, 3.5]
    """
    Figure, FigureCanvasAgg = _matplotlib()
    r = np.asarray(returns, dtype=np.float64).reshape(-1)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    csum = np.concatenate([[0.0], np.cumsum(r)])
    idx = np.arange(1, r.size + 1)
    lo = np.maximum(idx - window, 0)
    moving = (csum[idx] - csum[lo]) / (idx - lo) if r.size else r
    fig = Figure(figsize=(7, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(idx, r, lw=0.6, alpha=0.45, label="episode return")
    ax.plot(idx, moving, lw=2.0, label=f"mean of the last {window}")
    ax.set_xlabel("episode")
    ax.set_ylabel("return")
    if title:
        ax.set_title(title)
    ax.legend(loc="best")
    if path is not None:
        fig.savefig(path)
    return fig
