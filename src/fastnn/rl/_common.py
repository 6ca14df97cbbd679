"""What the agents share: the Gymnasium import, checks of environments and spaces, the exploration schedule,
episode bookkeeping and Ctrl-C handling."""
import math
import numbers
import signal
import threading

import numpy as np

from .._core.validation import check_float, check_int

__all__ = ["LinearDecay"]


def gymnasium():
    """The ``gymnasium`` module, or an ImportError naming the package to install."""
    try:
        import gymnasium as gym
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("fastnn.rl needs Gymnasium: pip install gymnasium") from None
    return gym


def make_env(env):
    """``env``, or for a string the environment ``gymnasium.make(env)`` makes (Stable-Baselines3's habit of
    passing an environment id)."""
    if isinstance(env, str):
        gym = gymnasium()
        try:
            return gym.make(env)
        except gym.error.Error as exc:
            raise ValueError(f"env {env!r}: {exc}") from None
    return env


def check_env(env, observation, what):
    """``env`` if it is a Gymnasium environment with a ``Discrete`` action space and an observation space of
    the class ``observation`` (``'Box'`` or ``'Discrete'``); a TypeError naming what is wrong otherwise."""
    gym = gymnasium()
    if not isinstance(env, gym.Env):
        raise TypeError(f"env must be a Gymnasium environment (gymnasium.Env, e.g. gymnasium.make('CartPole-v1')), "
                        f"got {type(env).__module__}.{type(env).__name__}")
    spaces = gym.spaces
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(act_space, spaces.Discrete):
        raise TypeError(f"{what} needs a Discrete action space, got {act_space!r}")
    if observation == "Box":
        if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) < 1:
            raise TypeError(f"{what} needs a Box observation space, got {obs_space!r}")
    elif not isinstance(obs_space, spaces.Discrete):
        raise TypeError(f"{what} needs a Discrete observation space, got {obs_space!r}")
    return env


def check_gamma(gamma):
    return check_float(gamma, "gamma", low=0.0, high=1.0)


def check_seed(seed):
    return None if seed is None else check_int(seed, "seed", minimum=0)


class LinearDecay:
    """A value that moves linearly from ``start`` to ``end`` over the first ``fraction`` of training, then stays at
    ``end`` (Stable-Baselines3's linear exploration schedule).

    Parameters
    ----------
    start, end : float
        The values at the beginning of training and from ``fraction`` of it on.
    fraction : float in [0, 1]
        The share of training (episodes for Q-learning, steps for DQN) over which the value moves; 0 gives
        ``end`` throughout.

    Examples
    --------
    >>> from fastnn import rl
    >>> eps = rl.LinearDecay(1.0, 0.05, 0.5)
    >>> eps(0.0), eps(0.25), eps(0.75)
    (1.0, 0.525, 0.05)
    """

    def __init__(self, start=1.0, end=0.05, fraction=0.1):
        self.start = check_float(start, "start")
        self.end = check_float(end, "end")
        self.fraction = check_float(fraction, "fraction", low=0.0, high=1.0)

    def __call__(self, progress):
        """The value after ``progress`` (a share in [0, 1]) of training."""
        if progress >= self.fraction:
            return self.end
        return self.start + (self.end - self.start) * progress / self.fraction

    def get_config(self):
        return {"start": self.start, "end": self.end, "fraction": self.fraction}

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __repr__(self):
        return f"LinearDecay(start={self.start!r}, end={self.end!r}, fraction={self.fraction!r})"


def check_epsilon(epsilon, name="epsilon"):
    """A LinearDecay, or a constant in [0, 1] as a LinearDecay that stays there."""
    if isinstance(epsilon, LinearDecay):
        for v in (epsilon.start, epsilon.end):
            if not 0 <= v <= 1:
                raise ValueError(f"{name} must stay within [0, 1], got {epsilon!r}")
        return epsilon
    if isinstance(epsilon, numbers.Real) and not isinstance(epsilon, bool):
        value = check_float(epsilon, name, low=0.0, high=1.0)
        return LinearDecay(value, value, 0.0)
    raise TypeError(f"{name} must be a number in [0, 1] or a fastnn.rl.LinearDecay, got {type(epsilon).__name__}")


def summary(returns):
    """``{"mean_return", "std_return", "episodes"}`` of a list of episode returns."""
    r = np.asarray(returns, dtype=np.float64)
    return {"mean_return": float(r.mean()) if r.size else math.nan,
            "std_return": float(r.std()) if r.size else math.nan, "episodes": int(r.size)}


def finite_reward(reward, step):
    """``reward`` as a float, or a ValueError naming the step when it is not a finite number."""
    try:
        value = float(reward)
    except (TypeError, ValueError):
        raise TypeError(f"the environment returned a reward of type {type(reward).__name__} at step {step}") \
            from None
    if not math.isfinite(value):
        raise ValueError(f"the environment returned a non-finite reward ({value}) at step {step}; the agent is "
                         "left as it was before that step")
    return value


class Interrupt:
    """``with Interrupt() as stop:`` makes Ctrl-C set ``stop.hit`` instead of raising (in the main thread), so a
    learning loop can finish its step and stop cleanly; on leaving, a caught Ctrl-C is raised as
    KeyboardInterrupt by the caller when it wants (``stop.hit``)."""

    def __init__(self):
        self.hit = False
        self._previous = None

    def _handler(self, signum, frame):
        self.hit = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._handler)
            except (ValueError, OSError):  # pragma: no cover - embedded interpreters
                self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
