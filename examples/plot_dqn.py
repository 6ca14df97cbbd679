"""
Deep Q-learning (DQN) on CartPole
=================================

When the states are too many for a table - CartPole's state is four real numbers: the cart's position and
velocity, the pole's angle and angular velocity - a neural network stands in for the table: it takes the state
and outputs one Q-value per action. DQN trains it on random batches of past steps from a replay buffer, towards
``reward + gamma * max Q_target(next state)`` computed by a slowly updated copy of the network (the target
network). The episode's return is the number of steps the pole stays up, at most 500.

``fastnn.rl.DQN`` takes Stable-Baselines3's parameter names; its defaults are the RL Zoo's CartPole-v1 recipe.
"""
import os

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np

from fastnn import rl

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
total_timesteps = 3000 if QUICK else 50_000

# %%
# Learning
# --------
# After each episode the callback records the steps so far; every 5,000 steps it evaluates the greedy policy
# on 5 episodes. DQN's policy can get worse again after it was good (the returns of the policies that runs end
# with vary much from seed to seed, in fastnn as in Stable-Baselines3), so, as Stable-Baselines3's
# ``StopTrainingOnRewardThreshold`` does, learning stops when an evaluation reaches CartPole's threshold of 475:
# the callback returns False.
agent = rl.DQN("CartPole-v1", seed=1)
steps_at_episode_end, evaluations = [], []


def record(agent):
    steps_at_episode_end.append(agent.num_timesteps)
    if agent.num_timesteps // 5000 > len(evaluations):
        result = agent.evaluate(n_episodes=5, seed=len(evaluations))
        evaluations.append((agent.num_timesteps, result["mean_return"]))
        print(f"after {agent.num_timesteps:6d} steps: greedy return {result['mean_return']:.1f} (5 episodes)")
        return result["mean_return"] < 475
    return True


agent.learn(total_timesteps=total_timesteps, callback=record)
final = agent.evaluate(n_episodes=20, seed=100)
print(f"{len(agent.episode_returns)} training episodes, {agent.n_updates} updates; final greedy policy: "
      f"mean return {final['mean_return']:.1f} (standard deviation {final['std_return']:.1f}) over 20 episodes")

fig, ax = plt.subplots(figsize=(8, 4))
ax.plot(steps_at_episode_end, agent.episode_returns, ".", ms=3, alpha=0.5, label="training episodes (exploring)")
if evaluations:
    ax.plot(*np.array(evaluations).T, "o-", label="greedy policy, 5 episodes")
ax.set(xlabel="environment steps", ylabel="return (steps the pole stayed up)", title="DQN on CartPole-v1")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# One episode of the learned policy
# ---------------------------------
# The cart's position and the pole's angle at every step of one greedy episode.
env = gym.make("CartPole-v1")
observation, _ = env.reset(seed=7)
trajectory, done = [observation], False
while not done:
    action, _ = agent.predict(observation, deterministic=True)
    observation, reward, terminated, truncated, _ = env.step(int(action))
    trajectory.append(observation)
    done = terminated or truncated
trajectory = np.array(trajectory)
print(f"one greedy episode: {len(trajectory) - 1} steps; pole angle within "
      f"[{np.degrees(trajectory[:, 2].min()):.1f}, {np.degrees(trajectory[:, 2].max()):.1f}] degrees, "
      f"cart within [{trajectory[:, 0].min():.2f}, {trajectory[:, 0].max():.2f}] (the episode ends beyond "
      f"12 degrees or 2.4)")
fig, (ax_pos, ax_angle) = plt.subplots(2, 1, figsize=(8, 4.5), sharex=True)
ax_pos.plot(trajectory[:, 0])
ax_pos.axhline(2.4, color="r", ls=":"), ax_pos.axhline(-2.4, color="r", ls=":")
ax_pos.set(ylabel="cart position")
ax_angle.plot(np.degrees(trajectory[:, 2]))
ax_angle.axhline(12, color="r", ls=":"), ax_angle.axhline(-12, color="r", ls=":")
ax_angle.set(xlabel="step", ylabel="pole angle (degrees)")
fig.suptitle("one episode of the greedy policy")
fig.tight_layout()
plt.show()
