"""IDX reading, dataset lookup and download (against a local HTTP server), and users' own files."""
import gzip
import hashlib
import http.server
import os
import struct
import threading

import numpy as np
import pytest

from fastnn import datasets
from fastnn.datasets import DatasetError, load_file, read_idx


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, rng, dtype, compress, idx_bytes):
    arr = (rng.normal(size=(5, 3, 2)) * 50).astype(dtype)
    data = idx_bytes(arr)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    path.write_bytes(gzip.compress(data) if compress else data)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("mangle, match", [
    (lambda d: d[:2], "too short"),
    (lambda d: b"\x01" + d[1:], "bad magic"),
    (lambda d: d[:2] + b"\x07" + d[3:], "unknown IDX type"),
    (lambda d: d[:3] + b"\x00" + d[4:], "dimensions"),
    (lambda d: d[:-5], "truncated|data but its header"),
    (lambda d: d + b"xx", "trailing|data but its header"),
    (lambda d: d[:4] + struct.pack(">I", 4_000_000_000) + d[8:], "announces|more than"),
    (lambda d: d[:6], "truncated header"),
])
def test_read_idx_rejects_corrupt(tmp_path, compress, mangle, match, idx_bytes):
    data = mangle(idx_bytes(np.arange(24, dtype=np.uint8).reshape(4, 6)))
    path = tmp_path / "bad"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(DatasetError, match=match):
        read_idx(path)


def test_read_idx_hostile_header_is_refused_before_allocating(tmp_path):
    # 255 x 2^32-1 x ... dimensions: refused from the header alone
    data = bytes([0, 0, 0x08, 3]) + struct.pack(">III", 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    path = tmp_path / "hostile.gz"
    path.write_bytes(gzip.compress(data))
    with pytest.raises(DatasetError, match="more than"):
        read_idx(path)


def test_read_idx_broken_gzip(tmp_path, idx_bytes):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((10, 10), np.uint8)))[:-12])
    with pytest.raises(DatasetError):
        read_idx(path)
    with pytest.raises(DatasetError, match="no such file"):
        read_idx(tmp_path / "missing")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No FASTNN_DATA, an empty cache, and no system folders."""
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setitem(datasets.DATASETS["fashion-mnist"], "system_dirs", [])
    return tmp_path


def test_load_from_fastnn_data(isolated, monkeypatch, fake_mnist):
    folder = isolated / "data" / "mnist"
    folder.mkdir(parents=True)
    for name, content in fake_mnist().items():
        (folder / name).write_bytes(content)
    monkeypatch.setenv("FASTNN_DATA", str(isolated / "data"))
    (Xtr, ytr), (Xte, yte) = datasets.load_mnist(download=False)
    assert Xtr.shape == (120, 28, 28) and ytr.shape == (120,) and Xte.shape == (40, 28, 28)
    assert Xtr.dtype == np.uint8 and ytr.dtype == np.uint8


def test_missing_without_download(isolated):
    with pytest.raises(DatasetError, match="not found"):
        datasets.load_fashion_mnist(download=False)


class Server:
    """A local HTTP server on 127.0.0.1 serving a dict of files."""

    def __init__(self, files):
        files = dict(files)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                if name not in files:
                    self.send_error(404)
                    return
                body = files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/data/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def use_checksums(monkeypatch, files, name="mnist"):
    md5 = {k: hashlib.md5(v).hexdigest() for k, v in files.items()}
    monkeypatch.setitem(datasets.DATASETS[name], "md5", md5)


def test_download_verifies_and_caches(isolated, monkeypatch, capsys, fake_mnist):
    files = fake_mnist()
    use_checksums(monkeypatch, files)
    with Server(files) as server:
        (Xtr, ytr), _ = datasets.load_mnist(mirrors=[server.url], timeout=10)
    cache = isolated / "cache" / "fastnn" / "mnist"
    assert sorted(os.listdir(cache)) == sorted(files)  # no temporary files left behind
    assert Xtr.shape == (120, 28, 28)
    assert "downloaded" in capsys.readouterr().err
    (Xtr2, _), _ = datasets.load_mnist(download=True, mirrors=["http://127.0.0.1:9/none/"])  # from the cache now
    np.testing.assert_array_equal(Xtr, Xtr2)


def test_download_falls_back_to_next_mirror(isolated, monkeypatch, fake_mnist):
    files = fake_mnist()
    use_checksums(monkeypatch, files)
    corrupt = {k: v[:-10] + b"0123456789" for k, v in files.items()}
    with Server(corrupt) as bad, Server(files) as good:
        (Xtr, _), _ = datasets.load_mnist(mirrors=[bad.url, good.url], timeout=10, verbose=False)
    assert Xtr.shape == (120, 28, 28)


def test_download_rejects_corrupt_and_reports_where_to_put_files(isolated, monkeypatch, fake_mnist):
    files = fake_mnist()
    use_checksums(monkeypatch, files, "fashion-mnist")
    corrupt = {k: v[:-10] + b"0123456789" for k, v in files.items()}
    with Server(corrupt) as server:
        with pytest.raises(DatasetError) as info:
            datasets.load_fashion_mnist(mirrors=[server.url], timeout=10, verbose=False)
    msg = str(info.value)
    assert "checksum mismatch" in msg and "Put the four files" in msg
    assert str(isolated / "cache" / "fastnn" / "fashion-mnist") in msg
    assert not (isolated / "cache" / "fastnn" / "fashion-mnist" / "train-images-idx3-ubyte.gz").exists()
    leftovers = os.listdir(isolated / "cache" / "fastnn" / "fashion-mnist")
    assert leftovers == []


def test_offline_error(isolated):
    with pytest.raises(DatasetError, match="could not find or download"):
        datasets.load_mnist(mirrors=["http://127.0.0.1:9/"], timeout=2, verbose=False)


def test_debian_fashion_mnist(fashion_mnist):
    (Xtr, ytr), (Xte, yte) = datasets.load_fashion_mnist(download=False)
    assert Xtr.shape == (60000, 28, 28) and Xte.shape == (10000, 28, 28)
    np.testing.assert_array_equal(ytr, fashion_mnist[0][1])


def test_load_npz_and_csv(tmp_path, rng):
    X = rng.normal(size=(20, 3))
    y = rng.integers(0, 3, 20)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    X2, y2 = load_file(tmp_path / "d.npz")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    with open(tmp_path / "d.csv", "w") as f:
        f.write("a,b,c,label\n")
        for row, label in zip(X, y):
            f.write(",".join(f"{v:.17g}" for v in row) + f",{label}\n")
    X3, y3 = load_file(tmp_path / "d.csv")
    np.testing.assert_array_equal(X3, X)
    np.testing.assert_array_equal(y3, y)
    X4, y4 = load_file(tmp_path / "d.csv", label_column=0)
    np.testing.assert_array_equal(y4, X[:, 0])
    np.testing.assert_array_equal(X4[:, -1], y)


def test_load_file_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_file(tmp_path / "nope.csv")
    (tmp_path / "x.txt").write_text("1,2\n")
    with pytest.raises(DatasetError, match="unsupported file type"):
        load_file(tmp_path / "x.txt")
    np.savez(tmp_path / "bad.npz", A=np.zeros(3))
    with pytest.raises(DatasetError, match="expected arrays 'X' and 'y'"):
        load_file(tmp_path / "bad.npz")
    np.savez(tmp_path / "obj.npz", X=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(DatasetError, match="cannot read"):
        load_file(tmp_path / "obj.npz")
    (tmp_path / "bad.csv").write_text("1,2\noops,3\n")
    with pytest.raises(DatasetError, match="feature columns must hold numbers"):
        load_file(tmp_path / "bad.csv")
    (tmp_path / "nolabel.csv").write_text("1,a\n2,\n")
    with pytest.raises(DatasetError, match="line 2 has no label"):
        load_file(tmp_path / "nolabel.csv")
    (tmp_path / "ragged.csv").write_text("1,2,a\n3,b\n")
    with pytest.raises(DatasetError, match="cannot read CSV"):
        load_file(tmp_path / "ragged.csv")
    with pytest.raises(DatasetError, match="label column 5 outside the 3 columns"):
        load_file(tmp_path / "ragged.csv", label_column=5)
    with pytest.raises(TypeError, match="label_column must be an integer"):
        load_file(tmp_path / "ragged.csv", label_column=1.0)
    np.savez(tmp_path / "text.npz", X=np.array([["a", "b"]]), y=np.zeros(1))
    with pytest.raises(DatasetError, match="features must be numbers"):
        load_file(tmp_path / "text.npz")
    (tmp_path / "one.csv").write_text("1\n2\n")
    with pytest.raises(DatasetError, match="at least one feature"):
        load_file(tmp_path / "one.csv")


def test_csv_with_text_labels(tmp_path):
    (tmp_path / "iris.csv").write_text('sepal,petal,species\n5.1,1.4,setosa\n7.0,4.7, "versicolor"\n'
                                       '6.3,6.0,virginica\n')
    X, y = load_file(tmp_path / "iris.csv")
    np.testing.assert_array_equal(X, [[5.1, 1.4], [7.0, 4.7], [6.3, 6.0]])
    assert y.tolist() == ["setosa", "versicolor", "virginica"]
    # without a header, and with the label first
    (tmp_path / "b.csv").write_text("cat,1,2\ndog,3,4\n")
    X, y = load_file(tmp_path / "b.csv", label_column=0)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert y.tolist() == ["cat", "dog"]
    # numeric labels stay numbers
    (tmp_path / "n.csv").write_text("1,2,3\n4,5,1\n")
    assert load_file(tmp_path / "n.csv")[1].dtype == np.float64
    np.savez(tmp_path / "s.npz", X=np.zeros((2, 2)), y=np.array([b"a", b"b"]))
    assert load_file(tmp_path / "s.npz")[1].tolist() == ["a", "b"]


@pytest.mark.parametrize("sep", [",", ";", "\t", " ", "  "])
def test_csv_separators_are_found(tmp_path, rng, sep):
    """Commas, semicolons, tabs or spaces between the values: the first lines tell which. The label column may be
    given by its name in the header."""
    X = rng.normal(size=(12, 3))
    y = np.array(["setosa", "versicolor", "virginica"])[rng.integers(0, 3, 12)]
    path = tmp_path / "d.csv"
    path.write_text(sep.join(["species", "sepal_length", "sepal_width", "petal_length"]) + "\n" +
                    "".join(sep.join([label, *(f"{v:.17g}" for v in row)]) + "\n" for row, label in zip(X, y)))
    X2, y2 = load_file(path, label_column="species")
    np.testing.assert_array_equal(X2, X)
    assert y2.tolist() == y.tolist()
    X3, y3 = load_file(path, label_column=0)
    np.testing.assert_array_equal(X3, X)
    assert y3.tolist() == y.tolist()


def test_csv_semicolons_with_decimal_commas_and_quoted_text(tmp_path):
    (tmp_path / "eu.csv").write_text('"Kelchblatt";"Breite";"Art"\n5,1;3,5;"setosa"\n7;3,2;"Iris; versicolor"\n'
                                     "6,3;-3,3e1;virginica\n")
    X, y = load_file(tmp_path / "eu.csv")
    np.testing.assert_array_equal(X, [[5.1, 3.5], [7.0, 3.2], [6.3, -33.0]])
    assert y.tolist() == ["setosa", "Iris; versicolor", "virginica"]
    (tmp_path / "eu2.csv").write_text("Kelchblatt\tBreite\tNummer\n5,1\t3,5\t1\n7\t3,2\t2\n")
    X, y = load_file(tmp_path / "eu2.csv", label_column="Breite")  # tabs, and a numeric label with a decimal comma
    np.testing.assert_array_equal(X, [[5.1, 1], [7, 2]])
    np.testing.assert_array_equal(y, [3.5, 3.2])
    (tmp_path / "quoted.csv").write_text('a,b,label\n1.5,2,"Smith, John"\n3,4,"Doe, Jane"\n')
    X, y = load_file(tmp_path / "quoted.csv")
    np.testing.assert_array_equal(X, [[1.5, 2], [3, 4]])
    assert y.tolist() == ["Smith, John", "Doe, Jane"]


def test_csv_spaces_with_decimal_commas_and_a_blank_first_line(tmp_path):
    """Space-separated values with decimal commas (``1,5 2,5 0``) are two numbers and a label, not comma-separated
    fields; blank lines before the header are skipped."""
    (tmp_path / "s.csv").write_text("1,5 2,5 0\n3,25 4,5 1\n-1,5 0,5 0\n")
    X, y = load_file(tmp_path / "s.csv")
    np.testing.assert_array_equal(X, [[1.5, 2.5], [3.25, 4.5], [-1.5, 0.5]])
    np.testing.assert_array_equal(y, [0, 1, 0])
    (tmp_path / "b.csv").write_text("\n\nx,y,label\n1,2,a\n3,4,b\n")
    X, y = load_file(tmp_path / "b.csv")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert y.tolist() == ["a", "b"]


def test_csv_label_column_by_name_errors(tmp_path):
    (tmp_path / "h.csv").write_text("a;b;price\n1;2;3\n4;5;6\n")
    with pytest.raises(DatasetError, match=r"no column named 'Price' in the first row \('a', 'b', 'price'; fields "
                                           r"separated by semicolons\)"):
        load_file(tmp_path / "h.csv", label_column="Price")
    (tmp_path / "n.csv").write_text("1;2;3\n4;5;6\n")
    with pytest.raises(DatasetError, match="no column named 'price'"):
        load_file(tmp_path / "n.csv", label_column="price")
    (tmp_path / "n2.csv").write_text("1;2;3\n4;5;6\n")
    with pytest.raises(DatasetError, match="label column 3 outside the 3 columns \\(fields separated by semicolons"):
        load_file(tmp_path / "n2.csv", label_column=3)
    np.savez(tmp_path / "d.npz", X=np.zeros((2, 2)), y=np.zeros(2))
    with pytest.raises(DatasetError, match="needs a .csv file with a header row"):
        load_file(tmp_path / "d.npz", label_column="y")
    (tmp_path / "bad.csv").write_text("a;b;c\n1;x;3\n")
    with pytest.raises(DatasetError, match=r"cannot read CSV \(fields separated by semicolons\): the feature columns"):
        load_file(tmp_path / "bad.csv")
    (tmp_path / "one.csv").write_text("1|2\n3|4\n")
    with pytest.raises(DatasetError, match="separated by commas, semicolons, tabs or spaces"):
        load_file(tmp_path / "one.csv")


@pytest.mark.parametrize("flatten", [False, True])
@pytest.mark.parametrize("scale", [False, True])
def test_load_flatten_and_scale(isolated, monkeypatch, fake_mnist, flatten, scale):
    folder = isolated / "data" / "mnist"
    folder.mkdir(parents=True)
    for name, content in fake_mnist().items():
        (folder / name).write_bytes(content)
    monkeypatch.setenv("FASTNN_DATA", str(isolated / "data"))
    (raw, _), _ = datasets.load_mnist(download=False)
    (Xtr, ytr), (Xte, _) = datasets.load_mnist(download=False, flatten=flatten, scale=scale)
    assert Xtr.shape == ((120, 784) if flatten else (120, 28, 28))
    assert Xte.shape[0] == 40 and ytr.dtype == np.uint8
    if scale:
        assert Xtr.dtype == np.float32 and 0 <= Xtr.min() and Xtr.max() <= 1
        np.testing.assert_array_equal(Xtr.reshape(raw.shape), raw.astype(np.float32) / 255)
    else:
        assert Xtr.dtype == np.uint8
        np.testing.assert_array_equal(Xtr.reshape(raw.shape), raw)
    with pytest.raises(TypeError, match="flatten must be True or False"):
        datasets.load_mnist(download=False, flatten="yes")
    with pytest.raises(TypeError, match="scale must be True or False"):
        datasets.load_fashion_mnist(download=False, scale=1)
