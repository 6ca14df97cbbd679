"""Learning-curve plots: fastnn.plotting.plot_history, History.plot and 'fastnn train --plot'."""
import doctest
import io
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastnn
import fastnn.plotting
from fastnn.plotting import plot_history

mpl = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MISSING = "plotting needs matplotlib: pip install matplotlib"


def _lines(ax):
    """``{label: (x, y)}`` of the lines on an axes."""
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()}


@pytest.fixture
def keras_dict():
    return {"loss": [0.9, 0.5, 0.4], "accuracy": [0.6, 0.8, 0.85], "val_loss": [1.0, 0.7, 0.65],
            "val_accuracy": [0.55, 0.75, 0.8]}


@pytest.fixture(scope="module")
def trained():
    """A small classifier trained for 4 epochs with validation, then 2 more."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    model = fastnn.Sequential([fastnn.Dense(4, 8, "relu"), fastnn.Dense(8, 2, "softmax")], seed=0).compile()
    first = model.fit(X, y, epochs=4, batch_size=20, validation_split=0.2, verbose=0)
    second = model.fit(X, y, epochs=2, batch_size=20, verbose=0)
    return first, second


def test_dict_of_lists_gives_one_panel_per_family_with_training_and_validation_lines(keras_dict):
    fig = plot_history(keras_dict)
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    loss, acc = fig.axes
    assert _lines(loss) == {"training": ([1, 2, 3], [0.9, 0.5, 0.4]), "validation": ([1, 2, 3], [1.0, 0.7, 0.65])}
    assert _lines(acc) == {"training": ([1, 2, 3], [0.6, 0.8, 0.85]),
                           "validation": ([1, 2, 3], [0.55, 0.75, 0.8])}
    for ax, name in ((loss, "loss"), (acc, "accuracy")):
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == name
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training", "validation"]
    assert fig.get_suptitle() == "Learning curves (3 epochs)"


def test_history_from_fit_counts_epochs_from_one_over_the_models_life(trained):
    first, second = trained
    fig = first.plot()
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    lines = _lines(fig.axes[0])
    assert lines["training"] == ([1, 2, 3, 4], pytest.approx(first["loss"]))
    assert lines["validation"] == ([1, 2, 3, 4], pytest.approx(first["val_loss"]))
    assert _lines(fig.axes[1])["validation"][1] == pytest.approx(first["val_accuracy"])
    # the second fit continues the model's epochs (5 and 6) and had no validation data
    lines = _lines(second.plot().axes[0])
    assert list(lines) == ["training"] and lines["training"][0] == [5, 6]


def test_only_the_recorded_families_are_drawn():
    fig = plot_history({"loss": [3.0, 2.0], "iterations": [10, 10], "seconds": [0.1, 0.1]})
    assert [ax.get_title() for ax in fig.axes] == ["loss"]
    assert list(_lines(fig.axes[0])) == ["training"]
    fig = plot_history({"loss": [3.0, 2.0], "val_loss": [3.5, 2.5]})  # a regression run: no accuracy
    assert [ax.get_title() for ax in fig.axes] == ["loss"]


@pytest.mark.parametrize("metrics, titles", [(["loss"], ["loss"]), (["accuracy"], ["accuracy"]),
                                             ("accuracy", ["accuracy"]), (["accuracy", "loss"], ["accuracy", "loss"]),
                                             (["loss", "seconds"], ["loss", "seconds"])])
def test_metrics_choose_the_panels(metrics, titles):
    history = {"loss": [0.9, 0.5], "accuracy": [0.6, 0.8], "val_loss": [1.0, 0.7], "val_accuracy": [0.5, 0.7],
               "seconds": [1.5, 1.25]}
    fig = plot_history(history, metrics=metrics)
    assert [ax.get_title() for ax in fig.axes] == titles
    if "seconds" in titles:
        assert _lines(fig.axes[1]) == {"training": ([1, 2], [1.5, 1.25])}


@pytest.mark.parametrize("metrics, message", [
    (["los"], "metrics not recorded in this history: 'los'; it records loss, accuracy"),
    (["loss", "f1", "auc"], "metrics not recorded in this history: 'f1', 'auc'"),
    (["val_loss"], "ask for the name without 'val_'"),
    ([], "metrics is empty"),
])
def test_unknown_or_unrecorded_metrics_are_named(keras_dict, metrics, message):
    with pytest.raises(ValueError) as info:
        plot_history(keras_dict, metrics=metrics)
    assert message in str(info.value)


def test_accuracy_of_a_history_without_it_is_refused():
    with pytest.raises(ValueError, match="metrics not recorded in this history: 'accuracy'; it records loss$"):
        plot_history({"loss": [1.0, 0.5], "val_loss": [1.2, 0.7]}, metrics=["accuracy"])


@pytest.mark.parametrize("history", [fastnn.History(), {}, {"loss": [], "val_loss": []}], ids=["History", "dict",
                                                                                           "empty-lists"])
def test_an_empty_history_says_so(history):
    with pytest.raises(ValueError, match="the history is empty: no epochs were recorded"):
        plot_history(history)


def test_malformed_histories_are_refused():
    with pytest.raises(ValueError, match=r"different lengths \(loss: 3, val_loss: 2\)"):
        plot_history({"loss": [1.0, 0.8, 0.7], "val_loss": [1.0, 0.9]})
    with pytest.raises(TypeError, match="a fastnn History or a dict of per-epoch lists"):
        plot_history([0.9, 0.5])
    with pytest.raises(TypeError, match="a list of per-epoch values"):
        plot_history({"loss": 0.5})
    with pytest.raises(ValueError, match="records neither loss nor accuracy"):
        plot_history({"seconds": [1.0]})


@pytest.mark.parametrize("suffix, magic", [(".png", PNG_MAGIC), (".pdf", b"%PDF-"), (".svg", b"<?xml")])
def test_path_writes_the_figure_in_the_format_of_its_extension(keras_dict, tmp_path, suffix, magic):
    path = tmp_path / ("curves" + suffix)
    fig = plot_history(keras_dict, path=path)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    data = path.read_bytes()
    assert data.startswith(magic)
    if suffix == ".svg":
        assert b"<svg" in data


def test_png_is_a_whole_image(trained, tmp_path):
    path = tmp_path / "curves.png"
    trained[0].plot(str(path))
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and data.endswith(b"IEND\xaeB`\x82")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > height > 100


def test_a_bad_destination_is_refused_before_drawing(keras_dict, tmp_path):
    with pytest.raises(FileNotFoundError, match="folder .*missing does not exist"):
        plot_history(keras_dict, path=tmp_path / "missing" / "curves.png")
    with pytest.raises(ValueError, match="unknown figure format 'pnx'"):
        plot_history(keras_dict, path=tmp_path / "curves.pnx")
    with pytest.raises(IsADirectoryError):
        plot_history(keras_dict, path=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_matplotlib_names_the_package(monkeypatch, keras_dict, trained):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules: 'import' raises ImportError
    with pytest.raises(ImportError) as info:
        plot_history(keras_dict)
    assert str(info.value) == MISSING
    with pytest.raises(ImportError, match=r"pip install matplotlib$"):
        trained[0].plot()


def test_missing_matplotlib_through_import_hook(monkeypatch, keras_dict):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError) as info:
        plot_history(keras_dict)
    assert str(info.value) == MISSING


def test_fastnn_leaves_matplotlib_and_pyplot_alone(tmp_path):
    code = (
        "import sys, fastnn\n"
        "assert 'matplotlib' not in sys.modules, 'import fastnn imported matplotlib'\n"
        "fig = fastnn.plotting.plot_history({'loss': [1.0, 0.5]}, path=sys.argv[1])\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'plotting imported pyplot'\n"
        "print(type(fig.canvas).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c.png")], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "FigureCanvasAgg"


def test_figures_can_be_drawn_from_threads(keras_dict, tmp_path):
    errors = []

    def draw(i):
        try:
            plot_history(keras_dict, path=tmp_path / f"c{i}.png")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=draw, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all((tmp_path / f"c{i}.png").read_bytes().startswith(PNG_MAGIC) for i in range(4))


def test_docstring_examples():
    result = doctest.testmod(fastnn.plotting, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ---------------------------------------------------------------------------------------------------------------
# fastnn train --plot
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture
def blobs(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=4, size=(3, 5))
    y = rng.integers(0, 3, 200)
    path = tmp_path / "blobs.npz"
    np.savez(path, X=centers[y] + rng.normal(size=(200, 5)), y=y)
    return path


def _train(argv, capsys):
    from fastnn.cli import main

    out = io.StringIO()
    code = main(["train", "--hidden", "8", "--quiet", "--threads", "1"] + argv, out=out)
    return code, out.getvalue(), capsys.readouterr().err


def test_cli_plot_writes_the_learning_curves(blobs, tmp_path, capsys):
    plot = tmp_path / "curves.png"
    code, text, err = _train(["--data", str(blobs), "--epochs", "3", "--plot", str(plot)], capsys)
    assert code == 0, err
    assert text.rstrip().splitlines()[-2] == f"saved learning curves to {plot}"
    assert plot.read_bytes().startswith(PNG_MAGIC)


def test_cli_plot_of_a_regression_run_draws_the_loss(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    data = tmp_path / "reg.npz"
    np.savez(data, X=X, y=X @ [1.0, -2.0, 0.5])
    plot = tmp_path / "curves.svg"
    code, text, err = _train(["--data", str(data), "--task", "regression", "--epochs", "2", "--plot", str(plot)],
                             capsys)
    assert code == 0, err
    assert b"<svg" in plot.read_bytes()


@pytest.mark.parametrize("name, message", [
    ("missing/curves.png", "cannot save to {path}: folder {folder} does not exist"),
    ("curves.pnx", "cannot save to {path}: unknown figure format 'pnx'"),
])
def test_cli_plot_checks_the_destination_before_training(blobs, tmp_path, capsys, name, message):
    path = tmp_path / name
    code, text, err = _train(["--data", str(blobs), "--epochs", "3", "--plot", str(path)], capsys)
    assert code == 1
    assert text == ""  # nothing read, nothing trained
    assert err.count("\n") == 1 and err.startswith("fastnn: error: " + message.format(path=path,
                                                                                         folder=path.parent))


def test_cli_plot_without_matplotlib_is_a_one_line_error(blobs, tmp_path, capsys, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    code, text, err = _train(["--data", str(blobs), "--plot", str(tmp_path / "c.png")], capsys)
    assert (code, text, err) == (1, "", f"fastnn: error: {MISSING}\n")


def test_cli_plot_needs_an_epoch(blobs, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        _train(["--data", str(blobs), "--epochs", "0", "--plot", str(tmp_path / "c.png")], capsys)
    assert info.value.code == 2
    assert "argument --epochs: expected a positive integer, got 0" in capsys.readouterr().err
