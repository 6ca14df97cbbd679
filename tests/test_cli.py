"""The fastnn command line, end to end."""
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from fastnn.cli import confusion_matrix, main


@pytest.fixture
def blobs(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=4, size=(3, 5))
    y = rng.integers(0, 3, 300)
    X = centers[y] + rng.normal(size=(300, 5))
    path = tmp_path / "blobs.npz"
    np.savez(path, X=X, y=y)
    return path


def run(argv):
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue()


def test_train_save_evaluate(blobs, tmp_path):
    model_path = tmp_path / "m.fnn"
    code, text = run(["train", "--data", str(blobs), "--hidden", "16", "--epochs", "5", "--quiet",
                      "--save", str(model_path), "--threads", "2"])
    assert code == 0
    acc = float(re.search(r"test accuracy: ([0-9.]+)", text).group(1))
    assert acc > 0.9
    assert "confusion matrix" in text and "saved model" in text
    assert re.search(r"Epoch 5/5 - \d+ it - [0-9.]+s - loss: [0-9.]+ - accuracy: [0-9.]+ - val_loss", text)
    code, text2 = run(["evaluate", str(model_path), "--data", str(blobs)])
    assert code == 0
    assert float(re.search(r"test accuracy: ([0-9.]+)", text2).group(1)) == acc


def test_train_csv_with_label_column(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] > 0).astype(int)
    path = tmp_path / "d.csv"
    np.savetxt(path, np.column_stack([y, X]), delimiter=",", header="label,a,b", comments="")
    code, text = run(["train", "--data", str(path), "--label-column", "0", "--hidden", "8", "--epochs", "10",
                      "--scale", "minmax", "--quiet", "--test-split", "0.25"])
    assert code == 0 and "test accuracy" in text and "50 test samples" in text.replace(",", "")


def test_train_builtin_dataset_from_fastnn_data(tmp_path, monkeypatch, fake_mnist):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for name, content in fake_mnist(n_train=200, n_test=50).items():
        (folder / name).write_bytes(content)
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path))
    code, text = run(["train", "--dataset", "fashion-mnist", "--hidden", "8", "--epochs", "1", "--quiet"])
    assert code == 0
    assert "200 training and 50 test samples, 784 features" in text
    assert "Ankle boot" in text  # class names in the confusion matrix


@pytest.mark.parametrize("argv, code, message", [
    (["train", "--data", "x.npz", "--epochs", "-1"], 2, "non-negative integer"),
    (["train", "--data", "x.npz", "--lr", "0"], 2, "expected a number in (0"),
    (["train", "--data", "x.npz", "--momentum", "1"], 2, "[0, 1)"),
    (["train", "--dataset", "cifar"], 2, "invalid choice"),
    (["train"], 2, "one of the arguments --dataset --data is required"),
    (["train", "--data", "missing.npz"], 1, "fastnn: error: missing.npz: no such file"),
    (["evaluate", "missing.fnn", "--data", "x.npz"], 1, "fastnn: error: missing.fnn: no such file"),
])
def test_bad_arguments(argv, code, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) if code == 2 else _nothing() as info:
        result = main(argv, out=io.StringIO())
    err = capsys.readouterr().err
    if code == 2:
        assert info.value.code == 2
    else:
        assert result == 1
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and ": error: " in err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_bad_data_is_one_line_error(tmp_path, capsys):
    path = tmp_path / "bad.npz"
    np.savez(path, X=np.zeros((10, 3)), y=np.full(10, 0.5))
    assert main(["train", "--data", str(path)], out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastnn: error:") and "integers" in err


def test_console_script_and_module_help():
    result = subprocess.run([sys.executable, "-m", "fastnn", "train", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for flag in ("--dataset", "--data", "--hidden", "--activation", "--epochs", "--batch-size", "--lr",
                 "--momentum", "--l1", "--l2", "--scale", "--val-split", "--threads", "--seed", "--dtype", "--save"):
        assert flag in result.stdout
    exe = os.path.join(os.path.dirname(sys.executable), "fastnn")
    if os.path.exists(exe):
        assert subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.startswith("fastnn ")


def test_live_progress_bar_on_a_terminal(blobs):
    """On a terminal the bar shows iterations of the epoch, the running loss and samples/s."""
    pty = pytest.importorskip("pty")
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a 120-column terminal
    proc = subprocess.Popen([sys.executable, "-m", "fastnn", "train", "--data", str(blobs), "--hidden", "8",
                             "--epochs", "2", "--batch-size", "4"], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, text
    # a live bar (tqdm's, or the plain one without tqdm): iterations done of the epoch's 54
    assert re.search(r"Epoch 1/2: +\d+%.*\| *\d+/54 |Epoch 1/2 \d+/54 it - loss: [0-9.]+ - [0-9,]+ samples/s", text)
    assert "Epoch 2/2 - 54 it" in text  # and the epoch's line
    assert "test accuracy" in text


def test_confusion_matrix():
    cm = confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], 3)
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])


def test_fashion_mnist_defaults(fashion_mnist, tmp_path, monkeypatch):
    """`fastnn train --dataset fashion-mnist` with its defaults reaches 0.88 test accuracy."""
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    code, text = run(["train", "--dataset", "fashion-mnist", "--quiet"])
    assert code == 0
    acc = float(re.search(r"test accuracy: ([0-9.]+)", text).group(1))
    print(text[-1500:])
    assert acc >= 0.88
