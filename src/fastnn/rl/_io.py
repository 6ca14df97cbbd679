"""Agent files: fastnn's safe model format (a ZIP of a JSON header and ``.npy`` arrays, no pickle), written
atomically and validated on load.

Format (``format`` ``"fastnn-rl"``, ``format_version`` 1)
------------------------------------------------------
``header.json`` holds ``algo`` (``"DQN"`` or ``"QLearning"``), ``library_version``, ``settings`` (the
constructor's arguments but the environment), the spaces' sizes ``n_features``/``n_states`` and ``n_actions``
(DQN also ``observation_shape``, the shape of one observation; files without it had flat observations),
and ``counters``: for DQN ``num_timesteps``, ``n_updates``, ``optimizer_step`` (Adam's step), ``total_timesteps``
(the end of the last learn call, which sets the exploration schedule's progress), ``exploration_rate``, ``key`` (the
key of the counter-based random streams), ``seeded`` (whether the first reset was seeded), ``episodes`` (the
length of the episode records), ``buffer`` (``null``,
or ``pos`` and ``full``); for Q-learning ``episodes_done``, ``seeded``, ``episodes`` and the NumPy generator's ``rng_state``.

Arrays: DQN ``parameters.npy`` and ``target_parameters.npy`` (the online and target networks, flat, the agent's
dtype), ``optimizer_state.npy`` (Adam's two moment rows), ``episode_returns.npy`` (float64),
``episode_lengths.npy`` (int64) and, when saved with ``include_buffer=True``, ``buffer/observations.npy``,
``buffer/next_observations.npy``, ``buffer/actions.npy`` (int64), ``buffer/rewards.npy`` and
``buffer/dones.npy``; Q-learning ``q_table.npy`` (float64) and ``episode_returns.npy``.
"""
import json
import os
import zipfile

import numpy as np

from .._core import registry
from ..saving.format import (MAX_HEADER_BYTES, ModelFileError, _fail, _get, _npy_bytes, _read_array, write_members,
                             wrong_kind)

FORMAT = "fastnn-rl"
FORMAT_VERSION = 1
_BUFFER = ("observations", "next_observations", "actions", "rewards", "dones")


def _write(path, header, arrays):
    from .. import __version__
    from .._core.validation import check_output_path

    path = check_output_path(path)
    header = dict(format=FORMAT, format_version=FORMAT_VERSION, library_version=__version__, **header)
    members = [("header.json", json.dumps(header, indent=1, allow_nan=False).encode("utf-8"))]
    members += [(f"{name}.npy", _npy_bytes(arr)) for name, arr in arrays.items()]
    write_members(path, members)


def _open(path, algo):
    """The header of the agent file ``path`` (checked to be one of ``algo``) and its open archive."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such file")
    try:
        z = zipfile.ZipFile(path, "r")
        info = z.getinfo("header.json")
        if info.file_size > MAX_HEADER_BYTES:
            _fail(path, f"header.json is {info.file_size} bytes, more than {MAX_HEADER_BYTES}")
        with z.open(info) as f:
            header = json.loads(f.read(MAX_HEADER_BYTES + 1).decode("utf-8"))
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(f"{path}: not a fastnn agent file ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        z.close()
        wrong_kind(path, header, "a fastnn agent")
    version = _get(header, "format_version", int, path)
    if not 1 <= version <= FORMAT_VERSION:
        z.close()
        _fail(path, f"format version {version} is not supported by this fastnn (reads up to {FORMAT_VERSION})")
    if header.get("algo") != algo:
        z.close()
        _fail(path, f"holds a {header.get('algo')!r} agent, not {algo!r}")
    return header, z


def _count(counters, key, path, minimum=0):
    value = _get(counters, key, int, path, "counters")
    if value < minimum:
        _fail(path, f"counter {key!r} is below {minimum}")
    return value


def _finite(arr, name, path):
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        _fail(path, f"{name} contains NaN or infinity")
    return arr


def save_dqn(agent, path, include_buffer=False):
    if not isinstance(include_buffer, (bool, np.bool_)):
        raise TypeError(f"include_buffer must be a bool, got {type(include_buffer).__name__}")
    rb = agent.replay_buffer
    settings = dict(hidden=list(agent.hidden), lr=agent.q_net.optimizer.get_config()["lr"], buffer_size=agent.buffer_size,
                    learning_starts=agent.learning_starts, batch_size=agent.batch_size, gamma=agent.gamma,
                    train_freq=agent.train_freq, gradient_steps=agent.gradient_steps,
                    target_update_interval=agent.target_update_interval, tau=agent.tau,
                    exploration_fraction=agent.exploration_fraction,
                    exploration_initial_eps=agent.exploration_initial_eps,
                    exploration_final_eps=agent.exploration_final_eps, loss=agent.loss,
                    max_grad_norm=agent.max_grad_norm, double_q=agent.double_q, seed=agent.seed,
                    n_threads=agent.n_threads, dtype=np.dtype(agent.dtype).name)
    counters = dict(num_timesteps=agent.num_timesteps, n_updates=agent.n_updates,
                    optimizer_step=int(agent.q_net._step[0]), total_timesteps=agent._total_timesteps,
                    exploration_rate=agent.exploration_rate, key=agent._key, seeded=agent._seeded,
                    buffer={"pos": rb.pos, "full": rb.full} if include_buffer else None,
                    episodes=len(agent.episode_returns))
    arrays = {"parameters": agent.q_net.parameters, "target_parameters": agent.target_parameters,
              "optimizer_state": agent.q_net._state,
              "episode_returns": np.asarray(agent.episode_returns, dtype=np.float64),
              "episode_lengths": np.asarray(agent.episode_lengths, dtype=np.int64)}
    if include_buffer:
        arrays.update({f"buffer/{k}": v for k, v in rb.arrays().items()})
    _write(path, {"algo": "DQN", "settings": settings, "n_features": agent.q_net.n_features,
                  "observation_shape": list(agent._obs_shape), "n_actions": agent.n_actions, "counters": counters},
           arrays)


def _spaces_only(header, path):
    """A stand-in environment with the saved spaces (an unbounded ``Box`` of the observation shape and the
    ``Discrete`` actions) to build an agent loaded without its environment; it cannot be stepped."""
    from ._common import gymnasium

    gym = gymnasium()
    n_features, n_actions = _get(header, "n_features", int, path), _get(header, "n_actions", int, path)
    shape = header.get("observation_shape", [n_features])
    if (not isinstance(shape, list) or not shape or not all(type(v) is int and v > 0 for v in shape)
            or int(np.prod(shape)) != n_features or n_actions < 1):
        _fail(path, "invalid observation_shape or n_actions")

    class SpacesOnly(gym.Env):
        observation_space = gym.spaces.Box(-np.inf, np.inf, shape=tuple(shape), dtype=np.float32)
        action_space = gym.spaces.Discrete(n_actions)

    return SpacesOnly()


def load_dqn(cls, path, env):
    header, z = _open(path, "DQN")
    path = os.fspath(path)
    with z:
        settings = _get(header, "settings", dict, path)
        counters = _get(header, "counters", dict, path)
        try:
            if isinstance(settings.get("lr"), dict):
                from ..optim.schedules import get_schedule

                settings = dict(settings, lr=get_schedule(settings["lr"].get("schedule"),
                                                          settings["lr"].get("config") or {}))
            agent = cls(env if env is not None else _spaces_only(header, path), **settings)
        except TypeError as exc:
            if "environment" in str(exc) or "space" in str(exc):
                raise
            _fail(path, f"invalid settings ({exc})")
        except ValueError as exc:
            _fail(path, f"invalid settings ({exc})")
        if (_get(header, "n_features", int, path), _get(header, "n_actions", int, path)) != \
                (agent.q_net.n_features, agent.n_actions):
            raise ValueError(f"{path}: the agent was trained on {header['n_features']} observations and "
                             f"{header['n_actions']} actions; env has {agent.q_net.n_features} and {agent.n_actions}")
        n, dtype = agent.q_net.n_params, agent.dtype
        params = _finite(_read_array(z, "parameters.npy", dtype, (n,), path), "parameters", path)
        target = _finite(_read_array(z, "target_parameters.npy", dtype, (n,), path), "target_parameters", path)
        state = _finite(_read_array(z, "optimizer_state.npy", dtype, agent.q_net._state.shape, path),
                        "optimizer_state", path)
        n_episodes = _count(counters, "episodes", path)
        returns = _finite(_read_array(z, "episode_returns.npy", np.float64, (n_episodes,), path), "returns", path)
        lengths = _read_array(z, "episode_lengths.npy", np.int64, (n_episodes,), path)
        buffer = counters.get("buffer")
        arrays = None
        if buffer is not None:
            rb = agent.replay_buffer
            pos = _count(buffer, "pos", path)
            full = _get(buffer, "full", bool, path, "buffer")
            if pos >= rb.buffer_size:
                _fail(path, "buffer position outside the buffer")
            arrays = {k: _finite(_read_array(z, f"buffer/{k}.npy", v.dtype, v.shape, path), k, path)
                      for k, v in rb.arrays().items()}
            if np.any((arrays["actions"] < 0) | (arrays["actions"] >= agent.n_actions)):
                _fail(path, "buffer actions outside the action space")
        key = _count(counters, "key", path)
        if key >= 1 << 64:
            _fail(path, "counter 'key' exceeds 64 bits")
        values = {k: _count(counters, k, path) for k in ("num_timesteps", "n_updates", "optimizer_step",
                                                          "total_timesteps")}
        rate = _get(counters, "exploration_rate", (int, float), path, "counters")
        seeded = _get(counters, "seeded", bool, path, "counters")
    agent.q_net.parameters[...] = params
    agent.target_parameters[...] = target
    agent.q_net._state[...] = state
    agent.q_net._step[0] = values["optimizer_step"]
    agent.num_timesteps, agent.n_updates = values["num_timesteps"], values["n_updates"]
    agent._total_timesteps = values["total_timesteps"]
    agent.exploration_rate, agent._key, agent._seeded = float(rate), key, seeded
    agent.episode_returns, agent.episode_lengths = returns.tolist(), lengths.tolist()
    if arrays is not None:
        for k, v in arrays.items():
            getattr(agent.replay_buffer, k)[...] = v
        agent.replay_buffer.pos, agent.replay_buffer.full = pos, full
    if env is None:
        agent.env = None  # to learn: DQN.load(path, env=env) or agent.set_env(env)
    return agent


def save_qlearning(agent, path):
    settings = dict(n_states=agent.n_states, n_actions=agent.n_actions, lr=agent.lr, gamma=agent.gamma,
                    epsilon=agent.epsilon.get_config(), seed=agent.seed)
    counters = dict(episodes_done=agent.episodes_done, rng_state=agent._rng.bit_generator.state,
                    seeded=agent._seeded, episodes=len(agent.episode_returns))
    _write(path, {"algo": "QLearning", "settings": settings, "counters": counters},
           {"q_table": agent.q_table, "episode_returns": np.asarray(agent.episode_returns, dtype=np.float64)})


def load_qlearning(cls, path):
    from ._common import LinearDecay

    header, z = _open(path, "QLearning")
    path = os.fspath(path)
    with z:
        settings = dict(_get(header, "settings", dict, path))
        counters = _get(header, "counters", dict, path)
        try:
            settings["epsilon"] = LinearDecay(**_get(settings, "epsilon", dict, path, "settings"))
            agent = cls(**settings)
        except (TypeError, ValueError) as exc:
            _fail(path, f"invalid settings ({exc})")
        q = _finite(_read_array(z, "q_table.npy", np.float64, agent.q_table.shape, path), "q_table", path)
        n_episodes = _count(counters, "episodes", path)
        returns = _finite(_read_array(z, "episode_returns.npy", np.float64, (n_episodes,), path), "returns", path)
        done = _count(counters, "episodes_done", path)
        seeded = _get(counters, "seeded", bool, path, "counters")
        try:
            agent._rng.bit_generator.state = _get(counters, "rng_state", dict, path, "counters")
        except (TypeError, ValueError, KeyError) as exc:
            _fail(path, f"invalid random state ({exc})")
    agent.q_table[...] = q
    agent.episodes_done, agent._seeded, agent.episode_returns = done, seeded, returns.tolist()
    return agent


def _save_agent(agent, path):
    agent.save(path)


def _load_agent(z, path, header):
    """A Q-learning agent from its file; None for a DQN agent, which needs its environment (``DQN.load``)."""
    if header.get("algo") == "QLearning":
        return registry.get("QLearning").load(path)
    return None


registry.register_format("fastnn-rl", _save_agent, _load_agent)
