"""The replay buffer of DQN: preallocated NumPy ring buffers of transitions."""
import numpy as np

from .. import _kernels
from .._core.validation import check_dtype, check_int

__all__ = ["ReplayBuffer"]


class ReplayBuffer:
    """A ring buffer of ``buffer_size`` transitions ``(obs, action, reward, next_obs, done)`` in preallocated
    arrays; once full, each new transition replaces the oldest.

    ``dones`` holds 1 where the episode *terminated* in ``next_obs`` and 0 otherwise, including a time-limit
    *truncation*: the update then bootstraps from ``next_obs`` (the final observation of the episode), as
    Gymnasium defines the two and Stable-Baselines3's ``handle_timeout_termination`` does.

    Parameters
    ----------
    buffer_size : int
        Transitions held.
    n_features : int
        Length of an observation.
    dtype : {'float32', 'float64'}, default='float32'
        Type of observations, rewards and dones (the network's dtype).

    Attributes
    ----------
    observations, next_observations : ndarray of shape (buffer_size, n_features)
    actions : ndarray of shape (buffer_size,), int64
    rewards, dones : ndarray of shape (buffer_size,)
    pos : int
        The row the next transition goes to.
    full : bool
        Whether the buffer has wrapped around.

    Examples
    --------
    >>> import numpy as np
    >>> from fastnn.rl import ReplayBuffer
    >>> buf = ReplayBuffer(3, 2)
    >>> for i in range(4):
    ...     buf.add(np.full(2, i), np.full(2, i + 1), action=i % 2, reward=1.0, terminated=False)
    >>> len(buf), buf.pos, buf.observations[:, 0].tolist()
    (3, 1, [3.0, 1.0, 2.0])
    """

    def __init__(self, buffer_size, n_features, dtype="float32"):
        self.buffer_size = check_int(buffer_size, "buffer_size", minimum=1)
        self.n_features = check_int(n_features, "n_features", minimum=1)
        self.dtype = check_dtype(dtype)
        self.observations = np.zeros((self.buffer_size, self.n_features), dtype=self.dtype)
        self.next_observations = np.zeros((self.buffer_size, self.n_features), dtype=self.dtype)
        self.actions = np.zeros(self.buffer_size, dtype=np.int64)
        self.rewards = np.zeros(self.buffer_size, dtype=self.dtype)
        self.dones = np.zeros(self.buffer_size, dtype=self.dtype)
        self.pos = 0
        self.full = False

    def __len__(self):
        return self.buffer_size if self.full else self.pos

    def add(self, obs, next_obs, action, reward, terminated):
        """Store one transition (values are converted to the buffer's dtype; no checks: the agent checks)."""
        p = self.pos
        self.observations[p] = obs
        self.next_observations[p] = next_obs
        self.actions[p] = action
        self.rewards[p] = reward
        self.dones[p] = 1.0 if terminated else 0.0
        p += 1
        if p == self.buffer_size:
            p = 0
            self.full = True
        self.pos = p

    def sample_indices(self, batch_size, key, step):
        """The rows the DQN update number ``step`` draws under ``key`` (uniform with replacement over the
        stored transitions; the same function the compiled update uses)."""
        if len(self) == 0:
            raise ValueError("the replay buffer is empty")
        return _kernels.replay_indices(key, step, batch_size, len(self))

    def arrays(self):
        """The buffer's state as a dict of arrays (for model files)."""
        return {"observations": self.observations, "next_observations": self.next_observations,
                "actions": self.actions, "rewards": self.rewards, "dones": self.dones}
