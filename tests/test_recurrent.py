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
