"""Export to ONNX, for serving a trained model with ONNX Runtime or any other ONNX engine.

>>> import fastnn, fastnn.onnx
>>> model = fastnn.Sequential([fastnn.Dense(4, 8, "relu"), fastnn.Dense(8, 3, "softmax")], seed=0)
>>> fastnn.onnx.save(model, "model.onnx")  # doctest: +SKIP

The graph has one input, ``"input"`` of shape ``(N, n_features)`` (flat samples) and the model's dtype (float32
or float64; int64 token ids for a model that starts with an ``Embedding``), and the output ``"output"`` of shape
``(N, *model.output_shape)``: what :meth:`Sequential.predict` returns (class probabilities for a softmax or
sigmoid output layer). An attached scaler (``model.scaler``) comes first, computed in float64 and then rounded to
the model's dtype, as fastnn computes it. Each layer kind has its exporter (see :func:`to_onnx`); ``Dropout`` is
the identity at inference and leaves no node. When the model has
``classes`` (or a scikit-learn-style estimator wrapping it has ``classes_``) a second output ``"label"`` of shape
``(N,)`` holds the predicted class: ``classes[argmax(output)]``, or ``classes[output > 0.5]`` for a single sigmoid
unit, as :meth:`Sequential.predict_classes` decides.

A binary classifier estimator (``fastnn.sklearn.MLPClassifier`` with two classes, one sigmoid unit) exports what
its ``predict_proba`` returns, as skl2onnx's converters do: ``"output"`` holds the ``(N, 2)`` probabilities
``[1 - p, p]`` and ``"label"`` the predicted labels. A scikit-learn ``Pipeline`` of fastnn's scalers
(``StandardScaler``, ``MinMaxScaler``, ``LogScaler``; ``'passthrough'`` steps allowed) ending in such an
estimator exports as one graph: each scaler's nodes (computed in float64 and rounded to the model's dtype, as
its ``transform`` rounds a float32 input) and then the estimator's.

onnx is an optional extra (``pip install onnx onnxruntime``: onnxruntime runs the exported models), imported only
when a model is exported.
"""
import math
import numbers

import numpy as np

from .._core import registry

__all__ = ["to_onnx", "save"]

#: Lowest opset written: Softmax works along one axis (not on a flattened 2-D view) from opset 13 on.
MIN_OPSET = 13
#: First opset with a ``Gelu`` operator; below it GELU is written with ``Erf``.
GELU_OPSET = 20


def _onnx():
    """The ``onnx`` module, or an ImportError that says how to install it."""
    try:
        import onnx
        import onnx.checker  # noqa: F401
        import onnx.defs  # noqa: F401
        import onnx.helper  # noqa: F401
        import onnx.numpy_helper  # noqa: F401
    except ImportError as exc:
        raise ImportError("ONNX export needs onnx: pip install onnx onnxruntime") from exc
    return onnx


def _unwrap(model):
    """``(sequential, classes or None)`` for a fastnn Sequential or an estimator whose ``model_`` is one."""
    Sequential = registry.get("Sequential")
    if isinstance(model, Sequential):
        return model, model.classes
    inner = getattr(model, "model_", None)
    if isinstance(inner, Sequential):
        classes = getattr(model, "classes_", None)
        return inner, inner.classes if classes is None else classes
    raise TypeError("to_onnx needs a fastnn.Sequential or a fitted estimator whose model_ is one, got "
                    f"{type(model).__module__}.{type(model).__name__}")


def _pipeline(model):
    """``(scalers, final step)`` of a scikit-learn ``Pipeline``; ``([], model)`` for anything else."""
    if not (type(model).__module__.startswith("sklearn.") and type(model).__name__ == "Pipeline"):
        return [], model
    from ..data.preprocessing import LogScaler, MinMaxScaler, StandardScaler

    scalers = []
    for name, step in model.steps[:-1]:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if not isinstance(step, (StandardScaler, MinMaxScaler, LogScaler)):
            raise TypeError(f"to_onnx exports a Pipeline of fastnn's scalers (StandardScaler, MinMaxScaler, "
                            f"LogScaler) and a fastnn estimator; step {name!r} is a {type(step).__name__}")
        step._check_fitted()
        scalers.append(step)
    return scalers, model.steps[-1][1]


def _class_table(classes, n_outputs):
    """``classes`` as a NumPy array for the label initializer (int64, float64, bool or str), checked."""
    if isinstance(classes, (str, bytes, dict)) or not hasattr(classes, "__iter__"):
        raise ValueError(f"classes must be a list of class labels, got {type(classes).__name__}")
    values = [c.item() if isinstance(c, np.generic) else c for c in classes]
    expected = 2 if n_outputs == 1 else n_outputs
    if len(values) != expected:
        unit = "a single output unit (a binary classifier)" if n_outputs == 1 else f"{n_outputs} output units"
        raise ValueError(f"classes holds {len(values)} labels, but a model with {unit} needs {expected}")
    if len(set(values)) != len(values):
        raise ValueError("classes holds a label twice")
    if all(isinstance(c, str) for c in values):
        return np.array(values, dtype=object)
    if all(isinstance(c, bool) for c in values):
        return np.array(values, dtype=bool)
    if all(isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in values):
        return np.array(values, dtype=np.int64)
    if all(isinstance(c, numbers.Real) and not isinstance(c, bool) for c in values):
        arr = np.array(values, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError("classes must hold finite numbers")
        return arr
    raise ValueError("classes must be all strings, all integers or all numbers, got "
                     f"{sorted({type(c).__name__ for c in values})}")


class _Graph:
    """Nodes and initializers collected while the graph is written, with unique names."""

    def __init__(self, onnx):
        self.onnx = onnx
        self.nodes = []
        self.initializers = []
        self._count = 0

    def name(self, stem):
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, stem, value, dtype=None):
        arr = np.asarray(value, dtype=dtype)
        name = self.name(stem)
        if arr.dtype == object:  # strings
            tensor = self.onnx.helper.make_tensor(name, self.onnx.TensorProto.STRING, arr.shape,
                                                  [s.encode("utf-8") for s in arr.ravel()])
        else:
            tensor = self.onnx.numpy_helper.from_array(np.ascontiguousarray(arr), name)
        self.initializers.append(tensor)
        return name

    def op(self, op_type, inputs, stem=None, output=None, **attrs):
        output = output or self.name(stem or op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [output], name=self.name(op_type),
                                                     **attrs))
        return output


def _log1p(g, x, dtype):
    """log1p(x) to a few ulps without a Log1p operator: with u = 1 + x (rounded) and d = u - 1, log(u) * x / d,
    or x itself where u rounds to 1 (Goldberg, "What every computer scientist should know about floating-point
    arithmetic", theorem 4)."""
    one = g.const("one", 1.0, dtype)
    u = g.op("Add", [x, one], "one_plus_x")
    d = g.op("Sub", [u, one], "u_minus_one")
    ratio = g.op("Div", [g.op("Mul", [g.op("Log", [u], "log_u"), x], "log_u_x"), d], "log1p_ratio")
    tiny = g.op("Equal", [d, g.const("zero", 0.0, dtype)], "u_is_one")
    return g.op("Where", [tiny, x, ratio], "log1p")


def _scaler_nodes(g, scaler, x, dtype):
    """Nodes applying ``scaler`` to ``x`` (of ``dtype``): computed in float64 and rounded to ``dtype``, exactly
    as ``scaler.transform(X, dtype=dtype)`` does."""
    from ..data.preprocessing import LogScaler, MinMaxScaler, StandardScaler

    tp = g.onnx.TensorProto
    if dtype != np.float64:
        x = g.op("Cast", [x], "input_float64", to=tp.DOUBLE)
    if isinstance(scaler, StandardScaler):
        x = g.op("Sub", [x, g.const("scaler_mean", scaler.mean_, np.float64)], "centred")
        x = g.op("Div", [x, g.const("scaler_scale", scaler.scale_, np.float64)], "scaled")
    elif isinstance(scaler, MinMaxScaler):
        x = g.op("Mul", [x, g.const("scaler_scale", scaler.scale_, np.float64)], "scaled")
        x = g.op("Add", [x, g.const("scaler_min", scaler.min_, np.float64)], "shifted")
    elif isinstance(scaler, LogScaler):
        x = _log1p(g, x, np.float64)
    else:  # pragma: no cover - Sequential.scaler admits these three only
        raise TypeError(f"cannot export a {type(scaler).__name__}")
    if dtype != np.float64:
        x = g.op("Cast", [x], "scaled_input", to=tp.FLOAT)
    return x


def _activation_nodes(g, activation, x, dtype, opset):
    """Nodes applying ``activation`` (a Dense layer's name for it) to ``x``."""
    if activation == "identity":
        return x
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
    if activation in simple:
        return g.op(simple[activation], [x])
    # ONNX Runtime runs Elu, Softplus and Erf on float32 only: float64 models get them written out
    wide = dtype == np.float64
    if activation == "softplus":
        if not wide:
            return g.op("Softplus", [x])
        # max(x, 0) + log1p(exp(-|x|)), as fastnn's kernel computes it
        e = g.op("Exp", [g.op("Neg", [g.op("Abs", [x], "abs_x")], "minus_abs_x")], "exp_minus_abs_x")
        return g.op("Add", [g.op("Relu", [x]), _log1p(g, e, dtype)], "softplus")
    if activation == "softmax":
        return g.op("Softmax", [x], axis=-1)
    if activation == "leaky_relu":
        from .._kernels import LEAKY_SLOPE

        if dtype == np.float32:
            return g.op("LeakyRelu", [x], alpha=float(LEAKY_SLOPE))
        # LeakyRelu's alpha is a float32 attribute (0.01 rounded), and ONNX Runtime has no float64 kernel for it:
        # x if x > 0 else slope * x, with the slope in float64
        positive = g.op("Greater", [x, g.const("zero", 0.0, dtype)], "positive")
        return g.op("Where", [positive, x, g.op("Mul", [x, g.const("slope", LEAKY_SLOPE, dtype)], "slope_x")],
                    "leaky_relu")
    if activation == "elu":
        from .._kernels import ELU_ALPHA

        if not wide:
            return g.op("Elu", [x], alpha=float(ELU_ALPHA))
        # x if x > 0 else alpha * (exp(x) - 1)
        positive = g.op("Greater", [x, g.const("zero", 0.0, dtype)], "positive")
        expm1 = g.op("Sub", [g.op("Exp", [g.op("Min", [x, g.const("zero", 0.0, dtype)], "negative_part")]),
                             g.const("one", 1.0, dtype)], "expm1")
        return g.op("Where", [positive, x, g.op("Mul", [expm1, g.const("alpha", ELU_ALPHA, dtype)], "elu_neg")],
                    "elu")
    if activation == "gelu":
        if opset >= GELU_OPSET and not wide:
            return g.op("Gelu", [x], approximate="none")
        # 0.5 * x * (1 + erf(x / sqrt(2))), in the order fastnn's kernel computes it. A float64 model's erf is
        # computed in float32 (ONNX Runtime has no float64 Erf), so its GELU layers agree with predict to about
        # 1e-7 relative, not to float64 rounding.
        t = g.op("Mul", [x, g.const("sqrt_half", math.sqrt(0.5), dtype)], "x_over_sqrt2")
        if wide:
            t32 = g.op("Cast", [t], "x_over_sqrt2_float32", to=g.onnx.TensorProto.FLOAT)
            erf = g.op("Cast", [g.op("Erf", [t32])], "erf", to=g.onnx.TensorProto.DOUBLE)
        else:
            erf = g.op("Erf", [t])
        one_plus = g.op("Add", [erf, g.const("one", 1.0, dtype)], "one_plus_erf")
        half_x = g.op("Mul", [x, g.const("half", 0.5, dtype)], "half_x")
        return g.op("Mul", [half_x, one_plus], "gelu")
    raise ValueError(f"cannot export activation {activation!r}")  # pragma: no cover - Dense checks its names


# ---------------------------------------------------------------------------------------------------------------
# One exporter per layer kind, by class name: ``export(g, layer, x, in_shape, out_shape, dtype, opset)`` returns the
# output of the nodes it adds for ``x`` (batch first, shaped ``(N, *in_shape)``), shaped ``(N, *out_shape)``.
# ---------------------------------------------------------------------------------------------------------------

def _reshape(g, x, shape, stem):
    return g.op("Reshape", [x, g.const(f"{stem}_shape", [-1, *shape], np.int64)], stem)


def _channels_first(shape):
    """A channels-last image shape ``(H, W, C)`` as ``(C, H, W)``; other shapes as they are."""
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else shape


def _permute(g, x, way):
    """Channels-last images ``(N, H, W, C)`` into ONNX's ``(N, C, H, W)`` (``way`` ``"in"``), or back
    (``"out"``: a Flatten after them then flattens in Keras's ``(h, w, c)`` order); None: ``x`` as it is."""
    if way is None:
        return x
    return g.op("Transpose", [x], g.name(f"channels_{way}"), perm=[0, 3, 1, 2] if way == "in" else [0, 2, 3, 1])


def _export_dense(g, layer, x, in_shape, out_shape, dtype, opset):
    i = g.name("dense")
    b = [g.const(f"{i}_bias", layer.bias, dtype)] if layer.use_bias else []  # Gemm's C is optional
    if len(in_shape) == 1:
        z = g.op("Gemm", [x, g.const(f"{i}_weight", layer.weight, dtype)] + b, f"{i}_z", transB=1)
    else:  # on every step: the last axis
        wt = g.const(f"{i}_weight_t", np.ascontiguousarray(layer.weight.T), dtype)
        z = g.op("MatMul", [x, wt], f"{i}_xw")
        z = g.op("Add", [z] + b, f"{i}_z") if b else z
    return _activation_nodes(g, layer.activation, z, dtype, opset)


def _export_view(g, layer, x, in_shape, out_shape, dtype, opset):
    return _reshape(g, x, out_shape, g.name("view"))


def _export_conv(g, layer, x, in_shape, out_shape, dtype, opset):
    i = g.name("conv")
    (_, h, w), (_, ho, wo) = in_shape, out_shape
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    ph, pw = layer._pads()
    pads = [ph, pw, max(0, (ho - 1) * sh + kh - h - ph), max(0, (wo - 1) * sw + kw - w - pw)]
    b = [g.const(f"{i}_bias", layer.bias, dtype)] if layer.use_bias else []  # Conv's B is optional
    z = g.op("Conv", [x, g.const(f"{i}_weight", layer.weight, dtype)] + b, f"{i}_z", kernel_shape=[kh, kw],
             strides=[sh, sw], pads=pads)
    return _activation_nodes(g, layer.activation, z, dtype, opset)


def _export_pool(g, layer, x, in_shape, out_shape, dtype, opset):
    op = "MaxPool" if type(layer).__name__ == "MaxPool2D" else "AveragePool"
    return g.op(op, [x], g.name("pool"), kernel_shape=list(layer.pool_size), strides=list(layer.stride))


def _export_global_pool(g, layer, x, in_shape, out_shape, dtype, opset):
    return _reshape(g, g.op("GlobalAveragePool", [x], g.name("gap")), out_shape, g.name("gap_flat"))


def _export_embedding(g, layer, x, in_shape, out_shape, dtype, opset):
    i = g.name("embedding")
    return g.op("Gather", [g.const(f"{i}_weight", layer.weight, dtype), x], f"{i}_vectors", axis=0)


#: Rows of PyTorch's gate blocks in ONNX's order: LSTM i, f, g, o -> i, o, f, c; GRU r, z, n -> z, r, h.
_GATE_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "SimpleRNN": [0]}


def _export_recurrent(g, layer, x, in_shape, out_shape, dtype, opset):
    kind = type(layer).__name__
    i = g.name(kind.lower())
    H, order = layer.hidden_size, _GATE_ORDER[kind]

    def gates(a):
        return np.concatenate([a[k * H:(k + 1) * H] for k in order])[None]

    W, R = g.const(f"{i}_W", gates(layer.weight_ih), dtype), g.const(f"{i}_R", gates(layer.weight_hh), dtype)
    B = g.const(f"{i}_B", np.concatenate([gates(layer.bias_ih), gates(layer.bias_hh)], axis=1), dtype)
    attrs = {"hidden_size": H}
    if kind == "GRU":
        attrs["linear_before_reset"] = 1  # PyTorch's n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    if kind == "SimpleRNN":
        attrs["activations"] = ["Tanh" if layer.activation == "tanh" else "Relu"]
    op = {"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "RNN"}[kind]
    steps_first = g.op("Transpose", [x], f"{i}_x", perm=[1, 0, 2])
    all_steps, last = g.name(f"{i}_y"), g.name(f"{i}_y_h")
    g.nodes.append(g.onnx.helper.make_node(op, [steps_first, W, R, B], [all_steps, last], name=g.name(op), **attrs))
    if layer.return_sequences:  # Y: (T, 1, N, H)
        y = g.op("Squeeze", [all_steps, g.const(f"{i}_axis", [1], np.int64)], f"{i}_steps")
        return g.op("Transpose", [y], f"{i}_out", perm=[1, 0, 2])
    return g.op("Squeeze", [last, g.const(f"{i}_axis", [0], np.int64)], f"{i}_out")  # Y_h: (1, N, H)


def _export_batchnorm(g, layer, x, in_shape, out_shape, dtype, opset):
    i = g.name("batchnorm")
    inputs = [x] + [g.const(f"{i}_{name}", np.ascontiguousarray(value), dtype) for name, value in
                    (("scale", layer.weight), ("shift", layer.bias), ("mean", layer.running_mean),
                     ("var", layer.running_var))]
    z = g.op("BatchNormalization", inputs, f"{i}_z", epsilon=float(layer.eps))
    return _activation_nodes(g, layer.activation, z, dtype, opset)


def _export_layernorm(g, layer, x, in_shape, out_shape, dtype, opset):
    if opset < 17:
        raise ValueError(f"LayerNorm exports as ONNX's LayerNormalization, which needs opset 17 or later, not {opset}")
    i = g.name("layernorm")
    ones = np.ones(layer.normalized_shape)
    scale = g.const(f"{i}_scale", ones if layer.weight is None else np.ascontiguousarray(layer.weight), dtype)
    shift = [] if layer.bias is None else [g.const(f"{i}_shift", np.ascontiguousarray(layer.bias), dtype)]
    return g.op("LayerNormalization", [x, scale] + shift, f"{i}_y", axis=-len(layer.normalized_shape),
                epsilon=float(layer.eps))


def _export_activation(g, layer, x, in_shape, out_shape, dtype, opset):
    return _activation_nodes(g, layer.activation, x, dtype, opset)


_EXPORTERS = {"Dense": _export_dense, "Activation": _export_activation, "BatchNorm": _export_batchnorm, "BatchNorm1d": _export_batchnorm,
              "BatchNorm2d": _export_batchnorm,
              "LayerNorm": _export_layernorm, "Flatten": _export_view, "Reshape": _export_view, "Conv2D": _export_conv,
              "MaxPool2D": _export_pool, "AvgPool2D": _export_pool, "GlobalAvgPool2D": _export_global_pool,
              "Embedding": _export_embedding, "SimpleRNN": _export_recurrent, "LSTM": _export_recurrent,
              "GRU": _export_recurrent, "Dropout": None}


def to_onnx(model, opset=17, name=None):
    """The ONNX graph of a fastnn model, for inference.

    Parameters
    ----------
    model : Sequential, an estimator with a ``model_`` attribute that is one, or a scikit-learn Pipeline
        A model built (its weights set), trained or not; its scaler, if any, is part of the graph. An
        estimator's ``classes_`` (or else the model's ``classes``) add the ``"label"`` output; a binary
        classifier estimator's ``"output"`` is ``predict_proba``'s ``(N, 2)``. A ``Pipeline`` of fastnn's
        fitted scalers ending in such an estimator exports as one graph, the scalers first.
    opset : int, default=17
        ONNX opset of the default domain, 13 or later. From opset 20 GELU is written as ``Gelu``; below it with
        ``Erf``. ONNX Runtime 1.16 runs opsets up to 19.
    name : str, optional
        Name of the graph; default ``"fastnn_Sequential"``.

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker.check_model``. Input ``"input"`` ``(N, n_features)`` (flat samples, as
        ``predict`` takes them; int64 token ids ``(N, steps)`` for a model that starts with an ``Embedding``);
        outputs ``"output"`` ``(N, *model.output_shape)`` (``(N, 2)`` for a binary classifier estimator) and,
        with classes, ``"label"``.

    Notes
    -----
    Every layer kind is exported: ``Dense`` as ``Gemm`` (``MatMul`` on every step of a sequence) and its
    activation, ``Conv2D`` as ``Conv``, pooling as ``MaxPool``/``AveragePool``/``GlobalAveragePool``, ``Flatten``
    and ``Reshape`` as ``Reshape``, ``Embedding`` as ``Gather``, and ``SimpleRNN``/``LSTM``/``GRU`` as ONNX's
    ``RNN``/``LSTM``/``GRU`` (gates reordered to ONNX's, GRU with ``linear_before_reset``); ``Dropout`` leaves no
    node. Image layers with ``data_format="channels_last"`` work on ``(N, C, H, W)`` as ONNX's operators do,
    between a ``Transpose`` where the images enter them and one where they leave (before a ``Flatten``, or at
    the output).

    Raises
    ------
    TypeError
        ``model`` is not a fastnn model, or a pipeline step is not one of fastnn's scalers.
    ValueError
        Weights or biases that are NaN or infinite, invalid ``classes``, an opset out of range.
    ImportError
        onnx is not installed.
    """
    scalers, model = _pipeline(model)
    seq, classes = _unwrap(model)
    for scaler in scalers:
        if scaler.n_features_in_ != seq.n_features:
            raise ValueError(f"a pipeline's {type(scaler).__name__} has {scaler.n_features_in_} features, its "
                             f"model takes {seq.n_features}")
    # a binary classifier estimator's predict_proba: (N, 2) probabilities from one sigmoid unit
    two_columns = (seq is not model and hasattr(model, "predict_proba") and seq.n_outputs == 1
                   and classes is not None)
    other = next((layer for layer in seq.layers if type(layer).__name__ not in _EXPORTERS), None)
    if other is not None:
        raise ValueError(f"ONNX export does not cover {type(other).__name__} layers: {other!r}")
    if isinstance(opset, bool) or not isinstance(opset, numbers.Integral):
        raise TypeError(f"opset must be an integer, got {type(opset).__name__}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a string or None, got {type(name).__name__}")
    if not np.all(np.isfinite(seq.parameters)):
        bad = next(i for i, layer in enumerate(seq.layers)
                   if any(not np.all(np.isfinite(getattr(layer, spec.name))) for spec in layer.params()))
        raise ValueError(f"cannot export a model whose weights are not finite: layers[{bad}] holds NaN or "
                         "infinity (did training diverge?)")
    steps = seq._output_steps
    table = None if classes is None else _class_table(classes, seq.n_outputs // steps)
    onnx = _onnx()
    opset = int(opset)
    latest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= latest:
        raise ValueError(f"opset must be between {MIN_OPSET} and {latest} (this onnx's latest), got {opset}")

    dtype = np.dtype(seq.dtype)
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    tokens = type(seq._engine_layers[0]).__name__ == "Embedding"
    g = _Graph(onnx)
    x = "input"
    for scaler in scalers:
        x = _scaler_nodes(g, scaler, x, dtype)
    if seq.scaler is not None:
        x = _scaler_nodes(g, seq.scaler, x, dtype)
    shape = (seq.n_features,)
    first = next(layer for layer in seq.layers if type(layer).__name__ != "Dropout")
    if len(seq.input_shape) > 1 and type(first).__name__ != "Dense":  # a first Dense layer takes flat samples
        x, shape = _reshape(g, x, seq.input_shape, "input_shaped"), seq.input_shape
    permutes = getattr(seq, "_permutes", {})
    for i, (layer, out_shape) in enumerate(zip(seq.layers, seq._shapes)):
        x = _permute(g, x, permutes.get(i))
        export = _EXPORTERS[type(layer).__name__]
        if export is not None:
            if getattr(layer, "data_format", None) == "channels_last":  # its nodes see (N, C, H, W)
                x = export(g, layer, x, _channels_first(shape), _channels_first(out_shape), dtype, opset)
            else:
                x = export(g, layer, x, shape, out_shape, dtype, opset)
        shape = out_shape
    x = _permute(g, x, permutes.get(len(seq.layers)))
    output_shape = seq.output_shape
    sigmoid_unit = x  # the positive class's probability of a single sigmoid unit
    if two_columns:
        negative = g.op("Sub", [g.const("one", [[1.0]], dtype), sigmoid_unit], "negative_class")
        x = g.op("Concat", [negative, sigmoid_unit], "probabilities", axis=-1)
        output_shape = (2,)
    g.op("Identity", [x], output="output")

    outputs = [onnx.helper.make_tensor_value_info("output", elem, ["N", *output_shape])]
    if table is not None:
        units = seq.n_outputs // steps
        if units == 1:
            positive = g.op("Greater", [sigmoid_unit, g.const("threshold", [0.5], dtype)], "positive")
            index = g.op("Cast", [positive], "positive_int", to=onnx.TensorProto.INT64)
            index = g.op("Squeeze", [index, g.const("last_axis", [-1], np.int64)], "class_index")
        else:
            index = g.op("ArgMax", ["output"], "class_index", axis=-1, keepdims=0)
        g.op("Gather", [g.const("classes", table), index], output="label", axis=0)
        label_type = (onnx.TensorProto.STRING if table.dtype == object
                      else onnx.helper.np_dtype_to_tensor_dtype(table.dtype))
        outputs.append(onnx.helper.make_tensor_value_info("label", label_type, ["N", *seq.output_shape[:-1]]))

    graph = onnx.helper.make_graph(
        g.nodes, name or "fastnn_Sequential",
        [onnx.helper.make_tensor_value_info("input", onnx.TensorProto.INT64 if tokens else elem,
                                            ["N", seq.n_features])], outputs,
        initializer=g.initializers)
    opset_id = onnx.helper.make_opsetid("", opset)
    from .. import __version__

    proto = onnx.helper.make_model(graph, opset_imports=[opset_id], producer_name="fastnn",
                                   producer_version=__version__)
    try:  # the oldest IR version that has this opset, so that older runtimes load the file
        proto.ir_version = onnx.helper.find_min_ir_version_for([opset_id])
    except Exception:  # pragma: no cover - onnx versions without the table keep make_model's
        pass
    onnx.checker.check_model(proto, full_check=True)
    return proto


def save(model, path, opset=17):
    """Write :func:`to_onnx` ``(model, opset)`` to ``path`` (atomically: a complete file or none)."""
    from .._core.validation import check_output_path
    from .format import write_atomically

    path = check_output_path(path)
    data = to_onnx(model, opset=opset).SerializeToString()
    write_atomically(path, lambda f: f.write(data))
