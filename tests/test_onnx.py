"""ONNX export: ONNX Runtime's outputs against predict, labels, opsets, files and errors."""
import subprocess
import sys

import numpy as np
import pytest

import fastnn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
import fastnn.onnx as fonnx  # noqa: E402

ACTIVATIONS = ["identity", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "softplus", "gelu"]
SCALERS = [None, "standard", "minmax", "log"]
# Agreement with predict, relative to the largest output: float32 and float64 rounding (GELU's erf in a float64
# model runs in float32: ONNX Runtime has no float64 Erf).
RTOL = {"float32": 1e-5, "float64": 1e-12}
RTOL_GELU64 = 1e-6


def _session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _data(n=64, n_features=5, seed=0, positive=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features)) * 3 + 2
    return np.abs(X) if positive else X


def _model(activation, dtype="float32", scaler=None, n_out=3, dropout=True, X=None):
    layers = [fastnn.Dense(5, 16, activation)]
    if dropout:
        layers.append(fastnn.Dropout(0.3))
    layers += [fastnn.Dense(16, 8, activation), fastnn.Dense(8, n_out, activation)]
    model = fastnn.Sequential(layers, seed=3, dtype=dtype)
    if scaler is not None:
        model.scaler = fastnn.preprocessing.get_scaler(scaler).fit(X)
    return model


def _relative(out, ref):
    return float(np.max(np.abs(out.astype(np.float64) - ref)) / max(np.max(np.abs(ref)), 1e-300))


def _check(model, X, opset=17, rtol=None):
    X = X.astype(model.dtype)
    results = _session(fonnx.to_onnx(model, opset=opset)).run(None, {"input": X})
    ref = model.predict(X)
    assert results[0].dtype == model.dtype and results[0].shape == ref.shape
    rtol = RTOL[model.dtype.name] if rtol is None else rtol
    assert _relative(results[0], ref) <= rtol
    return results


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("scaler", SCALERS)
def test_outputs_equal_predict(activation, dtype, scaler):
    X = _data(positive=scaler == "log")
    model = _model(activation, dtype, scaler, X=X)
    rtol = RTOL_GELU64 if (activation == "gelu" and dtype == "float64") else None
    _check(model, X, rtol=rtol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opset", [17, 20])
def test_gelu_with_and_without_the_gelu_operator(opset, dtype):
    X = _data()
    model = _model("gelu", dtype, "standard", X=X)
    ops = {node.op_type for node in fonnx.to_onnx(model, opset=opset).graph.node}
    assert ("Gelu" in ops) == (opset >= 20 and dtype == "float32")
    _check(model, X, opset=opset, rtol=RTOL_GELU64 if dtype == "float64" else None)


def test_dropout_leaves_no_node():
    model = _model("relu", dropout=True)
    ops = [node.op_type for node in fonnx.to_onnx(model).graph.node]
    assert "Dropout" not in ops and ops.count("Gemm") == 3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_trained_model_with_scaler(dtype):
    X = _data(n=400, seed=1)
    y = (X[:, 0] + X[:, 1] > 4).astype(np.int64)
    model = fastnn.Sequential([fastnn.Dense(5, 32, "relu"), fastnn.Dropout(0.2), fastnn.Dense(32, 2, "softmax")],
                              seed=0, dtype=dtype)
    model.scaler = fastnn.StandardScaler().fit(X)
    model.compile(loss="cross_entropy", optimizer=fastnn.Adam(lr=0.01))
    model.fit(X, y, epochs=5, batch_size=32, verbose=0)
    _check(model, X)


def test_uncompiled_model_exports():
    model = fastnn.Sequential([fastnn.Dense(4, 3, "softmax")], seed=0)
    assert model.loss is None
    _check(model, _data(n_features=4))


@pytest.mark.parametrize("classes", [[3, 7, 11], ["cat", "dog", "bird"]])
def test_label_output(classes):
    X = _data()
    model = _model("softmax")
    model.classes = classes
    output, label = _check(model, X)
    expected = model.predict_classes(X.astype(np.float32))  # the labels: model.classes is set
    assert label.shape == (X.shape[0],)
    assert label.tolist() == expected.tolist()
    assert len(set(label.tolist())) > 1


class _Estimator:
    """What a scikit-learn-style wrapper looks like from outside: a fitted model_ and classes_."""

    def __init__(self, model, classes):
        self.model_ = model
        self.classes_ = np.asarray(classes)


@pytest.mark.parametrize("classes", [[0, 1], ["no", "yes"]])
def test_label_of_a_single_sigmoid_unit(classes):
    X = _data()
    model = _model("sigmoid", n_out=1)
    model.layers[-1].bias[...] = 0.2  # put outputs on both sides of 0.5
    proto = fonnx.to_onnx(_Estimator(model, classes))  # classes_ as scikit-learn has them: two
    output, label = _session(proto).run(None, {"input": X.astype(np.float32)})
    assert _relative(output, model.predict(X)) <= RTOL["float32"]
    expected = np.array(classes)[(output[:, 0] > 0.5).astype(int)]
    assert label.tolist() == expected.tolist()
    assert label.tolist() == np.array(classes)[model.predict_classes(X.astype(np.float32))].tolist()
    assert len(set(label.tolist())) == 2


def test_estimator_with_model_and_classes():
    X = _data()
    model = _model("softmax")
    estimator = _Estimator(model, ["a", "b", "c"])
    results = _session(fonnx.to_onnx(estimator)).run(None, {"input": X.astype(np.float32)})
    assert results[1].tolist() == np.array(["a", "b", "c"])[model.predict_classes(X.astype(np.float32))].tolist()
    # without classes_: one output
    plain = type("Regressor", (), {"model_": _model("identity")})()
    assert [o.name for o in fonnx.to_onnx(plain).graph.output] == ["output"]


def test_graph_signature():
    model = _model("tanh", "float64", n_out=2)
    proto = fonnx.to_onnx(model, name="my_net")
    onnx.checker.check_model(proto)
    assert proto.graph.name == "my_net"
    (inp,) = proto.graph.input
    assert inp.name == "input"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[1].dim_value == 5
    assert proto.opset_import[0].version == 17


def test_save_writes_a_file_onnxruntime_loads(tmp_path):
    X = _data()
    model = _model("softmax", scaler="minmax", X=X)
    model.classes = ["x", "y", "z"]
    path = tmp_path / "model.onnx"
    assert fonnx.save(model, path) is None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    output, label = session.run(None, {"input": X.astype(np.float32)})
    np.testing.assert_allclose(output, model.predict(X), rtol=1e-5, atol=1e-6)
    assert list(tmp_path.iterdir()) == [path]
    with pytest.raises(FileNotFoundError):
        fonnx.save(model, tmp_path / "missing" / "model.onnx")


def test_not_a_model():
    with pytest.raises(TypeError, match="fastnn.Sequential"):
        fonnx.to_onnx(object())
    with pytest.raises(TypeError):
        fonnx.to_onnx(fastnn.Dense(3, 2))
    with pytest.raises(TypeError):
        fonnx.to_onnx(type("Unfitted", (), {"model_": None})())


def test_non_finite_weights():
    model = _model("relu")
    model.parameters[5] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        fonnx.to_onnx(model)
    model.parameters[5] = 0
    model.layers[-1].bias[0] = np.inf
    with pytest.raises(ValueError, match=rf"layers\[{len(model.layers) - 1}\] holds NaN or infinity"):
        fonnx.to_onnx(model)


def test_bad_classes_and_options():
    model = _model("softmax")
    for classes in (["a", "b"], ["a", "a", "b"], ["a", 1, 2], "abc"):
        model.classes = classes
        with pytest.raises(ValueError):
            fonnx.to_onnx(model)
    model.classes = None
    with pytest.raises(ValueError, match="opset"):
        fonnx.to_onnx(model, opset=11)
    with pytest.raises(TypeError):
        fonnx.to_onnx(model, opset="17")
    with pytest.raises(TypeError):
        fonnx.to_onnx(model, name=3)


def test_missing_onnx_names_the_packages(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r"^ONNX export needs onnx: pip install onnx onnxruntime$"):
        fonnx.to_onnx(_model("relu"))


def test_import_fastnn_does_not_import_onnx():
    code = "import sys, fastnn; assert 'onnx' not in sys.modules and 'onnxruntime' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_docstring_examples():
    import doctest

    import fastnn.saving.onnx

    result = doctest.testmod(fastnn.saving.onnx, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_round_trips_of_the_scikit_learn_estimators():
    """A fitted MLPClassifier (string classes) and MLPRegressor export with their labels and outputs."""
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from fastnn.sklearn import MLPClassifier, MLPRegressor

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    names = np.array([f"digit {v}" for v in y])
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=20, random_state=0).fit(X, names)
        reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=20, random_state=0).fit(X, y.astype(float))
    proba, labels = _session(fonnx.to_onnx(clf)).run(None, {"input": X})
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, clf.predict(X))
    out = _session(fonnx.to_onnx(reg)).run(None, {"input": X})[0]
    np.testing.assert_allclose(out.ravel(), reg.predict(X), rtol=1e-5, atol=1e-5)


def _layer_cases(rng, dtype="float32"):
    kw = {"seed": 0, "dtype": dtype}
    return {
        "cnn": (fastnn.Sequential([fastnn.Conv2D(1, 4, 3, activation="relu", padding="same"), fastnn.MaxPool2D(2),
                                   fastnn.Conv2D(4, 3, 3, stride=2, padding=1, activation="tanh"),
                                   fastnn.AvgPool2D(2), fastnn.Flatten(), fastnn.Dropout(0.2),
                                   fastnn.Dense(3, 2, "softmax")], input_shape=(1, 10, 10), **kw),
                rng.standard_normal((6, 1, 10, 10))),
        "global_pool": (fastnn.Sequential([fastnn.Reshape((2, 6, 6)), fastnn.Conv2D(2, 4, 3, activation="relu"),
                                           fastnn.GlobalAvgPool2D(), fastnn.Dense(4, 3, "softmax")], **kw),
                        rng.standard_normal((6, 72))),
        "stacked_recurrent": (fastnn.Sequential([fastnn.LSTM(3, 6, return_sequences=True), fastnn.GRU(6, 5),
                                                 fastnn.Dense(5, 2, "softmax")], input_shape=(7, 3), **kw),
                              rng.standard_normal((6, 7, 3))),
        # (onnx's reference evaluator, which runs the float64 graphs, knows no Relu activation in RNN)
        "rnn_every_step": (fastnn.Sequential([fastnn.SimpleRNN(3, 6, activation="relu" if dtype == "float32" else "tanh",
                                                               return_sequences=True),
                                              fastnn.Dense(6, 4, "softmax")], input_shape=(7, 3), **kw),
                           rng.standard_normal((6, 7, 3))),
        "embedding": (fastnn.Sequential([fastnn.Embedding(11, 4), fastnn.GRU(4, 6), fastnn.Dense(6, 1, "sigmoid")],
                                        input_shape=(7,), **kw), rng.integers(0, 11, (6, 7))),
    }


@pytest.mark.parametrize("case", ["cnn", "global_pool", "stacked_recurrent", "rnn_every_step", "embedding"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_layer_kind_exports_and_equals_predict(case, dtype):
    model, X = _layer_cases(np.random.default_rng(1), dtype)[case]
    feed = X.reshape(len(X), -1)
    feed = feed.astype(np.int64) if case == "embedding" else feed.astype(model.dtype)
    proto = fonnx.to_onnx(model)
    if dtype == "float32":
        out = _session(proto).run(None, {"input": feed})[0]
    else:  # ONNX Runtime has no float64 Conv, RNN, LSTM or GRU: onnx's reference evaluator runs the graph
        from onnx.reference import ReferenceEvaluator

        out = ReferenceEvaluator(proto).run(None, {"input": feed})[0]
    ref = model.predict(X)
    assert out.shape == ref.shape and out.dtype == model.dtype
    assert _relative(out, ref) <= (1e-5 if dtype == "float32" else 1e-10)


def test_labels_of_a_per_step_classifier():
    model, X = _layer_cases(np.random.default_rng(2))["rnn_every_step"]
    model.classes = ["a", "b", "c", "d"]
    results = _session(fonnx.to_onnx(model)).run(None, {"input": X.reshape(len(X), -1).astype(np.float32)})
    assert results[1].shape == (6, 7)
    np.testing.assert_array_equal(results[1], model.predict_classes(X))


def _binary_data(n=120, dtype=np.float64):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 5)) * 30 + 5
    y = np.where(X[:, 0] + X[:, 1] > 10, "spam", "ham")
    return X.astype(dtype), y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_classifier_exports_two_probability_columns_and_labels(dtype):
    """As skl2onnx's converters: predict_proba's (n, 2) probabilities and the labels."""
    pytest.importorskip("sklearn")
    from fastnn.sklearn import MLPClassifier

    X, y = _binary_data()
    X = (X - 5) / 30
    clf = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(8,), random_state=0, dtype=dtype).fit(X, y)
    proto = fonnx.to_onnx(clf)
    assert [o.name for o in proto.graph.output] == ["output", "label"]
    assert proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value == 2
    proba, labels = _session(proto).run(None, {"input": X.astype(dtype)})
    assert proba.shape == (120, 2)
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-5, atol=1e-6 if dtype == "float32" else 1e-12)
    np.testing.assert_array_equal(labels, clf.predict(X))
    assert set(labels.tolist()) == {"spam", "ham"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scalers", [["standard"], ["log", "minmax"]])
def test_pipeline_of_scalers_and_estimator_is_one_graph(dtype, scalers):
    pytest.importorskip("sklearn")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import make_pipeline

    from fastnn.sklearn import MLPClassifier, MLPRegressor

    X, y = _binary_data()
    X = np.abs(X)
    steps = [fastnn.preprocessing.get_scaler(name) for name in scalers]
    clf = make_pipeline(*steps, "passthrough", MLPClassifier(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=30,
                                                             random_state=0, dtype=dtype))
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    proto = fonnx.to_onnx(clf)
    ops = [node.op_type for node in proto.graph.node]
    assert ops.index("Gemm") > ops.index("Sub" if scalers == ["standard"] else "Log")  # scalers first
    X_in = X.astype(dtype)
    proba, labels = _session(proto).run(None, {"input": X_in})
    np.testing.assert_allclose(proba, clf.predict_proba(X_in), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, clf.predict(X_in))
    reg = make_pipeline(*[fastnn.preprocessing.get_scaler(name) for name in scalers],
                        MLPRegressor(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=50, random_state=0,
                                     dtype=dtype))
    with pytest.warns(ConvergenceWarning):  # not converged in 50 iterations
        reg.fit(X, X[:, 0] / 30)
    out = _session(fonnx.to_onnx(reg)).run(None, {"input": X_in})[0]
    np.testing.assert_allclose(out.ravel(), reg.predict(X_in), rtol=1e-5, atol=1e-6)
    if dtype == "float64":  # ONNX's reference implementation, to float64 rounding
        from onnx.reference import ReferenceEvaluator

        proba_ref, labels_ref = ReferenceEvaluator(proto).run(None, {"input": X_in})
        np.testing.assert_allclose(proba_ref, clf.predict_proba(X_in), rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(labels_ref, clf.predict(X_in))


def test_pipeline_errors():
    pytest.importorskip("sklearn")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler as SkStandardScaler

    from fastnn.sklearn import MLPClassifier

    X, y = _binary_data()
    clf = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning):
        pipe = make_pipeline(SkStandardScaler(), clf).fit(X, y)
    with pytest.raises(TypeError, match="step 'standardscaler' is a StandardScaler"):
        fonnx.to_onnx(pipe)
    with pytest.raises(RuntimeError, match="not fitted"):
        fonnx.to_onnx(make_pipeline(fastnn.StandardScaler(), pipe.steps[-1][1]))
    with pytest.raises(ValueError, match="has 2 features, its model takes 5"):
        fonnx.to_onnx(make_pipeline(fastnn.StandardScaler().fit(X[:, :2]), pipe.steps[-1][1]))
