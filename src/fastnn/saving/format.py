"""Model files: a documented format with no pickle anywhere, written atomically and validated on load.

:func:`save` and :func:`load` also take fastnn's estimators - :class:`~fastnn.KMeans`, the scalers and
:mod:`fastnn.sklearn`'s ``MLPClassifier`` and ``MLPRegressor``, fitted or not - in the same kind of file (format
``"fastnn-estimator"``, described in :mod:`fastnn.saving.estimators`), and ``load`` returns whatever a file holds.
A file of one kind read where another is expected (an estimator given to ``fit(checkpoint=..., resume=True)``, a
model given to ``fastnn.rl.DQN.load``) raises :class:`ModelFileError` saying what the file holds and how to load
it.

Format (``format_version`` 3)
-----------------------------
A ZIP archive holding

* ``header.json``: UTF-8 JSON with ``format`` (``"fastnn-model"``), ``format_version``, ``library_version``,
  ``dtype``, ``input_shape`` (the shape of one input sample, a list of sizes; absent from files of older fastnn,
  whose models take the shape their first layer implies), ``layers`` (each layer as ``{"layer": class name,
  its config, "trainable"}``, the config being ``layer.get_config()``: ``Dense`` with ``in_features``,
  ``out_features``, ``activation``, ``use_bias`` and ``kernel_initializer`` (a name or null); ``Dropout`` with
  ``p``; ``Conv2D`` with ``in_channels``, ``out_channels``, ``kernel_size``, ``stride``, ``padding`` (pairs, or
  ``"same"``), ``activation``, ``use_bias`` and ``kernel_initializer`` (files of older fastnn lack these two:
  a bias and the default initialiser);
  ``MaxPool2D`` and ``AvgPool2D`` with ``pool_size`` and ``stride``; ``Reshape`` with ``shape``; ``Flatten``;
  ``trainable`` is false for a frozen layer, true when absent; ``name``, the layer's name (absent from files of
  older fastnn, whose layers get the default names); files of format 2 and 1 hold a Dense layer as
  ``{"in_features", "out_features", "activation"}`` and a Dropout as ``{"dropout": rate}``),
  ``dropout_seed`` (the key of the dropout masks), ``loss`` (a name) and
  ``loss_config`` (its settings, such as the Huber loss's ``delta``), ``optimizer`` (``name``: the class,
  ``config``: its settings, a schedule as ``{"schedule", "config"}``, ``n_state``: its state rows, ``step``: the
  updates applied), ``metrics`` (what compile asked to record beside the loss), ``regularizer``, ``seed``,
  ``epochs_trained``, ``rng_state`` (the model's NumPy bit generator state), ``scaler`` (class, parameters and
  feature count, or null) and ``fit`` (null, or for a checkpoint the run's
  ``epochs_done``, ``epochs`` and per-epoch history ``records``); optionally ``classes`` (null, or the original
  class labels by output unit: a list of integers, floats or strings, one per output) and ``metadata`` (a JSON
  object of notes, such as how the training data was split), both absent from files of older fastnn;
* ``parameters.npy``: the flat parameter buffer ``[W_0, b_0, W_1, b_1, ...]`` in the model's dtype (a layer with
  ``use_bias`` false has its ``W`` alone);
* ``optimizer_state.npy``: the optimizer's state rows, shape ``(n_state, n_params)``, the model's dtype;
* ``buffers.npy``: the non-trained state of the layers that have some (BatchNorm's running mean and variance),
  layer by layer, in the model's dtype (only when there is any);
* ``scaler/<name>.npy``: the fitted scaler's float64 statistics, one per attribute;
* ``input_peak.npy``: the largest absolute value of each input feature among the inputs the model was trained on,
  after its scaler, float64 of shape ``(n_features,)`` (``model.input_peak_``; only for a model that was fit, and
  absent from files of older fastnn, whose models then make no comparison of their inputs with it).

The ``.npy`` members are standard NumPy files read with ``allow_pickle=False``. ``load`` checks the header's
size, every field, and each array's dtype, shape and stored size against the architecture *before* reading
it, so a truncated, corrupted or hostile file raises :class:`ModelFileError` and never executes code or
allocates memory sized by an unchecked header. Files of format version 1 (SGD only, with its momentum in
``velocity.npy``) still load.

Writes go to a temporary file in the same folder, are flushed and fsynced, then renamed over the target: a
process killed at any moment leaves either the old file or the new one. The file gets the permissions any new
file of the user gets (``0o666`` less the umask).
"""
import io
import json
import math
import os
import zipfile

import numpy as np

from .._core import registry
from ..nn.base import state_sizes

__all__ = ["save", "load", "load_model", "ModelFileError", "FORMAT_VERSION"]

FORMAT = "fastnn-model"
FORMAT_VERSION = 3
MAX_HEADER_BYTES = 1 << 20
MAX_LAYERS = 1000
MAX_UNITS = 1 << 24
MAX_PARAMS = 1 << 31


class ModelFileError(ValueError):
    """A model file is not a valid fastnn model (truncated, corrupted, from a newer format, or hostile)."""


def _check_classes(classes, n_outputs):
    """``classes`` as a list of Python scalars, or the reason it is not a valid list of class labels."""
    if classes is None:
        return None, None
    if isinstance(classes, (str, bytes, dict)) or not hasattr(classes, "__iter__"):
        return None, f"must be a list of class labels, got {type(classes).__name__}"
    values = [c.item() if isinstance(c, np.generic) else c for c in classes]
    for c in values:
        if isinstance(c, bool) or not isinstance(c, (int, float, str)):
            return None, f"must hold integers, floats or strings, found {c!r} ({type(c).__name__})"
        if isinstance(c, float) and not math.isfinite(c):
            return None, f"must hold finite numbers, found {c!r}"
    if len(values) != n_outputs:
        return None, f"holds {len(values)} labels but the model has {n_outputs} outputs"
    if len(set(values)) != len(values):
        return None, "holds a label twice"
    return values, None


def _layer_spec(layer):
    """A layer as a JSON object: its class name, its config and whether it trains (see the module
    documentation)."""
    return {"layer": type(layer).__name__, **layer.get_config(), "trainable": layer.trainable, "name": layer.name}


def _config_value(spec, key, kind, path, where):
    """Field ``key`` of a layer's spec, checked to be a value of ``kind`` (see ``_Layer._CONFIG``)."""
    if kind == "name" or (kind == "padding" and spec.get(key) == "same"):
        return _get(spec, key, str, path, where)
    if kind == "flag":
        return _get(spec, key, bool, path, where)
    if kind == "initializer":  # a name or None
        return None if spec.get(key, "") is None else _get(spec, key, str, path, where)
    if kind == "rate":
        value = _get(spec, key, (int, float), path, where)
        if not math.isfinite(value):
            _fail(path, f"{where} field {key!r} is not a finite number")
        return value
    value = _get(spec, key, int if kind == "size" else list, path, where)
    values = value if isinstance(value, list) else [value]
    if ((kind in ("pair", "padding") and len(values) != 2) or (kind == "shape" and not 1 <= len(values) <= 4)
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_UNITS for v in values)):
        _fail(path, f"{where} field {key!r} holds {value!r:.80}, not sizes in 0..{MAX_UNITS}")
    return value


def _read_layer(spec, path, where):
    """The layer a spec describes, every value checked by its kind before the layer is built. Files before
    format 3 hold a Dense layer as its three values alone and a Dropout as ``{"dropout": rate}``."""
    if not isinstance(spec, dict):
        _fail(path, f"{where} is not a JSON object")
    if "trainable" in spec:
        _get(spec, "trainable", bool, path, where)
    if "layer" in spec:
        name = _get(spec, "layer", str, path, where)
    else:
        name = "Dropout" if "dropout" in spec else "Dense"
        spec = {"p": spec["dropout"]} if name == "Dropout" else spec
    from ..nn.base import _Layer

    try:
        cls = registry.get(name)
    except KeyError:
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, _Layer)):
        _fail(path, f"{where} has unknown layer {name!r}")
    # settings newer than a file's format (``_Layer._CONFIG_ADDED``) take their defaults when it lacks them
    config = {key: _config_value(spec, key, kind, path, where) for key, kind in cls._CONFIG.items()
              if key in spec or key not in cls._CONFIG_ADDED}
    try:
        layer = cls.from_config(config)
        if spec.get("name") is not None:
            layer.name = _get(spec, "name", str, path, where)
        return layer
    except (ValueError, TypeError) as exc:
        _fail(path, f"{where} is not a valid {name} ({exc})")


def _compiled(model):
    """Whether the file records how ``model`` was compiled: not when uncompiled, nor with a loss written in
    Python (:class:`~fastnn.losses.CustomLoss`, which a file cannot hold: it stores the weights of an uncompiled
    model)."""
    return model.loss is not None and model.loss.name is not None


def _header(model, fit_state=None):
    from .. import __version__

    compiled = _compiled(model)
    opt = model.optimizer if compiled else None
    reg = model.regularizer if compiled else None
    classes, problem = _check_classes(model.classes, model.n_outputs)
    if problem:
        raise ValueError(f"model.classes {problem}")
    if not isinstance(model.metadata, dict):
        raise TypeError(f"model.metadata must be a dict, got {type(model.metadata).__name__}")
    scaler = None
    if model.scaler is not None:
        state = model.scaler.get_state()
        scaler = {"class": state["class"], "params": state["params"], "n_features_in_": state["n_features_in_"],
                  "arrays": sorted(state["arrays"])}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "dtype": model.dtype.name,
        "input_shape": list(model.input_shape),
        "layers": [_layer_spec(l) for l in model.layers],
        "dropout_seed": model._dropout_seed,
        "loss": model.loss.name if compiled else None,
        "loss_config": model.loss.get_config() if compiled else None,
        "metrics": list(model.metrics) if compiled else None,
        "optimizer": None if opt is None else {"name": type(opt).__name__, "config": opt.get_config(),
                                               "n_state": int(model._state.shape[0]), "step": int(model._step[0])},
        "regularizer": None if reg is None else {"l1": reg.l1, "l2": reg.l2},
        "seed": model.seed,
        "epochs_trained": int(model.epochs_trained),
        "rng_state": model._rng.bit_generator.state,
        "scaler": scaler,
        "fit": fit_state,
        "classes": classes,
        "metadata": model.metadata,
    }


def _npy_bytes(arr):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def save(model, path, fit_state=None):
    """Write ``model`` to ``path`` atomically, in fastnn's safe format (no pickle).

    Parameters
    ----------
    model : Sequential, Autoencoder, KMeans, StandardScaler, MinMaxScaler, LogScaler, MLPClassifier, \
MLPRegressor, DQN or QLearning
        A model (see the module documentation for the format); a fitted or unfitted estimator (see
        :mod:`fastnn.saving.estimators`: its parameters, and its fitted attributes when fitted); or a
        reinforcement-learning agent (its own ``save``).
    path : str or path-like
    fit_state : dict, optional
        Models only (used by ``fit(checkpoint=...)``): the progress of a run, ``epochs_done``, ``epochs`` and
        ``records``, the history's per-epoch values.

    Examples
    --------
    >>> import numpy as np, fastnn
    >>> km = fastnn.KMeans(n_clusters=2, random_state=0).fit(np.array([[0.0], [0.1], [5.0], [5.1]]))
    >>> fastnn.save(km, "km.fnn")  # doctest: +SKIP
    >>> fastnn.load("km.fnn").predict([[4.9]])  # doctest: +SKIP
    array([1])
    """
    if isinstance(model, registry.get("Sequential")):
        from .._core.validation import check_output_path

        path = check_output_path(path)
        write_members(path, model_members(model, fit_state))
        return
    if fit_state is not None:
        raise TypeError("fit_state is for models (fastnn.Sequential) only")
    kind = getattr(type(model), "_file_format", None)
    if kind in ("fastnn-estimator", "fastnn-rl"):
        registry.get_format(kind)[0](model, path)
        return
    raise TypeError(f"fastnn.save saves {SAVABLE}, got {type(model).__module__}.{type(model).__name__}")


#: What :func:`save` saves (for error messages).
SAVABLE = ("a fastnn model (Sequential, Autoencoder), KMeans, a scaler (StandardScaler, MinMaxScaler, "
           "LogScaler), fastnn.sklearn's MLPClassifier or MLPRegressor, or a fastnn.rl agent")


def model_members(model, fit_state=None, prefix=""):
    """The ZIP members of ``model``'s file, as ``(name, bytes)`` pairs, their names under ``prefix``."""
    try:
        header = json.dumps(_header(model, fit_state), indent=1, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"model.metadata must hold only JSON values (dicts, lists, strings, finite numbers, "
                        f"booleans, None): {exc}") from None
    if len(header) > MAX_HEADER_BYTES:
        raise ValueError(f"the model's header would take {len(header)} bytes, more than the {MAX_HEADER_BYTES} "
                         "a model file may hold: keep model.metadata small")
    members = [("header.json", header), ("parameters.npy", _npy_bytes(model.parameters)),
               ("optimizer_state.npy", _npy_bytes(model._state if _compiled(model) else
                                                  np.zeros((1, model.n_params), model.dtype)))]
    if model._buffers.size:  # non-trained state (BatchNorm's running statistics)
        members.append(("buffers.npy", _npy_bytes(model._buffers)))
    if model.scaler is not None:
        for key, arr in sorted(model.scaler.get_state()["arrays"].items()):
            members.append((f"scaler/{key}.npy", _npy_bytes(arr)))
    peak = model._input_peak
    if peak is not None and peak.shape == (model.n_features,):
        members.append(("input_peak.npy", _npy_bytes(peak.astype(np.float64))))
    return [(prefix + name, data) for name, data in members]


def write_members(path, members):
    """Write a ZIP archive of ``members`` (``(name, bytes)`` pairs, stored uncompressed) to ``path`` atomically."""
    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as z:
            for name, data in members:
                z.writestr(name, data)

    write_atomically(path, write)


def write_atomically(path, write):
    """Create or replace the file ``path`` with what ``write(f)`` writes to a binary file object: through a
    temporary file in the same folder, flushed, fsynced and renamed, so that a process killed at any moment leaves
    the old file or the new one, never a part."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = _create_temporary(folder, "." + os.path.basename(path) + ".", ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # pragma: no cover - platforms without directory fsync
        pass


def _create_temporary(folder, prefix, suffix):
    """A new file in ``folder`` opened for writing, as ``(fd, path)``.

    Unlike ``tempfile.mkstemp`` (mode 0600) the file is created with mode 0666 and the umask applies, so the
    saved model gets the permissions any file the user writes gets.
    """
    for _ in range(100):
        tmp = os.path.join(folder, f"{prefix}{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {folder}")  # pragma: no cover


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------

def _fail(path, msg):
    raise ModelFileError(f"{path}: {msg}")


def _read_array(z, name, dtype, shape, path):
    """Read one .npy member after checking its header against the expected dtype and shape."""
    try:
        info = z.getinfo(name)
    except KeyError:
        _fail(path, f"missing member {name}")
    expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if info.file_size > expected + 4096:
        _fail(path, f"member {name} is {info.file_size} bytes, more than its {expected} bytes of data need")
    with z.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                hshape, fortran, hdtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                hshape, fortran, hdtype = np.lib.format.read_array_header_2_0(f)
            else:
                _fail(path, f"member {name} has unsupported .npy version {version}")
        except (ValueError, EOFError) as exc:
            _fail(path, f"member {name} is not a valid .npy array ({exc})")
        if hdtype != np.dtype(dtype) or tuple(hshape) != tuple(shape) or fortran:
            _fail(path, f"member {name} holds {hdtype} {tuple(hshape)}, expected {np.dtype(dtype)} {tuple(shape)}")
        data = f.read(expected + 1)
    if len(data) != expected:
        _fail(path, f"member {name} is truncated or padded ({len(data)} bytes of data, expected {expected})")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _get(d, key, types, path, where="header"):
    types = types if isinstance(types, tuple) else (types,)
    if not isinstance(d, dict) or key not in d:
        _fail(path, f"{where} lacks {key!r}")
    value = d[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        _fail(path, f"{where} field {key!r} has the wrong type ({type(value).__name__})")
    return value


def read_header(z, path, name="header.json"):
    """The JSON object of the archive member ``name`` (at most ``MAX_HEADER_BYTES``), checked to be one."""
    try:
        info = z.getinfo(name)
    except KeyError:
        _fail(path, f"not a fastnn file (no {name})")
    if info.file_size > MAX_HEADER_BYTES:
        _fail(path, f"{name} is {info.file_size} bytes, more than {MAX_HEADER_BYTES}")
    try:
        with z.open(info) as f:
            raw = f.read(MAX_HEADER_BYTES + 1)
        header = json.loads(raw.decode("utf-8"))
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, ValueError, EOFError) as exc:
        _fail(path, f"unreadable {name} ({exc})")
    if not isinstance(header, dict):
        _fail(path, f"not a fastnn file ({name} is not a JSON object)")
    return header


# What each kind of fastnn file holds and how to load it (for the error of a file loaded as another kind).
_KINDS = {
    FORMAT: ("a fastnn model", "fastnn.load(path)"),
    "fastnn-estimator": ("a fastnn estimator", "fastnn.load(path)"),
    "fastnn-rl": ("a fastnn.rl agent", "fastnn.rl.DQN.load(path, env) or fastnn.rl.QLearning.load(path)"),
}


def describe(header):
    """What a fastnn file's header says it holds, e.g. ``"a KMeans estimator"``, and how to load it, as
    ``(what, how)``; ``(None, None)`` for what is no fastnn file."""
    kind = header.get("format") if isinstance(header, dict) else None
    if kind not in _KINDS:
        return None, None
    what, how = _KINDS[kind]
    name = header.get("estimator") if kind == "fastnn-estimator" else header.get("algo")
    if isinstance(name, str) and name.isidentifier():
        what = f"a {name} estimator" if kind == "fastnn-estimator" else f"a {name} agent"
        if kind == "fastnn-rl":
            how = f"fastnn.rl.{name}.load(path, env)" if name == "DQN" else f"fastnn.rl.{name}.load(path)"
    return what, how


def wrong_kind(path, header, expected):
    """Raise :class:`ModelFileError`: ``path`` is not ``expected`` (e.g. ``"a fastnn model"``), saying what it
    holds and how to load that."""
    what, how = describe(header)
    if what is None:
        _fail(path, f"not {expected} file (no fastnn format in its header)")
    _fail(path, f"holds {what}, not {expected}: load it with {how}")


def _read_contents(z, path, prefix=""):
    """Everything load needs from the archive (the model's members under ``prefix``), validated."""
    from ..data.preprocessing import scaler_from_state

    header = read_header(z, path, prefix + "header.json")
    if header.get("format") != FORMAT:
        wrong_kind(path, header, "a fastnn model")
    version = _get(header, "format_version", int, path)
    if version > FORMAT_VERSION or version < 1:
        _fail(path, f"format version {version} is not supported by this fastnn (reads up to "
                    f"{FORMAT_VERSION}); upgrade fastnn")
    dtype = _get(header, "dtype", str, path)
    if dtype not in ("float32", "float64"):
        _fail(path, f"unsupported dtype {dtype!r}")
    layers_spec = _get(header, "layers", list, path)
    if not 1 <= len(layers_spec) <= MAX_LAYERS:
        _fail(path, f"{len(layers_spec)} layers is outside 1..{MAX_LAYERS}")
    input_shape = header.get("input_shape")
    if input_shape is not None:
        if not (isinstance(input_shape, list) and 1 <= len(input_shape) <= 4 and all(
                isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_UNITS for v in input_shape)):
            _fail(path, f"header field 'input_shape' holds {input_shape!r:.80}, not 1 to 4 sizes in 1..{MAX_UNITS}")
        input_shape = tuple(input_shape)
    layers = [_read_layer(spec, path, f"layers[{i}]") for i, spec in enumerate(layers_spec)]
    try:
        stack = registry.get("Sequential")._check_layers(layers, input_shape)
    except (ValueError, TypeError) as exc:
        _fail(path, f"invalid architecture ({exc})")
    if max(stack.widths) > MAX_UNITS:
        _fail(path, f"a layer has more than {MAX_UNITS} outputs")
    total = sum(l.n_params for l in stack.weighted)
    if total > MAX_PARAMS:
        _fail(path, f"architecture has more than {MAX_PARAMS} parameters")
    n_features, n_outputs = stack.widths[0], stack.widths[-1]
    seed = header.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        _fail(path, "header field 'seed' must be null or a non-negative integer")
    epochs = _get(header, "epochs_trained", int, path)
    if epochs < 0:
        _fail(path, "header field 'epochs_trained' is negative")
    params = _read_array(z, prefix + "parameters.npy", dtype, (total,), path)
    if version == 1:
        state = _read_array(z, prefix + "velocity.npy", dtype, (total,), path)[None, :]
    else:
        opt = header.get("optimizer")
        n_state = _get(opt, "n_state", int, path, "optimizer") if opt is not None else 1
        if not 1 <= n_state <= 3:
            _fail(path, f"optimizer n_state {n_state} is outside 1..3")
        state = _read_array(z, prefix + "optimizer_state.npy", dtype, (n_state, total), path)
    n_buffers = sum(state_sizes(stack.engine))
    buffers = _read_array(z, prefix + "buffers.npy", dtype, (n_buffers,), path) if n_buffers else None
    peak = None
    if prefix + "input_peak.npy" in z.namelist():  # absent from files of older fastnn
        peak = _read_array(z, prefix + "input_peak.npy", np.float64, (n_features,), path)
        if not np.all(peak >= 0):
            _fail(path, "input_peak.npy holds negative values or NaN")
    for name, arr in (("parameters", params), ("optimizer state", state), ("buffers", buffers),
                      ("input_peak.npy", peak)):
        if arr is not None and not np.all(np.isfinite(arr)):
            _fail(path, f"{name} contain NaN or infinity")
    scaler = None
    sc = header.get("scaler")
    if sc is not None:
        n_feat = _get(sc, "n_features_in_", int, path, "scaler")
        if n_feat != n_features:
            _fail(path, f"scaler expects {n_feat} features but the first layer takes {n_features}")
        names = _get(sc, "arrays", list, path, "scaler")
        if len(names) > 16 or not all(isinstance(n, str) and n.isidentifier() for n in names):
            _fail(path, "scaler 'arrays' must list attribute names")
        arrays = {n: _read_array(z, f"{prefix}scaler/{n}.npy", np.float64, (n_feat,), path) for n in names}
        try:
            scaler = scaler_from_state({"class": sc.get("class"), "params": _get(sc, "params", dict, path,
                                                                                 "scaler"),
                                        "n_features_in_": n_feat, "arrays": arrays})
        except (ValueError, TypeError) as exc:
            _fail(path, f"invalid scaler ({exc})")
    rng_state = header.get("rng_state")
    fit_state = header.get("fit")
    if fit_state is not None:
        done = _get(fit_state, "epochs_done", int, path, "fit")
        total = _get(fit_state, "epochs", int, path, "fit")
        records = _get(fit_state, "records", list, path, "fit")
        if not 0 <= done <= total or len(records) > done:
            _fail(path, "fit progress is inconsistent")
        for r in records:
            if not isinstance(r, dict) or not all(isinstance(k, str) and isinstance(v, (int, float))
                                                  and not isinstance(v, bool) for k, v in r.items()):
                _fail(path, "fit history records must map names to numbers")
    classes, problem = _check_classes(header.get("classes"), n_outputs)
    if problem:
        _fail(path, f"header field 'classes' {problem}")
    if header.get("metadata") is not None and not isinstance(header["metadata"], dict):
        _fail(path, "header field 'metadata' must be an object")
    return header, layers, input_shape, seed, epochs, params, (state, buffers, peak), scaler, rng_state


def _training_settings(header, path):
    """The loss, optimizer (with its update count) and regularizer a header records."""
    from ..losses import get_loss
    from ..optim import SGD, optimizer_from_config
    from ..regularizers import L1L2

    opt = header.get("optimizer")
    reg = header.get("regularizer")
    step = 0
    optimizer = None
    if opt is not None:
        if not isinstance(opt, dict):
            _fail(path, "header field 'optimizer' must be an object")
        if header["format_version"] == 1:
            if opt.get("name") != "SGD":
                _fail(path, "unknown optimizer")
            optimizer = SGD(lr=opt.get("lr"), momentum=opt.get("momentum"), nesterov=opt.get("nesterov"),
                            weight_decay=opt.get("weight_decay"))
        else:
            optimizer = optimizer_from_config(_get(opt, "name", str, path, "optimizer"),
                                              _get(opt, "config", dict, path, "optimizer"))
            step = _get(opt, "step", int, path, "optimizer")
            if step < 0:
                _fail(path, "optimizer step is negative")
    regularizer = None
    if reg is not None:
        if not isinstance(reg, dict):
            _fail(path, "header field 'regularizer' must be an object")
        regularizer = L1L2(l1=reg.get("l1"), l2=reg.get("l2"))
    loss_config = header.get("loss_config") or {}
    if not isinstance(loss_config, dict):
        _fail(path, "header field 'loss_config' must be an object")
    return get_loss(header["loss"], **loss_config), optimizer, step, regularizer


def _shape_of(layer):
    """What fixes a Dense or Dropout layer's place in an autoencoder (its settings aside)."""
    return type(layer).__name__, getattr(layer, "in_features", None), getattr(layer, "out_features", None)


def _copy_settings(source, target):
    """Give ``target`` the settings ``source`` computes with (activation, dropout rate)."""
    for name in ("activation", "p"):
        if hasattr(source, name) and getattr(target, name) != getattr(source, name):
            setattr(target, name, getattr(source, name))


def open_archive(path):
    """``path`` opened as a ZIP archive; :class:`ModelFileError` for a missing file or one that is no archive."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such file")
    # zipfile raises many kinds of errors on damaged archives (BadZipFile, NotImplementedError, RuntimeError,
    # struct.error, ...): every failure to parse untrusted bytes becomes a ModelFileError.
    try:
        return zipfile.ZipFile(path, "r")
    except Exception as exc:
        raise ModelFileError(f"{path}: not a fastnn file ({type(exc).__name__}: {exc})") from None


def guarded(path, read):
    """``read()``, any failure but a :class:`ModelFileError` turned into one (damaged archives raise many
    kinds of errors)."""
    try:
        return read()
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(f"{path}: corrupted file ({type(exc).__name__}: {exc})") from None


def load(path):
    """Read a file written by :func:`save`: a model, an estimator or a Q-learning agent, whichever it holds.

    A model comes back as a compiled :class:`~fastnn.Sequential` (or :class:`~fastnn.Autoencoder`; compiled when
    a loss was saved) with its weights, optimizer state, random state, scaler, ``classes`` and ``metadata``; an
    estimator (KMeans, a scaler, an MLP estimator) with its parameters and, if it was fitted, its fitted
    attributes, so that it transforms and predicts exactly as the saved one.

    Raises
    ------
    ModelFileError
        For a missing, truncated, corrupted, hostile or newer-format file, before any object is built; and for
        a DQN agent's file, which needs its environment (``fastnn.rl.DQN.load(path, env)``).
    """
    path = os.fspath(path)
    with open_archive(path) as z:
        header = guarded(path, lambda: read_header(z, path))
        kind = header.get("format")
        if kind == FORMAT:
            return read_model(z, path)
        if kind in ("fastnn-estimator", "fastnn-rl"):
            obj = registry.get_format(kind)[1](z, path, header)
            if obj is not None:  # None: an agent that needs its environment
                return obj
    what, how = describe(header)
    if what is None:
        _fail(path, "not a fastnn model or estimator file (wrong 'format')")
    _fail(path, f"holds {what}, which fastnn.load cannot rebuild without its environment: load it with {how}")


def load_model(path):
    """The model in the file ``path``, as :func:`load` reads it; a :class:`ModelFileError` that says what the
    file holds and how to load it when it holds something else (an estimator, an agent)."""
    path = os.fspath(path)
    with open_archive(path) as z:
        header = guarded(path, lambda: read_header(z, path))
        if header.get("format") != FORMAT:
            wrong_kind(path, header, "a fastnn model")
        return read_model(z, path)


def read_model(z, path, prefix=""):
    """The model whose members lie under ``prefix`` in the open archive ``z`` of the file ``path``."""
    header, layers, input_shape, seed, epochs, params, state, scaler, rng_state = guarded(
        path, lambda: _read_contents(z, path, prefix))
    state, buffers, peak = state

    try:
        model = registry.get("Sequential")(layers, seed=seed, dtype=header["dtype"], input_shape=input_shape)
        spec = (header.get("metadata") or {}).get("autoencoder")
        if spec is not None:  # an Autoencoder, built again from its settings, must have the same layers
            if not isinstance(spec, dict):
                raise ValueError("metadata 'autoencoder' must be an object")
            ae = registry.get("Autoencoder")(**spec, seed=seed, dtype=header["dtype"])
            if ([_shape_of(l) for l in ae.layers] != [_shape_of(l) for l in model.layers]
                    or ae.input_shape != model.input_shape):
                raise ValueError("its layers do not match the autoencoder it records")
            for mine, saved in zip(ae.layers, model.layers):  # settings changed after it was built
                _copy_settings(saved, mine)
            model = ae
    except (ValueError, TypeError) as exc:
        _fail(path, f"invalid architecture ({exc})")
    for layer, spec in zip(model.layers, header["layers"]):
        if spec.get("trainable", True) is False:
            layer.trainable = False
    step = 0
    if header.get("loss") is not None:
        try:
            loss, optimizer, step, regularizer = _training_settings(header, path)
            model.compile(loss=loss, optimizer=optimizer, regularizer=regularizer, metrics=header.get("metrics"))
        except (ValueError, TypeError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            _fail(path, f"invalid training settings ({exc})")
    if model._state.shape != state.shape:
        _fail(path, f"optimizer state has {state.shape[0]} rows, but {model.optimizer!r} keeps "
                    f"{model._state.shape[0]}")
    model.parameters[...] = params
    model._state[...] = state
    if buffers is not None:
        model._buffers[...] = buffers
    model._step[0] = step
    dropout_seed = header.get("dropout_seed")
    if dropout_seed is not None:
        if not isinstance(dropout_seed, int) or isinstance(dropout_seed, bool) or not 0 <= dropout_seed < 1 << 64:
            _fail(path, "header field 'dropout_seed' must be a non-negative 64-bit integer")
        model._dropout_seed = dropout_seed
    model.scaler = scaler
    model._set_input_peak(peak)
    model.epochs_trained = epochs
    model._fit_state = header.get("fit")
    model.classes = None if header.get("classes") is None else list(header["classes"])
    model.metadata = dict(header.get("metadata") or {})
    if rng_state is not None:
        try:
            if not isinstance(rng_state, dict) or rng_state.get("bit_generator") != "PCG64":
                raise ValueError("not a PCG64 state")
            model._rng.bit_generator.state = rng_state
        except (ValueError, TypeError, KeyError) as exc:
            _fail(path, f"invalid random state ({exc})")
    return model
