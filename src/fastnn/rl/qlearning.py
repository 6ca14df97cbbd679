"""Tabular Q-learning for environments with discrete states and actions."""
import math
import time

import numpy as np

from .._core.progress import ProgressBar
from .._core.registry import register
from .._core.validation import check_float, check_int
from ._common import (Interrupt, LinearDecay, check_env, check_epsilon, check_gamma, check_seed, finite_reward,
                      make_env, summary)

__all__ = ["QLearning"]


@register
class QLearning:
    """Tabular Q-learning (Watkins) with an epsilon-greedy behaviour policy.

    After each step from state ``s`` by action ``a`` to ``s'`` with reward ``r``::

        Q[s, a] += lr * (r + gamma * max_a' Q[s', a'] - Q[s, a])

    where the bootstrap term is left out when the episode *terminated* in ``s'`` (a time-limit *truncation*
    keeps it, as Gymnasium defines the two). The behaviour policy takes a uniformly random action with
    probability ``epsilon`` (a :class:`LinearDecay` over the episodes of :meth:`learn`, or a constant), else the
    greedy one (ties broken at random while learning; :meth:`predict` and :meth:`evaluate` take the lowest
    index).

    Parameters
    ----------
    n_states, n_actions : int
        Sizes of the environment's ``Discrete`` observation and action spaces.
    lr : float in (0, 1], default=0.1
        Step size of the update.
    gamma : float in [0, 1], default=0.99
        Discount factor.
    epsilon : LinearDecay or float, default=LinearDecay(1.0, 0.05, 0.5)
        Exploration rate as a function of the share of the episodes done.
    seed : int or None, default=None
        Seeds the agent's ``numpy.random.default_rng`` (exploration) and the first ``env.reset`` of
        :meth:`learn`: the same seed gives the same table.

    Attributes
    ----------
    q_table : ndarray of shape (n_states, n_actions)
        The action values, float64.
    episodes_done : int
        Episodes learned over the agent's life.

    Examples
    --------
    >>> import gymnasium as gym
    >>> from fastnn import rl
    >>> env = gym.make("FrozenLake-v1", is_slippery=False)
    >>> agent = rl.QLearning(n_states=16, n_actions=4, lr=0.5, seed=0)
    >>> agent.learn(env, episodes=500)  # returns the agent
    QLearning(n_states=16, n_actions=4, lr=0.5, gamma=0.99, epsilon=LinearDecay(start=1.0, end=0.05, fraction=0.5), seed=0)
    >>> agent.evaluate(env, episodes=10)
    {'mean_return': 1.0, 'std_return': 0.0, 'episodes': 10}
    """

    #: The kind of file fastnn.save writes it to (see fastnn._core.registry).
    _file_format = "fastnn-rl"

    def __init__(self, n_states, n_actions, lr=0.1, gamma=0.99, epsilon=None, seed=None):
        self.n_states = check_int(n_states, "n_states", minimum=1)
        self.n_actions = check_int(n_actions, "n_actions", minimum=1)
        self.lr = check_float(lr, "lr", low=0.0, high=1.0, low_inclusive=False)
        self.gamma = check_gamma(gamma)
        self.epsilon = check_epsilon(LinearDecay(1.0, 0.05, 0.5) if epsilon is None else epsilon)
        self.seed = check_seed(seed)
        self.q_table = np.zeros((self.n_states, self.n_actions), dtype=np.float64)
        self.episodes_done = 0
        self.episode_returns = []
        self._rng = np.random.default_rng(seed)
        self._seeded = False

    def __repr__(self):
        return (f"QLearning(n_states={self.n_states}, n_actions={self.n_actions}, lr={self.lr!r}, "
                f"gamma={self.gamma!r}, epsilon={self.epsilon!r}, seed={self.seed!r})")

    def _check_env(self, env):
        check_env(env, "Discrete", "QLearning")
        obs, act = env.observation_space, env.action_space
        if obs.n != self.n_states or act.n != self.n_actions:
            raise ValueError(f"the environment has {obs.n} states and {act.n} actions, the agent "
                             f"{self.n_states} and {self.n_actions}")
        return int(obs.start), int(act.start)

    @classmethod
    def from_env(cls, env, **kwargs):
        """An agent sized for ``env`` (a Gymnasium environment or an id for ``gymnasium.make``): ``n_states`` and
        ``n_actions`` read from its ``Discrete`` observation and action spaces; ``kwargs`` as in the constructor.

        Examples
        --------
        >>> import gymnasium as gym
        >>> from fastnn import rl
        >>> rl.QLearning.from_env(gym.make("FrozenLake-v1"), lr=0.5).q_table.shape
        (16, 4)
        """
        env = check_env(make_env(env), "Discrete", "QLearning")
        return cls(int(env.observation_space.n), int(env.action_space.n), **kwargs)

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        """Actions for one state or a batch of them, in Stable-Baselines3's form (so that
        :func:`~fastnn.rl.evaluate_policy` and :class:`~fastnn.rl.EvalCallback` take a Q-learning agent too).

        Parameters
        ----------
        observation : int or array-like of int
            A state index (``0 .. n_states - 1``, the observation of a ``Discrete`` space starting at 0) or an
            array of them.
        state, episode_start : None
            Unused (Stable-Baselines3's recurrent-policy arguments).
        deterministic : bool, default=True
            The greedy actions (ties: the lowest index); else epsilon-greedy with the schedule's final
            ``epsilon``, drawn from the agent's generator.

        Returns
        -------
        actions : ndarray of int64, of the shape of ``observation``
        state : None
        """
        obs = np.asarray(observation)
        if obs.dtype.kind not in "iu" and not (obs.dtype.kind == "f" and np.all(obs == np.round(obs))):
            raise TypeError(f"observation must hold state indices (integers), got {obs.dtype}")
        if obs.size and (obs.min() < 0 or obs.max() >= self.n_states):
            raise ValueError(f"observation must hold states in 0..{self.n_states - 1}, got {observation!r}")
        actions = np.argmax(self.q_table[obs.astype(np.int64)], axis=-1).astype(np.int64)
        if not deterministic:
            explore = self._rng.random(actions.shape) < self.epsilon.end
            actions = np.where(explore, self._rng.integers(self.n_actions, size=actions.shape), actions)
        return actions, None

    def learn(self, env, episodes=20_000, callback=None, progress=False):
        """Learn from ``episodes`` episodes of ``env`` (a Gymnasium environment with Discrete observation and
        action spaces).

        ``callback(agent, episode, episode_return)``, if given, runs after each episode; returning False stops
        learning. ``progress``: a progress bar (tqdm when installed) with the mean return of the last 100
        episodes and episodes per second. Ctrl-C stops learning after the current step (the table holds every
        completed update) and raises KeyboardInterrupt. Returns the agent.
        """
        s0, a0 = self._check_env(env)
        episodes = check_int(episodes, "episodes", minimum=0)
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable or None")
        q, rng, lr, gamma, n_actions = self.q_table, self._rng, self.lr, self.gamma, self.n_actions
        schedule = self.epsilon
        step = 0
        bar, start = ProgressBar(episodes, "episode") if progress else None, time.perf_counter()
        with Interrupt() as stop:
            for e in range(episodes):
                eps = schedule(e / episodes)
                seed = None
                if not self._seeded and self.seed is not None:
                    seed, self._seeded = self.seed, True
                obs, _ = env.reset(seed=seed)
                s = int(obs) - s0
                total, done = 0.0, False
                while not done:
                    if rng.random() < eps:
                        a = int(rng.integers(n_actions))
                    else:
                        row = q[s]
                        a = int(row.argmax())
                        if row[a + 1:].max(initial=-math.inf) == row[a]:  # a tie: one of the best at random
                            best = np.flatnonzero(row == row[a])
                            a = int(best[rng.integers(best.shape[0])])
                    obs, reward, terminated, truncated, _ = env.step(a + a0)
                    step += 1
                    reward = finite_reward(reward, step)
                    s2 = int(obs) - s0
                    if not 0 <= s2 < self.n_states:
                        raise ValueError(f"the environment returned state {int(obs)} outside its space at step "
                                         f"{step}")
                    target = reward if terminated else reward + gamma * q[s2].max()
                    q[s, a] += lr * (target - q[s, a])
                    total += reward
                    s = s2
                    done = terminated or truncated
                    if stop.hit:
                        break
                if stop.hit:
                    break
                self.episodes_done += 1
                self.episode_returns.append(total)
                if bar is not None and (e % 200 == 199 or e == episodes - 1):
                    last = self.episode_returns[-100:]
                    bar.update(e + 1, mean_return=f"{sum(last) / len(last):.3f}",
                               episodes_s=f"{(e + 1) / max(time.perf_counter() - start, 1e-9):,.0f}")
                if callback is not None and callback(self, e, total) is False:
                    break
        if bar is not None:
            bar.close()
        if stop.hit:
            raise KeyboardInterrupt
        return self

    def evaluate(self, env, episodes=100, seed=None):
        """Run the greedy policy for ``episodes`` episodes; returns ``{"mean_return", "std_return",
        "episodes"}``. ``seed`` seeds the first reset (default: the agent's seed)."""
        s0, a0 = self._check_env(env)
        episodes = check_int(episodes, "episodes", minimum=1)
        seed = self.seed if seed is None else check_seed(seed)
        greedy = self.q_table.argmax(axis=1).tolist()
        returns = []
        for e in range(episodes):
            obs, _ = env.reset(seed=seed if e == 0 else None)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(greedy[int(obs) - s0] + a0)
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
        return summary(returns)

    def save(self, path):
        """Save the agent (table, settings, counters, random state) in fastnn's safe format
        (:mod:`fastnn.rl._io`)."""
        from ._io import save_qlearning

        save_qlearning(self, path)

    @classmethod
    def load(cls, path):
        """An agent saved by :meth:`save`."""
        from ._io import load_qlearning

        return load_qlearning(cls, path)
