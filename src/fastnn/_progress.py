"""Progress output for long work: a live bar within each epoch and one line per epoch.

On a terminal: a tqdm bar when tqdm is installed, otherwise a plain line rewritten in place. When the output
is not a terminal (a log file, a pipe) only the epoch lines are written, so logs stay readable.
"""
import sys
import time

try:  # optional extra
    from tqdm.auto import tqdm as _tqdm
except ImportError:  # pragma: no cover - depends on the environment
    _tqdm = None


def format_metrics(metrics):
    return " - ".join(f"{k}: {v:.4f}" for k, v in metrics.items() if v is not None)


class EpochProgress:
    """Progress of one epoch: ``update`` after each chunk of iterations, ``close`` with the epoch's line."""

    def __init__(self, epoch, epochs, total, verbose, file=None, use_tqdm=None):
        self.epoch, self.epochs, self.total, self.verbose = epoch, epochs, total, verbose
        self.file = file if file is not None else sys.stdout
        self.done = 0
        self.start = time.perf_counter()
        self._last_plain = 0.0
        self._bar = None
        tty = hasattr(self.file, "isatty") and self.file.isatty()
        if use_tqdm is None:  # a live bar only on a terminal: logs get the epoch lines alone
            use_tqdm = _tqdm is not None and tty
        self._plain_live = not use_tqdm and tty
        if verbose == 1 and use_tqdm and _tqdm is not None:
            width = len(str(epochs))
            # fit reports about every 0.1 s, so every report may be drawn (mininterval=0)
            self._bar = _tqdm(total=total, desc=f"Epoch {epoch:>{width}}/{epochs}", unit="it", leave=False,
                              file=self.file, dynamic_ncols=True, mininterval=0)

    def update(self, iterations, samples, loss):
        self.done += iterations
        if self.verbose != 1:
            return
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        if self._bar is not None:
            self._bar.update(iterations)
            self._bar.set_postfix(loss=f"{loss:.4f}", samples_s=f"{samples / elapsed:,.0f}", refresh=False)
        elif self._plain_live and (elapsed - self._last_plain > 0.2 or self.done == self.total):
            self._last_plain = elapsed
            self.file.write(f"\rEpoch {self.epoch}/{self.epochs} {self.done}/{self.total} it - loss: {loss:.4f}"
                            f" - {samples / elapsed:,.0f} samples/s")
            self.file.flush()

    def close(self, seconds, metrics, note=None):
        if self._bar is not None:
            self._bar.close()
        if self.verbose >= 1:
            prefix = "\r" if self._plain_live and self.verbose == 1 else ""
            parts = [f"Epoch {self.epoch}/{self.epochs}", f"{self.done} it", f"{seconds:.2f}s"]
            parts += [p for p in (format_metrics(metrics), note) if p]
            line = " - ".join(parts)
            self.file.write(prefix + line + "\033[K\n" if prefix else line + "\n")
            self.file.flush()
