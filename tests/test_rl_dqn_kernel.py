"""The compiled DQN update against its NumPy reference, target updates, the replay buffer and its sampling."""
import numpy as np
import pytest

from fastnn import _kernels, _reference
from fastnn.layers import Dense
from fastnn.losses import Huber
from fastnn.model import Sequential
from fastnn.optim import Adam
from fastnn.rl import ReplayBuffer

WIDTHS = (5, 16, 12, 3)
ACTS = (_reference.RELU, _reference.TANH, _reference.IDENTITY)


def _setup(seed, size=40, capacity=50, dtype="float64"):
    rng = np.random.default_rng(seed)
    model = Sequential([Dense(5, 16, activation="relu"), Dense(16, 12, activation="tanh"), Dense(12, 3)],
                       seed=seed, dtype=dtype)
    model.compile(loss=Huber(), optimizer=Adam(lr=0.05))
    target = model.parameters + rng.normal(scale=0.1, size=model.n_params).astype(dtype)
    buf = ReplayBuffer(capacity, 5, dtype)
    for _ in range(size):
        buf.add(rng.normal(size=5) * 2, rng.normal(size=5) * 2, int(rng.integers(3)), rng.normal() * 3,
                rng.random() < 0.3)
    return model, target, buf


def _compiled(model, target, buf, B, n_updates, loss, double_q, clip, key, gamma=0.97):
    engine = model._engine(B)
    dtype = model.dtype
    out = _kernels.dqn_update(engine, target, buf.observations, buf.next_observations, buf.actions, buf.rewards,
                              buf.dones, len(buf), B, n_updates, gamma,
                              _kernels.LOSS_HUBER if loss == "huber" else _kernels.LOSS_MSE, double_q,
                              clip or 0.0, key, model._hyper(), model._step, np.zeros(B, np.int64),
                              np.zeros((B, 3), dtype), np.zeros(B, dtype), 1)
    return out


@pytest.mark.parametrize("loss", ["huber", "mse"])
@pytest.mark.parametrize("double_q", [False, True])
@pytest.mark.parametrize("clip", [None, 0.5, 1e6])
def test_update_matches_reference(loss, double_q, clip):
    model, target, buf = _setup(1)
    p = model.parameters.copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    key, B = 12345, 16
    ref_losses = []
    for t in range(3):
        rows = _reference.replay_indices(key, t, B, len(buf))
        ref_losses.append(_reference.dqn_update(p, target, m, v, t + 1, ACTS, WIDTHS, rows, buf.observations,
                                                buf.next_observations, buf.actions, buf.rewards, buf.dones, 0.97,
                                                loss, double_q, clip, lr=0.05))
    status, done, loss_sum = _compiled(model, target, buf, B, 3, loss, double_q, clip, key)
    assert (status, done) == (0, 3)
    assert loss_sum == pytest.approx(sum(ref_losses), rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(model.parameters, p, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(model._state[0], m, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model._state[1], v, rtol=1e-10, atol=1e-14)
    assert model._step[0] == 3


def test_clipping_is_active_in_the_test():
    """With max_grad_norm 0.5 the clipped step differs from the unclipped one (the clip case tests something)."""
    a, target, buf = _setup(1)
    b, _, _ = _setup(1)
    _compiled(a, target, buf, 16, 1, "huber", False, 0.5, 7)
    _compiled(b, target, buf, 16, 1, "huber", False, None, 7)
    assert not np.allclose(a.parameters, b.parameters)


def test_float32_update_close_to_float64():
    m64, t64, buf64 = _setup(2)
    m32, _, buf32 = _setup(2, dtype="float32")
    _compiled(m64, t64, buf64, 8, 5, "huber", True, 10.0, 3)
    _compiled(m32, t64.astype(np.float32), buf32, 8, 5, "huber", True, 10.0, 3)
    np.testing.assert_allclose(m32.parameters, m64.parameters, rtol=1e-3, atol=1e-4)


def test_nonfinite_loss_leaves_the_network():
    model, target, buf = _setup(3)
    target[:] = np.inf
    before = model.parameters.copy(), model._state.copy(), int(model._step[0])
    status, done, _ = _compiled(model, target, buf, 8, 2, "huber", False, None, 1)
    assert (status, done) == (1, 0)
    np.testing.assert_array_equal(model.parameters, before[0])
    np.testing.assert_array_equal(model._state, before[1])
    assert model._step[0] == before[2]


@pytest.mark.parametrize("tau", [1.0, 0.3, 0.005])
def test_polyak_update(tau):
    rng = np.random.default_rng(0)
    online, target = rng.normal(size=100), rng.normal(size=100)
    expected = target.copy()
    _reference.polyak_update(expected, online, tau)
    _kernels.polyak_update(target, online, tau)
    np.testing.assert_allclose(target, expected, rtol=1e-15, atol=1e-15)
    if tau == 1.0:
        np.testing.assert_array_equal(target, online)


def test_replay_wraps_around():
    buf = ReplayBuffer(4, 2, "float64")
    for i in range(10):
        buf.add([i, -i], [i + 1, -i - 1], i % 3, float(i), terminated=(i % 2 == 0))
        assert len(buf) == min(i + 1, 4)
    assert buf.full and buf.pos == 10 % 4
    # rows hold transitions 8, 9, 6, 7
    np.testing.assert_array_equal(buf.observations[:, 0], [8, 9, 6, 7])
    np.testing.assert_array_equal(buf.next_observations[:, 0], [9, 10, 7, 8])
    np.testing.assert_array_equal(buf.rewards, [8, 9, 6, 7])
    np.testing.assert_array_equal(buf.actions, [8 % 3, 9 % 3, 0, 1])
    np.testing.assert_array_equal(buf.dones, [1, 0, 1, 0])


def test_sampling_is_uniform_over_the_filled_rows():
    buf = ReplayBuffer(100, 1)
    for i in range(37):
        buf.add([i], [i], 0, 0.0, False)
    rows = np.concatenate([buf.sample_indices(64, key=99, step=s) for s in range(500)])
    assert rows.min() == 0 and rows.max() == 36
    counts = np.bincount(rows, minlength=37)
    expected = rows.size / 37
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 80  # 36 degrees of freedom: p < 1e-4 above ~75
    np.testing.assert_array_equal(buf.sample_indices(64, 99, 3), _reference.replay_indices(99, 3, 64, 37))
    assert not np.array_equal(buf.sample_indices(64, 99, 3), buf.sample_indices(64, 99, 4))


def test_termination_does_not_bootstrap_but_truncation_does():
    """A terminated transition's target is its reward; a truncated one (done = 0) adds gamma * max Q_target."""
    model = Sequential([Dense(2, 2)], seed=0, dtype="float64")
    model.compile(loss=Huber(), optimizer=Adam(lr=1e-9))
    model.parameters[:] = 0
    target = np.zeros(model.n_params)
    target[4:6] = 5.0  # biases: Q_target(s') = 5 for both actions
    for terminated, expected in ((True, 1.0), (False, 1.0 + 0.5 * 5.0)):
        buf = ReplayBuffer(1, 2, "float64")
        buf.add([0.0, 0.0], [1.0, 1.0], 0, 1.0, terminated)
        y = np.zeros(1)
        _kernels.dqn_update(model._engine(1), target, buf.observations, buf.next_observations, buf.actions,
                            buf.rewards, buf.dones, 1, 1, 1, 0.5, _kernels.LOSS_MSE, False, 0.0, 0,
                            model._hyper(), model._step, np.zeros(1, np.int64), np.zeros((1, 2)), y, 1)
        assert y[0] == expected


@pytest.mark.parametrize("double_q", [False, True])
def test_update_equals_stable_baselines3s_step_in_pytorch(double_q):
    """Twenty updates equal Stable-Baselines3's DQN.train written in PyTorch (float64, clipping on), given the
    same sampled rows."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    model = Sequential([Dense(4, 32, activation="relu"), Dense(32, 32, activation="relu"), Dense(32, 2)], seed=0,
                       dtype="float64")
    model.compile(loss=Huber(), optimizer=Adam(lr=2.3e-3))
    target = model.parameters + rng.normal(scale=0.05, size=model.n_params)
    buf = ReplayBuffer(300, 4, "float64")
    for _ in range(300):
        buf.add(rng.normal(size=4), rng.normal(size=4), int(rng.integers(2)), 1.0, rng.random() < 0.1)

    def torch_net(flat):
        net = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(),
                                  torch.nn.Linear(32, 2)).double()
        off = 0
        for p in net.parameters():
            p.data = torch.tensor(flat[off:off + p.numel()].reshape(p.shape))
            off += p.numel()
        return net

    q, q_target = torch_net(model.parameters.copy()), torch_net(target)
    opt = torch.optim.Adam(q.parameters(), lr=2.3e-3)
    T = torch.tensor
    for t in range(20):
        idx = _kernels.replay_indices(5, t, 64, 300)
        with torch.no_grad():
            next_q = q_target(T(buf.next_observations[idx]))
            if double_q:
                choice = q(T(buf.next_observations[idx])).argmax(dim=1, keepdim=True)
                next_q = torch.gather(next_q, 1, choice)
            else:
                next_q = next_q.max(dim=1)[0].reshape(-1, 1)
            y = T(buf.rewards[idx]).reshape(-1, 1) + (1 - T(buf.dones[idx]).reshape(-1, 1)) * 0.99 * next_q
        current = torch.gather(q(T(buf.observations[idx])), 1, T(buf.actions[idx]).reshape(-1, 1))
        loss = F.smooth_l1_loss(current, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(q.parameters(), 0.5)
        opt.step()
    status, done, _ = _kernels.dqn_update(
        model._engine(64), target, buf.observations, buf.next_observations, buf.actions, buf.rewards, buf.dones, 300,
        64, 20, 0.99, _kernels.LOSS_HUBER, double_q, 0.5, 5, model._hyper(), model._step, np.zeros(64, np.int64),
        np.zeros((64, 2)), np.zeros(64), 1)
    assert (status, done) == (0, 20)
    flat = np.concatenate([p.detach().numpy().ravel() for p in q.parameters()])
    np.testing.assert_allclose(model.parameters, flat, rtol=1e-10, atol=1e-12)


def test_a_recurrent_q_network_updates_as_through_blas(request):
    """The compiled update's backward pass follows a forward pass that is not a training one: a float32 recurrent
    layer must not read W_hh's backward panels (packed only by training passes) there."""
    from fastnn import LSTM

    def run(panels):
        _kernels.recurrent_panels(panels)
        request.addfinalizer(lambda: _kernels.recurrent_panels(True))
        rng = np.random.default_rng(3)
        model = Sequential([LSTM(2, 32), Dense(32, 3)], input_shape=(4, 2), seed=0, dtype="float32")
        model.compile(loss=Huber(), optimizer=Adam(lr=0.01))
        buf = ReplayBuffer(64, 8, "float32")
        for _ in range(64):
            buf.add(rng.normal(size=8), rng.normal(size=8), int(rng.integers(3)), rng.normal(), rng.random() < 0.2)
        target = model.parameters.copy()
        engine = model._engine(32)
        out = _kernels.dqn_update(engine, target, buf.observations, buf.next_observations, buf.actions, buf.rewards,
                                  buf.dones, len(buf), 32, 5, 0.97, _kernels.LOSS_HUBER, False, 0.0, 7,
                                  model._hyper(), model._step, np.zeros(32, np.int64), np.zeros((32, 3), np.float32),
                                  np.zeros(32, np.float32), 1)
        assert out[0] == 0
        return model.parameters.copy()

    np.testing.assert_allclose(run(True), run(False), rtol=1e-4, atol=1e-5)
