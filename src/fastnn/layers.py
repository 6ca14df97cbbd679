"""``fastnn.layers``: the layers, activations and initialisers. The code lives in :mod:`fastnn.nn`, one module per
layer family, over the layer interface in :mod:`fastnn.nn.base`."""
from .nn import (GRU, LSTM, Activation, AvgPool2D, BatchNorm, BatchNorm1d, BatchNorm2d, Conv2D, Dense, Dropout, Embedding, Flatten,
                 GlobalAvgPool2D, LayerNorm, Linear, MaxPool2D, Reshape, SimpleRNN)
from .nn.base import ACTIVATIONS, INITIALIZERS, KERNEL_INITIALIZERS, BufferSpec, ParamSpec

__all__ = ["Dense", "Linear", "Dropout", "Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "Flatten", "Reshape",
           "SimpleRNN", "LSTM", "GRU", "Embedding", "BatchNorm", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Activation", "BufferSpec", "ACTIVATIONS", "ParamSpec", "INITIALIZERS",
           "KERNEL_INITIALIZERS"]
