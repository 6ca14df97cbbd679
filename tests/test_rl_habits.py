"""Stable-Baselines3's habits in fastnn.rl, written as an SB3 user writes them: an agent from an environment id,
policy_kwargs, predict's (actions, None) on one observation or a batch, DQN.load without an environment,
evaluate_policy, EvalCallback with the best agent kept; QLearning.from_env."""
import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from fastnn import rl  # noqa: E402

SMALL = dict(learning_starts=100, train_freq=4, gradient_steps=1, target_update_interval=100, buffer_size=2000,
             batch_size=32)


def test_agent_from_an_environment_id():
    agent = rl.DQN("CartPole-v1", seed=0, **SMALL)
    assert isinstance(agent.env, gym.Env) and agent.env.spec.id == "CartPole-v1"
    assert agent.observation_space.shape == (4,) and agent.action_space.n == 2
    agent.learn(total_timesteps=300)
    assert agent.num_timesteps == 300
    with pytest.raises(ValueError, match="env 'NoSuchEnv-v0'"):
        rl.DQN("NoSuchEnv-v0")


def test_policy_kwargs_net_arch():
    agent = rl.DQN("CartPole-v1", policy_kwargs=dict(net_arch=[256, 256]), seed=0)
    assert agent.q_net.widths == [4, 256, 256, 2] and agent.hidden == (256, 256)
    same = rl.DQN("CartPole-v1", hidden=(256, 256), seed=0)
    np.testing.assert_array_equal(agent.q_net.parameters, same.q_net.parameters)
    with pytest.raises(ValueError, match="only 'net_arch'"):
        rl.DQN("CartPole-v1", policy_kwargs=dict(net_arch=[8], activation_fn="tanh"))
    with pytest.raises(ValueError, match="once"):
        rl.DQN("CartPole-v1", hidden=(8,), policy_kwargs=dict(net_arch=[8]))
    with pytest.raises(ValueError, match="hidden"):
        rl.DQN("CartPole-v1", policy_kwargs=dict(net_arch=[0]))


def test_predict_one_observation_or_a_batch():
    agent = rl.DQN("CartPole-v1", seed=0, **SMALL).learn(400)
    env = gym.make("CartPole-v1")
    obs = np.array([env.reset(seed=s)[0] for s in range(16)])
    actions, state = agent.predict(obs, deterministic=True)
    assert state is None and actions.shape == (16,) and actions.dtype == np.int64
    one_by_one = [agent.predict(o, deterministic=True)[0] for o in obs]
    assert all(a.shape == () for a in one_by_one)
    np.testing.assert_array_equal(actions, one_by_one)
    np.testing.assert_array_equal(actions, agent.q_net.predict(obs).argmax(axis=1))
    agent.exploration_rate = 1.0  # every action random: both actions show up
    explored, _ = agent.predict(np.repeat(obs, 8, axis=0))
    assert set(explored.tolist()) == {0, 1}
    obs_env, _ = env.reset(seed=0)  # the SB3 loop
    for _ in range(5):
        action, _ = agent.predict(obs_env, deterministic=True)
        obs_env, reward, terminated, truncated, info = env.step(action)


def test_load_without_an_environment(tmp_path):
    agent = rl.DQN("CartPole-v1", seed=1, **SMALL).learn(300)
    agent.save(tmp_path / "dqn_cartpole.fnn")
    obs = np.random.default_rng(0).normal(size=(10, 4))
    model = rl.DQN.load(tmp_path / "dqn_cartpole.fnn")
    assert model.env is None and model.observation_space.shape == (4,) and model.action_space.n == 2
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0],
                                  agent.predict(obs, deterministic=True)[0])
    with pytest.raises(ValueError, match="no environment to learn in"):
        model.learn(10)
    with pytest.raises(ValueError, match="no environment"):
        model.evaluate(3)
    model.set_env(gym.make("CartPole-v1"))
    assert model.learn(50).num_timesteps == 350
    with pytest.raises(TypeError, match="Box observation"):
        model.set_env(gym.make("FrozenLake-v1"))
    with pytest.raises(ValueError, match="6 observation values and 3 actions"):
        model.set_env("Acrobot-v1")
    resumed = rl.DQN.load(tmp_path / "dqn_cartpole.fnn", env="CartPole-v1")
    assert resumed.learn(20).num_timesteps == 320


def test_qlearning_from_env():
    env = gym.make("FrozenLake-v1", is_slippery=False)
    agent = rl.QLearning.from_env(env, lr=0.5, seed=0)
    assert (agent.n_states, agent.n_actions, agent.lr) == (16, 4, 0.5)
    assert rl.QLearning.from_env("Taxi-v4").q_table.shape == (500, 6)
    with pytest.raises(TypeError, match="Discrete observation"):
        rl.QLearning.from_env("CartPole-v1")
    agent.learn(env, episodes=300)
    actions, state = agent.predict(np.arange(16))
    assert state is None and actions.shape == (16,)
    np.testing.assert_array_equal(actions, agent.q_table.argmax(axis=1))
    assert agent.predict(3)[0] == agent.q_table[3].argmax() and agent.predict(3)[0].shape == ()
    with pytest.raises(ValueError, match="0..15"):
        agent.predict(16)


def _episodes_by_hand(model, env, n):
    """The loop a Stable-Baselines3 user writes."""
    returns = []
    for _ in range(n):
        obs, _ = env.reset()
        done, total = False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
        returns.append(total)
    return returns


@pytest.mark.parametrize("algo", ["dqn", "qlearning"])
def test_evaluate_policy(algo):
    if algo == "dqn":
        model, make = rl.DQN("CartPole-v1", seed=0, **SMALL).learn(500), lambda: gym.make("CartPole-v1")
    else:
        make = lambda: gym.make("FrozenLake-v1", map_name="8x8")  # noqa: E731
        model = rl.QLearning.from_env(make(), lr=0.5, seed=0).learn(make(), episodes=400)
    env, twin = make(), make()
    env.reset(seed=3)
    twin.reset(seed=3)
    mean_reward, std_reward = rl.evaluate_policy(model, env, n_eval_episodes=7, deterministic=True)
    expected = _episodes_by_hand(model, twin, 7)
    assert mean_reward == pytest.approx(np.mean(expected)) and std_reward == pytest.approx(np.std(expected))
    env.reset(seed=3)
    rewards, lengths = rl.evaluate_policy(model, env, n_eval_episodes=7, return_episode_rewards=True)
    assert rewards == expected and len(lengths) == 7 and all(n >= 1 for n in lengths)
    with pytest.raises(AssertionError, match="Mean reward below threshold"):
        rl.evaluate_policy(model, env, n_eval_episodes=2, reward_threshold=1e9)
    with pytest.raises(ValueError, match="n_eval_episodes"):
        rl.evaluate_policy(model, env, n_eval_episodes=0)
    with pytest.raises(TypeError, match="Gymnasium environment"):
        rl.evaluate_policy(model, "CartPole-v1")


def test_eval_callback_keeps_the_best_model(tmp_path, capsys):
    eval_env = gym.make("CartPole-v1")
    eval_env.reset(seed=0)
    model = rl.DQN("CartPole-v1", seed=0, **SMALL)
    best = []
    eval_callback = rl.EvalCallback(eval_env, best_model_save_path=tmp_path / "logs", log_path=tmp_path / "logs",
                                    eval_freq=400, n_eval_episodes=3, deterministic=True,
                                    callback_on_new_best=lambda cb: best.append(model.q_net.parameters.copy()))
    model.learn(total_timesteps=1500, callback=eval_callback)
    steps = eval_callback.evaluations_timesteps
    assert len(steps) == 3 and [s // 400 for s in steps] == [1, 2, 3] and steps == sorted(steps)
    means = [np.mean(r) for r in eval_callback.evaluations_results]
    assert eval_callback.best_mean_reward == max(means) and eval_callback.last_mean_reward == means[-1]
    assert len(best) == sum(m > max(means[:i], default=-np.inf) for i, m in enumerate(means))  # each new best
    saved = rl.DQN.load(tmp_path / "logs" / "best_model.fnn")  # the agent at its best evaluation
    np.testing.assert_array_equal(saved.q_net.parameters, best[-1])
    log = np.load(tmp_path / "logs" / "evaluations.npz")
    np.testing.assert_array_equal(log["timesteps"], steps)
    np.testing.assert_array_equal(log["results"], eval_callback.evaluations_results)
    np.testing.assert_array_equal(log["ep_lengths"], eval_callback.evaluations_length)
    assert "Eval num_timesteps=" in capsys.readouterr().out


def test_stop_training_on_reward_threshold():
    model = rl.DQN("CartPole-v1", seed=0, **SMALL)
    stop = rl.StopTrainingOnRewardThreshold(reward_threshold=5, verbose=0)  # any policy reaches it
    cb = rl.EvalCallback("CartPole-v1", callback_on_new_best=stop, eval_freq=300, n_eval_episodes=2, verbose=0)
    model.learn(3000, callback=cb)
    assert len(cb.evaluations_timesteps) == 1 and 300 <= model.num_timesteps < 3000
    with pytest.raises(ValueError, match="eval_freq"):
        rl.EvalCallback("CartPole-v1", eval_freq=0)
    with pytest.raises(TypeError, match="callback_on_new_best"):
        rl.EvalCallback("CartPole-v1", callback_on_new_best=5)


def test_eval_callback_with_qlearning_counts_episodes(tmp_path):
    env = gym.make("FrozenLake-v1", is_slippery=False)
    agent = rl.QLearning.from_env(env, lr=0.5, seed=0)
    cb = rl.EvalCallback(gym.make("FrozenLake-v1", is_slippery=False), eval_freq=100, n_eval_episodes=2,
                         best_model_save_path=tmp_path, verbose=0)
    agent.learn(env, episodes=500, callback=cb)
    assert cb.evaluations_timesteps == [100, 200, 300, 400, 500]
    assert cb.best_mean_reward == 1.0
    assert rl.QLearning.load(tmp_path / "best_model.fnn").predict(0)[0] in range(4)
