"""fastnn: fast multilayer perceptrons, convolutional and recurrent networks on multi-core CPUs.

The forward pass, backpropagation (through time, for recurrent layers) and the parameter update run in typed
Cython without the GIL; matrix products go through BLAS, and each step's work is split into tasks fixed by the
shapes that fastnn's own thread pool runs, so results are the same for any number of threads.

>>> import fastnn
>>> model = fastnn.Sequential([fastnn.Dense(784, 256, activation="relu"),
...                            fastnn.Dense(256, 10, activation="softmax")], seed=0)
>>> model.compile(loss="cross_entropy", optimizer=fastnn.SGD(lr=0.05, momentum=0.9),
...               regularizer=fastnn.L2(1e-4))  # returns the model
Sequential([Dense(784, 256, activation='relu'), Dense(256, 10, activation='softmax')], dtype='float32')
"""
from importlib import import_module as _import_module
from importlib.metadata import PackageNotFoundError, version as _version

from . import callbacks, datasets, losses, metrics, plotting, preprocessing, schedules
from ._core.estimator import NotFittedError
from .cluster import KMeans
from .data.preprocessing import LogScaler, MinMaxScaler, StandardScaler
from .losses import BinaryCrossEntropy, CrossEntropy, Huber, MeanAbsoluteError, MeanSquaredError
from .models import Autoencoder, Sequential
from .nn import (GRU, LSTM, Activation, AvgPool2D, BatchNorm, BatchNorm1d, BatchNorm2d, Conv2D, Dense, Dropout, Embedding, Flatten,
                 GlobalAvgPool2D, LayerNorm, Linear, MaxPool2D, Reshape, SimpleRNN)
from .optim import SGD, Adam, AdamW, RMSprop
from .regularizers import L1, L1L2, L2
from .saving.format import ModelFileError, load, save
from .training import History
from .training.lr_finder import lr_find

from ._core.blas_select import blas_in_use, select_gemm as _select_gemm
from ._core.threads import controller as _controller

# The modules of earlier releases whose code now lives in subpackages stay attributes of the package, as they were
# (``fastnn.layers.Dense`` after ``import fastnn``).
for _name in ("autoencoder", "io", "layers", "model"):
    _import_module(f"{__name__}.{_name}")
del _name

# Fix, once and before any computation, which loaded BLAS runs the products (see fastnn._core.blas_select).
_select_gemm(_controller())

try:
    __version__ = _version("fastnn")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "Sequential", "History", "Autoencoder", "KMeans", "Dense", "Dropout", "Linear", "Conv2D", "MaxPool2D", "AvgPool2D",
    "GlobalAvgPool2D", "Flatten", "Reshape", "SimpleRNN", "LSTM", "GRU", "Embedding", "BatchNorm", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Activation", "SGD", "Adam", "AdamW", "RMSprop", "L1", "L2", "L1L2",
    "CrossEntropy", "BinaryCrossEntropy", "MeanSquaredError", "Huber", "MeanAbsoluteError", "losses",
    "callbacks", "schedules", "StandardScaler", "MinMaxScaler", "LogScaler",
    "load", "save", "ModelFileError", "NotFittedError", "datasets", "metrics", "plotting", "preprocessing",
    "blas_in_use", "lr_find", "__version__",
]
