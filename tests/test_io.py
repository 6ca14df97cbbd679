"""Model files: round trips, atomic writes, and refusal of truncated, corrupted or hostile files."""
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn.io import ModelFileError


@pytest.fixture
def trained(rng):
    X = rng.normal(size=(200, 6)).astype(np.float32)
    y = rng.integers(0, 3, 200)
    model = fastnn.Sequential([fastnn.Dense(6, 20, "relu"), fastnn.Dense(20, 3, "softmax")], seed=5)
    model.compile("cross_entropy", fastnn.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
                  regularizer=fastnn.L1L2(l1=1e-4, l2=1e-3))
    model.scaler = fastnn.StandardScaler().fit(X * 3 + 1)
    model.fit(X, y, epochs=2, batch_size=16, verbose=0)
    return model, X, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_is_bit_identical(tmp_path, rng, dtype):
    X = rng.normal(size=(50, 4))
    model = fastnn.Sequential([fastnn.Dense(4, 7, "tanh"), fastnn.Dense(7, 1, "sigmoid")], seed=1, dtype=dtype)
    model.compile("binary_cross_entropy", fastnn.SGD(lr=0.1))
    model.fit(X, (X[:, 0] > 0).astype(float), epochs=3, verbose=0)
    path = tmp_path / "m.fnn"
    model.save(path)
    loaded = fastnn.load(path)
    assert loaded.dtype == model.dtype and loaded.widths == model.widths
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.loss == model.loss and loaded.epochs_trained == 3


def test_everything_is_stored(tmp_path, trained):
    model, X, y = trained
    path = tmp_path / "m.fnn"
    fastnn.save(model, path)
    loaded = fastnn.load(path)
    np.testing.assert_array_equal(loaded.parameters, model.parameters)
    np.testing.assert_array_equal(loaded._state, model._state)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert (loaded.regularizer.l1, loaded.regularizer.l2) == (model.regularizer.l1, model.regularizer.l2)
    assert type(loaded.scaler) is fastnn.StandardScaler
    np.testing.assert_array_equal(loaded.scaler.mean_, model.scaler.mean_)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))  # the scaler is applied
    # training continues identically: same weights, momentum and shuffling state
    model.fit(X, y, epochs=1, batch_size=16, verbose=0)
    loaded.fit(X, y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(loaded.parameters, model.parameters)


def test_format_is_documented_zip_without_pickle(tmp_path, trained):
    model, _, _ = trained
    path = tmp_path / "m.fnn"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        header = json.loads(z.read("header.json"))
    assert {"header.json", "parameters.npy", "optimizer_state.npy"} <= names
    assert header["format"] == "fastnn-model" and header["format_version"] == 3
    assert header["layers"][0] == {"layer": "Dense", "in_features": 6, "out_features": 20, "activation": "relu",
                                   "use_bias": True, "kernel_initializer": None, "trainable": True, "name": "dense"}
    with np.load(path, allow_pickle=False) as f:  # the arrays are plain .npy members
        np.testing.assert_array_equal(f["parameters"], model.parameters)


def rewrite(path, out, header=None, members=None, drop=()):
    with zipfile.ZipFile(path) as z:
        contents = {n: z.read(n) for n in z.namelist() if n not in drop}
    if header is not None:
        h = json.loads(contents["header.json"])
        header(h)
        contents["header.json"] = json.dumps(h).encode()
    contents.update(members or {})
    with zipfile.ZipFile(out, "w") as z:
        for n, data in contents.items():
            z.writestr(n, data)


def npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


BAD_FILES = [
    ("format version", dict(header=lambda h: h.update(format_version=99)), "format version 99"),
    ("wrong format", dict(header=lambda h: h.update(format="other")), "not a fastnn model"),
    ("dtype", dict(header=lambda h: h.update(dtype="int8")), "unsupported dtype"),
    ("huge layer", dict(header=lambda h: h["layers"][0].update(out_features=2 ** 40)), "not sizes in 0.."),
    ("layer mismatch", dict(header=lambda h: h["layers"][1].update(in_features=5)), "differs from the 20 features"),
    ("activation", dict(header=lambda h: h["layers"][0].update(activation="os.system")), "activation must be one"),
    ("unknown layer", dict(header=lambda h: h["layers"][0].update(layer="Sequential")), "unknown layer 'Sequential'"),
    ("layer config", dict(header=lambda h: h["layers"][0].pop("in_features")), "lacks 'in_features'"),
    ("no layers", dict(header=lambda h: h.update(layers=[])), "layers is outside"),
    ("bool as int", dict(header=lambda h: h["layers"][0].update(in_features=True)), "wrong type"),
    ("bad lr", dict(header=lambda h: h["optimizer"]["config"].update(lr=-1)), "lr must be > 0"),
    ("bad optimizer", dict(header=lambda h: h["optimizer"].update(name="Adagrad")), "unknown optimizer"),
    ("state rows", dict(header=lambda h: h["optimizer"].update(n_state=2)), r"holds float32 \(1, "),
    ("negative step", dict(header=lambda h: h["optimizer"].update(step=-3)), "step is negative"),
    ("bad loss", dict(header=lambda h: h.update(loss="hinge")), "unknown loss"),
    ("bad rng", dict(header=lambda h: h.update(rng_state={"bit_generator": "MT19937"})), "random state"),
    ("params shape", dict(members={"parameters.npy": None}), "holds float32"),
    ("params dtype", dict(members={"parameters.npy": "f8"}), "holds float64"),
    ("nan params", dict(members={"parameters.npy": "nan"}), "NaN"),
    ("pickled params", dict(members={"parameters.npy": "object"}), "holds object|not a valid"),
    ("missing state", dict(drop=("optimizer_state.npy",)), "missing member optimizer_state.npy"),
    ("scaler mismatch", dict(header=lambda h: h["scaler"].update(n_features_in_=7)), "scaler expects 7"),
    ("no header", dict(drop=("header.json",)), "no header.json"),
    ("classes count", dict(header=lambda h: h.update(classes=["a", "b"])), "holds 2 labels but the model has 3"),
    ("classes type", dict(header=lambda h: h.update(classes=[1, [2], 3])), "integers, floats or strings"),
    ("classes bool", dict(header=lambda h: h.update(classes=[True, 2, 3])), "integers, floats or strings"),
    ("classes string", dict(header=lambda h: h.update(classes="abc")), "must be a list"),
    ("classes twice", dict(header=lambda h: h.update(classes=[1, 1, 2])), "a label twice"),
    ("metadata list", dict(header=lambda h: h.update(metadata=[1])), "'metadata' must be an object"),
]


def test_format_2_files_load_and_predict_the_same(tmp_path, rng):
    """Files of format 2 hold a Dense layer as its three values and a Dropout as {"dropout": rate}."""
    model = fastnn.Sequential([fastnn.Dense(6, 20, "relu"), fastnn.Dropout(0.25), fastnn.Dense(20, 3, "softmax")],
                              seed=5)
    model.layers[2].trainable = False
    model.save(tmp_path / "new.fnn")

    def older(h):
        h["format_version"] = 2
        h["layers"] = [{"dropout": s["p"], "trainable": s["trainable"]} if s["layer"] == "Dropout"
                       else {k: v for k, v in s.items() if k != "layer"} for s in h["layers"]]

    rewrite(tmp_path / "new.fnn", tmp_path / "old.fnn", header=older)
    loaded = fastnn.load(tmp_path / "old.fnn")
    assert [type(l) for l in loaded.layers] == [fastnn.Dense, fastnn.Dropout, fastnn.Dense]
    assert loaded.layers[1].p == 0.25 and loaded.layers[2].trainable is False
    X = rng.normal(size=(10, 6)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("name, how, match", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_are_refused(tmp_path, trained, name, how, match):
    model, _, _ = trained
    good = tmp_path / "good.fnn"
    model.save(good)
    members = {}
    for member, kind in (how.get("members") or {}).items():
        n = model.n_params
        if kind is None:
            members[member] = npy(np.zeros(n + 1, np.float32))
        elif kind == "f8":
            members[member] = npy(np.zeros(n, np.float64))
        elif kind == "nan":
            members[member] = npy(np.full(n, np.nan, np.float32))
        else:
            members[member] = _pickled_npy(n)
    bad = tmp_path / "bad.fnn"
    rewrite(good, bad, header=how.get("header"), members=members, drop=how.get("drop", ()))
    with pytest.raises(ModelFileError, match=match):
        fastnn.load(bad)


def _pickled_npy(n):
    buf = io.BytesIO()
    np.save(buf, np.array([None] * n, dtype=object), allow_pickle=True)
    return buf.getvalue()


def test_truncated_and_garbage_files(tmp_path, trained):
    model, _, _ = trained
    good = tmp_path / "good.fnn"
    model.save(good)
    data = good.read_bytes()
    for cut in (0, 10, len(data) // 3, len(data) // 2, len(data) - 30):
        bad = tmp_path / f"cut{cut}.fnn"
        bad.write_bytes(data[:cut])
        with pytest.raises(ModelFileError):
            fastnn.load(bad)
    rng = np.random.default_rng(0)
    for i in range(20):  # flipped bytes anywhere
        mangled = bytearray(data)
        for pos in rng.integers(0, len(data), 5):
            mangled[pos] ^= 0xFF
        bad = tmp_path / f"flip{i}.fnn"
        bad.write_bytes(bytes(mangled))
        try:
            loaded = fastnn.load(bad)
        except ModelFileError:
            continue
        assert loaded.n_params == model.n_params  # a flip that changed no checked field still loads sanely
    with pytest.raises(ModelFileError, match="no such file"):
        fastnn.load(tmp_path / "missing.fnn")


def test_hostile_npy_header_is_refused_before_reading(tmp_path, trained):
    model, _, _ = trained
    good = tmp_path / "good.fnn"
    model.save(good)
    # a .npy header announcing 2**40 floats, with no data behind it
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }"
    header += b" " * (118 - len(header)) + b"\n"
    bogus = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header
    bad = tmp_path / "bad.fnn"
    rewrite(good, bad, members={"parameters.npy": bogus})
    with pytest.raises(ModelFileError, match="holds float32 \\(1099511627776,\\)"):
        fastnn.load(bad)


def test_save_is_atomic(tmp_path, trained):
    """A writer killed at random moments leaves the old file or the new one, both loadable."""
    model, _, _ = trained
    path = tmp_path / "m.fnn"
    model.save(path)
    before = path.read_bytes()
    script = (
        "import sys, numpy as np, fastnn\n"
        "m = fastnn.Sequential([fastnn.Dense(6, 400, 'relu'), fastnn.Dense(400, 3, 'softmax')], seed=1)\n"
        "m.compile('cross_entropy')\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    m.save(sys.argv[1])\n"
    )
    outcomes = set()
    for delay in (0.0, 0.05, 0.1, 0.2, 0.3):
        proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE)
        proc.stdout.readline()
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        loaded = fastnn.load(path)
        outcomes.add(loaded.widths[1])
    assert outcomes <= {20, 400}
    leftovers = [f for f in os.listdir(tmp_path) if f != "m.fnn"]
    for f in leftovers:  # a killed writer may leave its temporary file, never a broken target
        assert f.startswith(".m.fnn.") and f.endswith(".tmp")
    assert path.read_bytes() != before or outcomes == {20}


def test_classes_and_metadata_round_trip(tmp_path, trained):
    model, X, _ = trained
    model.classes = [np.int64(3), "cat", 2.5]
    model.metadata = {"split": {"test_split": 0.25, "seed": 7, "n_rows": 300}, "note": "hello"}
    path = tmp_path / "m.fnn"
    model.save(path)
    loaded = fastnn.load(path)
    assert loaded.classes == [3, "cat", 2.5] and type(loaded.classes[0]) is int
    assert loaded.metadata == model.metadata


def test_files_without_classes_and_metadata_still_load(tmp_path, trained):
    """format_version 1 files written before these fields existed."""
    model, X, _ = trained
    good = tmp_path / "good.fnn"
    model.save(good)
    old = tmp_path / "old.fnn"
    rewrite(good, old, header=lambda h: (h.pop("classes"), h.pop("metadata")))
    loaded = fastnn.load(old)
    assert loaded.classes is None and loaded.metadata == {}
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("classes, metadata, error, match", [
    ([0, 1], {}, ValueError, "model.classes holds 2 labels but the model has 3"),
    ([0, 1, float("nan")], {}, ValueError, "finite"),
    (None, {"x": object()}, TypeError, "model.metadata must hold only JSON values"),
    (None, {"x": float("inf")}, ValueError, "model.metadata must hold only JSON values"),
    (None, {"x": "y" * (1 << 20)}, ValueError, "keep model.metadata small"),
    (None, [1, 2], TypeError, "model.metadata must be a dict"),
])
def test_save_refuses_bad_classes_and_metadata(tmp_path, trained, classes, metadata, error, match):
    model, _, _ = trained
    model.classes, model.metadata = classes, metadata
    with pytest.raises(error, match=match):
        model.save(tmp_path / "m.fnn")
    assert os.listdir(tmp_path) == []  # nothing written


def test_save_into_missing_folder_names_the_folder(tmp_path, trained):
    model, _, _ = trained
    folder = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError) as info:
        model.save(folder / "m.fnn")
    assert str(info.value) == f"cannot save to {folder / 'm.fnn'}: folder {folder} does not exist"
    assert ".tmp" not in str(info.value)
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        model.save(tmp_path)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_saved_file_mode_follows_the_umask(tmp_path, trained, umask, mode):
    model, _, _ = trained
    old = os.umask(umask)
    try:
        model.save(tmp_path / "m.fnn")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "m.fnn").st_mode & 0o777 == mode


@pytest.fixture
def cnn(rng):
    X = rng.normal(size=(40, 3 * 8 * 7)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    model = fastnn.Sequential([fastnn.Reshape((3, 8, 7)), fastnn.Conv2D(3, 4, 3, padding="same", activation="relu"),
                               fastnn.MaxPool2D(2), fastnn.Conv2D(4, 5, 2, stride=(1, 2), padding=1),
                               fastnn.AvgPool2D(2, stride=1), fastnn.Flatten(), fastnn.Dropout(0.2),
                               fastnn.Dense(20, 3, "softmax")], seed=3)
    model.compile("cross_entropy", fastnn.Adam(1e-3))
    model.fit(X, y, epochs=1, batch_size=16, verbose=0)
    return model, X, y


def test_cnn_round_trip_and_resume(tmp_path, cnn):
    model, X, y = cnn
    path = tmp_path / "cnn.fnn"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        header = json.loads(z.read("header.json"))
    assert header["layers"][1] == {"layer": "Conv2D", "in_channels": 3, "out_channels": 4, "kernel_size": [3, 3],
                                   "stride": [1, 1], "padding": "same", "activation": "relu", "use_bias": True,
                                   "kernel_initializer": None, "data_format": "channels_first", "trainable": True,
                                   "name": "conv2d"}
    assert header["layers"][2] == {"layer": "MaxPool2D", "pool_size": [2, 2], "stride": [2, 2],
                                   "data_format": "channels_first", "trainable": True, "name": "max_pool2d"}
    assert header["layers"][0] == {"layer": "Reshape", "shape": [3, 8, 7], "trainable": True, "name": "reshape"}
    loaded = fastnn.load(path)
    assert [repr(l) for l in loaded.layers] == [repr(l) for l in model.layers]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    model.fit(X, y, epochs=1, batch_size=16, verbose=0)
    loaded.fit(X, y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(loaded.parameters, model.parameters)
    # a checkpointed run resumes to the same weights as an uninterrupted one
    ck = tmp_path / "ck.fnn"
    fresh = fastnn.load(path)
    fresh.fit(X, y, epochs=1, batch_size=16, verbose=0, checkpoint=ck)
    resumed = fastnn.load(path)
    resumed.fit(X, y, epochs=3, batch_size=16, verbose=0, checkpoint=ck, resume=True)
    straight = fastnn.load(path)
    straight.fit(X, y, epochs=3, batch_size=16, verbose=0)
    np.testing.assert_array_equal(resumed.parameters, straight.parameters)


BAD_CNN_FILES = [
    ("kernel too large", lambda h: h["layers"][1].update(kernel_size=[9, 9], padding=[0, 0]), "kernel 9x9"),
    ("channels", lambda h: h["layers"][3].update(in_channels=7), "in_channels=7"),
    ("unknown layer", lambda h: h["layers"][2].update(layer="os.system"), "unknown layer"),
    ("huge size", lambda h: h["layers"][1].update(out_channels=2 ** 40), "wrong type|out_channels|outside"),
    ("pair", lambda h: h["layers"][2].update(pool_size=[2, 2, 2]), "pool_size"),
    ("zero stride", lambda h: h["layers"][2].update(stride=[0, 1]), "stride"),
    ("bad padding", lambda h: h["layers"][1].update(padding="full"), "padding"),
    ("bad shape", lambda h: h["layers"][0].update(shape=[3, 8, 8]), "invalid architecture"),
    ("missing field", lambda h: h["layers"][1].pop("kernel_size"), "lacks 'kernel_size'"),
]


@pytest.mark.parametrize("name, change, match", BAD_CNN_FILES, ids=[b[0] for b in BAD_CNN_FILES])
def test_bad_cnn_files_are_refused(tmp_path, cnn, name, change, match):
    model, _, _ = cnn
    good = tmp_path / "good.fnn"
    model.save(good)
    bad = tmp_path / "bad.fnn"
    rewrite(good, bad, header=change)
    with pytest.raises(ModelFileError, match=match):
        fastnn.load(bad)


def _every_kind():
    return fastnn.Sequential([fastnn.Reshape((1, 6, 6)), fastnn.Conv2D(1, 3, 3, padding=1, activation="relu"),
                              fastnn.MaxPool2D(2), fastnn.Conv2D(3, 4, 2, activation="tanh"),
                              fastnn.AvgPool2D(2, stride=1), fastnn.Flatten(), fastnn.Dropout(0.3),
                              fastnn.Dense(4, 5, "relu"), fastnn.Dense(5, 3, "softmax")], seed=0)


@pytest.mark.parametrize("index, name, value", [(1, "activation", "gelu"), (3, "activation", None),
                                                (6, "p", 0.0), (6, "p", 0.6), (7, "activation", "sigmoid"),
                                                (8, "activation", "softmax")])
def test_a_reloaded_model_predicts_what_the_model_in_memory_predicts(tmp_path, rng, index, name, value):
    m = _every_kind().compile("cross_entropy", fastnn.Adam(1e-2))
    X = rng.normal(size=(40, 36)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    m.fit(X, y, epochs=1, batch_size=8, verbose=0)
    m.predict(X)
    setattr(m.layers[index], name, value)
    m.save(tmp_path / "m.fastnn")
    back = fastnn.load(tmp_path / "m.fastnn")
    assert repr(back) == repr(m) and getattr(back.layers[index], name) == getattr(m.layers[index], name)
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
    assert back.evaluate(X, y) == m.evaluate(X, y)
    m.fit(X, y, epochs=1, batch_size=8, verbose=0)  # and both train on alike
    back.fit(X, y, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(back.parameters, m.parameters)


@pytest.mark.parametrize("tied", [False, True])
def test_an_autoencoder_with_changed_layers_reloads_as_it_predicts(tmp_path, rng, tied):
    ae = fastnn.Autoencoder([10, 6, 3], output_activation="sigmoid", input_noise=0.2, tied=tied, seed=0)
    ae.compile("mse", fastnn.Adam(1e-2))
    X = rng.random((32, 10)).astype(np.float32)
    ae.fit(X, epochs=1, batch_size=8, verbose=0)
    ae.layers[2].activation = "tanh"
    ae.layers[-1].activation = None
    ae.layers[0].p = 0.0
    ae.save(tmp_path / "ae.fastnn")
    back = fastnn.load(tmp_path / "ae.fastnn")
    assert isinstance(back, fastnn.Autoencoder) and back.tied == tied
    assert [repr(l) for l in back.layers] == [repr(l) for l in ae.layers]
    np.testing.assert_array_equal(back.predict(X), ae.predict(X))
    np.testing.assert_array_equal(back.encode(X), ae.encode(X))
    np.testing.assert_array_equal(back.decode(ae.encode(X)), ae.decode(ae.encode(X)))


def test_the_training_inputs_range_is_saved_and_older_files_load_without_it(tmp_path, trained):
    import warnings

    model, X, _ = trained
    path = tmp_path / "m.fnn"
    model.save(path)
    loaded = fastnn.load(path)
    np.testing.assert_array_equal(loaded.input_peak_, model.input_peak_)
    far = X * 1000
    with pytest.warns(UserWarning, match="^X is far outside"):
        loaded.predict(far)
    rewrite(path, tmp_path / "old.fnn", drop=("input_peak.npy",))  # as older fastnn wrote it
    old = fastnn.load(tmp_path / "old.fnn")
    assert old.input_peak_ is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(old.predict(far), loaded.predict(far))  # loaded has warned once already
    for bad, match in ((-model.input_peak_, "negative"), (np.full(6, np.inf), "infinity"),
                       (model.input_peak_[:5], r"holds float64 \(5,\)")):
        rewrite(path, tmp_path / "bad.fnn", members={"input_peak.npy": npy(bad)})
        with pytest.raises(ModelFileError, match=match):
            fastnn.load(tmp_path / "bad.fnn")
