"""A model's layers checked against each other and laid out for the engine: :class:`Stack` computes every layer's
shapes from the model's input shape, refuses layers that do not fit together (naming both) and gives the engine's
layer table, the layers with parameters in buffer order and the dropout rate on each engine layer's input."""
import math

import numpy as np

from .._core.validation import check_int
from ..nn import Activation, BatchNorm, BatchNorm1d, Dense, Dropout, Embedding, LayerNorm, Reshape
from ..nn.base import _Layer, _Weighted
from ..nn.reshaping import _Permute
from ..nn.recurrent import _Recurrent

__all__ = ["Stack", "check_input_shape", "dropout_rates", "LAYER_NAMES"]

LAYER_NAMES = ("a fastnn layer (Dense, Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D, Flatten, Reshape, Dropout, "
               "SimpleRNN, LSTM, GRU, Embedding, BatchNorm, BatchNorm1d, BatchNorm2d, LayerNorm, Activation)")


def _channels_last_hint(layer, shape):
    """What to add to a first image layer's error when its inputs look like Keras's channels-last images."""
    channels = getattr(layer, "in_channels", getattr(layer, "num_features", None))
    if (getattr(layer, "data_format", None) == "channels_first" and len(shape) == 3 and shape[-1] == channels
            and shape[0] != channels):
        return (f". Images of shape {tuple(shape)} look channels-last (height, width, channels): build the "
                "model's image layers with data_format='channels_last'")
    return ""


class Stack:
    """A checked stack of layers, laid out for the engine.

    ``weighted``: the layers with parameters, in order (their parameters lie in this order in the flat buffer);
    ``engine``: the engine's layers (Dense, Conv2D, pooling) and ``layout`` their rows of the layer table;
    ``rates``: the dropout rate on each engine layer's input; ``input_shape``: one input sample's shape;
    ``shapes``: each layer's output shape (of one sample); ``ends``: how many engine layers lie at or before
    each layer. ``open_end``: a last Dropout is allowed (a model being built by ``add``, refused by ``compile``).
    """

    def __init__(self, layers, input_shape=None, owned=False, open_end=False):
        if not layers:
            raise ValueError("layers is empty: a model needs at least one Dense layer")
        self.weighted, self.engine, self.layout, self.rates, self.shapes, self.ends = [], [], [], [], [], []
        self.engine_shapes = []
        #: The model starts with a recurrent layer or an Embedding and was not told its steps: the first sequences
        #: it is given fix them (``Sequential._fix_steps``).
        self.steps_free = False
        self.input_shape = shape = prev = pending = None
        #: Per layer: its output is channels-last images, which the engine holds channels first (``predict(X,
        #: layer=k)`` transposes them back).
        self.transposed = []
        #: Where the engine's rows permute channels-last images: ``{layer index: "in" or "out"}``, the
        #: permutation before that layer (``len(layers)``: after the last).
        self.permutes = {}
        #: The index of the layer whose place each engine row takes (a permutation: the layer after it).
        self.owners = []
        #: The model's input is channels-last images (its first image layer says so).
        self.channels_last_input = False
        cl = False       # the activations are channels-last images, held (C, H, W) by the engine
        fmt_out = None   # the data_format of the image layer that gave them (through Activation layers)
        if input_shape is not None:  # declared: the first layer must take it
            self.input_shape = shape = input_shape
        user = shape     # their shape as the user sees it: (H, W, C) for channels-last images
        for i, layer in enumerate(layers):
            if not isinstance(layer, _Layer):
                raise TypeError(f"layers[{i}] must be {LAYER_NAMES}, got {type(layer).__name__}")
            if isinstance(layer, Dropout):
                if pending is not None:
                    raise ValueError(f"layers[{i}] is a Dropout right after another: use one Dropout with the rate "
                                     "you want")
                pending = layer.p
                self.shapes.append(user)
                self.transposed.append(cl)
                self.ends.append(len(self.engine))
                continue
            if isinstance(layer, _Weighted) and layer.weight is not None and not owned:
                raise ValueError(f"layers[{i}] already belongs to a model; create a new {type(layer).__name__} "
                                 "layer")
            if shape is None:
                if isinstance(layer, Dense):
                    shape = self.input_shape = (layer.in_features,)
                elif isinstance(layer, Reshape):
                    self.input_shape, shape = layer.shape, (math.prod(layer.shape),)
                elif isinstance(layer, (_Recurrent, Embedding)):  # steps taken from the first sequences given
                    self.steps_free = True
                    self.input_shape = shape = (1,) if isinstance(layer, Embedding) else (1, layer.input_size)
                else:
                    raise ValueError(f"layers[{i}] ({layer!r}) cannot come first: the model's input shape is not "
                                     "known; declare it, Sequential(layers, input_shape=(channels, height, width)), "
                                     "or start the model with Reshape((channels, height, width))")
                user = shape
            elif prev is None:
                shape = user = _first_input(i, layer, shape)
            fmt = getattr(layer, "data_format", None)
            if fmt is not None and fmt_out is not None and fmt != fmt_out:
                raise ValueError(f"layers[{i}] ({layer!r}) takes data_format={fmt!r} images, but layers[{prev}] "
                                 f"({layers[prev]!r}) gives {fmt_out!r} ones: use one data_format for the image "
                                 "layers of a model")
            if fmt == "channels_last" and not cl and len(shape) == 3:  # images (H, W, C) enter: to (C, H, W)
                h, w, c = shape
                self.channels_last_input = self.channels_last_input or not self.engine
                self._permute(i, "in", h * w, c, (c, h, w))
                shape, cl = (c, h, w), True
            elif cl and fmt is None and not isinstance(layer, Activation):  # they leave: back to (H, W, C)
                self._permute(i, "out", shape[0], shape[1] * shape[2], user)
                shape, cl = user, False
            try:
                if fmt == "channels_last" and not cl and len(shape) != 3:
                    raise ValueError("it takes images (n_samples, height, width, channels): declare "
                                     "input_shape=(height, width, channels), or reshape samples with "
                                     "Reshape((height, width, channels))")
                out = layer._output_shape(shape)
            except ValueError as exc:
                source = (f"the output of layers[{prev}] ({layers[prev]!r}), of shape {user}" if prev is not None
                          else f"input_shape={user}" if input_shape is not None else f"inputs of shape {user}")
                hint = _channels_last_hint(layer, shape) if prev is None else ""
                raise ValueError(f"layers[{i}] ({layer!r}) cannot take {source}: {exc}{hint}") from None
            if isinstance(layer, Embedding) and prev is not None:
                raise ValueError(f"layers[{i}] ({layer!r}) must be the model's first layer: it takes integer "
                                 "indices")
            if layer._engine_row:
                self._row(i, layer, layer._layout(shape), out)
                pending = None
                if isinstance(layer, _Weighted):
                    self.weighted.append(layer)
            cl = cl and len(out) == 3  # a global pooling's (C,) leaves the images
            fmt_out = fmt if fmt is not None and len(out) == 3 else fmt_out if isinstance(layer, Activation) else None
            user = (out[1], out[2], out[0]) if cl else out
            shape, prev = out, i
            self.shapes.append(user)
            self.transposed.append(cl)
            self.ends.append(len(self.engine))
        if cl:  # channels-last images at the output: in Keras's layout, with the last layer's activation
            self._permute(len(layers), "out", shape[0], shape[1] * shape[2], user, carries=True)
            self.ends[-1], self.transposed[-1] = len(self.engine), False
        if pending is not None and not open_end:
            raise ValueError("the last layer is a Dropout: dropout belongs between layers (or on the inputs), not "
                             "on the model's output")
        if not self.engine:
            raise ValueError("layers holds no Dense, Conv2D or pooling layer")
        # a Dropout first (on the inputs) passes on the input samples, of the shape the next layers fixed
        self.shapes = [self.input_shape if s is None else s for s in self.shapes]
        self.rates = dropout_rates(layers, self.owners)
        if len(set(map(id, layers))) != len(layers):
            raise ValueError("the same layer object appears twice in layers")
        self.widths = [math.prod(self.input_shape)] + [math.prod(shape) for shape in self.engine_shapes]

    def _row(self, i, layer, row, out):
        """Add ``layer``'s row ``row`` (output shape ``out``) to the engine's table, in the place of layer ``i``."""
        self.engine.append(layer)
        self.layout.append(row)
        self.engine_shapes.append(out)
        self.owners.append(i)

    def _permute(self, i, way, rows, cols, out, carries=False):
        """Permute channels-last images before layer ``i`` (``way``: ``"in"`` to the engine's (C, H, W), ``"out"``
        back to (H, W, C)): each sample as a ``rows x cols`` matrix, transposed (no engine row when that changes
        nothing: one channel, or one pixel)."""
        self.permutes[i] = way
        if rows > 1 and cols > 1:
            permute = _Permute(rows, cols, carries)
            self._row(i, permute, permute._layout(out), out)


def check_input_shape(input_shape):
    """``input_shape`` as a tuple of 1 to 4 positive ints (an int is one size)."""
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, (bool, np.bool_)):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"input_shape must be a tuple of ints such as (1, 28, 28), got {type(input_shape).__name__}")
    if not 1 <= len(input_shape) <= 4:
        raise ValueError(f"input_shape must hold 1 to 4 sizes, got {tuple(input_shape)}")
    return tuple(check_int(v, "input_shape", minimum=1) for v in input_shape)


def _first_input(i, layer, shape):
    """The declared input shape as the first layer ``layers[i]`` takes it: flat for a Dense layer, whose
    ``in_features`` must be its size; images ``(C, H, W)`` for Conv2D and pooling."""
    if isinstance(layer, Dense):
        if layer.in_features != math.prod(shape):
            raise ValueError(f"layers[{i}] ({layer!r}) takes {layer.in_features} features, but input_shape={shape} "
                             f"gives {math.prod(shape)} values a sample")
        return (math.prod(shape),)
    if isinstance(layer, (_Recurrent, Embedding, LayerNorm, BatchNorm1d, BatchNorm)):
        return shape  # each checks the shape it takes
    if layer._engine_row and len(shape) != 3:
        last = getattr(layer, "data_format", None) == "channels_last"
        hint = f" (one channel: input_shape={shape + (1,) if last else (1,) + shape})" if len(shape) == 2 else ""
        takes = "(height, width, channels)" if last else "(channels, height, width)"
        raise ValueError(f"layers[{i}] ({layer!r}) takes images {takes}, but input_shape={shape} is not such a "
                         f"shape{hint}")
    return shape


def dropout_rates(layers, owners):
    """The dropout rate on each engine row's input (0 where no Dropout comes before it); ``owners``: the index of
    the layer whose place each row takes (:attr:`Stack.owners`)."""
    rates, pending, r = [], 0.0, 0
    for i in range(len(layers) + 1):
        if i < len(layers) and isinstance(layers[i], Dropout):
            pending = layers[i].p
        while r < len(owners) and owners[r] == i:
            rates.append(pending)
            pending, r = 0.0, r + 1
    return rates
