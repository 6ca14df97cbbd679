"""Who uses a model's engine and buffers when: :class:`EngineLoan`, the model's kept engine lent to one call at a
time (a fresh engine for a call made meanwhile from another thread), and :func:`exclusive`, which gives a
training call the model for itself."""
import functools

__all__ = ["EngineLoan", "exclusive"]


class EngineLoan:
    """The context of ``Sequential._borrow_engine``: a plain class (cheaper than a generator-based one in a
    call that may last microseconds)."""

    __slots__ = ("model", "rows", "lock", "version")

    def __init__(self, model, rows):
        self.model, self.rows, self.lock, self.version = model, rows, None, None

    def __enter__(self):
        model, lock = self.model, self.model._engine_lock
        self.version = model._settings_version
        if not lock.acquire(blocking=False):
            return model._engine(self.rows)
        engine = model._kept_engine
        if engine is None or engine.capacity < self.rows or model._kept_version != self.version:
            try:
                engine = model._kept_engine = model._engine(max(self.rows, engine.capacity if engine else 0))
                model._kept_version = self.version
            except BaseException:
                lock.release()
                raise
        self.lock = lock
        return engine

    def stale(self):
        """Whether a layer's setting changed since the engine was taken (it computes with the old ones)."""
        return self.version != self.model._settings_version

    def __exit__(self, *exc):
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def exclusive(method):
    """Decorator: run the model's ``method`` holding the model's training lock, refusing (not waiting) when another
    thread holds it: two threads training one model would interleave their updates."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not self._train_lock.acquire(blocking=False):
            raise RuntimeError(f"{method.__name__} cannot run: another thread is already training this model "
                               "(fit, train_on_batch and loss_and_gradient take the model for themselves; "
                               "predict and evaluate may run from any number of threads)")
        try:
            return method(self, *args, **kwargs)
        finally:
            self._train_lock.release()
    return wrapper
