"""compile(metrics=[...]) beyond accuracy - mae, mse, top_k_accuracy, precision, recall, f1 (macro), auc - recorded
by fit (training and validation) and evaluate, equal to scikit-learn's functions on the model's predictions."""
import numpy as np
import pytest

import fastnn
from fastnn import metrics as fm

skm = pytest.importorskip("sklearn.metrics")


def _blobs(n, classes, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = (X @ rng.normal(size=(6, classes)) + 0.5 * rng.normal(size=(n, classes))).argmax(axis=1)
    return X, y


def test_multiclass_metrics_equal_sklearn_in_fit_and_evaluate():
    X, y = _blobs(300, 10)
    Xv, yv = _blobs(100, 10, seed=1)
    model = fastnn.Sequential([fastnn.Dense(6, 16, activation="relu"), fastnn.Dense(16, 10, activation="softmax")],
                              dtype="float64", seed=0)
    model.compile(optimizer="adam", metrics=["accuracy", "mae", "mse", "top_k_accuracy",
                                             fastnn.metrics.TopKAccuracy(k=2), "precision", "recall", "f1"])
    assert model.metrics == ["accuracy", "mae", "mse", "top_k_accuracy", "top_2_accuracy", "precision", "recall",
                             "f1"]
    history = model.fit(X, y, epochs=2, batch_size=32, validation_data=(Xv, yv), verbose=0)
    for data, prefix in (((X, y), ""), ((Xv, yv), "val_")):
        proba, labels = model.predict(data[0]), data[1]
        onehot = np.eye(10)[labels]
        expected = {
            "mae": skm.mean_absolute_error(onehot, proba),
            "mse": skm.mean_squared_error(onehot, proba),
            "top_k_accuracy": skm.top_k_accuracy_score(labels, proba, k=5, labels=range(10)),
            "top_2_accuracy": skm.top_k_accuracy_score(labels, proba, k=2, labels=range(10)),
            "precision": skm.precision_score(labels, proba.argmax(1), average="macro", zero_division=0),
            "recall": skm.recall_score(labels, proba.argmax(1), average="macro", zero_division=0),
            "f1": skm.f1_score(labels, proba.argmax(1), average="macro", zero_division=0),
        }
        for name, value in expected.items():  # the last epoch's record: the model as it is now
            assert abs(history.history[prefix + name][-1] - value) < 1e-10, (prefix, name)
    scores = model.evaluate(Xv, yv)
    assert all(abs(scores[name] - history.history["val_" + name][-1]) < 1e-12 for name in expected)
    assert list(history.history)[:9] == ["loss", "accuracy"] + list(expected)


def test_binary_metrics_equal_sklearn_for_sigmoid_and_two_softmax_units():
    X, y = _blobs(200, 2)
    Xv, yv = _blobs(80, 2, seed=1)
    sigmoid = fastnn.Sequential([fastnn.Dense(6, 1, activation="sigmoid")], dtype="float64", seed=0)
    softmax = fastnn.Sequential([fastnn.Dense(6, 2, activation="softmax")], dtype="float64", seed=0)
    sigmoid.compile(loss="binary_cross_entropy", metrics=["auc", "precision", "recall", "f1", "mae"])
    softmax.compile(metrics=["auc", "precision", "recall", "f1"])
    for model, score in ((sigmoid, lambda p: p[:, 0]), (softmax, lambda p: p[:, 1])):
        history = model.fit(X, y if model is softmax else y[:, None], epochs=2, verbose=0,
                            validation_data=(Xv, yv if model is softmax else yv[:, None]))
        proba = model.predict(Xv)
        predicted = (proba[:, 0] > 0.5).astype(int) if model is sigmoid else proba.argmax(1)
        assert abs(history.history["val_auc"][-1] - skm.roc_auc_score(yv, score(proba))) < 1e-10
        assert abs(history.history["val_precision"][-1] - skm.precision_score(yv, predicted, zero_division=0)) < 1e-10
        assert abs(history.history["val_recall"][-1] - skm.recall_score(yv, predicted, zero_division=0)) < 1e-10
        assert abs(history.history["val_f1"][-1] - skm.f1_score(yv, predicted, zero_division=0)) < 1e-10
    assert abs(history.history["val_f1"][-1] - fm.f1_score(yv, predicted)) < 1e-15


def test_regression_metrics_and_sequence_outputs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5, 3))
    Y = np.cumsum(X[:, :, :2], axis=1)
    model = fastnn.Sequential([fastnn.GRU(3, 8, return_sequences=True), fastnn.Dense(8, 2)], input_shape=(5, 3),
                              dtype="float64", seed=0).compile(loss="mse", metrics=["mae", "mean_squared_error"])
    history = model.fit(X, Y, epochs=2, verbose=0)
    P = model.predict(X)
    assert abs(history.history["mae"][-1] - skm.mean_absolute_error(Y.reshape(-1, 2), P.reshape(-1, 2))) < 1e-10
    assert abs(history.history["mse"][-1] - skm.mean_squared_error(Y.reshape(-1, 2), P.reshape(-1, 2))) < 1e-10


@pytest.mark.parametrize("seed", range(3))
def test_metric_functions_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    y, p = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    p[p == 4] = 3  # a class never predicted: zero division gives 0, as scikit-learn's
    yb, pb = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    Y, P = rng.integers(0, 2, (300, 4)), rng.integers(0, 2, (300, 4))
    for ours, theirs in ((fm.precision_score, skm.precision_score), (fm.recall_score, skm.recall_score),
                         (fm.f1_score, skm.f1_score)):
        assert abs(ours(y, p, average="macro") - theirs(y, p, average="macro", zero_division=0)) < 1e-12
        assert abs(ours(yb, pb) - theirs(yb, pb, zero_division=0)) < 1e-12
        assert abs(ours(Y, P, average="macro") - theirs(Y, P, average="macro", zero_division=0)) < 1e-12
    score = rng.random(300).round(1)  # many ties
    assert abs(fm.roc_auc_score(yb, score) - skm.roc_auc_score(yb, score)) < 1e-12
    scores = rng.random((300, 5)).round(1)
    for k in (1, 2, 3):
        assert fm.top_k_accuracy_score(y, scores, k) == skm.top_k_accuracy_score(y, scores, k=k, labels=range(5))
    targets, outputs = rng.normal(size=(300, 3)), rng.normal(size=(300, 3))
    assert abs(fm.mean_absolute_error(targets, outputs) - skm.mean_absolute_error(targets, outputs)) < 1e-12
    assert abs(fm.mean_squared_error(targets, outputs) - skm.mean_squared_error(targets, outputs)) < 1e-12
    assert np.isnan(fm.roc_auc_score([1, 1], [0.2, 0.3]))


def test_compile_refuses_metrics_the_model_cannot_give():
    regression = fastnn.Sequential([fastnn.Dense(3, 2)])
    classifier = fastnn.Sequential([fastnn.Dense(3, 4, activation="softmax")])
    weights = regression.get_weights()
    with pytest.raises(ValueError, match="'f1' needs a classification loss"):
        regression.compile(loss="mse", metrics=["f1"])
    with pytest.raises(ValueError, match="'auc' is for two classes"):
        classifier.compile(metrics=["auc"])
    with pytest.raises(ValueError, match="unknown metric 'r2'"):
        classifier.compile(metrics=["r2"])
    with pytest.raises(ValueError, match="twice"):
        classifier.compile(metrics=["top_k_accuracy", fastnn.metrics.TopKAccuracy(5)])
    with pytest.raises(ValueError, match="k must be >= 1"):
        fastnn.metrics.TopKAccuracy(0)
    assert regression.loss is None and classifier.loss is None
    assert all(np.array_equal(a, b) for a, b in zip(weights, regression.get_weights()))


def test_metrics_survive_save_and_load(tmp_path):
    X, y = _blobs(100, 3)
    model = fastnn.Sequential([fastnn.Dense(6, 3, activation="softmax")], seed=0)
    model.compile(metrics=["f1", "top_2_accuracy"])
    model.save(tmp_path / "m.fnn")
    loaded = fastnn.load(tmp_path / "m.fnn")
    assert loaded.metrics == ["f1", "top_2_accuracy"] and loaded.evaluate(X, y) == model.evaluate(X, y)


def test_autoencoder_records_reconstruction_metrics():
    X = np.random.default_rng(0).random((60, 5))
    ae = fastnn.Autoencoder([5, 2], output_activation="sigmoid", dtype="float64", seed=0)
    ae.compile("mse", metrics=["mae"])
    history = ae.fit(X, epochs=2, verbose=0)
    R = ae.reconstruct(X)
    assert abs(history.history["mae"][-1] - skm.mean_absolute_error(X, R)) < 1e-10
    assert abs(ae.evaluate(X, verbose=0)["mae"] - skm.mean_absolute_error(X, R)) < 1e-10


def test_keras_and_scikit_learn_spellings_and_a_hint_for_typos():
    model = fastnn.Sequential([fastnn.Dense(4, 3, "softmax")], seed=0)
    model.compile("cross_entropy", metrics=["sparse_categorical_accuracy", "precision_score", "recall_score"])
    assert model.metrics == ["accuracy", "precision", "recall"]
    with pytest.raises(ValueError, match=r"unknown metric 'presicion' \(did you mean 'precision'\?\)"):
        model.compile("cross_entropy", metrics=["presicion"])


def test_top_k_accuracy_by_name_is_recorded_under_the_name_written():
    X, y = _blobs(120, 10)
    Xv, yv = _blobs(60, 10, seed=1)
    model = fastnn.Sequential([fastnn.Dense(6, 10, activation="softmax")], dtype="float64", seed=0)
    model.compile(optimizer="adam", metrics=["top_5_accuracy", "top_3_accuracy", "top_k_accuracy"])
    assert model.metrics == ["top_5_accuracy", "top_3_accuracy", "top_k_accuracy"]
    seen = []
    callback = fastnn.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(sorted(logs)))
    history = model.fit(X, y, epochs=1, validation_data=(Xv, yv), verbose=0, callbacks=[callback])
    for key in ("top_5_accuracy", "val_top_5_accuracy", "top_3_accuracy", "val_top_3_accuracy"):
        assert key in history.history and key in seen[0]
    proba = model.predict(Xv)
    assert history.history["val_top_5_accuracy"][-1] == history.history["val_top_k_accuracy"][-1]
    assert abs(history.history["val_top_5_accuracy"][-1] - skm.top_k_accuracy_score(yv, proba, k=5,
                                                                                     labels=range(10))) < 1e-12
    assert abs(history.history["val_top_3_accuracy"][-1] - skm.top_k_accuracy_score(yv, proba, k=3,
                                                                                     labels=range(10))) < 1e-12
    scores = model.evaluate(Xv, yv)
    assert {"top_5_accuracy", "top_3_accuracy", "top_k_accuracy"} <= set(scores)
    for alias in ("top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "top_k_accuracy_score"):
        assert model.compile(metrics=[alias]).metrics == ["top_k_accuracy"]
