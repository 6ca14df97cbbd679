"""Recurrent kinds of the engine (RNN, LSTM, GRU): PyTorch's math through the NumPy twin, gradients by finite
differences, and thread-invariance."""
import numpy as np
import pytest

from fastnn import _kernels as K
from fastnn import _reference as ref

GATES = {K.LAYER_RNN: 1, K.LAYER_LSTM: 4, K.LAYER_GRU: 3}
CELLS = {K.LAYER_RNN: "rnn", K.LAYER_LSTM: "lstm", K.LAYER_GRU: "gru"}
SGD = K.Settings(K.OPT_SGD, {"momentum": 0.0, "nesterov": False}, lr=0.1)


def row(kind, T, F, H, seq, act=K.ACT_TANH):
    return {"kind": kind, "steps": T, "feats": F, "hidden": H, "seq": int(seq), "cell_act": act}


def split(p, kind, F, H):
    """PyTorch's tensors from a recurrent layer's stretch of the flat buffer: W = [W_ih | W_hh], then the bias
    pairs (b_ih[j], b_hh[j])."""
    GH = GATES[kind] * H
    W = p[:GH * (F + H)].reshape(GH, F + H)
    b = p[GH * (F + H):GH * (F + H) + 2 * GH].reshape(GH, 2)
    return W[:, :F], W[:, F:], b[:, 0], b[:, 1]


def engine(params, widths, layout, acts, loss, n, frozen=None):
    grads = np.zeros_like(params)
    eng = K.Engine(params, grads, np.zeros((1, params.size), params.dtype), widths, acts, loss, n, layout=layout,
                   cores=2, frozen=frozen)
    return eng, grads


@pytest.mark.parametrize("kind", list(GATES))
@pytest.mark.parametrize("seq", [False, True])
@pytest.mark.parametrize("act", [K.ACT_TANH, K.ACT_RELU])
def test_forward_equals_the_numpy_twin(kind, seq, act, rng):
    if kind != K.LAYER_RNN and act == K.ACT_RELU:
        pytest.skip("only the simple RNN has an activation")
    T, F, H, n = 6, 5, 7, 41  # 41 rows: two full tiles and a part
    GH = GATES[kind] * H
    params = rng.uniform(-0.4, 0.4, GH * (F + H) + 2 * GH)
    X = rng.standard_normal((n, T * F))
    eng, _ = engine(params, [T * F, T * H if seq else H], [row(kind, T, F, H, seq, act)], [K.ACT_IDENTITY],
                    K.LOSS_MSE, n)
    out = np.empty((n, T * H if seq else H))
    eng.forward(X, out, 2)
    W_ih, W_hh, b_ih, b_hh = split(params, kind, F, H)
    expected = ref.recurrent_forward(CELLS[kind], X.reshape(n, T, F), W_ih, W_hh, b_ih, b_hh, seq,
                                     "tanh" if act == K.ACT_TANH else "relu")
    np.testing.assert_allclose(out, expected.reshape(n, -1), rtol=1e-12, atol=1e-13)


def test_the_numpy_twin_equals_pytorch(rng):
    torch = pytest.importorskip("torch")
    n, T, F, H = 3, 4, 5, 6
    x = rng.standard_normal((n, T, F))
    for name, cls in (("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)):
        net = cls(F, H, batch_first=True).double()
        out, _ = net(torch.from_numpy(x))
        mine = ref.recurrent_forward(name, x, *(getattr(net, k).detach().numpy() for k in
                                                ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")),
                                     return_sequences=True)
        np.testing.assert_allclose(mine, out.detach().numpy(), rtol=1e-12, atol=1e-14)


def _loss_and_gradient(params, widths, layout, acts, loss, X, labels=None, targets=None, n_threads=1):
    n = X.shape[0]
    eng, grads = engine(params, widths, layout, acts, loss, n)
    sums = np.zeros(4)
    status, _ = eng.train(X, np.arange(n, dtype=np.int64), labels, targets, None, n, 0, 1, SGD,
                          np.zeros(1, np.int64), n_threads, sums, apply=False)
    assert status == 0
    return sums[0] / n, grads.copy()


def _check_gradient(params, *args, **kwargs):
    _, g = _loss_and_gradient(params, *args, **kwargs)
    eps = 1e-6
    num = np.empty_like(params)
    for i in range(params.size):
        e = np.zeros_like(params)
        e[i] = eps
        num[i] = (_loss_and_gradient(params + e, *args, **kwargs)[0]
                  - _loss_and_gradient(params - e, *args, **kwargs)[0]) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7)
    _, g2 = _loss_and_gradient(params, *args, **dict(kwargs, n_threads=2))
    assert np.array_equal(g, g2)  # bit-identical for any number of threads


@pytest.mark.parametrize("kind", list(GATES))
@pytest.mark.parametrize("seq", [False, True])
def test_gradient_of_a_recurrent_first_layer_by_finite_differences(kind, seq, rng):
    T, F, H, n, K_out = 5, 3, 4, 19, 3
    GH = GATES[kind] * H
    w = T * H if seq else H
    params = rng.uniform(-0.5, 0.5, GH * (F + H) + 2 * GH + K_out * (w + 1))
    X = rng.standard_normal((n, T * F))
    y = rng.integers(0, K_out, n).astype(np.int32)
    _check_gradient(params, [T * F, w, K_out], [row(kind, T, F, H, seq), (K.LAYER_DENSE,)],
                    [K.ACT_IDENTITY, K.ACT_SOFTMAX], K.LOSS_CROSS_ENTROPY, X, labels=y)


@pytest.mark.parametrize("first, second", [(K.LAYER_LSTM, K.LAYER_GRU), (K.LAYER_GRU, K.LAYER_RNN),
                                           (K.LAYER_RNN, K.LAYER_LSTM)])
def test_gradient_through_stacked_recurrent_layers(first, second, rng):
    T, F, H1, H2, n = 4, 3, 5, 4, 21
    n1 = GATES[first] * H1 * (F + H1) + 2 * GATES[first] * H1
    n2 = GATES[second] * H2 * (H1 + H2) + 2 * GATES[second] * H2
    params = rng.uniform(-0.5, 0.5, n1 + n2 + 2 * H2 + 2)
    X = rng.standard_normal((n, T * F))
    Y = rng.standard_normal((n, 2))
    _check_gradient(params, [T * F, T * H1, H2, 2],
                    [row(first, T, F, H1, True), row(second, T, H1, H2, False, K.ACT_RELU), (K.LAYER_DENSE,)],
                    [K.ACT_IDENTITY, K.ACT_IDENTITY, K.ACT_IDENTITY], K.LOSS_MSE, X, targets=Y)


def test_recurrent_layouts_are_checked(rng):
    params = np.zeros(4 * 3 * (2 + 3) + 24)
    with pytest.raises(ValueError, match="shapes do not match"):
        engine(params, [7, 3], [row(K.LAYER_LSTM, 3, 2, 3, False)], [0], K.LOSS_MSE, 4)
    with pytest.raises(ValueError, match="tanh or relu"):
        engine(np.zeros(1 * 3 * 5 + 6), [6, 3], [row(K.LAYER_RNN, 3, 2, 3, False, K.ACT_SIGMOID)], [0],
               K.LOSS_MSE, 4)
    with pytest.raises(ValueError, match="no field"):
        engine(params, [6, 3], [dict(row(K.LAYER_LSTM, 3, 2, 3, False), depth=2)], [0], K.LOSS_MSE, 4)


def test_embedding_then_lstm_gradient_by_finite_differences(rng):
    """Indices repeat within and across rows: their gradients add up in the shared vectors."""
    T, V, E, H, n = 5, 6, 3, 4, 23
    n_emb, n_lstm = V * E, 4 * H * (E + H) + 8 * H
    params = rng.uniform(-0.5, 0.5, n_emb + n_lstm + 2 * (H + 1))
    X = rng.integers(0, V, (n, T)).astype(np.float64)
    y = rng.integers(0, 2, n).astype(np.int32)
    layout = [{"kind": K.LAYER_EMBEDDING, "steps": T, "feats": V, "hidden": E}, row(K.LAYER_LSTM, T, E, H, False),
              (K.LAYER_DENSE,)]
    _check_gradient(params, [T, T * E, H, 2], layout, [K.ACT_IDENTITY] * 2 + [K.ACT_SOFTMAX],
                    K.LOSS_CROSS_ENTROPY, X, labels=y)


def test_embedding_forward_looks_up_rows(rng):
    T, V, E, n = 3, 5, 2, 40
    W = rng.standard_normal((V, E))
    X = rng.integers(0, V, (n, T)).astype(np.float64)
    eng, _ = engine(W.ravel().copy(), [T, T * E], [{"kind": K.LAYER_EMBEDDING, "steps": T, "feats": V, "hidden": E}],
                    [K.ACT_IDENTITY], K.LOSS_MSE, n)
    out = np.empty((n, T * E))
    eng.forward(X, out, 2)
    np.testing.assert_array_equal(out, W[X.astype(int)].reshape(n, -1))


def _per_step_case(rng, loss):
    """LSTM (every step) -> Dense on each step (steps T) -> Dense on each step: per-step outputs and targets."""
    T, F, H, M, Ko, n = 4, 3, 5, 6, 3, 19
    n_lstm = 4 * H * (F + H) + 8 * H
    params = rng.uniform(-0.5, 0.5, n_lstm + M * (H + 1) + Ko * (M + 1))
    layout = [row(K.LAYER_LSTM, T, F, H, True), {"kind": K.LAYER_DENSE, "steps": T},
              {"kind": K.LAYER_DENSE, "steps": T}]
    X = rng.standard_normal((n, T * F))
    acts = [K.ACT_IDENTITY, K.ACT_TANH, K.ACT_SOFTMAX if loss == K.LOSS_CROSS_ENTROPY else K.ACT_IDENTITY]
    return params, [T * F, T * H, T * M, T * Ko], layout, acts, X, (T, F, H, M, Ko, n, n_lstm)


def test_dense_on_every_step_with_a_loss_averaged_over_steps(rng):
    params, widths, layout, acts, X, (T, F, H, M, Ko, n, n_lstm) = _per_step_case(rng, K.LOSS_CROSS_ENTROPY)
    labels = rng.integers(0, Ko, (n, T)).astype(np.int32)
    _check_gradient(params, widths, layout, acts, K.LOSS_CROSS_ENTROPY, X, labels=labels.ravel())
    # the forward pass and the loss: PyTorch's Linear on the last axis, cross-entropy's mean over every step
    eng, _ = engine(params, widths, layout, acts, K.LOSS_CROSS_ENTROPY, n)
    out = np.empty((n, T * Ko))
    eng.forward(X, out, 2)
    W_ih, W_hh, b_ih, b_hh = split(params, K.LAYER_LSTM, F, H)
    h = ref.recurrent_forward("lstm", X.reshape(n, T, F), W_ih, W_hh, b_ih, b_hh, True)
    W1 = params[n_lstm:n_lstm + M * H].reshape(M, H)
    b1 = params[n_lstm + M * H:n_lstm + M * (H + 1)]
    W2 = params[n_lstm + M * (H + 1):-Ko].reshape(Ko, M)
    z = np.tanh(h @ W1.T + b1) @ W2.T + params[-Ko:]
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(out, p.reshape(n, -1), rtol=1e-12, atol=1e-14)
    loss, _, weight = eng.evaluate(X, labels.ravel(), None, None, 1)
    expected = -np.log(np.take_along_axis(p, labels[..., None], -1)).mean()
    np.testing.assert_allclose(loss / weight, expected, rtol=1e-12)


def test_per_step_regression_with_sample_weights(rng):
    params, widths, layout, acts, X, (T, F, H, M, Ko, n, _) = _per_step_case(rng, K.LOSS_MSE)
    Y = rng.standard_normal((n, T * Ko))
    w = rng.uniform(0.5, 2, n)

    def lg(p, n_threads=1):
        eng, grads = engine(p, widths, layout, acts, K.LOSS_MSE, n)
        sums = np.zeros(4)
        eng.train(X, np.arange(n, dtype=np.int64), None, Y, w, n, 0, 1, SGD, np.zeros(1, np.int64), n_threads, sums,
                  apply=False)
        return sums[0] / n, grads.copy()

    _, g = lg(params)
    num = np.array([(lg(params + e)[0] - lg(params - e)[0]) / 2e-6 for e in np.eye(params.size) * 1e-6])
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7)
    assert np.array_equal(g, lg(params, 2)[1])


def test_the_cells_float32_sigmoid_and_tanh_are_accurate():
    x = np.linspace(-100, 100, 400001).astype(np.float32)
    sig, tanh = K.cell_functions(x)
    xd = x.astype(np.float64)
    np.testing.assert_allclose(sig, 1 / (1 + np.exp(-xd)), rtol=3e-7, atol=1e-30)
    np.testing.assert_allclose(tanh, np.tanh(xd), rtol=0, atol=2e-7)
    assert np.all(np.isfinite(K.cell_functions(np.array([-1e30, 1e30, -np.inf, np.inf], np.float32))[0]))


# -- the layers --------------------------------------------------------------------------------------------------

import fastnn  # noqa: E402


def _sequences(rng, n=300, T=7, F=3):
    X = rng.standard_normal((n, T, F)).astype(np.float32)
    return X, (X[:, :, 0].sum(1) > 0).astype(np.int64)


@pytest.mark.parametrize("cls", [fastnn.SimpleRNN, fastnn.LSTM, fastnn.GRU])
def test_a_recurrent_model_predicts_as_pytorch_math_and_learns(cls, rng):
    X, y = _sequences(rng)
    model = fastnn.Sequential([cls(3, 16), fastnn.Dense(16, 2, "softmax")], input_shape=(7, 3), seed=0,
                              dtype="float64")
    layer = model.layers[0]
    gates = {fastnn.SimpleRNN: 1, fastnn.LSTM: 4, fastnn.GRU: 3}[cls]
    assert layer.weight_ih.shape == (gates * 16, 3) and layer.weight_hh.shape == (gates * 16, 16)
    assert layer.bias_ih.shape == layer.bias_hh.shape == (gates * 16,)
    assert np.abs(layer.weight).max() <= 1 / 4  # PyTorch's U(-1/sqrt(H), 1/sqrt(H))
    h = ref.recurrent_forward(cls.__name__.lower().replace("simple", ""), X.astype(np.float64), layer.weight_ih,
                              layer.weight_hh, layer.bias_ih, layer.bias_hh)
    z = h @ model.layers[1].weight.T + model.layers[1].bias
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(model.predict(X), p / p.sum(1, keepdims=True), rtol=1e-12, atol=1e-14)
    model.compile("cross_entropy", optimizer=fastnn.Adam(1e-2, clipnorm=1.0))
    model.fit(X, y, epochs=12, batch_size=32, verbose=0)
    assert model.evaluate(X, y)["accuracy"] > 0.9


def test_the_pytorch_views_are_writable(rng):
    model = fastnn.Sequential([fastnn.GRU(3, 4)], input_shape=(2, 3), seed=0)
    layer = model.layers[0]
    layer.weight_hh = np.zeros((12, 4))
    layer.bias_ih = np.arange(12)
    assert np.all(layer.weight[:, 3:] == 0) and np.array_equal(layer.bias[:, 0], np.arange(12))
    with pytest.raises(ValueError, match="weight_ih must have shape"):
        layer.weight_ih = np.zeros((3, 3))


def test_training_is_bit_identical_for_any_number_of_threads(rng):
    X, y = _sequences(rng, n=200)
    weights = []
    for n_threads in (1, 2):
        model = fastnn.Sequential([fastnn.LSTM(3, 8, return_sequences=True), fastnn.Dropout(0.2), fastnn.GRU(8, 8),
                                   fastnn.Dense(8, 2, "softmax")], input_shape=(7, 3), seed=3)
        model.compile("cross_entropy", optimizer=fastnn.Adam(1e-2))
        model.fit(X, y, epochs=2, batch_size=32, verbose=0, n_threads=n_threads)
        weights.append(model.parameters.copy())
    assert np.array_equal(weights[0], weights[1])


def test_dense_on_every_step_with_a_label_a_step(rng, tmp_path):
    X, _ = _sequences(rng)
    y = (np.cumsum(X[:, :, 0], 1) > 0).astype(np.int64)  # (n, steps)
    model = fastnn.Sequential([fastnn.GRU(3, 16, return_sequences=True), fastnn.Dense(16, 2, "softmax")],
                              input_shape=(7, 3), seed=0)
    assert model.output_shape == (7, 2)
    model.compile("cross_entropy", optimizer=fastnn.Adam(1e-2))
    model.fit(X, y, epochs=10, batch_size=32, verbose=0)
    assert model.predict(X[:3]).shape == (3, 7, 2)
    assert model.predict_classes(X[:3]).shape == (3, 7)
    assert np.mean(model.predict_classes(X) == y) == pytest.approx(model.evaluate(X, y)["accuracy"])
    assert model.evaluate(X, y)["accuracy"] > 0.9
    with pytest.raises(ValueError, match="a target for each of the output's 7 steps"):
        model.evaluate(X, y[:, 0])
    with pytest.raises(ValueError, match="class_weight"):
        model.fit(X, y, epochs=1, class_weight="balanced", verbose=0)
    path = tmp_path / "seq.fnn"
    model.save(path)
    np.testing.assert_array_equal(fastnn.load(path).predict(X), model.predict(X))


def test_per_step_regression(rng):
    X, _ = _sequences(rng, n=100)
    Y = np.cumsum(X[:, :, :1], 1)  # (n, steps, 1)
    model = fastnn.Sequential([fastnn.LSTM(3, 8, return_sequences=True), fastnn.Dense(8, 1)], input_shape=(7, 3),
                              seed=0).compile("mse", optimizer=fastnn.Adam(1e-2))
    before = model.evaluate(X, Y)["loss"]
    model.fit(X, Y[:, :, 0], epochs=5, batch_size=20, verbose=0)  # (n, steps) targets for one unit a step
    assert model.evaluate(X, Y)["loss"] < before
    pred = model.predict(X)
    assert pred.shape == (100, 7, 1)
    np.testing.assert_allclose(model.evaluate(X, Y)["loss"], np.mean((pred - Y) ** 2), rtol=1e-5)


def test_embedding_checks_its_indices_and_saves(rng, tmp_path):
    tokens = rng.integers(0, 20, (300, 9))
    y = (tokens == 3).any(1).astype(np.int64)
    model = fastnn.Sequential([fastnn.Embedding(20, 8), fastnn.SimpleRNN(8, 16), fastnn.Dense(16, 2, "softmax")],
                              input_shape=(9,), seed=0)
    model.compile("cross_entropy", optimizer=fastnn.Adam(1e-2))
    with _no_scale_warning():
        model.fit(tokens, y, epochs=15, batch_size=32, verbose=0)
    assert model.evaluate(tokens, y)["accuracy"] > 0.9
    for bad in (20, -1):
        X = tokens.copy()
        X[4, 2] = bad
        with pytest.raises(ValueError, match=f"X holds {bad}, not an index of the Embedding's 20 vectors"):
            model.predict(X)
    with pytest.raises(TypeError, match="float64 X: the model starts with an Embedding, which takes integer"):
        model.predict(tokens.astype(np.float64))
    with pytest.raises(ValueError, match=r"X has shape \(3, 9, 1\)"):
        model.predict(tokens[:3, :, None])
    path = tmp_path / "emb.fnn"
    model.save(path)
    np.testing.assert_array_equal(fastnn.load(path).predict(tokens), model.predict(tokens))
    np.testing.assert_array_equal(model.predict(tokens[:1].astype(np.int32)), model.predict(tokens[:1]))


def _no_scale_warning():
    import warnings

    class _Check:
        def __enter__(self):
            self.ctx = warnings.catch_warnings(record=True)
            self.caught = self.ctx.__enter__()
            warnings.simplefilter("always")

        def __exit__(self, *exc):
            self.ctx.__exit__(*exc)
            assert not [w for w in self.caught if "unit scale" in str(w.message)]

    return _Check()


def test_the_steps_come_from_the_first_sequences_when_not_declared(rng):
    model = fastnn.Sequential([fastnn.LSTM(3, 8), fastnn.Dense(8, 2, "softmax")], seed=0)  # as PyTorch's
    X, y = _sequences(rng, n=64)
    model.compile("cross_entropy").fit(X, y, epochs=1, verbose=0)
    assert model.input_shape == (7, 3) and model.widths[0] == 21
    declared = fastnn.Sequential([fastnn.LSTM(3, 8), fastnn.Dense(8, 2, "softmax")], seed=0, input_shape=(7, 3))
    declared.compile("cross_entropy").fit(X, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.parameters, declared.parameters)
    with pytest.raises(ValueError, match=r"X has shape \(4, 9, 3\), but the model takes \(n_samples, 7, 3\)"):
        model.predict(rng.standard_normal((4, 9, 3)))
    tokens = fastnn.Sequential([fastnn.Embedding(5, 2), fastnn.GRU(2, 3), fastnn.Dense(3, 1)], seed=0)
    assert tokens.predict(rng.integers(0, 5, (2, 6))).shape == (2, 1) and tokens.input_shape == (6,)


def test_flat_rows_are_refused_by_a_recurrent_model(rng):
    model = fastnn.Sequential([fastnn.LSTM(4, 8), fastnn.Dense(8, 2, "softmax")], seed=0, input_shape=(7, 4))
    model.compile("cross_entropy")
    before = model.parameters.copy()
    X, y = rng.standard_normal((16, 7, 4)), rng.integers(0, 2, 16)
    flat = r"X has shape \(16, 28\), but the model's first layer, LSTM, takes sequences \(n_samples, 7, 4\)"
    for call in (model.predict, lambda X: model.fit(X, y, epochs=1, verbose=0), lambda X: model.evaluate(X, y)):
        with pytest.raises(ValueError, match=flat + r": reshape the rows, X.reshape\(len\(X\), 7, 4\)"):
            call(X.reshape(16, -1))
    np.testing.assert_array_equal(model.parameters, before)
    with pytest.raises(ValueError, match=r"X has shape \(16, 27\), but .* takes sequences \(n_samples, 7, 4\)$"):
        model.predict(X.reshape(16, -1)[:, 1:])
    free = fastnn.Sequential([fastnn.GRU(4, 8)], seed=0)
    with pytest.raises(ValueError, match=r"takes sequences \(n_samples, steps, 4\): reshape the rows, "
                                         r"X.reshape\(len\(X\), -1, 4\)"):
        free.predict(X.reshape(16, -1))
    assert model.predict(X).shape == (16, 2)


def test_sequence_models_explain_what_they_need():
    with pytest.raises(ValueError, match="must be the model's first layer"):
        fastnn.Sequential([fastnn.Dense(4, 4), fastnn.Embedding(5, 2)])
    with pytest.raises(ValueError, match="input_size=4 differs from the 3 features"):
        fastnn.Sequential([fastnn.LSTM(4, 8)], input_shape=(5, 3))
    with pytest.raises(ValueError, match="'tanh' or 'relu'"):
        fastnn.SimpleRNN(3, 4, activation="sigmoid")
    model = fastnn.Sequential([fastnn.LSTM(3, 8, return_sequences=True), fastnn.LSTM(8, 4)], input_shape=(5, 3))
    assert model._shapes == [(5, 8), (4,)]
    assert fastnn.LSTM.from_config(model.layers[0].get_config()).return_sequences is True
    assert "lstm (LSTM sequences)" in str(model) and "(None, 5, 8)" in str(model)


def test_clipnorm_scales_the_step_as_pytorch(rng):
    X, y = _sequences(rng, n=64)
    model = fastnn.Sequential([fastnn.LSTM(3, 8), fastnn.Dense(8, 2, "softmax")], input_shape=(7, 3), seed=0,
                              dtype="float64").compile("cross_entropy", optimizer=fastnn.SGD(0.5, clipnorm=0.01))
    before = model.parameters.copy()
    _, grad = model.loss_and_gradient(X, y)
    model.train_on_batch(X, y)
    scale = min(1.0, 0.01 / (np.linalg.norm(grad) + 1e-6))
    np.testing.assert_allclose(model.parameters, before - 0.5 * scale * grad, rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="clipnorm"):
        fastnn.Adam(clipnorm=0)


def _torch_net(torch, model):
    """A PyTorch copy of a model of Embedding / SimpleRNN / LSTM / GRU / Dense layers (float64)."""
    modules = []
    for layer in model.layers:
        if isinstance(layer, fastnn.Embedding):
            m = torch.nn.Embedding(layer.num_embeddings, layer.embedding_dim).double()
            m.weight.data = torch.from_numpy(layer.weight.copy())
        elif isinstance(layer, fastnn.Dense):
            m = torch.nn.Linear(layer.in_features, layer.out_features).double()
            m.weight.data, m.bias.data = torch.from_numpy(layer.weight.copy()), torch.from_numpy(layer.bias.copy())
        else:
            cls = {fastnn.LSTM: torch.nn.LSTM, fastnn.GRU: torch.nn.GRU, fastnn.SimpleRNN: torch.nn.RNN}[type(layer)]
            m = cls(layer.input_size, layer.hidden_size, batch_first=True).double()
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(m, name + "_l0").data = torch.from_numpy(np.ascontiguousarray(getattr(layer, name)))
            m.keep_sequences = layer.return_sequences
        modules.append(m)

    def forward(x):
        for m in modules:
            if isinstance(m, (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU)):
                x, _ = m(x)
                x = x if m.keep_sequences else x[:, -1]
            else:
                x = m(x)
        return x

    params = [p for m in modules for p in m.parameters()]
    return forward, params


@pytest.mark.parametrize("case", ["stacked", "embedding", "per_step"])
@pytest.mark.parametrize("clipnorm", [None, 0.05])
def test_forward_and_one_sgd_step_equal_pytorch(case, clipnorm, rng):
    torch = pytest.importorskip("torch")
    if case == "stacked":
        layers, shape = [fastnn.LSTM(3, 6, return_sequences=True), fastnn.GRU(6, 5, return_sequences=True),
                         fastnn.SimpleRNN(5, 4), fastnn.Dense(4, 3, "softmax")], (7, 3)
        X = rng.standard_normal((20, 7, 3))
        y = rng.integers(0, 3, 20)
    elif case == "embedding":
        layers, shape = [fastnn.Embedding(11, 4), fastnn.GRU(4, 6), fastnn.Dense(6, 3, "softmax")], (7,)
        X = rng.integers(0, 11, (20, 7))
        y = rng.integers(0, 3, 20)
    else:
        layers, shape = [fastnn.LSTM(3, 6, return_sequences=True), fastnn.Dense(6, 3, "softmax")], (7, 3)
        X = rng.standard_normal((20, 7, 3))
        y = rng.integers(0, 3, (20, 7))
    model = fastnn.Sequential(layers, input_shape=shape, seed=1, dtype="float64")
    model.compile("cross_entropy", optimizer=fastnn.SGD(0.5, clipnorm=clipnorm))
    forward, params = _torch_net(torch, model)
    xt = torch.from_numpy(X) if case == "embedding" else torch.from_numpy(X)
    logits = forward(xt)
    np.testing.assert_allclose(model.predict(X), torch.softmax(logits, -1).detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 3), torch.from_numpy(y).reshape(-1))
    loss.backward()
    if clipnorm is not None:
        torch.nn.utils.clip_grad_norm_(params, clipnorm)
    with torch.no_grad():
        for p in params:
            p -= 0.5 * p.grad
    model.train_on_batch(X, y)
    forward_after, _ = _torch_net(torch, model)
    np.testing.assert_allclose(forward_after(xt).detach().numpy(), forward(xt).detach().numpy(), rtol=1e-10,
                               atol=1e-12)


def test_threads_one_two_and_three_give_the_same_weights(rng):
    X, y = _sequences(rng, n=150)
    weights = []
    for n_threads in (1, 2, 3):
        model = fastnn.Sequential([fastnn.GRU(3, 8, return_sequences=True), fastnn.Dense(8, 2, "softmax")],
                                  input_shape=(7, 3), seed=5)
        model.compile("cross_entropy", optimizer=fastnn.RMSprop(1e-2, clipnorm=1.0))
        model.fit(X, (np.cumsum(X[:, :, 0], 1) > 0).astype(int), epochs=2, batch_size=50, verbose=0,
                  n_threads=n_threads)
        weights.append(model.parameters.copy())
    assert np.array_equal(weights[0], weights[1]) and np.array_equal(weights[0], weights[2])


@pytest.fixture
def blas_steps():
    """The per-step products through BLAS for the test's length (float32 on AVX-512 reads packed panels)."""
    K.recurrent_panels(False)
    yield
    K.recurrent_panels(True)


def _float32_stack(seed=3):
    model = fastnn.Sequential([fastnn.LSTM(5, 32, return_sequences=True), fastnn.GRU(32, 64, return_sequences=True),
                               fastnn.SimpleRNN(64, 32), fastnn.Dense(32, 3, "softmax")],
                              input_shape=(6, 5), seed=seed, dtype="float32")
    model.compile("cross_entropy", optimizer=fastnn.Adam(1e-2, clipnorm=1.0))
    return model


def _train_float32_stack(X, y, n_threads=None):
    model = _float32_stack()
    model.fit(X, y, epochs=2, batch_size=45, n_threads=n_threads, verbose=0)  # tiles of 22 and 23 rows
    return model.parameters.copy(), model.predict(X[:20])


def test_float32_steps_from_packed_weights_equal_blas_to_rounding(rng, request):
    X = rng.standard_normal((90, 6, 5)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(int) + (X[:, -1, 1] > 0.5)
    packed = _train_float32_stack(X, y)
    request.getfixturevalue("blas_steps")
    blas = _train_float32_stack(X, y)
    np.testing.assert_allclose(packed[0], blas[0], rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(packed[1], blas[1], rtol=1e-4, atol=1e-5)


def test_float32_steps_from_packed_weights_are_thread_invariant(rng):
    X = rng.standard_normal((90, 6, 5)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(int)
    runs = [_train_float32_stack(X, y, n_threads=nt) for nt in (1, 2)]
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])


def _adding_problem(rng, n, T):
    """Two channels: values in [0, 1] and two markers; the target is the sum of the two marked values."""
    X = np.zeros((n, T, 2), np.float32)
    X[:, :, 0] = rng.uniform(0, 1, (n, T))
    for i in range(n):
        X[i, rng.choice(T, 2, replace=False), 1] = 1
    return X, (X[:, :, 0] * X[:, :, 1]).sum(1, keepdims=True)


@pytest.mark.parametrize("cls", [fastnn.LSTM, fastnn.GRU])
def test_the_adding_problem_is_learned_by_a_recurrent_net_not_by_a_dense_one(cls, rng):
    X, y = _adding_problem(rng, 3000, 15)
    Xv, yv = _adding_problem(rng, 500, 15)
    rnn = fastnn.Sequential([cls(2, 24), fastnn.Dense(24, 1)], input_shape=(15, 2), seed=0)
    rnn.compile("mse", optimizer=fastnn.Adam(1e-2, clipnorm=1.0)).fit(X, y, epochs=25, batch_size=64, verbose=0)
    dense = fastnn.Sequential([fastnn.Dense(30, 64, "relu"), fastnn.Dense(64, 1)], input_shape=(15, 2), seed=0)
    dense.compile("mse", optimizer=fastnn.Adam(1e-2)).fit(X, y, epochs=25, batch_size=64, verbose=0)
    baseline = float(np.var(yv))  # about 1/6: predicting the mean
    assert rnn.evaluate(Xv, yv)["loss"] < 0.03 * baseline  # solved (0.1-0.5% of the variance here)
    assert dense.evaluate(Xv, yv)["loss"] > 0.06 * baseline  # not (about 12%)
