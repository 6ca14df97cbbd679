"""A model as a container of layers, with the habits Keras's and PyTorch's users bring: ``len(model)``,
``model[i]``, iteration, ``model(X)``, layer names and ``get_layer``, ``count_params``, ``get_config`` /
``from_config`` (the architecture) and ``state_dict`` / ``load_state_dict`` (the values, by PyTorch's names).

:class:`Container` is a base of :class:`~fastnn.Sequential`; it reads the model's layers and the views they hold
into its flat buffers, and never lays anything out itself.
"""
import re
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from .._core import registry
from .._core.validation import check_dtype
from ..nn.base import _Layer
from ..nn.normalization import LayerNorm, _BatchNorm
from ..nn.recurrent import _Recurrent
from ..training.data import tensor_to_array

__all__ = ["Container", "IncompatibleKeys", "assign_names", "check_names", "default_name"]


def default_name(layer):
    """The name Keras would give a layer of this class: its class name in snake case (``Dense``: ``"dense"``,
    ``MaxPool2D``: ``"max_pool2d"``, ``LSTM``: ``"lstm"``)."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", type(layer).__name__).lower()


def check_names(layers):
    """Refuse two layers of one model that were given the same name."""
    seen = set()
    for i, layer in enumerate(layers):
        if layer.name is not None:
            if layer.name in seen:
                raise ValueError(f"layers[{i}] is named {layer.name!r}, as an earlier layer: layer names are unique "
                                 "in a model")
            seen.add(layer.name)


def assign_names(layers):
    """Give each layer without a name Keras's default, unique among ``layers``: the class's name, then ``_1``,
    ``_2``, ... (``"dense"``, ``"dense_1"``)."""
    taken = {layer.name for layer in layers if layer.name is not None}
    for layer in layers:
        if layer.name is None:
            base, k = default_name(layer), 0
            name = base
            while name in taken:
                k += 1
                name = f"{base}_{k}"
            object.__setattr__(layer, "name", name)
            taken.add(name)


class IncompatibleKeys(NamedTuple):
    """What :meth:`Container.load_state_dict` returns (PyTorch's ``_IncompatibleKeys``): the model's keys that the
    state dict lacks and the state dict's keys that the model lacks."""

    missing_keys: list
    unexpected_keys: list


#: The tensors of the layer kinds whose parameters PyTorch names otherwise than fastnn stores them: PyTorch's name,
#: then the layer's attribute that views it (other kinds: their ``params()`` names, then their ``buffers()``).
_TORCH_NAMES = ((_Recurrent, (("weight_ih_l0", "weight_ih"), ("weight_hh_l0", "weight_hh"), ("bias_ih_l0", "bias_ih"),
                              ("bias_hh_l0", "bias_hh"))),
                (_BatchNorm, (("weight", "weight"), ("bias", "bias"))),
                (LayerNorm, (("weight", "weight"), ("bias", "bias"))))
#: Keys of PyTorch's state dicts that fastnn has no use for (BatchNorm's count of batches: fastnn's running
#: statistics always move by ``momentum``); ``load_state_dict`` skips them.
_IGNORED = ("num_batches_tracked",)


def _tensors(layer):
    """``(name, view)`` of a layer's parameters then its non-trained state, by PyTorch's names."""
    params = next((names for kind, names in _TORCH_NAMES if isinstance(layer, kind)), None)
    if params is None or not layer.params():  # (a LayerNorm without elementwise_affine has none)
        params = [(spec.name, spec.name) for spec in layer.params()]
    buffers = [(spec.name, spec.name) for spec in layer.buffers()]
    return [(key, getattr(layer, attribute)) for key, attribute in (*params, *buffers)]


class Container:
    """The layer habits of a model (see the module documentation); :class:`~fastnn.Sequential` derives from it."""

    def __len__(self):
        """The number of layers (``len(model.layers)``)."""
        return len(self.layers)

    def __iter__(self):
        """The layers, in order."""
        return iter(list(self.layers))

    def __getitem__(self, index):
        """``model[i]`` is ``model.layers[i]``; a slice gives a list of layers (they stay this model's).

        Examples
        --------
        >>> import fastnn
        >>> model = fastnn.Sequential(fastnn.Dense(4, 8, "relu"), fastnn.Dropout(0.1), fastnn.Dense(8, 2))
        >>> model[0].weight.shape, model[-1].name, len(model[1:])
        ((8, 4), 'dense_1', 2)
        """
        if isinstance(index, slice):
            return self.layers[index]
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"model[index]: index must be an int or a slice, got {type(index).__name__} (find a "
                            "layer by its name with model.get_layer(name))")
        if not -len(self.layers) <= index < len(self.layers):
            raise IndexError(f"model[{index}]: the model has {len(self.layers)} layers")
        return self.layers[index]

    def __call__(self, X, training=False):
        """``model(X)`` is ``model.predict(X)`` (Keras's and PyTorch's call); ``training=True`` is refused:
        dropout and batch statistics are used only by ``fit`` and ``train_on_batch``.

        Examples
        --------
        >>> import numpy as np, fastnn
        >>> model = fastnn.Sequential([fastnn.Dense(4, 2, activation="softmax")], seed=0)
        >>> model(np.ones((3, 4))).shape
        (3, 2)
        """
        if training is not False:
            raise ValueError("model(X, training=True) is not supported: fastnn trains in fit and train_on_batch; "
                             "model(X) gives the outputs at inference (as predict)")
        return self.predict(X)

    def get_layer(self, name=None, index=None):
        """The layer named ``name`` or at position ``index`` (Keras's ``get_layer``).

        Parameters
        ----------
        name : str, optional
        index : int, optional
            Give one of the two.

        Examples
        --------
        >>> import fastnn
        >>> model = fastnn.Sequential([fastnn.Dense(4, 8, "relu", name="hidden"), fastnn.Dense(8, 2)])
        >>> model.get_layer("hidden") is model.layers[0], model.get_layer(index=1).name
        (True, 'dense')
        """
        if (name is None) == (index is None):
            raise ValueError("give a layer's name or its index (not both)")
        if index is not None:
            return self[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; the layers are {[layer.name for layer in self.layers]}")

    def count_params(self):
        """The number of parameters, trainable or frozen (Keras's ``count_params``); a tied matrix counts once,
        and non-trained state (BatchNorm's running statistics) is not counted.

        Examples
        --------
        >>> import fastnn
        >>> fastnn.Sequential([fastnn.Dense(4, 8), fastnn.BatchNorm1d(8), fastnn.Dense(8, 2)]).count_params()
        74
        """
        trainable, frozen = self._count_params()
        return trainable + frozen

    # -- architecture -------------------------------------------------------------------------------------------

    def get_config(self):
        """The architecture as plain values (Keras's ``get_config``): each layer's class and constructor
        arguments (with its ``name`` and ``trainable``), the input shape, dtype and seed. Weights are not part of
        it: :meth:`from_config` builds a new model of the same architecture with new weights.

        Examples
        --------
        >>> import fastnn
        >>> model = fastnn.Sequential([fastnn.Dense(4, 8, "relu"), fastnn.Dense(8, 2, "softmax")], seed=0)
        >>> config = model.get_config()
        >>> [layer["class_name"] for layer in config["layers"]]
        ['Dense', 'Dense']
        >>> fastnn.Sequential.from_config(config).get_config() == config
        True
        """
        layers = [{"class_name": type(layer).__name__,
                   "config": {**layer.get_config(), "name": layer.name, "trainable": layer.trainable}}
                  for layer in self.layers]
        free = not self._built or self._steps_free
        return {"name": "sequential", "layers": layers, "dtype": self.dtype.name, "seed": self.seed,
                "input_shape": None if free and self._declared_shape is None else
                list(self._declared_shape if free else self.input_shape)}

    @classmethod
    def from_config(cls, config):
        """A new model of the architecture :meth:`get_config` describes, with new weights (drawn from the
        config's seed).

        Parameters
        ----------
        config : dict
            As :meth:`get_config` returns it (a JSON round trip keeps it).
        """
        if not isinstance(config, Mapping) or not isinstance(config.get("layers"), list):
            raise TypeError("config must be a dict with a list of 'layers', as model.get_config() returns")
        layers = []
        for i, spec in enumerate(config["layers"]):
            if not isinstance(spec, Mapping) or not isinstance(spec.get("config"), Mapping):
                raise TypeError(f"config['layers'][{i}] must be a dict with 'class_name' and 'config'")
            name = spec.get("class_name")
            try:
                layer_class = registry.get(name)
            except (KeyError, TypeError):
                layer_class = None
            if not (isinstance(layer_class, type) and issubclass(layer_class, _Layer)):
                raise ValueError(f"config['layers'][{i}] names an unknown layer class {name!r}")
            args = dict(spec["config"])
            layer_name, trainable = args.pop("name", None), args.pop("trainable", True)
            layer = layer_class.from_config(args)
            if layer_name is not None:
                layer.name = layer_name
            layer.trainable = trainable
            layers.append(layer)
        shape = config.get("input_shape")
        return cls(layers, seed=config.get("seed"), dtype=check_dtype(config.get("dtype", "float32")),
                   input_shape=None if shape is None else tuple(shape))

    # -- values by name -----------------------------------------------------------------------------------------

    def state_dict(self):
        """Every parameter and non-trained state tensor by PyTorch's name, ``"<layer index>.<tensor>"``:
        ``"0.weight"``, ``"0.bias"``, ``"2.running_mean"``, ``"3.weight_ih"`` ... (as ``torch.nn.Sequential``'s
        ``state_dict``, the index counting every layer). The arrays are copies (PyTorch's share the model's
        memory), so a state dict is a snapshot.

        Examples
        --------
        >>> import fastnn
        >>> model = fastnn.Sequential(fastnn.Dense(4, 8, "relu"), fastnn.Dropout(0.1), fastnn.Dense(8, 2), seed=0)
        >>> {key: value.shape for key, value in model.state_dict().items()}
        {'0.weight': (8, 4), '0.bias': (8,), '2.weight': (2, 8), '2.bias': (2,)}
        >>> other = fastnn.Sequential(fastnn.Dense(4, 8, "relu"), fastnn.Dropout(0.1), fastnn.Dense(8, 2), seed=1)
        >>> other.load_state_dict(model.state_dict())
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        """
        return {f"{i}.{name}": view.copy() for i, layer in enumerate(self.layers) for name, view in _tensors(layer)}

    def load_state_dict(self, state_dict, strict=True):
        """Copy the arrays of ``state_dict`` (names as :meth:`state_dict` gives them; NumPy arrays, lists or
        PyTorch tensors) into the model's weights, biases and running statistics (PyTorch's ``load_state_dict``).

        Every value is checked first - real numbers of the tensor's shape, finite - and nothing changes unless all
        pass.

        Parameters
        ----------
        state_dict : mapping of str to array-like
        strict : bool, default=True
            Whether the keys must be exactly the model's: with True, missing or unexpected keys are refused
            (``ValueError``; PyTorch raises ``RuntimeError``); with False they are reported and the rest loaded.

        Returns
        -------
        IncompatibleKeys
            ``(missing_keys, unexpected_keys)``, as PyTorch's.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}")
        if not isinstance(strict, (bool, np.bool_)):
            raise TypeError(f"strict must be a bool, got {type(strict).__name__}")
        views = {f"{i}.{name}": view for i, layer in enumerate(self.layers) for name, view in _tensors(layer)}
        missing = [key for key in views if key not in state_dict]
        unexpected = [key for key in state_dict if key not in views
                      and not (isinstance(key, str) and key.rpartition(".")[2] in _IGNORED)]
        if strict and (missing or unexpected):
            raise ValueError("state_dict does not match the model: "
                             + "; ".join(f"{what} key(s) {keys}" for what, keys in
                                         (("missing", missing), ("unexpected", unexpected)) if keys)
                             + f" (the model's keys: {list(views)})")
        staged = []
        for key, view in views.items():
            if key not in state_dict:
                continue
            arr = np.asarray(tensor_to_array(state_dict[key]))
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"state_dict[{key!r}] must hold real numbers, got dtype {arr.dtype}")
            if arr.shape != view.shape:
                raise ValueError(f"state_dict[{key!r}] has shape {arr.shape}, the model's {key} has shape "
                                 f"{view.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"state_dict[{key!r}] contains NaN or infinity")
            staged.append((view, arr))
        for view, arr in staged:
            view[...] = arr
        return IncompatibleKeys(missing, unexpected)
