"""Inputs read a block of rows at a time: uint8 arrays and memory-mapped files are converted (and scaled) as each
batch is gathered, never whole, with the same results, bit for bit, as converting them first."""
import numpy as np
import pytest

import fastnn
import fastnn.training.data as _data


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(_data, "CHUNK_BYTES", 20_000)  # a few hundred rows a chunk: many chunks an epoch


def _pixels(n=700, d=30, seed=0):
    rng = np.random.default_rng(seed)
    U = rng.integers(0, 256, (n, d), dtype=np.uint8)
    return U, (U[:, 0] > 128).astype(np.int64) + (U[:, 1] > 100)


def _model(dtype="float32", scaler=None):
    model = fastnn.Sequential([fastnn.Dense(30, 16, "relu"), fastnn.Dropout(0.2), fastnn.Dense(16, 3, "softmax")],
                              seed=0, dtype=dtype)
    model.compile("cross_entropy", fastnn.Adam(1e-2), metrics=["accuracy", "f1"])
    model.scaler = scaler
    return model


def _same_history(a, b):
    assert a.history.keys() == b.history.keys()
    for key in a.history:
        if key != "seconds":
            assert a.history[key] == b.history[key], key


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scaled", [False, True])
def test_uint8_pixels_train_as_their_float_copy(dtype, scaled, small_chunks):
    U, y = _pixels()
    scaler = fastnn.StandardScaler().fit(U) if scaled else None
    a, b = _model(dtype, scaler), _model(dtype, scaler)
    with pytest.warns(UserWarning, match="far from unit scale") if not scaled else _nothing():
        ha = a.fit(U.astype(dtype), y, epochs=3, batch_size=32, validation_split=0.2, verbose=0)
    with pytest.warns(UserWarning, match="far from unit scale") if not scaled else _nothing():
        hb = b.fit(U, y, epochs=3, batch_size=32, validation_split=0.2, verbose=0)
    np.testing.assert_array_equal(a.parameters, b.parameters)
    _same_history(ha, hb)
    np.testing.assert_array_equal(a.predict(U.astype(dtype)), b.predict(U))
    scores_a, scores_b = a.evaluate(U.astype(dtype), y), b.evaluate(U, y)
    assert scores_a.keys() == scores_b.keys()
    for key in scores_a:
        assert scores_b[key] == pytest.approx(scores_a[key], rel=1e-12), key


def _nothing():
    import contextlib

    return contextlib.nullcontext()


def test_a_memory_mapped_file_trains_as_the_array(tmp_path, small_chunks):
    U, y = _pixels()
    path = tmp_path / "rows.f64"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=U.shape)
    mm[:] = U / 255.0
    mm.flush()
    mm = np.memmap(path, dtype=np.float64, mode="r", shape=U.shape)
    X = (U / 255.0).astype(np.float32)
    a, b = _model(), _model()
    a.fit(X, y, epochs=2, batch_size=32, validation_data=(X[:100], y[:100]), verbose=0)
    b.fit(mm, y, epochs=2, batch_size=32, validation_data=(mm[:100], y[:100]), verbose=0)
    np.testing.assert_array_equal(a.parameters, b.parameters)
    np.testing.assert_array_equal(a.predict(X), b.predict(mm))
    assert isinstance(b._inputs(mm, lazy=True), _data.Rows)
    same = np.memmap(tmp_path / "rows.f32", dtype=np.float32, mode="w+", shape=U.shape)
    same[:] = X
    assert not isinstance(b._inputs(same, lazy=True), _data.Rows)  # the model's dtype, no scaler: read in place


def test_bad_rows_of_a_file_are_refused_before_training(tmp_path):
    U, y = _pixels()
    mm = np.memmap(tmp_path / "rows.f64", dtype=np.float64, mode="w+", shape=U.shape)
    mm[:] = U / 255.0
    mm[650, 3] = np.nan
    model = _model()
    before = model.parameters.copy()
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        model.fit(mm, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.parameters, before)
    with pytest.raises(ValueError, match="X has 29 features, but the model expects 30"):
        model.fit(U[:, 1:], y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"X has shape \(700, 5, 6\)"):
        model.predict(U.reshape(700, 5, 6))


def test_images_and_sequences_come_as_uint8_too(small_chunks):
    rng = np.random.default_rng(1)
    U = rng.integers(0, 256, (120, 1, 8, 8), dtype=np.uint8)
    y = rng.integers(0, 2, 120)

    def cnn():
        m = fastnn.Sequential([fastnn.Conv2D(1, 3, 3, activation="relu"), fastnn.MaxPool2D(2), fastnn.Flatten(),
                               fastnn.Dense(27, 2, "softmax")], seed=0, input_shape=(1, 8, 8))
        m.scaler = fastnn.MinMaxScaler().fit(U.reshape(120, -1))
        return m.compile("cross_entropy", fastnn.SGD(0.05))

    a, b = cnn(), cnn()
    scaled, a.scaler = a.scaler.transform(U.reshape(120, -1)), None
    a.fit(scaled, y, epochs=2, batch_size=16, verbose=0)
    b.fit(U, y, epochs=2, batch_size=16, verbose=0)
    np.testing.assert_array_equal(a.parameters, b.parameters)
    tokens = fastnn.Sequential([fastnn.Embedding(256, 4), fastnn.GRU(4, 5), fastnn.Dense(5, 2, "softmax")], seed=0)
    assert not isinstance(tokens._inputs(U[:, 0, 0], lazy=True), _data.Rows)  # token ids stay integers


@pytest.mark.parametrize("chunk_bytes", [None, 20_000])
def test_kmeans_clusters_uint8_pixels_a_chunk_at_a_time(chunk_bytes, monkeypatch, tmp_path):
    import fastnn.cluster.kmeans as km

    if chunk_bytes:
        monkeypatch.setattr(km, "_CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(0)
    U = np.concatenate([rng.integers(0, 90, (150, 12)), rng.integers(160, 256, (150, 12))]).astype(np.uint8)
    path = tmp_path / "pixels.u8"
    U.tofile(path)
    mapped = np.memmap(path, dtype=np.uint8, mode="r", shape=U.shape)
    for init in ("k-means++", "random"):
        a = fastnn.KMeans(3, init=init, random_state=0).fit(U.astype(np.float64))
        b = fastnn.KMeans(3, init=init, random_state=0).fit(mapped)
        assert b.cluster_centers_.dtype == np.float64
        np.testing.assert_allclose(b.cluster_centers_, a.cluster_centers_, rtol=1e-12)
        np.testing.assert_array_equal(b.labels_, a.labels_)
        assert b.inertia_ == pytest.approx(a.inertia_, rel=1e-12) and b.n_iter_ == a.n_iter_
        np.testing.assert_array_equal(b.predict(mapped), a.predict(U.astype(np.float64)))
        np.testing.assert_allclose(b.transform(U), a.transform(U.astype(np.float64)), rtol=1e-12)
        assert b.score(U) == pytest.approx(a.score(U.astype(np.float64)), rel=1e-12)
        if chunk_bytes is None:  # one chunk: the same arithmetic as the float64 copy
            np.testing.assert_array_equal(b.cluster_centers_, a.cluster_centers_)
    f32 = fastnn.KMeans(3, random_state=0).fit(U.astype(np.float32))
    np.testing.assert_array_equal(f32.predict(U), f32.predict(U.astype(np.float32)))  # in the centers' dtype
