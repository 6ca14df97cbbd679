"""Stable-Baselines3's evaluation habits: :func:`evaluate_policy` and the learning callbacks
:class:`EvalCallback` (periodic evaluation, the best agent kept) and :class:`StopTrainingOnRewardThreshold`."""
import math
import os

import numpy as np

from .._core.validation import check_float, check_int
from ._common import finite_reward, gymnasium

__all__ = ["evaluate_policy", "EvalCallback", "StopTrainingOnRewardThreshold"]


def evaluate_policy(model, env, n_eval_episodes=10, deterministic=True, reward_threshold=None,
                    return_episode_rewards=False):
    """Run ``model``'s policy for ``n_eval_episodes`` episodes of ``env``: Stable-Baselines3's
    ``evaluate_policy``.

    Parameters
    ----------
    model : DQN, QLearning or any object with Stable-Baselines3's ``predict(obs, deterministic=...)``
        It returns ``(action, state)``; the action is passed to ``env.step``.
    env : gymnasium.Env
        Reset without a seed at each episode (seed it once beforehand, ``env.reset(seed=...)``, for the same
        episodes each time).
    n_eval_episodes : int, default=10
    deterministic : bool, default=True
        Greedy actions, or the agent's exploring ones.
    reward_threshold : float, optional
        Raise an AssertionError when the mean return is below it (as Stable-Baselines3 does).
    return_episode_rewards : bool, default=False
        Return each episode's return and length instead of their mean and standard deviation.

    Returns
    -------
    (mean_reward, std_reward) : tuple of float
        Or ``(episode_rewards, episode_lengths)``, two lists, with ``return_episode_rewards``.

    Notes
    -----
    Stable-Baselines3's ``render``, ``callback`` and ``warn`` arguments and its vectorised environments are not
    supported: ``env`` is one Gymnasium environment.

    Examples
    --------
    >>> import gymnasium as gym
    >>> from fastnn import rl
    >>> env = gym.make("FrozenLake-v1", is_slippery=False)
    >>> agent = rl.QLearning.from_env(env, lr=0.5, seed=0).learn(env, episodes=500)
    >>> rl.evaluate_policy(agent, env, n_eval_episodes=10)
    (1.0, 0.0)
    """
    if not isinstance(env, gymnasium().Env):
        raise TypeError(f"env must be a Gymnasium environment, got {type(env).__name__}")
    if not callable(getattr(model, "predict", None)):
        raise TypeError(f"model must have a predict(obs, deterministic=...) method, got {type(model).__name__}")
    n_eval_episodes = check_int(n_eval_episodes, "n_eval_episodes", minimum=1)
    if reward_threshold is not None:
        reward_threshold = check_float(reward_threshold, "reward_threshold")
    rewards, lengths = [], []
    for _ in range(n_eval_episodes):
        obs, _ = env.reset()
        total, length, done = 0.0, 0, False
        while not done:
            action, _ = model.predict(obs, deterministic=deterministic)
            obs, reward, terminated, truncated, _ = env.step(action)
            length += 1
            total += finite_reward(reward, length)
            done = terminated or truncated
        rewards.append(total)
        lengths.append(length)
    mean, std = float(np.mean(rewards)), float(np.std(rewards))
    if reward_threshold is not None and not mean >= reward_threshold:
        raise AssertionError(f"Mean reward below threshold: {mean:.2f} < {reward_threshold:.2f}")
    if return_episode_rewards:
        return rewards, lengths
    return mean, std


def _progress(agent):
    """Steps taken (DQN's ``num_timesteps``), or episodes for an agent that learns by episodes (QLearning)."""
    steps = getattr(agent, "num_timesteps", None)
    return steps if steps is not None else agent.episodes_done


class EvalCallback:
    """Evaluate the agent every ``eval_freq`` steps while it learns and keep the best one: Stable-Baselines3's
    ``EvalCallback``, as a callback of ``learn(callback=...)``.

    ``learn`` calls it after each completed training episode; it evaluates (with :func:`evaluate_policy`) once
    ``eval_freq`` environment steps (DQN; episodes for :class:`QLearning`, which learns by episodes) passed since
    the last evaluation. A new best mean return saves the agent to ``best_model_save_path/best_model.fnn`` and
    calls ``callback_on_new_best``; learning stops when that returns False.

    Parameters
    ----------
    eval_env : gymnasium.Env or str
        The environment evaluations run in (an id is made with ``gymnasium.make``); not the training one.
    callback_on_new_best : callable, optional
        ``callback_on_new_best(eval_callback)`` at each new best, e.g. :class:`StopTrainingOnRewardThreshold`.
    n_eval_episodes : int, default=5
    eval_freq : int, default=10000
    log_path : str, optional
        A folder for ``evaluations.npz`` (``timesteps``, ``results``, ``ep_lengths``, as Stable-Baselines3 writes
        it), rewritten after each evaluation.
    best_model_save_path : str, optional
        A folder for ``best_model.fnn``, the agent (``agent.save``) at its best mean return so far.
    deterministic : bool, default=True
    verbose : int, default=1
        1 prints each evaluation's result.

    Attributes
    ----------
    best_mean_reward, last_mean_reward : float
        ``-inf`` before the first evaluation.
    evaluations_timesteps, evaluations_results, evaluations_length : list
        Step counts (episodes for QLearning) of the evaluations, each one's episode returns and lengths.
    best_model_path : str or None
        The file of the best agent (None without ``best_model_save_path`` or before the first evaluation).

    Examples
    --------
    >>> import gymnasium as gym
    >>> from fastnn import rl
    >>> agent = rl.DQN("CartPole-v1", learning_starts=100, train_freq=4, gradient_steps=1, seed=0)
    >>> stop = rl.StopTrainingOnRewardThreshold(reward_threshold=475)
    >>> cb = rl.EvalCallback(gym.make("CartPole-v1"), callback_on_new_best=stop, eval_freq=500,
    ...                      n_eval_episodes=3, verbose=0)
    >>> agent = agent.learn(1_000, callback=cb)
    >>> len(cb.evaluations_results) >= 1 and cb.best_mean_reward > 0
    True
    """

    def __init__(self, eval_env, callback_on_new_best=None, n_eval_episodes=5, eval_freq=10000, log_path=None,
                 best_model_save_path=None, deterministic=True, verbose=1):
        from ._common import make_env

        eval_env = make_env(eval_env)
        if not isinstance(eval_env, gymnasium().Env):
            raise TypeError(f"eval_env must be a Gymnasium environment or an id, got {type(eval_env).__name__}")
        if callback_on_new_best is not None and not callable(callback_on_new_best):
            raise TypeError("callback_on_new_best must be callable or None")
        self.eval_env = eval_env
        self.callback_on_new_best = callback_on_new_best
        self.n_eval_episodes = check_int(n_eval_episodes, "n_eval_episodes", minimum=1)
        self.eval_freq = check_int(eval_freq, "eval_freq", minimum=1)
        for name, folder in (("log_path", log_path), ("best_model_save_path", best_model_save_path)):
            if folder is not None and not isinstance(folder, (str, os.PathLike)):
                raise TypeError(f"{name} must be a folder path or None, got {type(folder).__name__}")
        self.log_path = None if log_path is None else os.fspath(log_path)
        self.best_model_save_path = None if best_model_save_path is None else os.fspath(best_model_save_path)
        self.deterministic = bool(deterministic)
        self.verbose = check_int(verbose, "verbose", minimum=0)
        self.best_mean_reward = self.last_mean_reward = -math.inf
        self.evaluations_timesteps, self.evaluations_results, self.evaluations_length = [], [], []
        self.best_model_path = None
        self._last = None

    def __call__(self, agent, *episode):
        """After a training episode (``learn``'s callback; QLearning also passes the episode and its return)."""
        now = _progress(agent)
        if self._last is None:
            self._last = now - (now % self.eval_freq)  # evaluations at multiples of eval_freq, from the first
        if now - self._last < self.eval_freq:
            return None
        self._last = now - (now % self.eval_freq)
        rewards, lengths = evaluate_policy(agent, self.eval_env, self.n_eval_episodes, self.deterministic,
                                           return_episode_rewards=True)
        self.evaluations_timesteps.append(now)
        self.evaluations_results.append(rewards)
        self.evaluations_length.append(lengths)
        if self.log_path is not None:
            os.makedirs(self.log_path, exist_ok=True)
            np.savez(os.path.join(self.log_path, "evaluations"), timesteps=self.evaluations_timesteps,
                     results=self.evaluations_results, ep_lengths=self.evaluations_length)
        self.last_mean_reward = mean = float(np.mean(rewards))
        if self.verbose:
            print(f"Eval num_timesteps={now}, episode_reward={mean:.2f} +/- {np.std(rewards):.2f}")
            print(f"Episode length: {np.mean(lengths):.2f} +/- {np.std(lengths):.2f}")
        if mean > self.best_mean_reward:
            self.best_mean_reward = mean
            if self.verbose:
                print("New best mean reward!")
            if self.best_model_save_path is not None:
                os.makedirs(self.best_model_save_path, exist_ok=True)
                self.best_model_path = os.path.join(self.best_model_save_path, "best_model.fnn")
                agent.save(self.best_model_path)
            if self.callback_on_new_best is not None and self.callback_on_new_best(self) is False:
                return False
        return None


class StopTrainingOnRewardThreshold:
    """Stop learning once an evaluation's mean return reaches ``reward_threshold``: Stable-Baselines3's
    callback, given to :class:`EvalCallback` as ``callback_on_new_best``.

    Parameters
    ----------
    reward_threshold : float
    verbose : int, default=1

    Examples
    --------
    >>> from fastnn import rl
    >>> stop = rl.StopTrainingOnRewardThreshold(reward_threshold=475, verbose=0)
    """

    def __init__(self, reward_threshold, verbose=1):
        self.reward_threshold = check_float(reward_threshold, "reward_threshold")
        self.verbose = check_int(verbose, "verbose", minimum=0)

    def __call__(self, eval_callback):
        if eval_callback.best_mean_reward < self.reward_threshold:
            return True
        if self.verbose:
            print(f"Stopping training because the mean reward {eval_callback.best_mean_reward:.2f} is above the "
                  f"threshold {self.reward_threshold}")
        return False
