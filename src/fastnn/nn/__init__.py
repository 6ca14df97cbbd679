"""Layers and the layer interface."""
from .base import (AvgPool2D, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool2D, Linear, MaxPool2D, ParamSpec,
                   Reshape)

__all__ = ["Dense", "Linear", "Dropout", "Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "Flatten", "Reshape",
           "ParamSpec"]
