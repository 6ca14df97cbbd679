"""Reinforcement learning on Gymnasium environments: tabular Q-learning and Deep Q-Networks.

Gymnasium is an optional extra (``pip install gymnasium``); it is imported when an agent first meets an
environment.
"""
from ._common import LinearDecay
from .dqn import DQN
from .evaluation import EvalCallback, StopTrainingOnRewardThreshold, evaluate_policy
from .plotting import plot_returns
from .qlearning import QLearning
from .replay import ReplayBuffer

__all__ = ["DQN", "EvalCallback", "LinearDecay", "QLearning", "ReplayBuffer", "StopTrainingOnRewardThreshold",
           "evaluate_policy", "plot_returns"]
