"""The fastnn command line, end to end."""
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn.cli import main, regression_scores
from fastnn.cli._data import split_rows
from fastnn.cli.train import run_length


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
    code, text2 = run(["evaluate", str(model_path), "--data", str(blobs), "--test-split"])
    assert code == 0
    assert float(re.search(r"test accuracy: ([0-9.]+)", text2).group(1)) == acc


def _scores(text):
    """(accuracy, number of samples, confusion matrix text) of a classification report."""
    m = re.search(r"accuracy: ([0-9.]+)  \((?:test )?loss [0-9.]+, ([0-9,]+) samples", text)
    return float(m.group(1)), int(m.group(2).replace(",", "")), text[text.index("confusion matrix"):].splitlines()[:5]


@pytest.mark.parametrize("seed", [0, 3])
def test_evaluate_scores_the_whole_file_unless_asked_for_the_recorded_split(blobs, tmp_path, seed):
    model_path = tmp_path / "m.fnn"
    code, text = run(["train", "--data", str(blobs), "--hidden", "8", "--epochs", "5", "--quiet", "--seed",
                      str(seed), "--test-split", "0.3", "--save", str(model_path)])
    assert code == 0
    train_acc, n_test, train_cm = _scores(text)
    assert n_test == 90
    split = fastnn.load(model_path).metadata["split"]
    assert {k: split[k] for k in ("test_split", "seed", "n_rows")} == {"test_split": 0.3, "seed": seed, "n_rows": 300}
    code, text = run(["evaluate", str(model_path), "--data", str(blobs)])
    assert code == 0 and "on all 300 rows of" in text
    assert _scores(text)[1] == 300  # every row, not a random 20%
    code, text = run(["evaluate", str(model_path), "--data", str(blobs), "--test-split"])
    assert code == 0 and "90 test rows held out in training (test split 0.3 of 300 rows, seed " + str(seed) in text
    acc, n, cm = _scores(text)
    assert (acc, n, cm) == (train_acc, 90, train_cm)  # exactly the rows training held out


def test_evaluate_test_split_needs_a_recorded_split_of_the_same_file(blobs, tmp_path, capsys):
    model_path = tmp_path / "m.fnn"
    assert run(["train", "--data", str(blobs), "--hidden", "4", "--epochs", "1", "--quiet", "--save",
                str(model_path)])[0] == 0
    with np.load(blobs) as f:
        X, y = f["X"], f["y"]
    shorter = tmp_path / "shorter.npz"
    np.savez(shorter, X=X[:200], y=y[:200])
    assert run(["evaluate", str(model_path), "--data", str(shorter), "--test-split"])[0] == 1
    assert ("has 200 rows but the model was trained on a file of 300: --test-split can only pick the held-out "
            "rows of that same file") in capsys.readouterr().err
    assert run(["evaluate", str(model_path), "--data", str(shorter)])[0] == 0  # the whole file is fine
    model = fastnn.load(model_path)
    model.metadata = {}
    model.save(model_path)
    assert run(["evaluate", str(model_path), "--data", str(blobs), "--test-split"])[0] == 1
    err = capsys.readouterr().err
    assert "records no test split" in err and len(err.strip().splitlines()) == 1


def test_evaluate_test_split_refuses_a_file_whose_held_out_rows_differ(blobs, tmp_path, capsys):
    """A shuffled copy of the training file has as many rows, but other rows where the split points: refused, as
    the model records a fingerprint of the held-out rows' contents. The same rows in another format are fine."""
    model_path = tmp_path / "m.fnn"
    code, text = run(["train", "--data", str(blobs), "--hidden", "8", "--epochs", "5", "--quiet", "--save",
                      str(model_path)])
    assert code == 0
    acc = _scores(text)[0]
    with np.load(blobs) as f:
        X, y = f["X"], f["y"]
    shuffled = tmp_path / "shuffled.npz"
    order = np.random.default_rng(5).permutation(len(y))
    np.savez(shuffled, X=X[order], y=y[order])
    assert run(["evaluate", str(model_path), "--data", str(shuffled), "--test-split"])[0] == 1
    err = capsys.readouterr().err
    assert err == (f"fastnn: error: the rows of {shuffled} at the recorded test split are not the rows that training "
                   "held out (a different, reordered or edited file): --test-split needs the file the model was "
                   "trained on; evaluate the whole file without --test-split\n")
    assert run(["evaluate", str(model_path), "--data", str(shuffled)])[0] == 0  # the whole file is fine
    edited = tmp_path / "edited.npz"
    X2 = X.copy()
    X2[split_rows(300, 0.2, 0, "")[1][7], 2] += 1.0  # one value of one held-out row
    np.savez(edited, X=X2, y=y)
    assert run(["evaluate", str(model_path), "--data", str(edited), "--test-split"])[0] == 1
    as_csv = tmp_path / "same.csv"
    np.savetxt(as_csv, np.column_stack([X, y]), delimiter=",")  # the same rows, as text with every digit
    code, text = run(["evaluate", str(model_path), "--data", str(as_csv), "--test-split"])
    assert code == 0 and _scores(text)[:2] == (acc, 60)
    short = tmp_path / "short.csv"  # float32 values in the shortest text that reads back to them
    short.write_text("".join(",".join(str(v) for v in row) + f",{label}\n"
                             for row, label in zip(X.astype(np.float32), y)))
    assert run(["evaluate", str(model_path), "--data", str(short), "--test-split"])[0] == 0


def test_models_without_a_contents_fingerprint_evaluate_their_split_as_before(blobs, tmp_path):
    model_path = tmp_path / "m.fnn"
    assert run(["train", "--data", str(blobs), "--hidden", "4", "--epochs", "1", "--quiet", "--save",
                str(model_path)])[0] == 0
    model = fastnn.load(model_path)
    assert len(model.metadata["split"]["test_data_sha256"]) == 32
    del model.metadata["split"]["test_data_sha256"]
    model.save(model_path)
    with np.load(blobs) as f:
        X, y = f["X"], f["y"]
    shuffled = tmp_path / "shuffled.npz"
    np.savez(shuffled, X=X[::-1], y=y[::-1])
    code, text = run(["evaluate", str(model_path), "--data", str(shuffled), "--test-split"])
    assert code == 0 and _scores(text)[1] == 60


def test_train_csv_with_label_column(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] > 0).astype(int)
    path = tmp_path / "d.csv"
    np.savetxt(path, np.column_stack([y, X]), delimiter=",", header="label,a,b", comments="")
    code, text = run(["train", "--data", str(path), "--label-column", "0", "--hidden", "8", "--epochs", "10",
                      "--scale", "minmax", "--quiet", "--test-split", "0.25"])
    assert code == 0 and "test accuracy" in text and "50 test samples" in text.replace(",", "")


def test_train_semicolon_csv_with_the_label_column_named(tmp_path, blobs_1_to_3, capsys):
    """A CSV as spreadsheets write it in many countries: semicolons, decimal commas, the label first and named."""
    X, y = blobs_1_to_3
    names = np.array(["virginica", "setosa", "versicolor"])[y]
    path = tmp_path / "iris.csv"
    with open(path, "w") as f:
        f.write("species;a;b;c;d\n")
        for row, label in zip(X, names):
            f.write(";".join([label, *(f"{v:.6f}".replace(".", ",") for v in row)]) + "\n")
    model_path = tmp_path / "m.fnn"
    code, text = run(["train", "--data", str(path), "--label-column", "species", "--hidden", "8", "--epochs", "5",
                      "--quiet", "--save", str(model_path)])
    assert code == 0, capsys.readouterr().err
    assert "4 features, 3 classes (setosa, versicolor, virginica)" in text
    assert float(re.search(r"test accuracy: ([0-9.]+)", text).group(1)) > 0.9
    code, text = run(["evaluate", str(model_path), "--data", str(path), "--label-column", "species", "--test-split"])
    assert code == 0 and "48 test rows held out" in text
    assert run(["train", "--data", str(path), "--label-column", "Species", "--epochs", "1", "--quiet"])[0] == 1
    assert ("no column named 'Species' in the first row ('species', 'a', 'b', 'c', 'd'; fields separated by "
            "semicolons)") in capsys.readouterr().err


def test_train_builtin_dataset_from_fastnn_data(tmp_path, monkeypatch, fake_mnist):
    _builtin(tmp_path, monkeypatch, fake_mnist, "fashion-mnist", 200, 50)
    code, text = run(["train", "--dataset", "fashion-mnist", "--hidden", "8", "--epochs", "1", "--quiet"])
    assert code == 0
    assert "200 training and 50 test samples, 784 features" in text
    assert "Ankle boot" in text  # class names in the confusion matrix


def _builtin(tmp_path, monkeypatch, fake_mnist, name, n_train, n_test):
    """A small fake of built-in dataset ``name`` where the command line looks for it."""
    folder = tmp_path / name
    folder.mkdir()
    for member, content in fake_mnist(n_train=n_train, n_test=n_test).items():
        (folder / member).write_bytes(content)
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path))


def test_train_cnn_saves_a_model_that_evaluates(tmp_path, monkeypatch, fake_mnist):
    _builtin(tmp_path, monkeypatch, fake_mnist, "mnist", 200, 50)
    path = tmp_path / "cnn.fnn"
    code, text = run(["train", "--dataset", "mnist", "--model", "cnn", "--epochs", "1", "--quiet", "--threads", "2",
                      "--save", str(path)])
    assert code == 0, text
    assert "model: cnn 28x28 -> conv 32 3x3 relu -> max-pool 2 -> conv 64 3x3 relu -> max-pool 2 -> 1600 -> 10" in text
    assert "dropout 0.5" in text and "34,826 parameters" in text
    model = fastnn.load(path)
    assert type(model.layers[1]).__name__ == "Conv2D" and model.input_shape == (1, 28, 28)
    code, text = run(["evaluate", str(path), "--dataset", "mnist"])
    assert code == 0 and "accuracy" in text


def test_train_lstm_reads_images_as_sequences_of_rows(tmp_path, monkeypatch, fake_mnist):
    _builtin(tmp_path, monkeypatch, fake_mnist, "mnist", 200, 50)
    path = tmp_path / "lstm.fnn"
    code, text = run(["train", "--dataset", "mnist", "--model", "lstm", "--epochs", "1", "--quiet", "--save",
                      str(path)])
    assert code == 0, text
    assert "model: lstm 28 steps of 28 pixels -> 128 -> 10 (softmax)" in text and "optimizer: adam" in text
    model = fastnn.load(path)
    assert type(model.layers[0]).__name__ == "LSTM" and model.input_shape == (28, 28)
    assert model.optimizer.clipnorm == 1.0
    code, text = run(["evaluate", str(path), "--dataset", "mnist"])
    assert code == 0 and "accuracy" in text
    code, _ = run(["train", "--data", str(tmp_path / "none.csv"), "--model", "lstm", "--optimizer", "sgd",
                   "--nesterov", "--epochs", "1"])
    assert code != 0


def test_train_cnn_refuses_features_that_are_not_square_images(blobs, capsys):
    code, _ = run(["train", "--data", str(blobs), "--model", "cnn", "--epochs", "1", "--quiet"])
    assert code == 1 and "--model cnn needs one-channel square images" in capsys.readouterr().err


@pytest.mark.parametrize("argv, code, message", [
    (["train", "--data", "x.npz", "--epochs", "-1"], 2, "argument --epochs: expected a positive integer, got -1"),
    (["train", "--data", "x.npz", "--epochs", "0"], 2, "argument --epochs: expected a positive integer, got 0"),
    (["train", "--data", "x.npz", "--batch-size", "0"], 2, "argument --batch-size: expected a positive integer, got 0"),
    (["train", "--data", "x.npz", "--hidden", "8", "0"], 2, "argument --hidden: expected a positive integer, got 0"),
    (["cluster", "--data", "x.npz", "--epochs", "0"], 2, "argument --epochs: expected a positive integer, got 0"),
    (["cluster", "--data", "x.npz", "--batch-size", "0"], 2, "argument --batch-size: expected a positive integer"),
    (["cluster", "--data", "x.npz", "--samples", "0"], 2, "argument --samples: expected a positive integer"),
    (["cluster", "--data", "x.npz", "--neighbors", "0"], 2, "argument --neighbors: expected a positive integer"),
    (["rl", "--timesteps", "0"], 2, "argument --timesteps: expected a positive integer, got 0"),
    (["rl", "--episodes", "0"], 2, "argument --episodes: expected a positive integer, got 0"),
    (["rl", "--eval-episodes", "0"], 2, "argument --eval-episodes: expected a positive integer, got 0"),
    (["train", "--data", "x.npz", "--lr", "0"], 2, "expected a number in (0"),
    (["train", "--data", "x.npz", "--momentum", "1"], 2, "[0, 1)"),
    (["train", "--dataset", "cifar"], 2, "invalid choice"),
    (["train", "--data", "x.csv", "--label-column", " "], 2,
     "argument --label-column: expected a column index or a header name, got an empty name"),
    (["train"], 2, "one of the arguments --dataset --data is required"),
    (["train", "--data", "missing.npz"], 1, "fastnn: error: missing.npz: no such file"),
    (["train", "--dataset", "mnist", "--task", "regression"], 2, "--task regression needs --data"),
    (["train", "--data", "x.csv", "--task", "ranking"], 2, "invalid choice"),
    (["evaluate", "m.fnn", "--dataset", "mnist", "--test-split"], 2, "--test-split goes with --data"),
    (["evaluate", "m.fnn", "--data", "x.csv", "--test-split", "0.2"], 2, "unrecognized arguments: 0.2"),
    (["evaluate", "missing.fnn", "--data", "x.npz"], 1, "fastnn: error: missing.fnn: no such file"),
    (["evaluate", "missing.fnn"], 2, "one of the arguments --dataset --data is required (see 'fastnn evaluate --help')"),
    (["evaluate", "m.fnn", "--data", "x.npz", "--dataset", "mnist"], 2, "not allowed with argument"),
    (["train", "--data", "x.npz", "--optimizer", "lbfgs"], 2, "invalid choice: 'lbfgs'"),
    (["train", "--data", "x.npz", "--optimizer", "adam", "--nesterov"], 2,
     "--nesterov goes with --optimizer sgd, not adam"),
    (["train", "--data", "x.npz", "--optimizer", "rmsprop", "--nesterov"], 2,
     "--nesterov goes with --optimizer sgd, not rmsprop"),
    (["train", "--data", "x.npz", "--optimizer", "adamw", "--momentum", "0.9"], 2,
     "--momentum goes with --optimizer sgd or rmsprop; adamw has no momentum setting"),
    (["train", "--data", "x.npz", "--optimizer", "adam", "--momentum", "0"], 2, "--momentum goes with"),
    (["train", "--data", "x.npz", "--nesterov", "--momentum", "0"], 2, "--nesterov needs --momentum above 0"),
    (["train", "--data", "x.npz", "--weight-decay", "-0.1"], 2, "expected a number in [0, inf]"),
    (["train", "--data", "x.npz", "--weight-decay", "nan"], 2, "expected a number in [0, inf]"),
    (["train", "--data", "x.npz", "--lr", "-1", "--optimizer", "adam"], 2, "expected a number in (0"),
    (["train", "--data", "x.npz", "--schedule", "step"], 2, "invalid choice: 'step'"),
    (["train", "--data", "x.npz", "--early-stopping", "3", "--val-split", "0"], 2,
     "--early-stopping needs a validation split: --val-split above 0"),
    (["train", "--data", "x.npz", "--early-stopping", "0"], 2, "expected a positive integer, got 0"),
    (["train", "--data", "x.npz", "--early-stopping"], 2, "expected one argument"),
    (["train", "--data", "x.npz", "--dropout", "1"], 2, "expected a number in [0, 1), got 1"),
    (["train", "--data", "x.npz", "--dropout", "-0.1"], 2, "expected a number in [0, 1), got -0.1"),
    (["train", "--data", "x.npz", "--dropout", "nan"], 2, "expected a number in [0, 1), got nan"),
    (["train", "--data", "x.npz", "--dropout", "half"], 2, "expected a number, got 'half'"),
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
    assert err.startswith("fastnn: error:") and "integers" in err and "--task regression" in err


def test_classification_refuses_a_numeric_target_with_about_one_class_per_few_rows(tmp_path, capsys):
    """Integer-valued numbers with many distinct values (a disease-progression score, a price) are a regression
    target: refused for classification, with a pointer to --task regression; text labels are classes however
    many."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(442, 4))
    y = np.round(150 + 70 * X[:, 0] + 10 * rng.normal(size=442))  # about 200 different integers
    path = tmp_path / "scores.npz"
    np.savez(path, X=X, y=y)
    code, text = run(["train", "--data", str(path), "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "Epoch" not in text and "confusion matrix" not in text
    assert re.fullmatch(r"fastnn: error: \S+: the labels are \d{3} different numbers in 442 rows \(about \d\.\d rows a "
                        r"class\), which looks like a continuous target: use --task regression \(class labels written "
                        r"as text are taken as classes however many there are\)\n", err), err
    assert run(["train", "--data", str(path), "--task", "regression", "--epochs", "1", "--quiet"])[0] == 0
    labels = np.repeat(np.arange(30), 5)  # 30 classes of 5 rows each: classes
    np.savez(path, X=rng.normal(size=(150, 4)), y=labels)
    assert run(["train", "--data", str(path), "--epochs", "1", "--quiet", "--hidden", "4"])[0] == 0
    words = _csv(tmp_path / "words.csv", X, [f"w{int(v)}" for v in y])  # the same values as text: classes
    code, text = run(["train", "--data", str(words), "--epochs", "1", "--quiet", "--hidden", "4"])
    assert code == 0 and "classes (w" in text


def _csv(path, X, labels, header=None):
    with open(path, "w") as f:
        if header:
            f.write(header + "\n")
        for row, label in zip(X, labels):
            f.write(",".join(f"{v:.6f}" for v in row) + f",{label}\n")
    return path


@pytest.fixture
def blobs_1_to_3(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=4, size=(3, 4))
    y = rng.integers(0, 3, 240)
    X = centers[y] + rng.normal(size=(240, 4))
    return X, y


def test_labels_are_mapped_to_classes_and_shown_as_they_are(tmp_path, blobs_1_to_3):
    """Labels 1..3 make 3 classes (not 4 with an empty class 0), shown as 1, 2, 3; the model keeps them."""
    X, y = blobs_1_to_3
    path = _csv(tmp_path / "d.csv", X, y + 1, header="a,b,c,d,label")
    model_path = tmp_path / "m.fnn"
    code, text = run(["train", "--data", str(path), "--hidden", "8", "--epochs", "5", "--quiet",
                      "--save", str(model_path)])
    assert code == 0
    assert "4 features, 3 classes (1, 2, 3)" in text
    assert "model: 4 -> 8 -> 3 (relu, softmax)" in text
    cm = text[text.index("confusion matrix"):].splitlines()
    assert cm[1].split() == ["1", "2", "3"] and [line.split()[0] for line in cm[2:5]] == ["1", "2", "3"]
    assert fastnn.load(model_path).classes == [1, 2, 3]
    code, text = run(["evaluate", str(model_path), "--data", str(path)])
    assert code == 0 and text[text.index("confusion matrix"):].splitlines()[1].split() == ["1", "2", "3"]


def test_text_labels(tmp_path, blobs_1_to_3, capsys):
    X, y = blobs_1_to_3
    names = np.array(["virginica", "setosa", "versicolor"])
    path = _csv(tmp_path / "iris.csv", X, names[y], header="a,b,c,d,species")
    model_path = tmp_path / "m.fnn"
    code, text = run(["train", "--data", str(path), "--hidden", "8", "--epochs", "5", "--quiet",
                      "--save", str(model_path)])
    assert code == 0, capsys.readouterr().err
    assert "3 classes (setosa, versicolor, virginica)" in text  # sorted, as scikit-learn's LabelEncoder
    assert float(re.search(r"test accuracy: ([0-9.]+)", text).group(1)) > 0.9
    cm = text[text.index("confusion matrix"):].splitlines()
    assert cm[1].split() == ["setosa", "versicolor", "virginica"]
    model = fastnn.load(model_path)
    assert model.classes == ["setosa", "versicolor", "virginica"]
    code, text = run(["evaluate", str(model_path), "--data", str(path), "--test-split"])
    assert code == 0 and "virginica" in text
    other = _csv(tmp_path / "other.csv", X[:5], ["setosa", "rose", "tulip", "setosa", "setosa"])
    assert run(["evaluate", str(model_path), "--data", str(other)])[0] == 1
    err = capsys.readouterr().err
    assert "labels the model was not trained on ('rose', 'tulip'); its classes are setosa, versicolor" in err
    numeric = _csv(tmp_path / "numeric.csv", X[:5], [1, 2, 1, 2, 1])
    assert run(["evaluate", str(model_path), "--data", str(numeric)])[0] == 1
    assert "not trained on (1, 2)" in capsys.readouterr().err


def test_models_without_classes_take_labels_0_to_k(tmp_path, blobs):
    """Models saved before class labels were recorded read labels as output indices."""
    model_path = tmp_path / "m.fnn"
    assert run(["train", "--data", str(blobs), "--hidden", "4", "--epochs", "1", "--quiet", "--save",
                str(model_path)])[0] == 0
    model = fastnn.load(model_path)
    model.classes = None
    model.save(model_path)
    code, text = run(["evaluate", str(model_path), "--data", str(blobs)])
    assert code == 0 and _scores(text)[1] == 300


@pytest.fixture
def houses(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = 1000 + 50 * (X @ [1.0, -2.0, 0.5]) + rng.normal(scale=5, size=400)
    return _csv(tmp_path / "houses.csv", X, [f"{v:.3f}" for v in y], header="a,b,c,price"), X, y


def test_regression(tmp_path, houses):
    path, X, y = houses
    model_path = tmp_path / "r.fnn"
    code, text = run(["train", "--data", str(path), "--task", "regression", "--hidden", "16", "--epochs", "30",
                      "--lr", "0.01", "--quiet", "--save", str(model_path)])
    assert code == 0, text
    assert re.search(r"3 features, 1 target \(mean 98\d\.\d, std 10\d\.\d; trained standardized", text), text
    assert "model: 3 -> 16 -> 1 (relu, identity)" in text
    m = re.search(r"test mse: ([0-9.e+]+)  R\^2: ([0-9.-]+)  MAE: ([0-9.e+]+)  \(80 samples", text)
    assert m, text
    mse, r2, mae = map(float, m.groups())
    assert r2 > 0.95 and mae < 20  # in the targets' units (prices around 1000, noise 5)
    model = fastnn.load(model_path)
    assert model.loss.name == "mse" and model.classes is None
    pred = model.predict(X)[:, 0]
    assert abs(np.mean(pred) - np.mean(y)) < 10  # the saved model predicts prices, not standardized values
    code, text = run(["evaluate", str(model_path), "--data", str(path), "--test-split"])
    assert code == 0
    assert re.search(r"test mse: ([0-9.e+]+)", text).group(1) == m.group(1)
    code, text = run(["evaluate", str(model_path), "--data", str(path)])
    assert code == 0
    whole = regression_scores(y[:, None], pred[:, None])
    m = re.search(r"^mse: ([0-9.e+]+)  R\^2: ([0-9.-]+)  MAE: ([0-9.e+]+)  \(400 samples", text, re.M)
    assert m, text
    # the command scales the rows once, predict per call: float32 sums may differ in their last bits
    np.testing.assert_allclose([float(v) for v in m.groups()], [whole["mse"], whole["r2"], whole["mae"]],
                               rtol=1e-5, atol=1e-4)


def test_regression_refuses_text_targets(tmp_path, blobs_1_to_3, capsys):
    X, y = blobs_1_to_3
    path = _csv(tmp_path / "t.csv", X, np.array(["a", "b", "c"])[y])
    assert run(["train", "--data", str(path), "--task", "regression", "--epochs", "1", "--quiet"])[0] == 1
    assert "regression targets must be numbers" in capsys.readouterr().err


def test_regression_scores_match_sklearn(rng):
    metrics = pytest.importorskip("sklearn.metrics")
    y = rng.normal(size=(50, 2))
    p = y + rng.normal(scale=0.3, size=(50, 2))
    ours = regression_scores(y, p)
    assert ours["mse"] == pytest.approx(metrics.mean_squared_error(y, p))
    assert ours["r2"] == pytest.approx(metrics.r2_score(y, p))
    assert ours["mae"] == pytest.approx(metrics.mean_absolute_error(y, p))
    const = np.ones((5, 1))
    assert regression_scores(const, const)["r2"] == metrics.r2_score(const, const) == 1.0
    assert regression_scores(const, const + 1)["r2"] == metrics.r2_score(const, const + 1) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        regression_scores(y, p[:, :1])


def _evaluate_into_closed_pipe(model_path, data):
    """Run ``fastnn evaluate`` with its stdout a pipe whose reader is already gone."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "fastnn", "evaluate", str(model_path), "--data", str(data)],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)


def test_closed_stdout_ends_quietly(blobs, tmp_path):
    """`fastnn evaluate ... | head -1`: no 'Broken pipe' error and no traceback, exit status 141 as SIGPIPE."""
    model_path = tmp_path / "m.fnn"
    assert run(["train", "--data", str(blobs), "--hidden", "4", "--epochs", "1", "--quiet", "--save",
                str(model_path)])[0] == 0
    result = _evaluate_into_closed_pipe(model_path, blobs)
    assert result.stderr == "" and result.returncode == 141
    shell = subprocess.run(f"{sys.executable} -m fastnn evaluate {model_path} --data {blobs} | head -1",
                           shell=True, capture_output=True, text=True, timeout=120)
    assert shell.stdout.startswith("evaluating ") and len(shell.stdout.splitlines()) == 1
    assert shell.stderr == ""


def test_console_script_and_module_help():
    result = subprocess.run([sys.executable, "-m", "fastnn", "train", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for flag in ("--dataset", "--data", "--hidden", "--activation", "--epochs", "--batch-size", "--lr",
                 "--momentum", "--l1", "--l2", "--scale", "--val-split", "--threads", "--seed", "--dtype", "--save",
                 "--optimizer", "--nesterov", "--weight-decay", "--schedule", "--early-stopping"):
        assert flag in result.stdout
    exe = os.path.join(os.path.dirname(sys.executable), "fastnn")
    if os.path.exists(exe):
        assert subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.startswith("fastnn ")


def test_help_of_each_command_has_its_own_examples(capsys):
    """'fastnn rl --help' shows examples of rl, not the text about data files of the other commands."""
    for command, own, foreign in [("rl", "fastnn rl --env", "fastnn train"), ("train", "fastnn train", "fastnn rl"),
                                  ("evaluate", "fastnn evaluate", "fastnn cluster"),
                                  ("cluster", "fastnn cluster", "fastnn evaluate")]:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert own in text and foreign not in text
        assert ("data files:" in text) == (command != "rl")
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert all(f"fastnn {c} " in text for c in ("train", "evaluate", "cluster", "rl")) and "data files:" in text


def test_bad_requests(tmp_path, capsys):
    code, _ = run(["rl", "--env", "NoSuchEnv-v0", "--quiet"])
    assert code == 1 and "NoSuchEnv" in capsys.readouterr().err
    code, _ = run(["rl", "--env", "CartPole-v1", "--algo", "qlearning", "--quiet"])
    assert code == 1 and "Discrete states" in capsys.readouterr().err
    code, _ = run(["rl", "--env", "FrozenLake-v1", "--algo", "dqn", "--quiet"])
    assert code == 1 and "Box observation" in capsys.readouterr().err
    code, _ = run(["rl", "--plot", str(tmp_path / "missing" / "p.png"), "--quiet"])
    assert code == 1
    with pytest.raises(SystemExit) as info:
        main(["rl", "--timesteps", "-5"])
    assert info.value.code == 2


@pytest.mark.parametrize("argv, algo, use", [
    (["--algo", "dqn", "--timesteps", "300"], "DQN",
     "fastnn.rl.DQN.load(path, env=gymnasium.make(ENV_ID)).evaluate(n_episodes=100)"),
    (["--env", "FrozenLake-v1", "--algo", "qlearning", "--episodes", "20"], "QLearning",
     "fastnn.rl.QLearning.load(path).evaluate(gymnasium.make(ENV_ID), episodes=1000)"),
])
def test_evaluate_names_an_agent_file_and_how_to_use_it(tmp_path, capsys, argv, algo, use):
    path = tmp_path / "agent.fnn"
    assert run(["rl", *argv, "--eval-episodes", "1", "--quiet", "--save", str(path)])[0] == 0
    capsys.readouterr()
    code, text = run(["evaluate", str(path), "--data", str(tmp_path / "unused.csv")])
    assert code == 1 and text == ""
    message = (f"fastnn: error: {path} is a reinforcement-learning agent file ({algo}, saved by 'fastnn rl --save'), "
               f"not a model that 'fastnn evaluate' scores: evaluate it in Python with {use}, or train and evaluate "
               "one with 'fastnn rl'\n")
    assert capsys.readouterr().err == message
    assert run(["evaluate", str(path)]) == (1, "")  # without data too
    assert capsys.readouterr().err == message


def test_evaluate_names_an_estimator_file(tmp_path, capsys, blobs):
    """A KMeans or scaler file given to evaluate is refused saying what it holds, not read as a model."""
    path = tmp_path / "kmeans.fnn"
    fastnn.save(fastnn.KMeans(n_clusters=2, random_state=0).fit(np.random.default_rng(0).normal(size=(20, 3))), path)
    assert run(["evaluate", str(path), "--data", str(blobs)]) == (1, "")
    err = capsys.readouterr().err
    assert err.startswith(f"fastnn: error: {path}") and "KMeans" in err and "not a fastnn model" in err, err


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


# -- the training recipe: optimizer, schedule, early stopping -----------------------------------------------------

def _train_and_load(blobs, tmp_path, *flags):
    model_path = tmp_path / "recipe.fnn"
    code, text = run(["train", "--data", str(blobs), "--hidden", "8", "--epochs", "3", "--quiet", "--save",
                      str(model_path), *flags])
    assert code == 0, text
    return text, fastnn.load(model_path)


def _model_line(text):
    return next(line for line in text.splitlines() if line.startswith("model: "))


def test_default_recipe(blobs, tmp_path):
    """SGD with Nesterov momentum 0.9 under onecycle peaking at 0.05, L2 5e-4; batch 32 on fewer than 4,096
    training rows: 216 training rows make 7 updates an epoch."""
    args = fastnn.cli.build_parser().parse_args(["train", "--dataset", "fashion-mnist"])
    assert (args.hidden, args.epochs, args.batch_size, args.optimizer, args.l2, args.dropout, args.scale) == \
        ([256, 128], None, None, None, 5e-4, None, "standard")  # the optimizer: sgd (adam for --model lstm)
    assert run_length(args, 60_000) == (6, 128, "")  # Fashion-MNIST: 6 epochs of batch 128
    text, model = _train_and_load(blobs, tmp_path)
    schedule = fastnn.schedules.OneCycle(max_lr=0.05, total_steps=21)
    assert model.optimizer == fastnn.SGD(lr=schedule, momentum=0.9, nesterov=True)
    assert model.regularizer.l2 == 5e-4
    assert _model_line(text).endswith("float32; optimizer: sgd (lr 0.05, nesterov momentum 0.9, weight decay 0), "
                                      "schedule: onecycle over 21 updates; defaults for small data: batch 32 (fewer "
                                      "than 4,096 training samples)")
    assert int(model._step[0]) == 21


@pytest.mark.parametrize("n_rows, flags, epochs, batch, note", [
    (300, [], 143, 32, "batch 32 (fewer than 4,096 training samples), 143 epochs (for at least 1,000 updates, at "
                       "most 200 epochs)"),  # 240 training rows, 216 after the validation split: 7 updates an epoch
    (40, [], 200, 32, "batch 32 (fewer than 4,096 training samples), 200 epochs (for at least 1,000 updates, at "
                      "most 200 epochs)"),  # 1 update an epoch: at most 200 epochs
    (300, ["--batch-size", "16"], 72, 16, "72 epochs (for at least 1,000 updates, at most 200 epochs)"),
    (300, ["--epochs", "2"], 2, 32, "batch 32 (fewer than 4,096 training samples)"),
    (300, ["--epochs", "2", "--batch-size", "128"], 2, 128, None),
])
def test_small_data_defaults(tmp_path, n_rows, flags, epochs, batch, note):
    """On small data the defaults train in batches of 32 and for at least 1,000 updates (at most 200 epochs),
    and the model line says so; given values are kept."""
    rng = np.random.default_rng(0)
    path = tmp_path / "small.npz"
    np.savez(path, X=rng.normal(size=(n_rows, 3)), y=np.arange(n_rows) % 2)
    model_path = tmp_path / "m.fnn"
    code, text = run(["train", "--data", str(path), "--hidden", "4", "--quiet", "--threads", "1", "--save",
                      str(model_path), *flags])
    assert code == 0, text
    n_train = int(n_rows * 0.8 * 0.9)
    updates = epochs * -(-n_train // batch)
    assert f"trained {epochs} epochs" in text and int(fastnn.load(model_path)._step[0]) == updates
    line = _model_line(text)
    assert (line.endswith(f"onecycle over {updates:,} updates; defaults for small data: {note}") if note else
            line.endswith(f"onecycle over {updates:,} updates"))


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_defaults_on_small_data_match_scikit_learns_mlp(tmp_path, name):
    """`fastnn train --data FILE` with every default, on scikit-learn's small datasets: the mean test accuracy over
    seeds 0-3 is within 0.03 of MLPClassifier's (its defaults, trained to convergence) on the same splits with the
    same scaling (standard, fitted on the training rows)."""
    sk_datasets = pytest.importorskip("sklearn.datasets")
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    X, y = getattr(sk_datasets, f"load_{name}")(return_X_y=True)
    path = tmp_path / f"{name}.npz"
    np.savez(path, X=X, y=y)
    ours, theirs = [], []
    for seed in range(4):
        code, text = run(["train", "--data", str(path), "--seed", str(seed), "--quiet", "--threads", "1"])
        assert code == 0, text
        ours.append(float(re.search(r"test accuracy: ([0-9.]+)", text).group(1)))
        train, test, _ = split_rows(len(y), 0.2, seed, name)
        scaler = StandardScaler().fit(X[train])
        mlp = MLPClassifier(max_iter=3000, random_state=seed).fit(scaler.transform(X[train]), y[train])
        assert mlp.n_iter_ < mlp.max_iter  # converged
        theirs.append(mlp.score(scaler.transform(X[test]), y[test]))
    assert np.mean(ours) >= np.mean(theirs) - 0.03, (ours, theirs)


def test_default_schedule_is_constant_for_a_run_too_short_for_a_cycle(blobs, tmp_path):
    """One epoch of 2 updates holds no cycle: the default schedule is then a constant rate, the optimizer's
    constant default."""
    text, model = _train_and_load(blobs, tmp_path, "--epochs", "1", "--batch-size", "128")
    assert model.optimizer == fastnn.SGD(lr=0.01, momentum=0.9, nesterov=True)
    assert _model_line(text).endswith("optimizer: sgd (lr 0.01, nesterov momentum 0.9, weight decay 0), "
                                      "schedule: none")


def test_dropout_after_every_hidden_layer(blobs, tmp_path):
    text, model = _train_and_load(blobs, tmp_path, "--hidden", "8", "6", "--dropout", "0.25")
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert [layer.p for layer in model.layers if isinstance(layer, fastnn.Dropout)] == [0.25, 0.25]
    assert _model_line(text).startswith("model: 5 -> 8 -> 6 -> 3 (relu, softmax, dropout 0.25), ")
    losses = [loss for _, loss, _ in _epoch_records(text)]
    assert len(losses) == 3 and losses[2] < losses[0]  # it trained


@pytest.mark.parametrize("flags", [["--dropout", "0"], []])
def test_no_dropout_by_default_or_at_zero(blobs, tmp_path, flags):
    text, model = _train_and_load(blobs, tmp_path, *flags)
    assert not any(isinstance(layer, fastnn.Dropout) for layer in model.layers)
    assert "dropout" not in _model_line(text)


def test_dropout_without_hidden_layers_adds_nothing(blobs, tmp_path):
    text, model = _train_and_load(blobs, tmp_path, "--hidden", "--dropout", "0.5")
    assert [type(layer).__name__ for layer in model.layers] == ["Dense"]
    assert "dropout" not in _model_line(text)


@pytest.mark.parametrize("name, expected, shown", [
    ("sgd", fastnn.SGD(lr=0.01, momentum=0.9, nesterov=True), "sgd (lr 0.01, nesterov momentum 0.9, weight decay 0)"),
    ("adam", fastnn.Adam(lr=1e-3), "adam (lr 0.001, weight decay 0)"),
    ("adamw", fastnn.AdamW(lr=1e-3, weight_decay=0.01), "adamw (lr 0.001, weight decay 0.01)"),
    ("rmsprop", fastnn.RMSprop(lr=1e-3, momentum=0.0), "rmsprop (lr 0.001, momentum 0, weight decay 0)"),
])
def test_optimizer_and_its_default_learning_rate(blobs, tmp_path, name, expected, shown):
    text, model = _train_and_load(blobs, tmp_path, "--optimizer", name, "--schedule", "none")
    assert model.optimizer == expected
    assert f"; optimizer: {shown}, schedule: none" in _model_line(text)
    losses = [loss for _, loss, _ in _epoch_records(text)]
    assert len(losses) == 3 and losses[2] < losses[0]  # it trained


@pytest.mark.parametrize("flags, expected, shown", [
    (["--lr", "0.05", "--momentum", "0.5", "--nesterov"], fastnn.SGD(lr=0.05, momentum=0.5, nesterov=True),
     "sgd (lr 0.05, nesterov momentum 0.5, weight decay 0)"),
    (["--momentum", "0", "--weight-decay", "0.001"], fastnn.SGD(lr=0.01, weight_decay=0.001),
     "sgd (lr 0.01, momentum 0, weight decay 0.001)"),
    (["--no-nesterov"], fastnn.SGD(lr=0.01, momentum=0.9), "sgd (lr 0.01, momentum 0.9, weight decay 0)"),
    (["--optimizer", "adam", "--lr", "0.02", "--weight-decay", "0.1"], fastnn.Adam(lr=0.02, weight_decay=0.1),
     "adam (lr 0.02, weight decay 0.1)"),
    (["--optimizer", "adamw", "--weight-decay", "0"], fastnn.AdamW(weight_decay=0.0),
     "adamw (lr 0.001, weight decay 0)"),
    (["--optimizer", "rmsprop", "--momentum", "0.9", "--lr", "0.003"], fastnn.RMSprop(lr=0.003, momentum=0.9),
     "rmsprop (lr 0.003, momentum 0.9, weight decay 0)"),
])
def test_optimizer_settings(blobs, tmp_path, flags, expected, shown):
    text, model = _train_and_load(blobs, tmp_path, "--schedule", "none", *flags)
    assert model.optimizer == expected
    assert f"; optimizer: {shown}, schedule: none" in _model_line(text)


@pytest.mark.parametrize("val_split, iterations", [("0.1", 4), ("0", 5)])
@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.01), ("adam", 0.001)])
def test_schedules_span_every_update_of_the_run(blobs, tmp_path, val_split, iterations, optimizer, lr):
    """240 training rows; a validation split of 0.1 leaves 216 for training: 4 batches of 54, else 5."""
    common = ["--optimizer", optimizer, "--batch-size", "54", "--val-split", val_split]
    text, model = _train_and_load(blobs, tmp_path, "--schedule", "cosine", *common)
    assert "Epoch 3/3 - %d it" % iterations in text
    assert model.optimizer.lr == fastnn.schedules.CosineDecay(lr, decay_steps=3 * iterations)
    assert f"schedule: cosine to 0 over {3 * iterations} updates" in _model_line(text)
    assert model.optimizer.current_lr(int(model._step[0])) == 0.0  # the run ended where the decay does

    text, model = _train_and_load(blobs, tmp_path, "--schedule", "onecycle", *common)
    # onecycle's default peak is 5 times the optimizer's constant rate
    assert model.optimizer.lr == fastnn.schedules.OneCycle(max_lr=5 * lr, total_steps=3 * iterations)
    assert f"schedule: onecycle over {3 * iterations} updates" in _model_line(text)
    assert int(model._step[0]) == 3 * iterations


def test_schedule_with_an_explicit_learning_rate(blobs, tmp_path):
    text, model = _train_and_load(blobs, tmp_path, "--schedule", "onecycle", "--lr", "0.2", "--optimizer",
                                  "rmsprop", "--momentum", "0.5", "--batch-size", "64")
    assert model.optimizer == fastnn.RMSprop(lr=fastnn.schedules.OneCycle(0.2, total_steps=12), momentum=0.5)


def test_onecycle_refuses_a_run_too_short_for_its_cycle(blobs, capsys):
    """One epoch of 3 batches (216 rows, batch 100) cannot hold a cycle: a one-line error, exit status 1."""
    code, text = run(["train", "--data", str(blobs), "--hidden", "4", "--epochs", "1", "--batch-size", "100",
                      "--schedule", "onecycle", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "Epoch" not in text
    assert err == ("fastnn: error: --schedule onecycle needs at least 4 updates, but 1 epoch of 3 iterations make "
                   "3: train more epochs or use a smaller --batch-size\n")


@pytest.fixture
def noise(tmp_path):
    """Labels that depend weakly on one feature out of ten: a wide network soon memorises the training rows,
    and its validation loss rises while its training loss falls."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(250, 10))
    y = (X[:, 0] + rng.normal(size=250) > 0).astype(int)
    path = tmp_path / "noise.npz"
    np.savez(path, X=X, y=y)
    return path


def _epoch_records(text):
    pattern = r"Epoch (\d+)/\d+ - \d+ it - [0-9.]+s - loss: ([0-9.]+) - accuracy: [0-9.]+ - val_loss: ([0-9.]+)"
    return [(int(e), float(loss), float(val)) for e, loss, val in re.findall(pattern, text)]


def test_early_stopping_stops_and_keeps_the_best_epoch(noise, tmp_path):

    model_path = tmp_path / "m.fnn"
    code, text = run(["train", "--data", str(noise), "--hidden", "128", "128", "--epochs", "60", "--lr", "0.003",
                      "--batch-size", "8", "--early-stopping", "3", "--val-split", "0.2", "--quiet", "--save",
                      str(model_path)])
    assert code == 0, text
    records = _epoch_records(text)
    best = min(records, key=lambda r: r[2])
    last = records[-1][0]
    assert 1 < best[0] and last == best[0] + 3 < 60  # stopped 3 epochs without improvement after the best one
    assert records[-1][1] < records[0][1]  # the training loss still fell
    assert f"trained {last} epochs in" in text
    assert (f"early stopping: val_loss did not improve for 3 epochs, stopped after epoch {last}; kept the weights "
            f"of epoch {best[0]} (val_loss {best[2]:.4f})") in text
    # the saved model holds the best epoch's weights: its loss on the validation rows is that epoch's val_loss
    model = fastnn.load(model_path)
    with np.load(noise) as f:
        X, y = f["X"], f["y"]
    train_rows, _, _ = split_rows(250, 0.2, 0, "noise")
    val_rows = train_rows[int(len(train_rows) * 0.8):]
    assert model.evaluate(X[val_rows], y[val_rows])["loss"] == pytest.approx(best[2], abs=6e-5)


def test_early_stopping_that_never_triggers(blobs, tmp_path):
    text, model = _train_and_load(blobs, tmp_path, "--early-stopping", "5")
    records = _epoch_records(text)
    assert len(records) == 3 and "trained 3 epochs" in text
    best = min(records, key=lambda r: r[2])
    assert re.search(r"early stopping: did not stop; (the last epoch was the best, |kept the weights of )"
                     rf"epoch {best[0]} \(val_loss {best[2]:.4f}\)", text)


def test_confusion_matrix():
    cm = fastnn.metrics.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], labels=range(4))
    np.testing.assert_array_equal(cm, [[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    cm = fastnn.metrics.confusion_matrix(["b", "a", "c"], ["b", "c", "c"], labels=["c", "b"])  # a: not counted
    np.testing.assert_array_equal(cm, [[1, 0], [0, 1]])


def test_fashion_mnist_defaults(fashion_mnist, tmp_path, monkeypatch):
    """`fastnn train --dataset fashion-mnist` with its defaults reaches 0.88 test accuracy."""
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    code, text = run(["train", "--dataset", "fashion-mnist", "--quiet"])
    assert code == 0
    acc = float(re.search(r"test accuracy: ([0-9.]+)", text).group(1))
    print(text[-1500:])
    assert acc >= 0.88
    assert _model_line(text).endswith("schedule: onecycle over 2,532 updates")  # 6 epochs of batch 128
    assert "trained 6 epochs" in text


def test_train_calls_on_epoch_end_with_the_test_set(blobs):
    """The hook benchmarks/time_to_accuracy.py scores the test set with: once per epoch, with the prepared test
    rows, outside the epoch's recorded seconds."""
    from fastnn.cli import build_parser
    from fastnn.cli.train import run

    calls = []
    args = build_parser().parse_args(["train", "--data", str(blobs), "--hidden", "8", "--epochs", "3", "--quiet"])
    out = io.StringIO()
    code = run(args, out, on_epoch_end=lambda model, epoch, logs, X, y: calls.append(
        (epoch, logs["seconds"], X.shape, y.shape, model.evaluate(X, y)["accuracy"])))
    assert code == 0
    assert [c[0] for c in calls] == [0, 1, 2]
    assert all(c[2] == (60, 5) and c[3] == (60,) for c in calls)
    final = float(re.search(r"test accuracy: ([0-9.]+)", out.getvalue()).group(1))
    assert round(calls[-1][4], 4) == final


def test_save_destination_is_checked_before_training(blobs, tmp_path):
    code, text = run(["train", "--data", str(blobs), "--hidden", "4", "--epochs", "1", "--quiet",
                      "--save", str(tmp_path / "missing" / "m.fnn")])
    assert code == 1 and "Epoch" not in text


def test_no_nesterov_goes_with_sgd_only(blobs):
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", str(blobs), "--optimizer", "adam", "--no-nesterov"])
    assert info.value.code == 2


def test_more_threads_than_cores_are_capped_with_a_note(blobs, capsys):
    from fastnn._core.threads import available_cores

    code, _ = run(["train", "--data", str(blobs), "--hidden", "4", "--epochs", "1", "--quiet", "--threads",
                   str(available_cores() + 60)])
    assert code == 0
    assert f"--threads {available_cores() + 60} is more than the {available_cores()} cores" in capsys.readouterr().err


def test_cluster_a_file_with_and_without_an_autoencoder(blobs, tmp_path):
    code, text = run(["cluster", "--data", str(blobs), "--clusters", "3", "--quiet"])
    assert code == 0 and "300 samples, 5 features; scaling: standard; 3 clusters" in text
    acc = float(re.search(r"k-means on the inputs: accuracy ([0-9.]+), NMI", text).group(1))
    assert acc > 0.9  # well-separated blobs
    code, text = run(["cluster", "--data", str(blobs), "--clusters", "3", "--autoencoder", "8", "2", "--epochs",
                      "5", "--quiet", "--save", str(tmp_path / "ae.fnn")])
    assert code == 0 and "autoencoder 5 -> 8 -> 2: 5 epochs" in text and "k-means on the codes: accuracy" in text
    assert "k-means on the codes' spectral embedding (15 neighbours): accuracy" in text and "total" in text
    assert isinstance(fastnn.load(tmp_path / "ae.fnn"), fastnn.Autoencoder)
    code, text = run(["cluster", "--data", str(blobs), "--clusters", "3", "--autoencoder", "8", "2", "--epochs",
                      "1", "--quiet", "--manifold", "none"])
    assert code == 0 and "k-means on the codes: accuracy" in text and "spectral" not in text


def test_cluster_builtin_images_with_a_picture(tmp_path, monkeypatch, fake_mnist):
    _builtin(tmp_path, monkeypatch, fake_mnist, "mnist", 120, 40)
    picture = tmp_path / "codes.png"
    code, text = run(["cluster", "--dataset", "mnist", "--clusters", "4", "--autoencoder", "16", "3", "--epochs",
                      "2", "--quiet", "--plot", str(picture)])
    assert code == 0 and "scaling: minmax" in text
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the built-in datasets get the default autoencoder (code width: the number of clusters) unless told not to
    code, text = run(["cluster", "--dataset", "mnist", "--clusters", "4", "--epochs", "1", "--quiet"])
    assert code == 0 and "autoencoder 784 -> 500 -> 500 -> 2000 -> 4: 1 epochs" in text
    assert "spectral embedding" in text
    code, text = run(["cluster", "--dataset", "mnist", "--clusters", "4", "--no-autoencoder", "--quiet"])
    assert code == 0 and "k-means on the inputs" in text and "autoencoder" not in text


def test_cluster_refuses_bad_requests(blobs, tmp_path):
    code, _ = run(["cluster", "--data", str(blobs), "--clusters", "301"])
    assert code == 1
    code, _ = run(["cluster", "--data", str(blobs), "--plot", str(tmp_path / "missing" / "p.png")])
    assert code == 1
    with pytest.raises(SystemExit) as info:
        main(["cluster", "--data", str(blobs), "--clusters", "0"])
    assert info.value.code == 2
