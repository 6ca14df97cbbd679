"""fastnn.save / fastnn.load for KMeans, the scalers and the scikit-learn MLP estimators: round trips bit for bit,
unfitted estimators, files of the wrong kind, and refusal of corrupted or hostile files."""
import json
import warnings
import zipfile

import numpy as np
import pytest

import fastnn
import fastnn.rl
from fastnn.io import ModelFileError


class _Frame:
    """The least of a pandas DataFrame that feature-name checks look at: string columns and ``__array__``."""

    def __init__(self, values, columns):
        self.values, self.columns = np.asarray(values), list(columns)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


def _round_trip(obj, tmp_path, name="est.fnn"):
    path = tmp_path / name
    fastnn.save(obj, path)
    return fastnn.load(path)


def _rewrite(path, change_header=None, drop=(), replace=None):
    """Rewrite the archive ``path`` with its header changed by ``change_header(header)``, members dropped or
    replaced (``{name: bytes}``)."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    header = json.loads(members["header.json"])
    if change_header is not None:
        change_header(header)
    members["header.json"] = json.dumps(header).encode()
    members.update(replace or {})
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            if n not in drop:
                z.writestr(n, data)


# -- KMeans and the scalers ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kmeans_round_trip_is_bit_identical(tmp_path, rng, dtype):
    X = rng.normal(size=(400, 6)).astype(dtype)
    km = fastnn.KMeans(n_clusters=5, n_init=3, max_iter=50, tol=1e-3, random_state=2, n_threads=1).fit(X)
    loaded = _round_trip(km, tmp_path)
    assert type(loaded) is fastnn.KMeans and loaded.get_params() == km.get_params()
    for name in ("cluster_centers_", "labels_"):
        got, want = getattr(loaded, name), getattr(km, name)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert (loaded.inertia_, loaded.n_iter_, loaded.n_features_in_) == (km.inertia_, km.n_iter_, km.n_features_in_)
    Xt = rng.normal(size=(50, 6)).astype(dtype)
    np.testing.assert_array_equal(loaded.predict(Xt), km.predict(Xt))
    np.testing.assert_array_equal(loaded.transform(Xt), km.transform(Xt))
    assert loaded.score(Xt) == km.score(Xt)


def test_kmeans_with_an_initial_array_and_feature_names(tmp_path, rng):
    X = rng.normal(size=(100, 3))
    init = X[:4].copy()
    km = fastnn.KMeans(n_clusters=4, init=init).fit(_Frame(X, ["a", "b", "c"]))
    loaded = _round_trip(km, tmp_path)
    np.testing.assert_array_equal(loaded.init, init)
    assert list(loaded.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_array_equal(loaded.predict(_Frame(X, ["a", "b", "c"])), km.labels_)
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(_Frame(X, ["a", "b", "x"]))


@pytest.mark.parametrize("scaler", [fastnn.StandardScaler(), fastnn.StandardScaler(with_mean=False),
                                    fastnn.MinMaxScaler(feature_range=(-2, 3)), fastnn.LogScaler()],
                         ids=repr)
def test_scalers_round_trip_bit_identical(tmp_path, rng, scaler):
    X = np.abs(rng.normal(size=(300, 5))) * [1, 10, 100, 0.1, 5]
    scaler.fit(X)
    loaded = _round_trip(scaler, tmp_path)
    assert type(loaded) is type(scaler) and loaded.get_params() == scaler.get_params()
    for key in scaler._state_arrays + ("n_features_in_", "n_samples_seen_"):
        np.testing.assert_array_equal(getattr(loaded, key), getattr(scaler, key))
    for dtype in (None, "float32", "float64"):
        np.testing.assert_array_equal(loaded.transform(X, dtype=dtype), scaler.transform(X, dtype=dtype))
        Z = scaler.transform(X)
        np.testing.assert_array_equal(loaded.inverse_transform(Z, dtype=dtype),
                                      scaler.inverse_transform(Z, dtype=dtype))


@pytest.mark.parametrize("est", [fastnn.KMeans(3, random_state=1), fastnn.StandardScaler(with_std=False),
                                 fastnn.MinMaxScaler((1, 2)), fastnn.LogScaler()], ids=repr)
def test_unfitted_estimators_save_their_parameters_and_load_unfitted(tmp_path, rng, est):
    loaded = _round_trip(est, tmp_path)
    assert type(loaded) is type(est) and loaded.get_params() == est.get_params()
    with pytest.raises(fastnn.NotFittedError):
        loaded.transform(np.ones((2, 2)))
    X = np.abs(rng.normal(size=(30, 2)))
    np.testing.assert_array_equal(loaded.fit_transform(X), est.fit_transform(X))  # fits as the original would


def test_the_files_hold_no_pickle(tmp_path, rng):
    km = fastnn.KMeans(2, random_state=0).fit(rng.normal(size=(20, 2)))
    path = tmp_path / "km.fnn"
    fastnn.save(km, path)
    with zipfile.ZipFile(path) as z:
        header = json.loads(z.read("header.json"))
        assert header["format"] == "fastnn-estimator" and header["estimator"] == "KMeans" and header["fitted"]
        for name in z.namelist():
            assert name == "header.json" or name.endswith(".npy")
            if name.endswith(".npy"):
                with z.open(name) as f:
                    np.lib.format.read_array(f, allow_pickle=False)


def test_parameters_that_cannot_be_saved_are_refused_before_writing(tmp_path, rng):
    km = fastnn.KMeans(2, random_state=np.random.default_rng(0)).fit(rng.normal(size=(20, 2)))
    path = tmp_path / "km.fnn"
    with pytest.raises(TypeError, match="random_state=.*cannot be saved"):
        fastnn.save(km, path)
    assert not path.exists()
    with pytest.raises(TypeError, match="fastnn.save saves .*KMeans.*got builtins.dict"):
        fastnn.save({"a": 1}, path)
    with pytest.raises(TypeError, match="fit_state"):
        fastnn.save(km.set_params(random_state=0), path, fit_state={})


# -- files of one kind loaded as another ---------------------------------------------------------------------------

def test_a_file_of_one_kind_loaded_as_another_says_what_it_holds(tmp_path, rng):
    X = rng.normal(size=(40, 3)).astype(np.float32)
    km_path = tmp_path / "km.fnn"
    fastnn.save(fastnn.KMeans(2, random_state=0).fit(X), km_path)
    model = fastnn.Sequential([fastnn.Dense(3, 2, "softmax")], seed=0).compile()
    with pytest.raises(ModelFileError, match=r"holds a KMeans estimator, not a fastnn model: load it with "
                                             r"fastnn.load\(path\)"):
        model.fit(X, np.zeros(40, int), epochs=1, verbose=0, checkpoint=km_path, resume=True)
    assert model.epochs_trained == 0
    with pytest.raises(ModelFileError, match="holds a KMeans estimator, not a fastnn model"):
        fastnn.io.load_model(km_path)
    model_path = tmp_path / "model.fnn"
    model.save(model_path)
    with pytest.raises(ModelFileError, match=r"holds a fastnn model, not a fastnn agent: load it with "
                                             r"fastnn.load\(path\)"):
        fastnn.rl.QLearning.load(model_path)
    agent_path = tmp_path / "agent.fnn"
    fastnn.rl.QLearning(4, 2, seed=0).save(agent_path)
    assert type(fastnn.load(agent_path)) is fastnn.rl.QLearning
    _rewrite(agent_path, lambda h: h.update(algo="DQN"))
    with pytest.raises(ModelFileError, match=r"holds a DQN agent.*fastnn.rl.DQN.load\(path, env\)"):
        fastnn.load(agent_path)


# -- damaged and hostile files -------------------------------------------------------------------------------------

def _attributes(change):
    return lambda h: change(h["attributes"])


@pytest.mark.parametrize("change, match", [
    (lambda h: h.update(estimator="Pickle"), "unknown estimator 'Pickle'"),
    (lambda h: h.update(format_version=9), "format version 9"),
    (lambda h: h["params"].update(evil=1), r"no parameters \['evil'\]"),
    (lambda h: h["params"].update(n_clusters={"call": "os.system"}), "not a value fastnn writes"),
    (lambda h: h.update(fitted="yes"), "'fitted' has the wrong type"),
    (_attributes(lambda a: a.pop("cluster_centers_")), "cluster_centers_ is missing"),
    (_attributes(lambda a: a.update(extra=1)), r"unknown attributes \['extra'\]"),
    (_attributes(lambda a: a.update(n_iter_=-1)), "n_iter_ must be an integer of at least 0"),
    (_attributes(lambda a: a.update(inertia_={"float": "nan"})), "inertia_ must be a finite number"),
    (_attributes(lambda a: a.update(n_features_in_=3)), r"cluster_centers_ must be an array of shape \(3, 3\)"),
    (_attributes(lambda a: a["cluster_centers_"].update(dtype="|O")), "dtype '|O'"),
    (_attributes(lambda a: a["cluster_centers_"].update(shape=[2, 3])), "holds float64"),
    (_attributes(lambda a: a["cluster_centers_"].update(array="../../etc/passwd")), "not one of arrays/"),
    (_attributes(lambda a: a["labels_"].update(shape=[10 ** 12])), "not at most 4 sizes"),
])
def test_bad_estimator_files_are_refused(tmp_path, rng, change, match):
    X = rng.normal(size=(30, 2))
    path = tmp_path / "km.fnn"
    fastnn.save(fastnn.KMeans(3, random_state=0).fit(X), path)
    _rewrite(path, change)
    with pytest.raises(ModelFileError, match=match):
        fastnn.load(path)


def test_labels_outside_the_clusters_and_bad_scaler_statistics_are_refused(tmp_path, rng):
    X = np.abs(rng.normal(size=(30, 2)))
    path = tmp_path / "km.fnn"
    km = fastnn.KMeans(3, random_state=0).fit(X)
    km.labels_[0] = 7
    fastnn.save(km, path)
    with pytest.raises(ModelFileError, match="labels_ holds labels outside 0..2"):
        fastnn.load(path)
    scaler = fastnn.StandardScaler().fit(X)
    scaler.scale_ = -scaler.scale_
    fastnn.save(scaler, path)
    with pytest.raises(ModelFileError, match="'scale_' must be positive"):
        fastnn.load(path)
    fastnn.save(fastnn.StandardScaler().fit(X), path)
    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.endswith("mean_.npy"))
    _rewrite(path, drop=(name,))
    with pytest.raises(ModelFileError, match=f"missing member {name}"):
        fastnn.load(path)


# -- scikit-learn's MLP estimators ---------------------------------------------------------------------------------

sklearn = pytest.importorskip("sklearn")


def _mlp(cls, **kw):
    from fastnn import sklearn as fs

    return getattr(fs, cls)(hidden_layer_sizes=(16, 8), max_iter=15, random_state=0, **kw)


@pytest.mark.parametrize("labels", ["strings", "binary_strings", "integers", "booleans", "multilabel", "objects"])
def test_mlp_classifier_round_trip_keeps_classes_and_predictions(tmp_path, rng, labels):
    X = rng.normal(size=(200, 5))
    raw = rng.integers(0, 3, 200)
    y = {"strings": np.array(["cat", "dog", "emu"])[raw], "binary_strings": np.array(["no", "yes"])[raw % 2],
         "integers": raw * 10 - 7, "booleans": raw == 1, "multilabel": (X[:, :3] > 0).astype(int),
         "objects": np.array(["cat", "dog", "emu"], dtype=object)[raw]}[labels]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = _mlp("MLPClassifier", dtype="float64").fit(X, y)
    loaded = _round_trip(clf, tmp_path)
    assert type(loaded) is type(clf) and loaded.get_params() == clf.get_params()
    assert loaded.classes_.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.score(X, y) == clf.score(X, y)
    assert loaded.loss_curve_ == clf.loss_curve_ and loaded.n_iter_ == clf.n_iter_ and loaded.t_ == clf.t_
    # training continues as it would have
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.partial_fit(X, y)
        loaded.partial_fit(X, y)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_mlp_regressor_round_trip_with_early_stopping_and_an_infinite_patience(tmp_path, rng):
    X = rng.normal(size=(200, 4)).astype(np.float32)
    Y = np.c_[X[:, 0] - X[:, 1], X[:, 2] ** 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = _mlp("MLPRegressor", early_stopping=True, n_iter_no_change=np.inf, solver="sgd",
                   learning_rate="adaptive").fit(X, Y)
    loaded = _round_trip(reg, tmp_path)
    assert loaded.n_iter_no_change == np.inf and loaded.hidden_layer_sizes == (16, 8)
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    assert loaded.validation_scores_ == reg.validation_scores_
    assert loaded.best_validation_score_ == reg.best_validation_score_ and loaded.best_loss_ is None


def test_an_unfitted_mlp_loads_unfitted(tmp_path):
    from sklearn.exceptions import NotFittedError

    loaded = _round_trip(_mlp("MLPClassifier", dropout=0.2), tmp_path)
    assert loaded.get_params() == _mlp("MLPClassifier", dropout=0.2).get_params()
    with pytest.raises(NotFittedError):
        loaded.predict(np.ones((1, 5)))


@pytest.mark.parametrize("change, match", [
    (_attributes(lambda a: a.update(n_features_in_=9)), "model_ takes 5 features to 3 outputs"),
    (_attributes(lambda a: a.update(out_activation_="logistic")), "output activation does not match"),
    (_attributes(lambda a: a.update(label_type_="binary")), "3 classes of type 'binary'"),
    (_attributes(lambda a: a.update(classes_={"objects": ["a", "a", "b"], "shape": [3]})), "a label twice"),
    (_attributes(lambda a: a.update(model_={"model": "elsewhere/"})), "not a value fastnn writes"),
    (lambda h: h["params"].update(dtype="float64"), "of the estimator's dtype"),
])
def test_bad_mlp_files_are_refused(tmp_path, rng, change, match):
    X = rng.normal(size=(60, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = _mlp("MLPClassifier").fit(X, np.array(["a", "b", "c"])[rng.integers(0, 3, 60)])
    path = tmp_path / "clf.fnn"
    fastnn.save(clf, path)
    _rewrite(path, change)
    with pytest.raises(ModelFileError, match=match):
        fastnn.load(path)


def test_lbfgs_estimator_round_trip(tmp_path):
    """An estimator fitted by L-BFGS (no loss curve, as in scikit-learn) saves and loads."""
    from fastnn.sklearn import MLPClassifier

    X = np.random.default_rng(0).normal(size=(50, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(4,), random_state=0).fit(X, y)
    fastnn.save(clf, tmp_path / "clf.fnn")
    back = fastnn.load(tmp_path / "clf.fnn")
    assert np.array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert not hasattr(back, "loss_curve_") and back.n_layers_ == clf.n_layers_ == 3
    assert back.n_iter_ == clf.n_iter_ and back.loss_ == clf.loss_
