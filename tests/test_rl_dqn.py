"""The DQN agent: solving CartPole, reproducibility, bad input, Ctrl-C, save and load."""
import os
import signal

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from fastnn import ModelFileError, rl  # noqa: E402

SMALL = dict(hidden=(32, 32), learning_starts=200, train_freq=4, gradient_steps=1, target_update_interval=100,
             buffer_size=5000, batch_size=32)


class _StopWhenSolved:
    """Evaluates the greedy policy (10 episodes) every 2,500 steps from step 10,000 and stops learning once it
    reaches a return of 490 (Stable-Baselines3's EvalCallback with StopTrainingOnRewardThreshold)."""

    def __init__(self):
        self.next = 10_000

    def __call__(self, agent):
        if agent.num_timesteps >= self.next:
            self.next += 2_500
            if agent.evaluate(n_episodes=10)["mean_return"] >= 490:
                return False


@pytest.mark.long_learning
def test_solves_cartpole_with_the_defaults():
    """With the defaults, training stopped at the reward threshold solves CartPole-v1 (a mean return of at least
    475 over 100 fresh episodes) within 50,000 steps for most seeds: the policy a DQN run ends with varies much
    from seed to seed and with the processor's rounding, as Stable-Baselines3's does, so four seeds are tried."""
    results = {}
    for seed in range(4):
        agent = rl.DQN(gym.make("CartPole-v1"), seed=seed)
        agent.learn(total_timesteps=50_000, callback=_StopWhenSolved())
        results[seed] = (agent.num_timesteps, agent.evaluate(n_episodes=100)["mean_return"])
    assert sum(ret >= 475 for _, ret in results.values()) >= 2, results


@pytest.mark.parametrize("double_q", [False, True])
def test_same_seed_same_returns_for_any_thread_count(many_cores, double_q):
    runs = []
    for n_threads in (1, 2, 1):
        agent = rl.DQN(gym.make("CartPole-v1"), hidden=(64, 64), learning_starts=500, train_freq=4,
                       gradient_steps=1, batch_size=64, target_update_interval=50, double_q=double_q, seed=5,
                       n_threads=n_threads)
        agent.learn(900)
        runs.append((agent.episode_returns, agent.q_net.parameters.copy(), agent.target_parameters.copy()))
    for returns, params, target in runs[1:]:
        assert returns == runs[0][0]
        np.testing.assert_array_equal(params, runs[0][1])
        np.testing.assert_array_equal(target, runs[0][2])
    other = rl.DQN(gym.make("CartPole-v1"), hidden=(64, 64), learning_starts=500, train_freq=4, gradient_steps=1,
                   batch_size=64, target_update_interval=50, double_q=double_q, seed=6)
    other.learn(900)
    assert other.episode_returns != runs[0][0]


def test_learn_continues_and_counts():
    agent = rl.DQN(gym.make("CartPole-v1"), seed=1, **SMALL)
    agent.learn(300)
    assert agent.num_timesteps == 300 and len(agent.replay_buffer) == 300
    assert agent.n_updates == (300 - 200) // 4
    agent.learn(100)
    assert agent.num_timesteps == 400 and agent.n_updates == (400 - 200) // 4
    assert agent.exploration_rate < 1.0
    assert sum(agent.episode_lengths) <= 400


def test_predict_and_evaluate():
    agent = rl.DQN(gym.make("CartPole-v1"), seed=0, **SMALL)
    obs, _ = gym.make("CartPole-v1").reset(seed=0)
    action, state = agent.predict(obs)  # Stable-Baselines3's form: (actions, None)
    assert state is None and action.shape == () and action.dtype == np.int64 and int(action) in (0, 1)
    assert agent.predict(obs, deterministic=True)[0] == agent.predict(obs.astype(np.float64), deterministic=True)[0]
    r = agent.evaluate(n_episodes=3)
    assert r["episodes"] == 3 and r["mean_return"] > 0
    with pytest.raises(ValueError, match="NaN"):
        agent.predict(np.full(4, np.nan))
    with pytest.raises(ValueError, match=r"shape \(4,\), or \(n, \*\(4,\)\) for a batch, got \(3,\)"):
        agent.predict(np.zeros(3))
    with pytest.raises(ValueError, match="got \\(2, 3\\)"):
        agent.predict(np.zeros((2, 3)))


class _Spoil(gym.Wrapper):
    """Returns a NaN reward or observation at step ``at``, or sends SIGINT to the process there."""

    def __init__(self, env, at, what):
        super().__init__(env)
        self.at, self.what, self.n = at, what, 0

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        self.n += 1
        if self.n == self.at:
            if self.what == "reward":
                r = float("nan")
            elif self.what == "obs":
                obs = obs * np.nan
            else:
                os.kill(os.getpid(), signal.SIGINT)
        return obs, r, term, trunc, info


@pytest.mark.parametrize("what", ["reward", "obs"])
def test_nonfinite_data_names_the_step_and_leaves_the_agent(what):
    agent = rl.DQN(_Spoil(gym.make("CartPole-v1"), 350, what), seed=0, **SMALL)
    agent.learn(340)
    params, buffer_len = agent.q_net.parameters.copy(), len(agent.replay_buffer)
    with pytest.raises(ValueError, match="step 350"):
        agent.learn(100)
    assert agent.num_timesteps == 349 and len(agent.replay_buffer) == 349
    assert agent.n_updates == (348 - 200) // 4
    assert np.all(np.isfinite(agent.q_net.parameters)) and buffer_len == 340
    assert not np.array_equal(params, agent.q_net.parameters)  # the updates before step 350 were applied


def test_ctrl_c_stops_after_the_step_and_the_agent_learns_on():
    agent = rl.DQN(_Spoil(gym.make("CartPole-v1"), 500, "sigint"), seed=0, **SMALL)
    with pytest.raises(KeyboardInterrupt):
        agent.learn(2000)
    assert agent.num_timesteps == 500 and len(agent.replay_buffer) == 500
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    agent.learn(100)
    assert agent.num_timesteps == 600


class _NotGym:
    observation_space = action_space = None


def test_bad_input():
    env = gym.make("CartPole-v1")
    with pytest.raises(TypeError, match="Gymnasium environment"):
        rl.DQN(_NotGym())
    with pytest.raises(TypeError, match="Box observation"):
        rl.DQN(gym.make("FrozenLake-v1"))
    with pytest.raises(TypeError, match="Discrete action"):
        rl.DQN(gym.make("Pendulum-v1"))
    with pytest.raises(ValueError, match="batch_size"):
        rl.DQN(env, buffer_size=100, batch_size=101)
    for gamma in (-0.1, 1.01, float("nan")):
        with pytest.raises(ValueError, match="gamma"):
            rl.DQN(env, gamma=gamma)
    with pytest.raises(ValueError, match="loss"):
        rl.DQN(env, loss="l1")
    with pytest.raises(ValueError, match="tau"):
        rl.DQN(env, tau=0.0)
    agent = rl.DQN(env, seed=0, **SMALL)
    with pytest.raises(ValueError, match="total_timesteps"):
        agent.learn(-1)
    with pytest.raises(TypeError, match="total_timesteps"):
        agent.learn(1.5)


def test_save_and_load_round_trip(tmp_path):
    agent = rl.DQN(gym.make("CartPole-v1"), seed=3, **SMALL)
    agent.learn(600)
    path = tmp_path / "agent.fnn"
    agent.save(path, include_buffer=True)
    loaded = rl.DQN.load(path, env=gym.make("CartPole-v1"))
    np.testing.assert_array_equal(loaded.q_net.parameters, agent.q_net.parameters)
    np.testing.assert_array_equal(loaded.target_parameters, agent.target_parameters)
    np.testing.assert_array_equal(loaded.q_net._state, agent.q_net._state)
    for k, v in agent.replay_buffer.arrays().items():
        np.testing.assert_array_equal(getattr(loaded.replay_buffer, k), v)
    assert (loaded.num_timesteps, loaded.n_updates, loaded.episode_returns) == \
        (agent.num_timesteps, agent.n_updates, agent.episode_returns)
    assert loaded.exploration_schedule == agent.exploration_schedule
    # training resumes: both continue from the same state the same way (a new episode each)
    for a in (agent, loaded):
        a._last_obs, a._seeded = None, False  # both start an episode from the same seeded reset
        a.learn(300)
    np.testing.assert_array_equal(loaded.q_net.parameters, agent.q_net.parameters)
    # without the buffer the file is small and the loaded buffer empty
    agent.save(tmp_path / "small.fnn")
    small = rl.DQN.load(tmp_path / "small.fnn", env=gym.make("CartPole-v1"))
    assert len(small.replay_buffer) == 0
    assert os.path.getsize(tmp_path / "small.fnn") < os.path.getsize(path) / 3
    with pytest.raises(ModelFileError):
        rl.DQN.load(tmp_path / "missing.fnn", env=gym.make("CartPole-v1"))
    (tmp_path / "junk.fnn").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError):
        rl.DQN.load(tmp_path / "junk.fnn", env=gym.make("CartPole-v1"))
    with pytest.raises(TypeError, match="Box observation"):
        rl.DQN.load(path, env=gym.make("FrozenLake-v1"))


def test_qlearning_save_and_load(tmp_path):
    agent = rl.QLearning(16, 4, seed=0)
    agent.learn(gym.make("FrozenLake-v1"), episodes=200)
    agent.save(tmp_path / "q.fnn")
    loaded = rl.QLearning.load(tmp_path / "q.fnn")
    np.testing.assert_array_equal(loaded.q_table, agent.q_table)
    for a in (agent, loaded):
        a._seeded = False  # both continue on an environment reset with the same seed
        a.learn(gym.make("FrozenLake-v1"), episodes=50)
    np.testing.assert_array_equal(loaded.q_table, agent.q_table)
    with pytest.raises(ModelFileError, match="QLearning"):
        rl.DQN.load(tmp_path / "q.fnn", env=gym.make("CartPole-v1"))


def test_callback_after_each_episode_can_stop():
    seen = []
    agent = rl.DQN(gym.make("CartPole-v1"), seed=0, **SMALL)
    agent.learn(5000, callback=lambda a: seen.append(len(a.episode_returns)) or len(seen) < 3)
    assert seen == [1, 2, 3] and len(agent.episode_returns) == 3
    assert agent.num_timesteps == sum(agent.episode_lengths)


def test_train_and_update_target_directly():
    agent = rl.DQN(gym.make("CartPole-v1"), seed=0, **SMALL)
    with pytest.raises(ValueError, match="empty"):
        agent.train(1)
    agent.learn(100)
    before = agent.n_updates
    loss = agent.train(5)
    assert np.isfinite(loss) and loss >= 0 and agent.n_updates == before + 5
    assert not np.array_equal(agent.target_parameters, agent.q_net.parameters)
    agent.update_target()  # tau = 1: a copy
    np.testing.assert_array_equal(agent.target_parameters, agent.q_net.parameters)


class _Square(gym.ObservationWrapper):
    """CartPole's four observations as a 2 x 2 Box."""

    def __init__(self, env):
        super().__init__(env)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2, 2), np.float32)

    def observation(self, obs):
        return obs.reshape(2, 2)


def test_box_observations_of_more_dimensions_are_flattened():
    agent = rl.DQN(_Square(gym.make("CartPole-v1")), seed=0, **SMALL)
    assert agent.q_net.n_features == 4
    agent.learn(300)
    plain = rl.DQN(gym.make("CartPole-v1"), seed=0, **SMALL)
    plain.learn(300)
    assert agent.episode_returns == plain.episode_returns
    np.testing.assert_array_equal(agent.q_net.parameters, plain.q_net.parameters)
    assert agent.evaluate(2, env=_Square(gym.make("CartPole-v1")))["episodes"] == 2


def test_a_frozen_layer_of_the_q_network_is_not_trained():
    """Freezing a layer of the agent's network after the agent was made takes effect at the next update."""
    agent = rl.DQN(gym.make("CartPole-v1"), seed=1, **SMALL)
    agent.learn(250)
    first = agent.q_net.layers[0]
    first.trainable = False
    w0, w1 = first.weight.copy(), agent.q_net.layers[1].weight.copy()
    agent.learn(200)
    np.testing.assert_array_equal(first.weight, w0)
    assert not np.array_equal(agent.q_net.layers[1].weight, w1)
    first.trainable = True
    agent.learn(100)
    assert not np.array_equal(first.weight, w0)
