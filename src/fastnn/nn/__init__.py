"""Layers, one module per family: :mod:`~fastnn.nn.dense`, :mod:`~fastnn.nn.conv`, :mod:`~fastnn.nn.pooling`,
:mod:`~fastnn.nn.reshaping` and :mod:`~fastnn.nn.dropout`, over the layer interface of :mod:`fastnn.nn.base`."""
from .base import ParamSpec
from .conv import Conv2D
from .dense import Dense, Linear
from .dropout import Dropout
from .pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .reshaping import Flatten, Reshape

__all__ = ["Dense", "Linear", "Dropout", "Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "Flatten", "Reshape",
           "ParamSpec"]
