"""Layers, one module per family: :mod:`~fastnn.nn.dense`, :mod:`~fastnn.nn.conv`, :mod:`~fastnn.nn.pooling`,
:mod:`~fastnn.nn.reshaping`, :mod:`~fastnn.nn.dropout`, :mod:`~fastnn.nn.recurrent` and :mod:`~fastnn.nn.embedding`,
over the layer interface of :mod:`fastnn.nn.base`."""
from .activation import Activation
from .base import BufferSpec, ParamSpec
from .conv import Conv2D
from .dense import Dense, Linear
from .dropout import Dropout
from .embedding import Embedding
from .normalization import BatchNorm, BatchNorm1d, BatchNorm2d, LayerNorm
from .pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .recurrent import GRU, LSTM, SimpleRNN
from .reshaping import Flatten, Reshape

__all__ = ["Dense", "Linear", "Dropout", "Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "Flatten", "Reshape",
           "SimpleRNN", "LSTM", "GRU", "Embedding", "BatchNorm", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Activation", "ParamSpec",
           "BufferSpec"]
