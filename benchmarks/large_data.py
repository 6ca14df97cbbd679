"""Training on data larger than memory: uint8 pixels and memory-mapped files, converted a chunk of rows at a time.

    python benchmarks/large_data.py [--copies 16] [--limit-mb 300]

1. Fashion-MNIST's 60,000 x 784 uint8 pixels with a StandardScaler, 784-256-10, Adam, 3 epochs: the peak of the
   process's anonymous memory (sampled every 5 ms) above what it held with the data loaded, beside the same fit
   on a float32 copy.
2. A uint8 file of ``--copies`` x 60,000 images (each copy shifted by up to 2 pixels), memory-mapped, one epoch
   under a memory cgroup of ``--limit-mb`` MB (cgroup v1 at /sys/fs/cgroup/memory, as root; without it the
   limit is not enforced and only the peak is reported), beside the same epoch from an in-memory float32 copy:
   test accuracy, seconds, peak anonymous memory.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

CGROUP = "/sys/fs/cgroup/memory"


def _anon_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class _Peak:
    """The peak of RssAnon while the block runs, sampled by a thread."""

    def __enter__(self):
        self.base, self.peak, self.running = _anon_mb(), _anon_mb(), True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, _anon_mb())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, _anon_mb())


def _model(fastnn):
    model = fastnn.Sequential([fastnn.Dense(784, 256, "relu"), fastnn.Dense(256, 10, "softmax")], seed=0)
    return model.compile("cross_entropy", fastnn.Adam(1e-3), metrics=["accuracy"])


def _raw_fashion():
    import fastnn

    (X, y), (Xt, yt) = fastnn.datasets.load_fashion_mnist(flatten=True, scale=False)
    return X, y, Xt, yt


def worker(args):
    if args.cgroup:
        with open(os.path.join(args.cgroup, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    import fastnn

    X, y, Xt, yt = _raw_fashion()
    scaler = fastnn.StandardScaler().fit(X)
    result = {}
    if args.file:
        source = np.memmap(args.file, dtype=np.uint8, mode="r").reshape(-1, 784)
        labels = np.fromfile(args.file + ".labels", dtype=np.int64)
        if args.in_memory:
            source = scaler.transform(source)  # the float32 copy of the whole file
        epochs = 1
    else:
        source, labels = (X if args.uint8 else scaler.transform(X)), y
        epochs = 3
    model = _model(fastnn)
    model.scaler = scaler if (args.uint8 or (args.file and not args.in_memory)) else None
    with _Peak() as peak:
        t0 = time.perf_counter()
        model.fit(source, labels, epochs=epochs, batch_size=128, verbose=0, n_threads=args.threads)
        result["seconds"] = time.perf_counter() - t0
    model.scaler = scaler
    result["accuracy"] = model.evaluate(Xt, yt)["accuracy"]
    result["peak_above_mb"] = peak.peak - peak.base
    result["base_mb"] = peak.base
    result["rows"] = int(source.shape[0])
    result["params_hash"] = hashlib.sha256(model.parameters.tobytes()).hexdigest()
    print(json.dumps(result))


def _write_file(path, copies):
    X, y, _, _ = _raw_fashion()
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        for _ in range(copies):
            dy, dx = rng.integers(-2, 3, 2)
            f.write(np.roll(X.reshape(-1, 28, 28), (dy, dx), axis=(1, 2)).tobytes())
    np.tile(y.astype(np.int64), copies).tofile(path + ".labels")


def _cgroup(limit_mb):
    if not os.path.isdir(CGROUP) or not os.access(CGROUP, os.W_OK):
        return None
    path = os.path.join(CGROUP, f"fastnn-large-data-{os.getpid()}")
    try:
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "memory.limit_in_bytes"), "w") as f:
            f.write(str(limit_mb << 20))
        try:  # no swapping around the limit either, where the kernel accounts swap
            with open(os.path.join(path, "memory.memsw.limit_in_bytes"), "w") as f:
                f.write(str(limit_mb << 20))
        except OSError:
            pass
    except OSError:
        return None
    return path


def _run(extra):
    out = subprocess.run([sys.executable, __file__, "--worker"] + extra, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1],
                "returncode": out.returncode}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=16)
    parser.add_argument("--limit-mb", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--uint8", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--in-memory", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cgroup", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    threads = ["--threads", str(args.threads)]
    print("1. Fashion-MNIST, 784-256-10, Adam, 3 epochs (uint8 pixels: 47 MB; as float32: 188 MB)")
    for name, extra in (("float32 copy", []), ("uint8 pixels", ["--uint8"])):
        r = _run(extra + threads)
        print(f"   {name:13s}: test accuracy {r['accuracy']:.4f}, {r['seconds']:.1f} s, peak anonymous memory "
              f"{r['peak_above_mb']:.0f} MB above the {r['base_mb']:.0f} MB held with the data loaded")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "pixels.u8")
        _write_file(path, args.copies)
        size = os.path.getsize(path) / 2 ** 20
        group = _cgroup(args.limit_mb)
        limit = f"under a memory cgroup of {args.limit_mb} MB" if group else "(no memory cgroup here: not enforced)"
        print(f"2. one epoch over a {size:.0f} MB uint8 file of {args.copies} x 60,000 shifted images")
        try:
            r = _run(["--file", path, "--cgroup", group] + threads if group else ["--file", path] + threads)
            if "error" in r:
                print(f"   memory-mapped {limit}: failed: {r['error']}")
            else:
                print(f"   memory-mapped {limit}: test accuracy {r['accuracy']:.4f}, {r['seconds']:.1f} s, "
                      f"peak anonymous memory {r['peak_above_mb']:.0f} MB above {r['base_mb']:.0f} MB")
        finally:
            if group:
                os.rmdir(group)
        m = _run(["--file", path, "--in-memory"] + threads)
        print(f"   in memory as float32 ({size * 4:.0f} MB), no limit: test accuracy {m['accuracy']:.4f}, "
              f"{m['seconds']:.1f} s; the same weights as from the file: {m.get('params_hash') == r.get('params_hash')}")


if __name__ == "__main__":
    main()
