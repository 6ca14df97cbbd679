"""Thread control: one ``n_threads`` knob, BLAS held at one thread while fastnn's own threads run.

fastnn splits each batch into tasks that its thread pool (``_pool.pxd``) runs on the calling thread and helper
threads, each task calling single-threaded BLAS. The pool waits for tasks, never for idle threads, and its idle
threads yield their core and then sleep, so a busy machine slows fastnn down no more than it slows one thread.
OpenBLAS's own threads would fight with fastnn's (measured 8-25x slowdowns on a 2-core machine), so every
``fit``/``predict``
runs inside :func:`blas_single_thread`, which limits numpy's and scipy's BLAS through a ``threadpoolctl``
controller created once and kept. Nested and concurrent entries (several Python threads predicting at once)
share one limit, restored when the last of them leaves.

Thread counts are capped at the cores this process may use (more threads than cores only wait on each other).
``n_threads=None`` also respects the OpenMP runtime's current limit (``omp_get_max_threads``: OMP_NUM_THREADS,
or ``omp_set_num_threads`` as called by ``threadpoolctl``'s ``threadpool_limits(..., user_api="openmp")``).
That is how a worker process shares the machine: joblib's loky backend starts its workers with OMP_NUM_THREADS
set to ``cpu_count() // n_jobs`` (or ``inner_max_num_threads``), and Dask's nanny starts worker processes with
OMP_NUM_THREADS=1 (its ``distributed.nanny.pre-spawn-environ`` setting), so a ``GridSearchCV(n_jobs=k)`` or a
search on a Dask cluster does not oversubscribe the cores. An explicit ``n_threads`` is used as given (capped
at the cores).
A child made by ``fork`` starts with no helper threads (threads do not survive ``fork``) and starts its own
when it first needs them, so forked children (multiprocessing's default on Linux) use every core too.
"""
import os
import threading
from contextlib import contextmanager

import threadpoolctl

from .. import _kernels
from .validation import warn_user

__all__ = ["available_cores", "machine_cores", "openmp_max_threads", "resolve_n_threads", "blas_single_thread"]

_lock = threading.Lock()
_controller = None
_active = 0
_limiter = None
_cores = None


def _after_fork_in_child():
    global _lock, _active, _limiter, _cores
    _cores = None
    _lock = threading.Lock()  # the parent's lock may have been held by a thread that does not exist here
    _active = 0
    _limiter = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def machine_cores():
    """The machine's core count (``os.cpu_count()``): with the shapes, it fixes how a step is tiled, so that a
    machine with many cores gets enough independent tiles to keep them busy. It is a property of the machine,
    not of this process's affinity or ``n_threads``: results never depend on how many threads run."""
    return max(1, os.cpu_count() or 1)


def available_cores():
    """Number of cores this process may run on (asked once: a system call per small predict would cost more than
    the prediction; a forked child asks again)."""
    global _cores
    if _cores is None:
        try:
            _cores = max(1, len(os.sched_getaffinity(0)))
        except (AttributeError, OSError):  # pragma: no cover - platforms without sched_getaffinity
            _cores = max(1, os.cpu_count() or 1)
    return _cores


def openmp_max_threads():
    """The OpenMP runtime's current thread limit for the calling thread (``omp_get_max_threads``: set by
    OMP_NUM_THREADS when the process started, or later by ``omp_set_num_threads``/``threadpoolctl``); 1 when
    fastnn was built without OpenMP."""
    return max(1, int(_kernels.max_threads()))


def resolve_n_threads(n_threads, name="n_threads"):
    """Turn the user's ``n_threads`` into a thread count. None: the available cores, but no more than the
    OpenMP runtime's current limit (:func:`openmp_max_threads`), which is what joblib's loky workers and Dask's
    worker processes set to share the machine. A positive int: that many, but at most the available cores (a
    warning says so when more were asked for)."""
    cores = available_cores()
    if n_threads is None:
        n = min(cores, openmp_max_threads())
    else:
        if isinstance(n_threads, bool) or not isinstance(n_threads, (int,)) and not hasattr(n_threads, "__index__"):
            raise TypeError(f"{name} must be None or a positive integer, got {type(n_threads).__name__}")
        n = int(n_threads.__index__())
        if n < 1:
            raise ValueError(f"{name} must be None or a positive integer, got {n}")
        if n > cores:
            warn_user(f"{name}={n} is more than the {cores} cores this process may use; using {cores}",
                      RuntimeWarning)
            n = cores
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
