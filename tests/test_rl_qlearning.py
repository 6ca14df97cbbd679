"""Tabular Q-learning: the update rule, reproducibility, FrozenLake and Taxi solved, bad input."""
import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from fastnn import rl  # noqa: E402

TAXI = "Taxi-v4" if "Taxi-v4" in gym.registry else "Taxi-v3"  # newer Gymnasium deprecates v3


def test_linear_decay():
    eps = rl.LinearDecay(1.0, 0.1, 0.5)
    assert eps(0.0) == 1.0 and eps(0.25) == pytest.approx(0.55) and eps(0.5) == 0.1 and eps(1.0) == 0.1
    assert rl.LinearDecay(0.3, 0.3, 0.0)(0.0) == 0.3
    with pytest.raises(ValueError, match="fraction"):
        rl.LinearDecay(1.0, 0.1, 1.5)


def test_update_rule_matches_formula():
    """One learned episode on the deterministic FrozenLake equals the Q-learning update written out."""
    env = gym.make("FrozenLake-v1", is_slippery=False)
    agent = rl.QLearning(16, 4, lr=0.5, gamma=0.9, epsilon=1.0, seed=3)
    rng = np.random.default_rng(3)
    env2 = gym.make("FrozenLake-v1", is_slippery=False)
    q = np.zeros((16, 4))
    agent.learn(env, episodes=5)
    s, _ = env2.reset(seed=3)
    episodes = 0
    while episodes < 5:
        rng.random()
        a = int(rng.integers(4))
        s2, r, term, trunc, _ = env2.step(a)
        target = r if term else r + 0.9 * q[s2].max()
        q[s, a] += 0.5 * (target - q[s, a])
        s = s2
        if term or trunc:
            episodes += 1
            s, _ = env2.reset()
    np.testing.assert_array_equal(agent.q_table, q)


def test_seeded_runs_are_identical():
    tables = []
    for _ in range(2):
        agent = rl.QLearning(16, 4, seed=7)
        agent.learn(gym.make("FrozenLake-v1"), episodes=300)
        tables.append(agent.q_table.copy())
    np.testing.assert_array_equal(tables[0], tables[1])


def test_solves_frozenlake():
    env = gym.make("FrozenLake-v1")  # slippery
    agent = rl.QLearning(n_states=16, n_actions=4, lr=0.1, gamma=0.99, epsilon=rl.LinearDecay(1.0, 0.05, 0.5),
                         seed=0)
    agent.learn(env, episodes=20_000)
    result = agent.evaluate(env, episodes=1000)
    assert result["episodes"] == 1000
    assert result["mean_return"] >= 0.70, result


def test_solves_taxi():
    env = gym.make(TAXI)
    agent = rl.QLearning(n_states=500, n_actions=6, lr=0.5, gamma=0.99, seed=0)
    agent.learn(env, episodes=4000)
    result = agent.evaluate(env, episodes=1000)
    assert result["mean_return"] >= 7.5, result


def test_bad_input():
    agent = rl.QLearning(16, 4, seed=0)
    with pytest.raises(TypeError, match="Gymnasium environment"):
        agent.learn(object(), episodes=1)
    with pytest.raises(TypeError, match="Discrete observation"):
        agent.learn(gym.make("CartPole-v1"), episodes=1)
    with pytest.raises(ValueError, match="states"):
        agent.learn(gym.make(TAXI), episodes=1)
    with pytest.raises(ValueError, match="episodes"):
        agent.learn(gym.make("FrozenLake-v1"), episodes=-1)
    for bad in (dict(gamma=1.5), dict(gamma=-0.1), dict(lr=0.0), dict(epsilon=2.0)):
        with pytest.raises(ValueError):
            rl.QLearning(16, 4, **bad)
    with pytest.raises(TypeError):
        rl.QLearning(16, 4, epsilon="high")


class _NaNReward(gym.Wrapper):
    def __init__(self, env, at):
        super().__init__(env)
        self.at, self.n = at, 0

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        self.n += 1
        return obs, (float("nan") if self.n == self.at else r), term, trunc, info


def test_nan_reward_names_the_step_and_leaves_the_table():
    agent = rl.QLearning(16, 4, seed=0)
    env = _NaNReward(gym.make("FrozenLake-v1"), at=40)
    agent.learn(gym.make("FrozenLake-v1"), episodes=50)
    before = agent.q_table.copy()
    with pytest.raises(ValueError, match="step 40"):
        agent.learn(env, episodes=100)
    assert np.all(np.isfinite(agent.q_table))
    assert agent.q_table.shape == before.shape


def test_fastnn_imports_without_gymnasium():
    import subprocess
    import sys

    code = ("import sys; sys.modules['gymnasium'] = None\n"
            "import fastnn, fastnn.rl\n"
            "try:\n"
            "    fastnn.rl.QLearning(2, 2).learn(object())\n"
            "except ImportError as exc:\n"
            "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "fastnn.rl needs Gymnasium: pip install gymnasium"


class _SigintAt(gym.Wrapper):
    def __init__(self, env, at):
        super().__init__(env)
        self.at, self.n = at, 0

    def step(self, action):
        self.n += 1
        if self.n == self.at:
            import os
            import signal

            os.kill(os.getpid(), signal.SIGINT)
        return self.env.step(action)


def test_ctrl_c_stops_learning_with_the_table_usable():
    import signal

    agent = rl.QLearning(16, 4, seed=0)
    with pytest.raises(KeyboardInterrupt):
        agent.learn(_SigintAt(gym.make("FrozenLake-v1"), 300), episodes=10_000)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert 0 < agent.episodes_done < 10_000 and np.all(np.isfinite(agent.q_table))
    agent.learn(gym.make("FrozenLake-v1"), episodes=10)


def test_callback_stops_learning():
    agent = rl.QLearning(16, 4, seed=0)
    agent.learn(gym.make("FrozenLake-v1"), episodes=100, callback=lambda a, episode, ret: episode < 9)
    assert agent.episodes_done == 10 and len(agent.episode_returns) == 10
