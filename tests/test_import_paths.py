"""The module paths users import keep working now that the code lives in subpackages: ``import fastnn.X`` and
``from fastnn.X import Y`` give the objects of their new homes, ``import fastnn`` alone still makes the modules of
earlier releases attributes of the package, and pickles that name the classes by their earlier paths still load."""
import importlib
import pickle
import subprocess
import sys

import numpy as np
import pytest

import fastnn

# Module paths of earlier releases and names imported from them.
PATHS = {
    "fastnn.model": ["Sequential", "History"],
    "fastnn.io": ["save", "load", "load_model", "ModelFileError", "FORMAT_VERSION"],
    "fastnn.training": ["resolve_n_threads", "History", "fit"],
    "fastnn.autoencoder": ["Autoencoder"],
    "fastnn.layers": ["Dense", "Linear", "Dropout", "Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "Flatten",
                      "Reshape", "ACTIVATIONS", "ParamSpec", "INITIALIZERS"],
    "fastnn.optim": ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "get_optimizer", "optimizer_from_config",
                     "OPTIMIZERS"],
    "fastnn.schedules": ["Schedule", "CosineDecay", "ExponentialDecay", "OneCycle", "get_schedule"],
    "fastnn.datasets": ["read_idx", "load_mnist", "load_fashion_mnist", "load_file", "data_home", "DatasetError",
                        "DATASETS", "FASHION_MNIST_CLASSES"],
    "fastnn.preprocessing": ["StandardScaler", "MinMaxScaler", "LogScaler", "scaler_from_state", "get_scaler"],
    "fastnn.cluster": ["KMeans", "spectral_embedding"],
    "fastnn.onnx": ["to_onnx", "save"],
    "fastnn.cli": ["main", "build_parser", "format_confusion_matrix", "regression_scores"],
    "fastnn.callbacks": ["Callback", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau"],
    "fastnn.losses": ["CrossEntropy", "get_loss"],
    "fastnn.regularizers": ["L1", "L2", "L1L2"],
    "fastnn.metrics": ["confusion_matrix", "clustering_accuracy"],
    "fastnn.plotting": ["plot_history"],
}
# Where the code of the modules above lives now.
HOMES = {
    ("fastnn.model", "Sequential"): "fastnn.models.sequential",
    ("fastnn.model", "History"): "fastnn.training.history",
    ("fastnn.io", "load"): "fastnn.saving.format",
    ("fastnn.autoencoder", "Autoencoder"): "fastnn.models.autoencoder",
    ("fastnn.layers", "Dense"): "fastnn.nn.dense",
    ("fastnn.layers", "Conv2D"): "fastnn.nn.conv",
    ("fastnn.layers", "ParamSpec"): "fastnn.nn.base",
    ("fastnn.optim", "Adam"): "fastnn.optim.adam",
    ("fastnn.schedules", "OneCycle"): "fastnn.optim.schedules",
    ("fastnn.datasets", "load_file"): "fastnn.data.datasets",
    ("fastnn.preprocessing", "StandardScaler"): "fastnn.data.preprocessing",
    ("fastnn.cluster", "KMeans"): "fastnn.cluster.kmeans",
    ("fastnn.onnx", "to_onnx"): "fastnn.saving.onnx",
    ("fastnn.cli", "main"): "fastnn.cli.main",
}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_public_module_paths_import(path):
    module = importlib.import_module(path)
    for name in PATHS[path] + list(getattr(module, "__all__", [])):
        assert hasattr(module, name), f"{path}.{name}"
    exec(f"from {path} import {', '.join(PATHS[path])}", {})


@pytest.mark.parametrize("path, name", sorted(HOMES))
def test_old_paths_give_the_objects_of_the_new_homes(path, name):
    assert getattr(importlib.import_module(path), name) is getattr(importlib.import_module(HOMES[path, name]), name)


def test_everything_in_all_is_there():
    for name in fastnn.__all__:
        assert getattr(fastnn, name) is not None, name


def test_import_fastnn_alone_makes_the_earlier_modules_attributes():
    names = ["autoencoder", "callbacks", "cluster", "datasets", "io", "layers", "losses", "metrics", "model", "optim",
             "plotting", "preprocessing", "regularizers", "schedules", "training"]
    code = (f"import fastnn\nfor name in {names!r}:\n    assert hasattr(fastnn, name), name\n"
            "assert fastnn.io.load_model and fastnn.model.Sequential and fastnn.layers.Dense\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pickles_naming_the_earlier_module_paths_load():
    """A model pickled (protocol 0: module paths as text) by an earlier release, its classes named by the modules
    they lived in then, unpickles to the same model."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = fastnn.Sequential([fastnn.Dense(4, 8, "relu"), fastnn.Dropout(0.1), fastnn.Dense(8, 2, "softmax")],
                              seed=0)
    model.compile(optimizer=fastnn.SGD(lr=fastnn.schedules.CosineDecay(0.05, decay_steps=100), momentum=0.9))
    model.scaler = fastnn.StandardScaler().fit(X)
    model.fit(X, y, epochs=2, batch_size=16, verbose=0)
    data = pickle.dumps(model, protocol=0)
    earlier = {b"fastnn.models.sequential": b"fastnn.model", b"fastnn.nn.dense": b"fastnn.layers",
               b"fastnn.nn.dropout": b"fastnn.layers", b"fastnn.optim.sgd": b"fastnn.optim",
               b"fastnn.optim.schedules": b"fastnn.schedules", b"fastnn.training.history": b"fastnn.training",
               b"fastnn.data.preprocessing": b"fastnn.preprocessing"}
    for new, old in earlier.items():
        assert b"c" + new + b"\n" in data, new
        data = data.replace(b"c" + new + b"\n", b"c" + old + b"\n")
    loaded = pickle.loads(data)
    assert type(loaded) is fastnn.Sequential and type(loaded.history) is fastnn.History
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
