"""Thread control: one ``n_threads`` knob, BLAS held at one thread while fastnn's own threads run.

fastnn splits each batch across OpenMP threads and calls single-threaded BLAS from each of them. OpenBLAS's own
threads would fight with those (measured 8-25x slowdowns on a 2-core machine), so every ``fit``/``predict``
runs inside :func:`blas_single_thread`, which limits numpy's and scipy's BLAS through a ``threadpoolctl``
controller created once and kept. Nested and concurrent entries (several Python threads predicting at once)
share one limit, restored when the last of them leaves.
"""
import os
import threading
from contextlib import contextmanager

import threadpoolctl

__all__ = ["available_cores", "resolve_n_threads", "blas_single_thread"]

_lock = threading.Lock()
_controller = None
_active = 0
_limiter = None


def available_cores():
    """Number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


def resolve_n_threads(n_threads, name="n_threads"):
    """Turn the user's ``n_threads`` (None = all available cores, or a positive int) into a thread count."""
    if n_threads is None:
        return available_cores()
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int,)) and not hasattr(n_threads, "__index__"):
        raise TypeError(f"{name} must be None or a positive integer, got {type(n_threads).__name__}")
    n = int(n_threads.__index__())
    if n < 1:
        raise ValueError(f"{name} must be None or a positive integer, got {n}")
    return n


def _release_openblas_control():
    """threadpoolctl (3.6 and newer) lets only one "controlling" Python thread change OpenBLAS's process-wide
    thread count and silently ignores the others. fastnn's limit is entered by whichever thread calls first and
    left by whichever thread leaves last, so it releases that ownership around each change (under its own
    lock); otherwise a limit set from a worker thread would quietly not apply."""
    clear = getattr(getattr(threadpoolctl, "OpenBLASController", None), "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


def controller():
    """The process's kept ``threadpoolctl.ThreadpoolController`` (created on first use)."""
    global _controller
    with _lock:
        if _controller is None:
            _controller = threadpoolctl.ThreadpoolController()
        return _controller


@contextmanager
def blas_single_thread():
    """Hold numpy's and scipy's BLAS at one thread for the duration of the block."""
    global _controller, _active, _limiter
    with _lock:
        if _controller is None:
            _controller = threadpoolctl.ThreadpoolController()
        if _active == 0:
            _release_openblas_control()
            _limiter = _controller.limit(limits=1, user_api="blas")
            _release_openblas_control()
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _limiter is not None:
                _release_openblas_control()
                _limiter.restore_original_limits()
                _release_openblas_control()
                _limiter = None
