"""Progress output for long work, one bar for everything that runs long: ``fit`` (a bar within each epoch, then
one line per epoch), DQN (steps) and Q-learning (episodes).

:class:`ProgressBar` is tqdm's bar when tqdm is installed, otherwise a plain line rewritten in place.
``fit`` and the command line draw it only on a terminal, so logs and pipes get the result lines alone.
"""
import sys
import time

try:  # optional extra
    from tqdm.auto import tqdm as _tqdm
except ImportError:  # pragma: no cover - depends on the environment
    _tqdm = None


def format_metrics(metrics):
    return " - ".join(f"{k}: {v:.4f}" for k, v in metrics.items() if v is not None)


def on_terminal(stream):
    """Whether ``stream`` is a terminal (False for a closed stream or one without ``isatty``)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class ProgressBar:
    """A live bar of ``total`` units: ``update(done, **values)`` with the count done so far and the values to show
    beside it, then ``close()``.

    tqdm's bar when tqdm is installed (and ``use_tqdm`` is not False); otherwise one plain line, rewritten at
    most every ``mininterval`` seconds, ``desc done/total unit key=value ...``.
    """

    def __init__(self, total, unit, desc=None, file=None, use_tqdm=None, leave=True, mininterval=0.25):
        self.total, self.unit, self.desc, self.done = total, unit, desc, 0
        self.file = file if file is not None else sys.stderr
        self.leave, self.mininterval = leave, mininterval
        self._last = None
        use_tqdm = _tqdm is not None and use_tqdm is not False
        self._bar = _tqdm(total=total, desc=desc, unit=unit, leave=leave, file=self.file, dynamic_ncols=True,
                          mininterval=mininterval) if use_tqdm else None

    @property
    def plain(self):
        """Whether this is the plain-text bar (no tqdm)."""
        return self._bar is None

    def update(self, done, **values):
        step, self.done = done - self.done, done
        if self._bar is not None:
            self._bar.update(step)
            if values:
                self._bar.set_postfix(refresh=False, **values)
            return
        now = time.perf_counter()
        if self._last is None or now - self._last >= self.mininterval or done >= self.total:
            self._last = now
            parts = [self.desc] if self.desc else []
            parts += [f"{done}/{self.total} {self.unit}"] + [f"{k}={v}" for k, v in values.items()]
            self.file.write("\r" + " ".join(parts))
            self.file.flush()

    def close(self):
        if self._bar is not None:
            self._bar.close()
        elif self._last is not None and self.leave:
            self.file.write("\n")
            self.file.flush()


class EpochProgress:
    """Progress of one epoch of ``fit``: ``update`` after each chunk of iterations, ``close`` with the epoch's
    line. The live bar (verbose 1) only on a terminal unless ``use_tqdm`` asks for tqdm's."""

    def __init__(self, epoch, epochs, total, verbose, file=None, use_tqdm=None):
        self.epoch, self.epochs, self.total, self.verbose = epoch, epochs, total, verbose
        self.file = file if file is not None else sys.stdout
        self.done = 0
        self.start = time.perf_counter()
        tty = on_terminal(self.file)
        live = verbose == 1 and (tty or (use_tqdm and _tqdm is not None))
        # fit reports about every 0.1 s: tqdm may draw every report, a plain line every 0.2 s
        tqdm_bar = _tqdm is not None and use_tqdm is not False
        self._bar = ProgressBar(total, "it", f"Epoch {epoch:>{len(str(epochs))}}/{epochs}", self.file,
                                use_tqdm=tqdm_bar, leave=False, mininterval=0 if tqdm_bar else 0.2) if live else None

    def update(self, iterations, samples, loss):
        self.done += iterations
        if self._bar is not None:
            elapsed = max(time.perf_counter() - self.start, 1e-9)
            self._bar.update(self.done, loss=f"{loss:.4f}", samples_s=f"{samples / elapsed:,.0f}")

    def close(self, seconds, metrics, note=None):
        plain = self._bar is not None and self._bar.plain
        if self._bar is not None:
            self._bar.close()
        if self.verbose >= 1:
            parts = [f"Epoch {self.epoch}/{self.epochs}", f"{self.done} it", f"{seconds:.2f}s"]
            parts += [p for p in (format_metrics(metrics), note) if p]
            line = " - ".join(parts)
            self.file.write("\r" + line + "\033[K\n" if plain else line + "\n")
            self.file.flush()
