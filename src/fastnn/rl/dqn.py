"""Deep Q-Networks on fastnn's engine, with Stable-Baselines3's parameter names."""
import math
import time

import numpy as np

from .. import _kernels
from .._core.progress import ProgressBar
from .._core.registry import register
from .._core.threads import blas_single_thread, resolve_n_threads
from .._core.validation import check_dtype, check_float, check_int
from ..nn import Dense
from ..losses import Huber, MeanSquaredError
from ..models import Sequential
from ..optim import Adam
from ..optim.base import _check_lr
from ._common import (Interrupt, LinearDecay, check_env, check_gamma, check_seed, finite_reward, gymnasium,
                      make_env, summary)
from .replay import ReplayBuffer

__all__ = ["DQN"]

_M64 = (1 << 64) - 1
# Keys of the counter-based random streams: replay sampling and exploration.
_SAMPLE, _EXPLORE = 1, 2


@register
class DQN:
    """Deep Q-Network (Mnih et al. 2015) with a target network, experience replay and epsilon-greedy
    exploration, optionally double Q-learning (van Hasselt et al. 2016).

    The update, ``gradient_steps`` times every ``train_freq`` environment steps once ``learning_starts`` steps
    are done, runs as one compiled call without the GIL: it samples ``batch_size`` transitions uniformly from
    the replay buffer, computes ``y = r + gamma * (1 - terminated) * max_a Q_target(s', a)`` (double Q: the
    action chosen by the online network, valued by the target network), the loss (``'huber'``: Stable-Baselines3's
    smooth L1 with delta 1; ``'mse'``) of ``Q(s, a)`` on the taken actions averaged over the batch, its
    gradient, the clipping of the gradient's global norm to ``max_grad_norm`` (as
    ``torch.nn.utils.clip_grad_norm_``) and an Adam step. Every ``target_update_interval`` environment steps the
    target network moves to ``tau * online + (1 - tau) * target`` (``tau=1``: a copy).

    Parameters follow Stable-Baselines3's ``DQN``. The defaults are the RL Baselines3 Zoo's CartPole-v1 recipe
    with a smaller network, a larger batch and double Q-learning: stopped once an evaluation reaches a return of
    490 (a ``callback`` that calls :meth:`evaluate`), they solve CartPole-v1 (a mean return of at least 475 over
    100 evaluation episodes) within 50,000 steps for most seeds; the policy a run ends with varies much from seed
    to seed, as Stable-Baselines3's does.

    Parameters
    ----------
    env : gymnasium.Env or str
        An environment with a ``Box`` observation space (observations of more than one dimension are flattened)
        and a ``Discrete`` action space, or a registered environment id (``"CartPole-v1"``), made with
        ``gymnasium.make`` as Stable-Baselines3 does.
    hidden : tuple of int, default=(64, 64)
        Widths of the hidden layers (ReLU) of the Q-network; the output layer is linear, one unit an action.
    policy_kwargs : dict, optional
        Stable-Baselines3's way of giving the layer widths: ``dict(net_arch=[256, 256])`` (the same as
        ``hidden=(256, 256)``; give the widths one way only). ``net_arch`` is the only key understood.
    lr : float or Schedule, default=2.3e-3
        Adam's learning rate (betas 0.9, 0.999, eps 1e-8: PyTorch's defaults, as Stable-Baselines3), or a
        :mod:`fastnn.schedules` schedule of it over the updates.
    buffer_size : int, default=100_000
    learning_starts : int, default=1_000
        Steps of uniformly random actions before the first update.
    batch_size : int, default=256
    gamma : float in [0, 1], default=0.99
    train_freq : int, default=256
        Environment steps between rounds of updates.
    gradient_steps : int, default=128
        Updates per round.
    target_update_interval : int, default=10
        Environment steps between target-network updates.
    tau : float in (0, 1], default=1.0
        The target update's coefficient (1: hard update).
    exploration_fraction : float in [0, 1], default=0.16
        Share of the run over which epsilon falls from ``exploration_initial_eps`` to ``exploration_final_eps``.
    exploration_initial_eps, exploration_final_eps : float in [0, 1], default=1.0, 0.04
    loss : {'huber', 'mse'}, default='huber'
    max_grad_norm : float or None, default=10.0
        Clip the gradient's global 2-norm to this; None for no clipping.
    double_q : bool, default=True
    seed : int or None, default=None
        Seeds the network's initial weights, the replay sampling and exploration (counter-based streams) and
        the environment's first reset: the same seed gives the same returns, bit for bit, for any
        ``n_threads``.
    n_threads : int or None, default=1
        Threads of the update (None: all cores). Small networks are fastest on one.
    dtype : {'float32', 'float64'}, default='float32'

    Attributes
    ----------
    observation_space, action_space : gymnasium.spaces.Space
        The spaces the agent acts in (a loaded agent without an environment: a ``Box`` of the saved shape,
        unbounded, and the ``Discrete`` actions).
    q_net : Sequential
        The online network (compiled with Adam; its :attr:`~fastnn.Sequential.parameters` are the weights).
    target_parameters : ndarray of shape (n_params,)
        The target network's weights, in the online network's layout.
    replay_buffer : ReplayBuffer
    num_timesteps : int
        Environment steps taken over the agent's life.
    n_updates : int
        Gradient updates applied.
    episode_returns, episode_lengths : list
        Of every completed training episode.

    Examples
    --------
    >>> import gymnasium as gym
    >>> from fastnn import rl
    >>> dqn = rl.DQN(gym.make("CartPole-v1"), hidden=(32,), learning_starts=100, train_freq=4, gradient_steps=1,
    ...              seed=0)
    >>> dqn.learn(total_timesteps=500).num_timesteps
    500
    >>> action, _ = dqn.predict(dqn.env.reset(seed=0)[0], deterministic=True)
    >>> int(action) in (0, 1)
    True
    >>> rl.DQN("CartPole-v1", policy_kwargs=dict(net_arch=[256, 256])).q_net.widths
    [4, 256, 256, 2]
    """

    #: The kind of file fastnn.save writes it to (see fastnn._core.registry).
    _file_format = "fastnn-rl"

    def __init__(self, env, hidden=(64, 64), lr=2.3e-3, buffer_size=100_000, learning_starts=1_000, batch_size=256,
                 gamma=0.99, train_freq=256, gradient_steps=128, target_update_interval=10, tau=1.0,
                 exploration_fraction=0.16, exploration_initial_eps=1.0, exploration_final_eps=0.04, loss="huber",
                 max_grad_norm=10.0, double_q=True, seed=None, n_threads=1, dtype="float32", policy_kwargs=None):
        env = check_env(make_env(env), "Box", "DQN")
        self.env = env
        self.hidden = _net_arch(hidden, policy_kwargs)
        self.lr = _check_lr(lr)
        self.buffer_size = check_int(buffer_size, "buffer_size", minimum=1)
        self.learning_starts = check_int(learning_starts, "learning_starts", minimum=0)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        if self.batch_size > self.buffer_size:
            raise ValueError(f"batch_size ({self.batch_size}) must not exceed buffer_size ({self.buffer_size})")
        self.gamma = check_gamma(gamma)
        self.train_freq = check_int(train_freq, "train_freq", minimum=1)
        self.gradient_steps = check_int(gradient_steps, "gradient_steps", minimum=0)
        self.target_update_interval = check_int(target_update_interval, "target_update_interval", minimum=1)
        self.tau = check_float(tau, "tau", low=0.0, high=1.0, low_inclusive=False)
        self.exploration_fraction = check_float(exploration_fraction, "exploration_fraction", low=0.0, high=1.0)
        self.exploration_initial_eps = check_float(exploration_initial_eps, "exploration_initial_eps", 0.0, 1.0)
        self.exploration_final_eps = check_float(exploration_final_eps, "exploration_final_eps", 0.0, 1.0)
        if loss not in ("huber", "mse"):
            raise ValueError(f"loss must be 'huber' or 'mse', got {loss!r}")
        self.loss = loss
        self.max_grad_norm = None if max_grad_norm is None else check_float(max_grad_norm, "max_grad_norm", low=0.0,
                                                                              low_inclusive=False)
        if not isinstance(double_q, (bool, np.bool_)):
            raise TypeError(f"double_q must be a bool, got {type(double_q).__name__}")
        self.double_q = bool(double_q)
        self.seed = check_seed(seed)
        self.n_threads = n_threads
        resolve_n_threads(n_threads)  # checks it
        self.dtype = check_dtype(dtype)
        self.exploration_schedule = LinearDecay(self.exploration_initial_eps, self.exploration_final_eps,
                                                self.exploration_fraction)
        self.observation_space, self.action_space = env.observation_space, env.action_space
        n_in, n_actions = int(np.prod(env.observation_space.shape)), int(env.action_space.n)
        self._obs_shape = tuple(env.observation_space.shape)
        self._flatten = len(env.observation_space.shape) > 1  # observations are flattened into rows
        self.n_actions = n_actions
        widths = (n_in,) + self.hidden + (n_actions,)
        layers = [Dense(widths[i], widths[i + 1], activation="relu" if i < len(widths) - 2 else "identity")
                  for i in range(len(widths) - 1)]
        self.q_net = Sequential(layers, seed=seed, dtype=self.dtype)
        self.q_net.compile(loss=Huber() if loss == "huber" else MeanSquaredError(), optimizer=Adam(lr=self.lr))
        self.target_parameters = self.q_net.parameters.copy()
        self.replay_buffer = ReplayBuffer(self.buffer_size, n_in, self.dtype)
        entropy = self.seed if self.seed is not None else int(np.random.SeedSequence().entropy & _M64)
        self._key = _kernels.mix64(entropy & _M64)
        self.num_timesteps = 0
        self.n_updates = 0
        self._total_timesteps = 0
        self.exploration_rate = self.exploration_initial_eps
        self.episode_returns = []
        self.episode_lengths = []
        self._last_obs = None        # the observation the next step acts on (None: reset first)
        self._episode = (0.0, 0)     # return and length of the running episode
        self._seeded = False
        self._loss_sum = 0.0
        self._in_learn = False
        self._allocate()

    def _allocate(self):
        """The engine and the scratch the update and action selection use (made once, reused every step)."""
        B, K = self.batch_size, self.n_actions
        self._engine = self.q_net._engine(B)
        self._engine_version = self.q_net._settings_version
        self._hyper = self.q_net._hyper()
        self._rows = np.zeros(B, dtype=np.int64)
        self._qn = np.zeros((B, K), dtype=self.dtype)
        self._y = np.zeros(B, dtype=self.dtype)
        self._obs = np.zeros(self.q_net.n_features, dtype=self.dtype)
        self._loss_code = _kernels.LOSS_HUBER if self.loss == "huber" else _kernels.LOSS_MSE

    def _current_engine(self):
        """The engine, built again when a layer's settings changed since it was built (``trainable``,
        ``activation``, a dropout rate)."""
        if self._engine_version != self.q_net._settings_version:
            self._engine = self.q_net._engine(self.batch_size)
            self._engine_version = self.q_net._settings_version
        return self._engine

    def _key_of(self, stream):
        return _kernels.mix64((self._key ^ stream) & _M64)

    # -- acting -------------------------------------------------------------------------------------------------

    def _observation(self, obs, step):
        """``obs`` copied into the agent's observation row, or a ValueError naming the step when it is not finite
        or not of the observation space's shape."""
        row = self._obs
        try:
            row[:] = obs if not self._flatten else np.reshape(obs, -1)
        except (ValueError, TypeError):
            raise ValueError(f"the environment returned an observation of shape {np.shape(obs)} at step {step}, "
                             f"expected ({row.shape[0]},)") from None
        if not _kernels.all_finite(row.reshape(1, -1)):
            raise ValueError(f"the environment returned a non-finite observation at step {step}; the agent is "
                             "left as it was before that step")
        return row

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        """Actions for one observation or a batch of them, as Stable-Baselines3's ``predict``.

        Parameters
        ----------
        observation : array-like of shape obs_shape or (n,) + obs_shape
            One observation of the observation space's shape, or a batch of them (rows).
        state, episode_start : None
            Stable-Baselines3's recurrent-policy arguments, unused (a DQN has no state).
        deterministic : bool, default=False
            The greedy actions; else epsilon-greedy with the current :attr:`exploration_rate` (drawn from the
            agent's own random stream), as Stable-Baselines3's DQN.

        Returns
        -------
        actions : ndarray of int64, of shape () for one observation, (n,) for a batch
        state : None

        Examples
        --------
        >>> import gymnasium as gym, numpy as np
        >>> from fastnn import rl
        >>> agent = rl.DQN("CartPole-v1", seed=0)
        >>> actions, _ = agent.predict(np.zeros((3, 4)), deterministic=True)
        >>> actions.shape
        (3,)
        """
        obs = np.asarray(observation)
        if obs.dtype.kind not in "biuf":
            raise TypeError(f"observation must hold numbers, got {obs.dtype}")
        single = obs.shape == self._obs_shape
        if not single and obs.shape[1:] != self._obs_shape:
            raise ValueError(f"observation must have the observation space's shape {self._obs_shape}, or "
                             f"(n, *{self._obs_shape}) for a batch, got {obs.shape}")
        rows = np.array(obs, dtype=self.dtype).reshape(1 if single else obs.shape[0], self.q_net.n_features)
        if not _kernels.all_finite(rows):
            raise ValueError("observation contains NaN or infinity")
        eps = 0.0 if deterministic else self.exploration_rate
        if single:
            action = _kernels.dqn_act(self._current_engine(), rows[0], eps, self._key_of(3), self.num_timesteps)
            return np.array(action, dtype=np.int64), None
        actions = np.argmax(self.q_net.predict(rows), axis=1).astype(np.int64) if rows.shape[0] else \
            np.zeros(0, dtype=np.int64)
        if eps > 0:  # the batch's exploration from the agent's key and step count
            rng = np.random.default_rng([self._key_of(4), self.num_timesteps])
            explore = rng.random(rows.shape[0]) < eps
            actions[explore] = rng.integers(self.n_actions, size=int(explore.sum()))
        return actions, None

    def set_env(self, env):
        """Act and learn in ``env`` (an environment or an id) from now on, as Stable-Baselines3's ``set_env``: its
        spaces must match the agent's; the next step starts a new episode."""
        env = check_env(make_env(env), "Box", "DQN")
        n_in, n_actions = int(np.prod(env.observation_space.shape)), int(env.action_space.n)
        if (n_in, n_actions) != (self.q_net.n_features, self.n_actions):
            raise ValueError(f"env has {n_in} observation values and {n_actions} actions, the agent "
                             f"{self.q_net.n_features} and {self.n_actions}")
        self.env, self.observation_space, self.action_space = env, env.observation_space, env.action_space
        self._obs_shape = tuple(env.observation_space.shape)
        self._last_obs = None

    # -- learning -----------------------------------------------------------------------------------------------

    def train(self, gradient_steps):
        """Run ``gradient_steps`` updates on the replay buffer now (as :meth:`learn` does every ``train_freq``
        steps); returns their mean loss."""
        gradient_steps = check_int(gradient_steps, "gradient_steps", minimum=0)
        size = len(self.replay_buffer)
        if size == 0:
            raise ValueError("the replay buffer is empty: collect transitions (learn) before training")
        if not self._in_learn:
            self._nt = resolve_n_threads(self.n_threads)
            with blas_single_thread():
                return self._train(gradient_steps, size)
        return self._train(gradient_steps, size)

    def _train(self, gradient_steps, size):
        rb, net = self.replay_buffer, self.q_net
        status, done, loss_sum = _kernels.dqn_update(
            self._current_engine(), self.target_parameters, rb.observations, rb.next_observations, rb.actions,
            rb.rewards, rb.dones, size, self.batch_size, gradient_steps, self.gamma, self._loss_code, self.double_q,
            self.max_grad_norm or 0.0, self._key_of(_SAMPLE), self._hyper, net._step, self._rows, self._qn,
            self._y, self._nt)
        self.n_updates += done
        if status == 1 or status == 2:
            raise FloatingPointError(f"the DQN update {int(net._step[0])} diverged: "
                                     + ("its loss is not finite" if status == 1 else "it made a weight NaN or "
                                        "infinite") + f" (lr={self.lr!r}); try a smaller lr or max_grad_norm")
        return loss_sum / done if done else math.nan

    def update_target(self):
        """``target = tau * online + (1 - tau) * target``."""
        _kernels.polyak_update(self.target_parameters, self.q_net.parameters, self.tau)

    def learn(self, total_timesteps, progress=False, callback=None):
        """Interact with the environment for ``total_timesteps`` steps, learning as it goes; returns the agent.

        Continues where the last call (or a loaded agent) stopped: steps, the episode in progress, the replay
        buffer. Exploration follows ``LinearDecay(exploration_initial_eps, exploration_final_eps,
        exploration_fraction)`` over this call's steps plus those before it (Stable-Baselines3's
        ``reset_num_timesteps=False``).

        Parameters
        ----------
        total_timesteps : int
        progress : bool, default=False
            A progress bar (tqdm when installed) with episodes, the mean return of the last 100 episodes and
            steps per second.
        callback : callable or None
            ``callback(agent)`` after each completed episode; returning False stops learning.

        Raises
        ------
        ValueError
            When the environment returns a non-finite reward or observation: the message names the step, and
            the agent is as it was before that step.
        KeyboardInterrupt
            On Ctrl-C, after the current step (or round of updates): the agent holds every completed step and
            update and can learn on.
        """
        total_timesteps = check_int(total_timesteps, "total_timesteps", minimum=0)
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable or None")
        if self.env is None:
            raise ValueError("the agent has no environment to learn in: load it with DQN.load(path, env=env) or "
                             "call agent.set_env(env)")
        self._nt = resolve_n_threads(self.n_threads)
        self._total_timesteps = self.num_timesteps + total_timesteps
        bar = _Progress(total_timesteps, progress, self)
        env, rb, engine = self.env, self.replay_buffer, self._current_engine()
        key_act = self._key_of(_EXPLORE)
        schedule, total = self.exploration_schedule, max(self._total_timesteps, 1)
        train_freq, target_interval, starts = self.train_freq, self.target_update_interval, self.learning_starts
        end = self.num_timesteps + total_timesteps
        with Interrupt() as stop, blas_single_thread():
            self._in_learn = True
            try:
                while self.num_timesteps < end and not stop.hit:
                    t = self.num_timesteps
                    if self._last_obs is None:
                        seed = None
                        if not self._seeded:
                            seed, self._seeded = self.seed, True
                        obs, _ = env.reset(seed=seed)
                        self._last_obs = self._observation(obs, t).copy()
                        self._episode = (0.0, 0)
                    self.exploration_rate = rate = schedule(t / total)
                    action = _kernels.dqn_act(engine, self._last_obs, 1.0 if t < starts else rate, key_act, t)
                    next_obs, reward, terminated, truncated, _ = env.step(action)
                    reward = finite_reward(reward, t + 1)
                    row = self._observation(next_obs, t + 1)
                    rb.add(self._last_obs, row, action, reward, terminated)
                    self.num_timesteps = t = t + 1
                    ret, length = self._episode
                    self._episode = (ret + reward, length + 1)
                    if terminated or truncated:
                        self.episode_returns.append(ret + reward)
                        self.episode_lengths.append(length + 1)
                        self._last_obs = None
                        if callback is not None:
                            if callback(self) is False:
                                break
                            engine = self._current_engine()  # the callback may have changed a layer
                    else:
                        self._last_obs[:] = row
                    if t % target_interval == 0:
                        self.update_target()
                    if t > starts and t % train_freq == 0 and self.gradient_steps:
                        self._loss_sum = self.train(self.gradient_steps)
                    bar.step(t)
            finally:
                self._in_learn = False
                bar.close()
        if stop.hit:
            raise KeyboardInterrupt
        return self

    # -- evaluation ---------------------------------------------------------------------------------------------

    def evaluate(self, n_episodes=100, env=None, seed=None):
        """Mean return of the greedy policy over ``n_episodes`` episodes of a fresh environment (made from the
        training environment's spec, or ``env``); ``seed`` seeds its first reset (default: the agent's seed plus
        one). Returns ``{"mean_return", "std_return", "episodes"}``."""
        n_episodes = check_int(n_episodes, "n_episodes", minimum=1)
        if env is None and self.env is None:
            raise ValueError("the agent has no environment: pass env= (a loaded agent without one)")
        if env is None:
            spec = getattr(self.env, "spec", None)
            if spec is None:
                raise ValueError("the training environment has no spec to make a fresh one from: pass env=")
            env = gymnasium().make(spec)
            fresh = True
        else:
            check_env(env, "Box", "DQN.evaluate")
            fresh = False
        if seed is None:
            seed = None if self.seed is None else self.seed + 1
        returns = []
        engine = self._current_engine()
        try:
            for e in range(n_episodes):
                obs, _ = env.reset(seed=seed if e == 0 else None)
                total, done, t = 0.0, False, 0
                while not done:
                    row = self._observation(obs, t)
                    obs, reward, terminated, truncated, _ = env.step(_kernels.dqn_act(engine, row, 0.0, 0, 0))
                    total += float(reward)
                    done = terminated or truncated
                    t += 1
                returns.append(total)
        finally:
            if fresh:
                env.close()
        return summary(returns)

    # -- files --------------------------------------------------------------------------------------------------

    def save(self, path, include_buffer=False):
        """Save the agent (see :mod:`fastnn.rl._io`): networks, optimizer state, exploration schedule, counters,
        and with ``include_buffer`` the replay buffer, so that :meth:`load` can resume training."""
        from ._io import save_dqn

        save_dqn(self, path, include_buffer)

    @classmethod
    def load(cls, path, env=None):
        """An agent saved by :meth:`save`, as Stable-Baselines3's ``DQN.load``: without ``env`` it predicts (an
        environment is only needed to learn on: ``env=`` here or :meth:`set_env` later); with ``env`` (an
        environment or an id, whose spaces must match) it is ready to learn on.

        Examples
        --------
        >>> from fastnn import rl
        >>> rl.DQN("CartPole-v1", seed=0).save("cartpole.fnn")  # doctest: +SKIP
        >>> agent = rl.DQN.load("cartpole.fnn")  # doctest: +SKIP
        >>> action, _ = agent.predict(obs, deterministic=True)  # doctest: +SKIP
        """
        from ._io import load_dqn

        return load_dqn(cls, path, None if env is None else make_env(env))


def _net_arch(hidden, policy_kwargs):
    """The hidden widths from ``hidden`` or Stable-Baselines3's ``policy_kwargs=dict(net_arch=[...])``."""
    if policy_kwargs is not None:
        if not isinstance(policy_kwargs, dict):
            raise TypeError(f"policy_kwargs must be a dict, got {type(policy_kwargs).__name__}")
        other = sorted(set(policy_kwargs) - {"net_arch"})
        if other:
            raise ValueError(f"policy_kwargs: only 'net_arch' is understood, got {other}")
        if "net_arch" in policy_kwargs:
            if not isinstance(hidden, (tuple, list)) or tuple(hidden) != (64, 64):
                raise ValueError("give the hidden widths once: hidden= or policy_kwargs=dict(net_arch=...)")
            hidden = policy_kwargs["net_arch"]
    try:
        hidden = tuple(hidden)
    except TypeError:
        raise TypeError(f"hidden must be a sequence of layer widths, got {type(hidden).__name__}") from None
    return tuple(check_int(h, "hidden", minimum=1) for h in hidden)


class _Progress:
    """The progress bar of ``learn``: episodes, mean return of the last 100, steps per second (updated every
    1,000 steps)."""

    def __init__(self, total, enabled, agent):
        self.agent, self.start, self.first, self.done = agent, time.perf_counter(), agent.num_timesteps, 0
        self.bar = ProgressBar(total, "step") if enabled else None

    def step(self, t):
        n = t - self.first
        if self.bar is not None and (n - self.done >= 1000 or n == self.bar.total):
            self.done = n
            returns = self.agent.episode_returns[-100:]
            self.bar.update(n, episodes=len(self.agent.episode_returns),
                            mean_return=f"{np.mean(returns):.1f}" if returns else "-",
                            steps_s=f"{n / max(time.perf_counter() - self.start, 1e-9):,.0f}")

    def close(self):
        if self.bar is not None:
            self.bar.close()
