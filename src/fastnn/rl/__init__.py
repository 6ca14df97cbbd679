"""Reinforcement learning on Gymnasium environments: tabular Q-learning and Deep Q-Networks.

Gymnasium is an optional extra (``pip install gymnasium``); it is imported when an agent first meets an
environment.
"""
from ._common import LinearDecay
from .dqn import DQN
from .plotting import plot_returns
from .qlearning import QLearning
from .replay import ReplayBuffer

__all__ = ["DQN", "LinearDecay", "QLearning", "ReplayBuffer", "plot_returns"]
