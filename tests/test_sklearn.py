"""fastnn.sklearn: scikit-learn's estimator checks, and the estimators against scikit-learn and fastnn."""
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", minversion="1.6")

from sklearn import neural_network as sk_nn
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastnn
from fastnn.sklearn import MLPClassifier, MLPRegressor

SMALL = dict(hidden_layer_sizes=(16,), max_iter=100, learning_rate_init=0.01)


#: Parameters a check runs with, as scikit-learn's own test suite sets them for its MLPs
#: (sklearn.utils._test_common.instance_generator.PER_ESTIMATOR_CHECK_PARAMS): weighted and repeated samples are
#: the same objective, which full-batch L-BFGS minimises alike (mini-batches and shuffles differ between them).
#: The check compares predictions to rtol=1e-7, below one float32 rounding step (1.2e-7): it runs in float64, the
#: precision scikit-learn's MLP computes the check's float64 data in.
CHECK_PARAMS = dict.fromkeys(["check_sample_weight_equivalence_on_dense_data",
                              "check_sample_weight_equivalence_on_sparse_data"], dict(solver="lbfgs", dtype="float64"))


@parametrize_with_checks(
    [MLPClassifier(**SMALL), MLPRegressor(**SMALL),
     MLPClassifier(dtype="float64", **SMALL), MLPRegressor(dtype="float64", **SMALL),
     MLPClassifier(solver="lbfgs", hidden_layer_sizes=(16,), max_iter=100),
     MLPRegressor(solver="lbfgs", hidden_layer_sizes=(16,), max_iter=100)],
)
def test_estimator_checks(estimator, check):
    """Every check of scikit-learn's, no expected failure (float32 included)."""
    name = getattr(check, "func", check).__name__
    if name in CHECK_PARAMS:
        estimator = clone(estimator).set_params(**CHECK_PARAMS[name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


with warnings.catch_warnings():  # "does not inherit from BaseEstimator": on purpose, scikit-learn is optional
    warnings.simplefilter("ignore", UserWarning)
    _own_estimator_checks = parametrize_with_checks(
        [fastnn.KMeans(n_clusters=3, n_init=1, max_iter=20, random_state=0, n_threads=1), fastnn.StandardScaler(),
         fastnn.MinMaxScaler(), fastnn.LogScaler()],
        expected_failed_checks=lambda est: {
            # k-means++ draws its seeds by index, so weights and repeated rows give other starts; scikit-learn
            # lists the same expected failure for its own KMeans (Lloyd's steps alone are equivalent:
            # test_cluster.py::test_integer_weights_equal_repeated_samples)
            "check_sample_weight_equivalence_on_dense_data":
                "k-means++ seeding differs between weighted and repeated samples",
        } if isinstance(est, fastnn.KMeans) else {},
    )


@_own_estimator_checks
def test_kmeans_and_scalers_pass_estimator_checks(estimator, check):
    """These do not derive from scikit-learn's classes (``import fastnn`` does not need it), yet follow its
    protocol: parameters, tags, errors, feature names."""
    check(estimator)


def _data(n=120, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, rng


def _copy_weights_to_sklearn(est, sk):
    W = est.model_.get_weights()
    sk.coefs_ = [np.array(w.T, dtype=np.float64) for w in W[0::2]]
    sk.intercepts_ = [np.array(b, dtype=np.float64) for b in W[1::2]]


SGD_CASES = {
    "multiclass": dict(kind="clf", y=lambda X, rng: (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)),
    "binary": dict(kind="clf", y=lambda X, rng: np.where(X[:, 0] + X[:, 2] > 0, "yes", "no")),
    "multilabel": dict(kind="clf", y=lambda X, rng: np.c_[X[:, 0] > 0, X[:, 1] > 0, X[:, 2] > 0].astype(int)),
    "regression": dict(kind="reg", y=lambda X, rng: X[:, 0] - 2 * X[:, 1]),
    "multioutput": dict(kind="reg", y=lambda X, rng: np.c_[X[:, 0], X[:, 1] * X[:, 2], -X[:, 3]]),
}


@pytest.mark.parametrize("schedule", ["constant", "invscaling"])
@pytest.mark.parametrize("case", list(SGD_CASES))
def test_sgd_matches_scikit_learn(case, schedule):
    """With the same initial weights, no shuffle and full batches, SGD training equals scikit-learn's: the L2
    mapping, the loss scale and the momentum across rate changes are exact."""
    X, rng = _data()
    y = SGD_CASES[case]["y"](X, rng)
    ours_cls, theirs_cls = ((MLPClassifier, sk_nn.MLPClassifier) if SGD_CASES[case]["kind"] == "clf"
                            else (MLPRegressor, sk_nn.MLPRegressor))
    params = dict(hidden_layer_sizes=(7, 5), activation="tanh", solver="sgd", alpha=0.01, batch_size=40,
                  learning_rate=schedule, learning_rate_init=0.05, momentum=0.9, shuffle=False, max_iter=1,
                  warm_start=True, random_state=0, n_iter_no_change=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = ours_cls(dtype="float64", **params).fit(X, y)
        theirs = theirs_cls(**params).fit(X, y)
        _copy_weights_to_sklearn(ours, theirs)
        ours.set_params(max_iter=6).fit(X, y)
        theirs.set_params(max_iter=6).fit(X, y)
    for w, c in zip(ours.model_.get_weights()[0::2], theirs.coefs_):
        np.testing.assert_allclose(w.T, c, rtol=1e-9, atol=1e-12)
    if case == "multioutput":  # the penalty part of the loss is the end-of-epoch penalty (documented)
        np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-3)
    else:
        np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-9)
    assert ours.t_ == theirs.t_ and ours.n_iter_ == theirs.n_iter_ == 6
    np.testing.assert_allclose(ours.predict(X[:10]) if case != "binary" else ours.predict_proba(X[:10]),
                               theirs.predict(X[:10]) if case != "binary" else theirs.predict_proba(X[:10]),
                               rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("case", list(SGD_CASES))
def test_lbfgs_matches_scikit_learn(case):
    """solver='lbfgs' from the same initial weights takes scikit-learn's L-BFGS-B path: the same objective
    (loss scale, L2 penalty, sample weights), options and iteration count."""
    X, rng = _data(n=80)
    y = SGD_CASES[case]["y"](X, rng)
    ours_cls, theirs_cls = ((MLPClassifier, sk_nn.MLPClassifier) if SGD_CASES[case]["kind"] == "clf"
                            else (MLPRegressor, sk_nn.MLPRegressor))
    params = dict(hidden_layer_sizes=(7, 5), activation="tanh", solver="lbfgs", alpha=0.01, max_iter=1,
                  warm_start=True, random_state=0)
    w = rng.integers(1, 4, size=X.shape[0]).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = ours_cls(dtype="float64", **params).fit(X, y)
        theirs = theirs_cls(**params).fit(X, y)
        theirs.coefs_ = [np.array(c, dtype=np.float64) for c in ours.coefs_]
        theirs.intercepts_ = [np.array(b, dtype=np.float64) for b in ours.intercepts_]
        ours.set_params(max_iter=15).fit(X, y, sample_weight=w)
        theirs.set_params(max_iter=15).fit(X, y, sample_weight=w)
    assert ours.n_iter_ == theirs.n_iter_ == 15 and not hasattr(ours, "loss_curve_")
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
    for mine, their in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(mine, their, rtol=1e-7, atol=1e-10)


def test_lbfgs_on_small_data():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X / 16.0, y, test_size=0.3, random_state=0, stratify=y)
    clf = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(32,), alpha=1e-2, max_iter=20, random_state=0)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge after 20 iteration"):
        clf.fit(X_tr, y_tr)
    assert clf.n_iter_ == 20 and clf.score(X_te, y_te) > 0.92
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.set_params(max_iter=200).fit(X_tr, y_tr)  # converges (gradient below tol): no warning
    assert clf.n_iter_ < 200 and clf.score(X_te, y_te) > 0.95
    reg = MLPRegressor(solver="lbfgs", hidden_layer_sizes=(8,), tol=1e-3, random_state=0).fit(X_tr, y_tr / 9.0)
    assert reg.n_iter_ < 200 and reg.score(X_te, y_te / 9.0) > 0.7  # converged: no warning


def test_coefs_and_intercepts_are_scikit_learns_shapes_and_views():
    X, rng = _data(n=60)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(hidden_layer_sizes=(7, 5), max_iter=5, dropout=0.1, random_state=0).fit(X, y)
        theirs = sk_nn.MLPClassifier(hidden_layer_sizes=(7, 5), max_iter=5, random_state=0).fit(X, y)
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_] == [(6, 7), (7, 5), (5, 3)]
    assert [b.shape for b in ours.intercepts_] == [b.shape for b in theirs.intercepts_] == [(7,), (5,), (3,)]
    assert ours.n_layers_ == theirs.n_layers_ == 4 and ours.n_outputs_ == theirs.n_outputs_ == 3
    assert ours.out_activation_ == theirs.out_activation_ == "softmax"
    ours.coefs_[2][...] = 0  # views: writing them changes the network
    ours.intercepts_[2][...] = [0, 5, 0]
    np.testing.assert_array_equal(ours.predict(X), 1)
    with pytest.raises(AttributeError):
        MLPClassifier().coefs_


@pytest.mark.parametrize("solver", ["lbfgs", "adam", "sgd"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_input_equals_dense(solver, fmt):
    import scipy.sparse as sp

    X, rng = _data(n=150, d=20)
    X[rng.random(X.shape) < 0.8] = 0
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0)
    w = rng.random(150) + 0.5
    Xs = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    params = dict(solver=solver, hidden_layer_sizes=(8,), batch_size=32, max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPClassifier(**params).fit(X, y, sample_weight=w)
        sparse = MLPClassifier(**params).fit(Xs, y, sample_weight=w)
        reg_dense = MLPRegressor(**params).fit(X, X[:, 0] - X[:, 3])
        reg_sparse = MLPRegressor(**params).fit(Xs, X[:, 0] - X[:, 3])
    np.testing.assert_array_equal(sparse.predict_proba(Xs), dense.predict_proba(X))
    np.testing.assert_array_equal(sparse.predict(Xs), dense.predict(X))
    np.testing.assert_array_equal(reg_sparse.predict(Xs), reg_dense.predict(X))
    if solver != "lbfgs":  # the epoch's loss summed batch by batch: equal to the last bits
        np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-12)


def test_sparse_input_with_a_batch_of_zero_weights():
    import scipy.sparse as sp

    X, rng = _data(n=40, d=3)
    y = (X[:, 0] > 0).astype(int)
    w = np.ones(40)
    w[:10] = 0  # the first two batches of 5 weigh nothing
    params = dict(solver="adam", batch_size=5, shuffle=False, max_iter=3, hidden_layer_sizes=(4,), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sparse = MLPClassifier(**params).fit(sp.csr_matrix(X), y, sample_weight=w)
        without = MLPClassifier(**params).fit(sp.csr_matrix(X[10:]), y[10:])
    # the two weightless batches are skipped: the same as training on the other rows alone
    assert sparse.n_iter_ == 3
    np.testing.assert_allclose(sparse.predict_proba(X), without.predict_proba(X), rtol=1e-6)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_sparse_input_counts_epochs_as_dense_input(solver):
    import scipy.sparse as sp

    X, rng = _data(n=90, d=5)
    X[rng.random(X.shape) < 0.6] = 0
    y = (X[:, 0] > 0).astype(int)
    params = dict(solver=solver, hidden_layer_sizes=(6,), batch_size=16, max_iter=4, tol=0, random_state=0)
    fitted = []
    for data in (X, sp.csr_matrix(X)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = MLPClassifier(**params).fit(data, y)
        assert est.n_iter_ == est.model_.epochs_trained == 4
        assert est.model_.history.epoch == [0, 1, 2, 3]
        est.partial_fit(data, y)
        est.partial_fit(data, y)
        assert est.n_iter_ == est.model_.epochs_trained == 6 and est.model_.history.epoch == [5]
        fitted.append(est)
    np.testing.assert_array_equal(fitted[1].model_.parameters, fitted[0].model_.parameters)


def test_sparse_input_diverges_as_dense_input():
    """A loss that becomes infinite within an epoch: the epoch's start restored and FloatingPointError raised,
    the same for both inputs (scikit-learn raises rather than keep non-finite weights, too)."""
    import scipy.sparse as sp

    X, rng = _data(n=200, d=5)
    y = X @ rng.normal(size=5) * 1e3
    results = []
    for data in (X, sp.csr_matrix(X)):
        est = MLPRegressor(solver="sgd", learning_rate_init=1.0, momentum=0.9, batch_size=20, max_iter=20,
                           random_state=0)
        with pytest.raises(FloatingPointError, match=r"training diverged at epoch 1, iteration 3 .*after 2 "
                                                     r"complete updates.*restored to the start of that epoch"):
            est.fit(data, y)
        assert est.n_iter_ == est.model_.epochs_trained == 0 and est.loss_curve_ == []
        results.append(est.model_)
    dense, sparse = results
    np.testing.assert_array_equal(sparse.parameters, dense.parameters)
    np.testing.assert_array_equal(sparse.optimizer_state, dense.optimizer_state)
    assert np.isfinite(sparse.parameters).all()


def test_float32_predictions_do_not_depend_on_the_other_rows():
    """scikit-learn's check_methods_subset_invariance, on a wider network: a row's prediction is the same, bit
    for bit, alone, in a small block or in a large one."""
    X, rng = _data(n=300, d=20)
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(128, 64), max_iter=5, random_state=0).fit(X, y)
    full = clf.predict_proba(X)
    for rows in (slice(7, 8), slice(0, 5), slice(3, 67), slice(10, 300)):
        np.testing.assert_array_equal(clf.predict_proba(X[rows]), full[rows])


def test_sparse_rows_are_made_dense_a_block_at_a_time(monkeypatch):
    """Never the whole matrix: fit and predict make at most a block of rows dense at once."""
    import scipy.sparse as sp

    import fastnn.sklearn as fsk

    X, rng = _data(n=2500, d=5)
    Xs = sp.random(2500, 5, density=0.3, format="csr", random_state=0)
    y = (Xs.toarray()[:, 0] > 0.2).astype(int)
    largest = []
    toarray = sp.csr_matrix.toarray

    def spy(self, *args, **kwargs):
        largest.append(self.shape[0])
        return toarray(self, *args, **kwargs)

    monkeypatch.setattr(sp.csr_matrix, "toarray", spy)
    for solver in ("lbfgs", "adam"):
        clf = MLPClassifier(solver=solver, hidden_layer_sizes=(4,), max_iter=2, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(Xs, y)
        clf.predict_proba(Xs)
    assert largest and max(largest) <= fsk._SPARSE_ROWS < 2500


def test_sgd_equals_hand_trained_sequential():
    X, rng = _data(n=150)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    clf = MLPClassifier(hidden_layer_sizes=(16,), solver="sgd", learning_rate_init=0.05, momentum=0.9,
                        nesterovs_momentum=True, alpha=1e-3, batch_size=50, max_iter=12, random_state=3,
                        n_iter_no_change=np.inf)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    seed = int(np.random.RandomState(3).randint(np.iinfo(np.int32).max))
    model = fastnn.Sequential([fastnn.Dense(6, 16, activation="relu"), fastnn.Dense(16, 3, activation="softmax")],
                              seed=seed)
    model.compile(loss="cross_entropy", optimizer=fastnn.SGD(lr=0.05, momentum=0.9, nesterov=True),
                  regularizer=fastnn.L2(1e-3 / 50))
    history = model.fit(X, y, epochs=12, batch_size=50, verbose=0)
    assert np.array_equal(clf.predict_proba(X), model.predict(X).astype(np.float64))
    assert clf.loss_curve_ == history.history["loss"]


def test_pipeline_and_grid_search():
    X, y = make_classification(n_samples=200, n_features=8, n_informative=5, random_state=0)
    X = X * 30 + 5
    pipe = make_pipeline(fastnn.StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=200,
                                                                learning_rate_init=0.01, random_state=0))
    search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-1]}, cv=3, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert search.best_params_["mlpclassifier__alpha"] in (1e-4, 1e-1)
    assert search.score(X, y) > 0.85


def test_string_labels_and_proba():
    X, rng = _data(n=90)
    names = np.array(["cat", "dog", "eel"])
    y = names[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.3)]
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0, learning_rate_init=0.01).fit(X, y)
    assert list(clf.classes_) == ["cat", "dog", "eel"] and clf.out_activation_ == "softmax"
    assert set(clf.predict(X)) <= set(names) and clf.score(X, y) > 0.9
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    binary = MLPClassifier(hidden_layer_sizes=(8,), max_iter=200, random_state=0).fit(X, y == "cat")
    assert binary.model_.n_outputs == 1 and binary.out_activation_ == "logistic"
    assert binary.predict_proba(X).shape == (90, 2)


def test_multilabel():
    X, rng = _data(n=200)
    Y = np.c_[X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 1] > 0].astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0, learning_rate_init=0.01).fit(X, Y)
    assert clf.n_outputs_ == 3 and clf.out_activation_ == "logistic"
    assert clf.model_.loss.name == "binary_cross_entropy"
    assert clf.predict(X).shape == (200, 3) and clf.score(X, Y) > 0.8
    assert clf.predict_proba(X).shape == (200, 3)


def test_multi_output_regression():
    X, rng = _data(n=200)
    Y = np.c_[X[:, 0] + X[:, 1], X[:, 2] - X[:, 3]]
    reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=400, random_state=0, learning_rate_init=0.01).fit(X, Y)
    assert reg.predict(X).shape == (200, 2) and reg.n_outputs_ == 2 and reg.out_activation_ == "identity"
    assert reg.score(X, Y) > 0.9
    one = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning):
        one.fit(X, Y[:, 0])
    assert one.predict(X).shape == (200,)


def test_partial_fit():
    X, rng = _data(n=200)
    y = np.where(X[:, 0] > 0, "a", "b")
    clf = MLPClassifier(hidden_layer_sizes=(16,), random_state=0, learning_rate_init=0.05)
    with pytest.raises(ValueError, match="classes must be passed"):
        MLPClassifier().partial_fit(X, y)
    clf.partial_fit(X[:100], y[:100], classes=["a", "b"])
    assert clf.n_iter_ == 1 and clf.t_ == 100
    for _ in range(30):
        clf.partial_fit(X, y)
    assert clf.t_ == 100 + 30 * 200 and len(clf.loss_curve_) == 31 and clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match="not in"):
        clf.partial_fit(X, np.full(200, "c"))
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, X[:, 0])
    reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0)
    for _ in range(3):
        reg.partial_fit(X, X[:, 0])
    assert reg.n_iter_ == 3


def test_convergence_and_early_stopping():
    X, rng = _data(n=300)
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=500, random_state=0, learning_rate_init=0.05,
                        tol=1e-3, n_iter_no_change=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)  # converges: no warning
    assert clf.n_iter_ < 500 and clf.best_loss_ == min(clf.loss_curve_)
    tail = clf.loss_curve_[-6:]
    assert all(v > clf.best_loss_ - 1e-3 for v in tail[1:])
    es = MLPClassifier(hidden_layer_sizes=(16,), max_iter=500, random_state=0, early_stopping=True,
                       n_iter_no_change=4, validation_fraction=0.2, learning_rate_init=0.05).fit(X, y)
    assert es.best_loss_ is None and len(es.validation_scores_) == es.n_iter_ < 500
    assert es.best_validation_score_ == max(es.validation_scores_)
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.2, random_state=np.random.RandomState(0),
                                                stratify=y)
    # the best epoch's weights are restored
    assert es.score(X_val, y_val) == pytest.approx(es.best_validation_score_)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)


def test_adaptive_learning_rate_divides_by_five():
    X, rng = _data(n=100)
    y = X[:, 0]
    reg = MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate="adaptive", learning_rate_init=0.01,
                       tol=10.0, n_iter_no_change=2, max_iter=8, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    # every third epoch fails to improve by tol: the rate drops by 5 each time
    assert reg.model_.optimizer.lr == pytest.approx(0.01 / 5 ** 2 * reg._scale)


def test_errors_and_determinism():
    X, rng = _data(n=60)
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match="dropout must be 0 with solver='lbfgs'"):
        MLPClassifier(solver="lbfgs", dropout=0.1).fit(X, y)
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")  # scikit-learn's rule
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
        MLPRegressor(solver="lbfgs").partial_fit(X, X[:, 0])
    with pytest.raises(ValueError, match="poisson"):
        MLPRegressor(loss="poisson").fit(X, X[:, 0])
    with pytest.raises(ValueError, match="alpha"):
        MLPClassifier(alpha=-1).fit(X, y)
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(X)
    a = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=5, dropout=0.2, n_threads=2)
    b = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=5, dropout=0.2, n_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert np.array_equal(a.fit(X, y).predict_proba(X), b.fit(X, y).predict_proba(X))


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    X, rng = _data(n=60)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(df, X[:, 0])
    assert list(reg.feature_names_in_) == list(df.columns) and reg.n_features_in_ == 6


def test_digits_accuracy_close_to_scikit_learn(capsys):
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X / 16.0, y, test_size=0.3, random_state=0, stratify=y)
    scores = {}
    for name, cls in (("fastnn", MLPClassifier), ("scikit-learn", sk_nn.MLPClassifier)):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            kw = {"n_threads": 1} if cls is MLPClassifier else {}  # one thread: a shared machine
            est = cls(hidden_layer_sizes=(100,), max_iter=200, random_state=0, **kw).fit(X_tr, y_tr)
        scores[name] = (est.score(X_te, y_te), time.perf_counter() - start, est.n_iter_)
    with capsys.disabled():
        for name, (acc, sec, it) in scores.items():
            print(f"\ndigits {name}: test accuracy {acc:.4f}, fit {sec:.2f} s, {it} epochs", end="")
    assert scores["fastnn"][0] > 0.95
    assert abs(scores["fastnn"][0] - scores["scikit-learn"][0]) < 0.03


def test_docstring_examples():
    import doctest

    import fastnn.sklearn

    result = doctest.testmod(fastnn.sklearn, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_optional_dependency(tmp_path):
    """``import fastnn`` works without scikit-learn; ``import fastnn.sklearn`` then names the package, and KMeans
    and the scalers work and raise fastnn's NotFittedError."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['sklearn'] = None\n"
            "import numpy as np\n"
            "import fastnn\n"
            "X = np.random.default_rng(0).normal(size=(30, 2))\n"
            "fastnn.KMeans(2, random_state=0).fit(X).predict(X); fastnn.StandardScaler().fit_transform(X)\n"
            "try:\n    fastnn.MinMaxScaler().transform(X)\n"
            "except fastnn.NotFittedError as e:\n    print(type(e) is fastnn.NotFittedError)\n"
            "try:\n    import fastnn.sklearn\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert 'fastnn.sklearn needs scikit-learn 1.6 or later: pip install "scikit-learn>=1.6"' in out.stdout
    assert out.stdout.splitlines()[0] == "True"  # fastnn's own class: scikit-learn was not imported


@pytest.mark.parametrize("est", [fastnn.KMeans(2), fastnn.StandardScaler(), fastnn.MinMaxScaler(),
                                 fastnn.LogScaler()])
def test_not_fitted_error_is_scikit_learns_too(est):
    with pytest.raises(NotFittedError, match="not fitted") as info:
        est.transform(np.ones((3, 2)))
    assert isinstance(info.value, fastnn.NotFittedError)
    assert isinstance(info.value, ValueError) and isinstance(info.value, AttributeError)


def test_kmeans_and_scalers_in_pipeline_and_grid_search():
    from sklearn.base import clone

    X, y = make_classification(n_samples=120, n_features=5, random_state=0)
    pipe = make_pipeline(fastnn.MinMaxScaler(feature_range=(-1, 1)), fastnn.KMeans(n_init=1, random_state=0))
    search = GridSearchCV(pipe, {"kmeans__n_clusters": [2, 4], "minmaxscaler__feature_range": [(0, 1), (-1, 1)]},
                          cv=3).fit(X)
    assert search.best_params_["kmeans__n_clusters"] == 4  # more clusters, lower inertia: higher score
    km = clone(fastnn.KMeans(n_clusters=3, tol=1e-3))
    assert km.get_params()["n_clusters"] == 3 and km.get_params()["tol"] == 1e-3 and not hasattr(km, "labels_")
