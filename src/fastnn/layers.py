"""``fastnn.layers``: the layers, activations and initialisers. The code lives in :mod:`fastnn.nn`, one module per
layer family, over the layer interface in :mod:`fastnn.nn.base`."""
from .nn import AvgPool2D, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool2D, Linear, MaxPool2D, Reshape
from .nn.base import ACTIVATIONS, INITIALIZERS, ParamSpec

__all__ = ["Dense", "Linear", "Dropout", "Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "Flatten", "Reshape",
           "ACTIVATIONS", "ParamSpec", "INITIALIZERS"]
