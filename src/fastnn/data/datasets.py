"""Datasets: IDX files (the MNIST format), MNIST and Fashion-MNIST, and users' own ``.npz`` / ``.csv`` files.

``load_mnist()`` and ``load_fashion_mnist()`` return ``(X_train, y_train), (X_test, y_test)`` as Keras does:
uint8 images of shape ``(n, 28, 28)`` and uint8 labels (``flatten=True`` gives rows of 784 pixels and
``scale=True`` float32 pixels in [0, 1], ready for a model). They look for the four files, in order, in

1. ``$FASTNN_DATA/<name>/`` (``<name>`` is ``mnist`` or ``fashion-mnist``),
2. the user cache directory, ``$XDG_CACHE_HOME/fastnn/<name>/`` (default ``~/.cache/fastnn/<name>/``),
3. for Fashion-MNIST, ``/usr/share/datasets/fashion-mnist/`` (Debian's ``dataset-fashion-mnist`` package),

and otherwise download them from the public mirrors into the cache, verifying each file against its published
MD5 checksum and writing it atomically. Local files are validated by their IDX structure rather than by
checksum, since repackaged copies (Debian's) are compressed differently.
"""
import csv
import gzip
import hashlib
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request

import numpy as np

from .._core.validation import check_bool, check_int

__all__ = ["read_idx", "load_mnist", "load_fashion_mnist", "load_file", "data_home", "DatasetError"]

# IDX type codes: numpy dtype (big-endian as stored).
_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
#: Largest IDX payload read_idx accepts by default (bytes); MNIST's largest file holds 47 MB.
MAX_IDX_BYTES = 1 << 31

_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
          "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

DATASETS = {
    "mnist": {
        "mirrors": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
        "md5": {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
                "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
        "system_dirs": [],
    },
    "fashion-mnist": {
        "mirrors": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"],
        "md5": {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
        "system_dirs": ["/usr/share/datasets/fashion-mnist"],
    },
}

#: Class names of Fashion-MNIST, by label.
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")


class DatasetError(ValueError):
    """A dataset file is missing, corrupt or cannot be fetched."""


# ---------------------------------------------------------------------------------------------------------------
# IDX
# ---------------------------------------------------------------------------------------------------------------

def _open(path):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def _read_exact(f, n, path, what):
    chunks, left = [], n
    while left:
        chunk = f.read(min(left, 1 << 24))
        if not chunk:
            raise DatasetError(f"{path}: truncated {what}: expected {n} bytes, got {n - left}")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_idx(path, max_bytes=MAX_IDX_BYTES):
    """Read an IDX file (raw or gzip-compressed) into a NumPy array in native byte order.

    The header - magic number, type code, number of dimensions, dimensions - is validated before anything is
    allocated: the payload size it implies must be at most ``max_bytes`` and, for a raw file, match the file
    size exactly. A truncated, corrupt or hostile file raises :class:`DatasetError`; nothing is executed.

    Parameters
    ----------
    path : str or path-like
    max_bytes : int
        Largest payload accepted.

    Returns
    -------
    ndarray
        Shape given by the header; dtype uint8, int8, int16, int32, float32 or float64.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: no such file")
    try:
        with _open(path) as f:
            head = f.read(4)
            if len(head) < 4:
                raise DatasetError(f"{path}: not an IDX file (too short for a header)")
            if head[0] != 0 or head[1] != 0:
                raise DatasetError(f"{path}: not an IDX file (bad magic number {head.hex()})")
            code, ndim = head[2], head[3]
            if code not in _IDX_TYPES:
                raise DatasetError(f"{path}: unknown IDX type code 0x{code:02x}")
            if not 1 <= ndim <= 8:
                raise DatasetError(f"{path}: unsupported number of dimensions {ndim}")
            dims = np.frombuffer(_read_exact(f, 4 * ndim, path, "header"), dtype=">u4").astype(np.int64)
            dtype = _IDX_TYPES[code]
            count = 1
            for d in dims:
                count *= int(d)
            nbytes = count * dtype.itemsize
            if nbytes > max_bytes:
                raise DatasetError(f"{path}: header announces {nbytes} bytes of data (dimensions "
                                   f"{tuple(int(d) for d in dims)}), more than the {max_bytes} allowed")
            if not isinstance(f, gzip.GzipFile):
                size = os.path.getsize(path)
                if size != 4 + 4 * ndim + nbytes:
                    raise DatasetError(f"{path}: file holds {size - 4 - 4 * ndim} bytes of data but its header "
                                       f"announces {nbytes}")
            data = _read_exact(f, nbytes, path, "data")
            if f.read(1):
                raise DatasetError(f"{path}: trailing bytes after the {nbytes} bytes its header announces")
    except (OSError, EOFError, gzip.BadGzipFile, ValueError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{path}: corrupt file ({exc})") from exc
    arr = np.frombuffer(data, dtype=dtype).reshape(tuple(int(d) for d in dims))
    return arr.astype(dtype.newbyteorder("="), copy=True) if dtype.byteorder == ">" else arr.copy()


# ---------------------------------------------------------------------------------------------------------------
# Finding, fetching and loading MNIST-style datasets
# ---------------------------------------------------------------------------------------------------------------

def data_home(name=None):
    """The user cache folder for datasets (``$XDG_CACHE_HOME/fastnn`` or ``~/.cache/fastnn``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = os.path.join(base, "fastnn")
    return os.path.join(root, name) if name else root


def _search_dirs(name):
    dirs = []
    if os.environ.get("FASTNN_DATA"):
        dirs.append(os.path.join(os.environ["FASTNN_DATA"], name))
    dirs.append(data_home(name))
    dirs += DATASETS[name]["system_dirs"]
    return dirs


def _find_local(name, filename):
    stem = filename[:-3]
    for d in _search_dirs(name):
        for candidate in (filename, stem):
            p = os.path.join(d, candidate)
            if os.path.isfile(p):
                return p
    return None


def _md5(path):
    h = hashlib.md5(usedforsecurity=False) if sys.version_info >= (3, 9) else hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Progress:
    def __init__(self, total, desc, verbose):
        self.bar = None
        self.desc, self.total, self.done, self.verbose = desc, total, 0, verbose
        if verbose:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False, file=sys.stderr)
            except ImportError:
                pass

    def update(self, n):
        self.done += n
        if self.bar is not None:
            self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        if self.verbose:
            sys.stderr.write(f"downloaded {self.desc} ({self.done:,} bytes)\n")


def _download(url, dest, md5, timeout, verbose):
    """Fetch ``url`` into ``dest`` atomically, checking its MD5; raises DatasetError."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".download-", dir=os.path.dirname(dest))
    try:
        h = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total = resp.headers.get("Content-Length")
            progress = _Progress(int(total) if total and total.isdigit() else None, os.path.basename(dest), verbose)
            try:
                for chunk in iter(lambda: resp.read(1 << 16), b""):
                    out.write(chunk)
                    h.update(chunk)
                    progress.update(len(chunk))
            finally:
                progress.close()
            out.flush()
            os.fsync(out.fileno())
        if md5 is not None and h.hexdigest() != md5:
            raise DatasetError(f"{url}: checksum mismatch (MD5 {h.hexdigest()}, expected {md5}); the file was "
                               "not saved")
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _fetch(name, filename, mirrors, timeout, verbose):
    dest = os.path.join(data_home(name), filename)
    md5 = DATASETS[name]["md5"].get(filename)
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        try:
            _download(url, dest, md5, timeout, verbose)
            return dest
        except (urllib.error.URLError, OSError, DatasetError) as exc:
            errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
    where = "\n  ".join(_search_dirs(name))
    raise DatasetError(f"could not find or download {filename} for {name}.\nTried:\n  " + "\n  ".join(errors) +
                       f"\nPut the four files ({', '.join(_FILES)}) in one of:\n  {where}")


def _load(name, download, mirrors, timeout, verbose, flatten, scale):
    check_bool(flatten, "flatten")
    check_bool(scale, "scale")
    paths = []
    for filename in _FILES:
        path = _find_local(name, filename)
        if path is None:
            if not download:
                where = ", ".join(_search_dirs(name))
                raise DatasetError(f"{filename} for {name} not found (looked in {where}) and download=False")
            path = _fetch(name, filename, mirrors or DATASETS[name]["mirrors"], timeout, verbose)
        paths.append(path)
    Xtr, ytr, Xte, yte = (read_idx(p) for p in paths)
    for X, y, part in ((Xtr, ytr, "training"), (Xte, yte, "test")):
        if X.ndim != 3 or y.ndim != 1 or X.shape[0] != y.shape[0] or X.dtype != np.uint8 or y.dtype != np.uint8:
            raise DatasetError(f"{name} {part} files do not hold matching uint8 images and labels "
                               f"(images {X.shape} {X.dtype}, labels {y.shape} {y.dtype})")
        if y.size and y.max() > 9:
            raise DatasetError(f"{name} {part} labels hold {int(y.max())}, expected 0-9")
    return (_images(Xtr, flatten, scale), ytr), (_images(Xte, flatten, scale), yte)


def _images(X, flatten, scale):
    """uint8 images ``(n, 28, 28)``, as rows ``(n, 784)`` if ``flatten``, as float32 in [0, 1] if ``scale``."""
    if flatten:
        X = X.reshape(X.shape[0], -1)
    if scale:
        X = X.astype(np.float32)
        X /= 255  # in place: no float64 temporary
    return X


_LOAD_DOC = """{title}: ``(X_train, y_train), (X_test, y_test)``.

    {extra}Images are uint8 of shape ``(n, 28, 28)`` (60,000 for training, 10,000 for testing) and labels uint8 in
    0-9, unless ``flatten`` or ``scale`` ask otherwise.

    Parameters
    ----------
    download : bool, default=True
        Fetch missing files from ``mirrors`` into the cache.
    mirrors : list of str, optional
        Base URLs to try in order (default: the public mirrors).
    timeout : float, default=60
        Seconds to wait on a connection.
    verbose : bool, default=True
        Show download progress.
    flatten : bool, default=False
        Return the images as rows of 784 pixels, shape ``(n, 784)``, as a model takes them.
    scale : bool, default=False
        Return float32 pixels in [0, 1] (``pixel / 255``) instead of uint8 0-255.

    Returns
    -------
    (X_train, y_train), (X_test, y_test) : tuples of ndarray

    Examples
    --------
    A first model in three lines:

    >>> (X, y), (X_test, y_test) = fastnn.datasets.{func}(flatten=True, scale=True)  # doctest: +SKIP
    >>> model = fastnn.Sequential([fastnn.Dense(784, 128, "relu"),  # doctest: +SKIP
    ...                            fastnn.Dense(128, 10, "softmax")]).compile()
    >>> model.fit(X, y, epochs=5).history["accuracy"][-1]  # doctest: +SKIP
    """


def load_mnist(download=True, mirrors=None, timeout=60, verbose=True, *, flatten=False, scale=False):
    return _load("mnist", download, mirrors, timeout, verbose, flatten, scale)


def load_fashion_mnist(download=True, mirrors=None, timeout=60, verbose=True, *, flatten=False, scale=False):
    return _load("fashion-mnist", download, mirrors, timeout, verbose, flatten, scale)


load_mnist.__doc__ = _LOAD_DOC.format(title="MNIST handwritten digits", extra="", func="load_mnist")
load_fashion_mnist.__doc__ = _LOAD_DOC.format(
    title="Fashion-MNIST (Zalando's clothing images)", func="load_fashion_mnist",
    extra="Class names, by label, are in :data:`FASHION_MNIST_CLASSES`. ")


# ---------------------------------------------------------------------------------------------------------------
# Users' own files
# ---------------------------------------------------------------------------------------------------------------

def load_file(path, label_column=-1):
    """Features and labels from a ``.npz`` or ``.csv`` file.

    * ``.npz``: arrays ``X`` and ``y`` (or ``x``/``y``, ``data``/``target``, ``features``/``labels``), read
      with ``allow_pickle=False``.
    * ``.csv`` (or ``.csv.gz``): one sample a row, an optional header row; the label is the column
      ``label_column`` (default: the last) and every other column is a feature. The values may be separated by
      commas, semicolons, tabs or spaces: the first lines tell which (the separator that splits every one of
      them into the same number of fields, in the order semicolon, tab, comma, spaces; else
      :class:`csv.Sniffer`'s guess). With semicolons, tabs or spaces, numbers may have a decimal comma
      (``5,1``). Features must be numbers; labels may be numbers or text (class names such as ``setosa``;
      double quotes are allowed). A first row whose feature fields are not all numbers is taken as the header.

    Parameters
    ----------
    path : str or path-like
    label_column : int or str, default=-1
        CSV column holding the label: its index (negative numbers count from the end) or its name in the
        header row.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Numbers (float64 from a CSV).
    y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        Labels: float64 when every CSV label is a number, otherwise strings.

    Raises
    ------
    DatasetError
        For a missing or unreadable file, non-numeric features, or a label column outside the table or not in
        its header.
    """
    if not isinstance(label_column, str):
        label_column = check_int(label_column, "label_column")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: no such file")
    lower = path.lower()
    if lower.endswith(".npz"):
        if isinstance(label_column, str):
            raise DatasetError(f"{path}: a label column named {label_column!r} needs a .csv file with a header row "
                               "(an .npz file holds the labels in its array y)")
        X, y = _load_npz(path)
    elif lower.endswith(".csv") or lower.endswith(".csv.gz"):
        X, y = _load_csv(path, label_column)
    else:
        raise DatasetError(f"{path}: unsupported file type (use .npz or .csv)")
    if X.dtype.kind not in "biuf":
        raise DatasetError(f"{path}: features must be numbers, got dtype {X.dtype}")
    if y.dtype.kind == "S":
        y = y.astype(str)
    return X, y


def _load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            for xk, yk in (("X", "y"), ("x", "y"), ("data", "target"), ("features", "labels")):
                if xk in keys and yk in keys:
                    X, y = f[xk], f[yk]
                    break
            else:
                raise DatasetError(f"{path}: expected arrays 'X' and 'y' in the .npz, found {sorted(keys)}")
    except (OSError, ValueError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{path}: cannot read .npz ({exc})") from exc
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim > 2:
        X = X.reshape(X.shape[0], -1)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    return X, y


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


# CSV field separators, in the order they are tried, and their names in messages (None: runs of spaces or tabs).
_SEPARATORS = {";": "semicolons", "\t": "tabs", ",": "commas", None: "spaces"}
_SNIFF_LINES = 20
_DECIMAL_COMMA = re.compile(r"^[+-]?[0-9]*,[0-9]+(?:[eE][+-]?[0-9]+)?$")


def _fields(line, separator):
    if separator is None:
        return [v.strip('"') for v in line.split()]
    return [v.strip().strip('"') for v in next(csv.reader([line], delimiter=separator, quotechar='"'))]


def _numeric_share(lines, sep):
    """The share of the fields of ``lines`` (after the first, which may be a header) that are numbers when split
    by ``sep`` (decimal commas count where commas do not separate the fields)."""
    fields = [v for line in lines[1:] for v in _fields(line, sep)]
    ok = sum(_is_number(v) or (sep != "," and bool(_DECIMAL_COMMA.match(v))) for v in fields)
    return ok / len(fields) if fields else 0.0


def _separator(lines):
    """The field separator of the CSV lines ``lines`` (see :func:`load_file`): of those that split every line
    into the same number (two or more) of fields, the one whose fields are numbers most often (so that ``1,5 2,5``
    is two numbers with decimal commas, not three fields)."""
    consistent = [sep for sep in _SEPARATORS if len({len(_fields(line, sep)) for line in lines}) == 1
                  and len(_fields(lines[0], sep)) >= 2]
    if consistent:
        return max(consistent, key=lambda sep: _numeric_share(lines, sep))  # the first of equals wins
    try:
        sep = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t ").delimiter
        return None if sep == " " else sep
    except csv.Error:
        pass
    # ragged lines: the separator that splits the first line most (reading then names the row that differs)
    best = max(_SEPARATORS, key=lambda sep: len(_fields(lines[0], sep)))
    return best if len(_fields(lines[0], best)) >= 2 else ","


def _load_csv(path, label_column):
    opener = gzip.open if path.lower().endswith(".gz") else open
    try:
        with opener(path, "rt") as f:
            lines, leading = [], 0  # leading: blank lines before the first one with values
            for line in f:
                if line.strip():
                    lines.append(line.rstrip("\r\n"))
                    if len(lines) == _SNIFF_LINES:
                        break
                elif not lines:
                    leading += 1
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read CSV ({exc})") from exc
    if not lines:
        raise DatasetError(f"{path}: the CSV file is empty")
    sep = _separator(lines)
    how = f"fields separated by {_SEPARATORS[sep]}"
    fields = _fields(lines[0], sep)
    n_cols = len(fields)
    if n_cols < 2:
        raise DatasetError(f"{path}: a CSV needs at least one feature column and a label column, separated by "
                           "commas, semicolons, tabs or spaces")
    if isinstance(label_column, str):
        if label_column not in fields:
            raise DatasetError(f"{path}: no column named {label_column!r} in the first row "
                               f"({', '.join(map(repr, fields[:20]))}{', ...' if n_cols > 20 else ''}; {how})")
        col = fields.index(label_column)
    else:
        if not -n_cols <= label_column < n_cols:
            raise DatasetError(f"{path}: label column {label_column} outside the {n_cols} columns ({how})")
        col = label_column % n_cols
    features = [i for i in range(n_cols) if i != col]
    # a decimal comma (5,1) where commas do not separate the fields
    decimal = sep != "," and any(_DECIMAL_COMMA.match(v) for line in lines[1:] for v in _fields(line, sep))

    def number(text):
        return _is_number(text.replace(",", ".") if decimal else text)

    skip = 0 if all(number(fields[i]) for i in features) else 1  # a header row
    if isinstance(label_column, str) and not skip:
        raise DatasetError(f"{path}: a label column named {label_column!r} needs a header row, but the first row "
                           "holds numbers")
    read = dict(delimiter=sep, skiprows=leading + skip, quotechar='"')
    if decimal:
        read["converters"] = lambda text: float(text.replace(",", "."))
    try:
        X = np.loadtxt(path, usecols=features, ndmin=2, **read)
    except ValueError as exc:
        raise DatasetError(f"{path}: cannot read CSV ({how}): the feature columns must hold numbers (only the "
                           f"label column, {col}, may hold text): {exc}") from exc
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read CSV ({exc})") from exc
    read.pop("converters", None)
    try:
        text = np.char.strip(np.char.strip(np.loadtxt(path, usecols=[col], dtype=str, ndmin=1, **read)), '"')
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read CSV label column {col} ({how}; {exc})") from exc
    if text.size and np.any(text == ""):
        row = int(np.nonzero(text == "")[0][0]) + leading + skip + 1
        raise DatasetError(f"{path}: line {row} has no label (column {col} is empty)")
    try:
        y = (np.char.replace(text, ",", ".") if decimal else text).astype(np.float64)
    except ValueError:
        y = text  # class names
    return X, y
