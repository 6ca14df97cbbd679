"""
Q-learning on FrozenLake
========================

Reinforcement learning learns from rewards instead of labels. In FrozenLake (a Gymnasium environment) an agent
walks a frozen 4x4 lake from the start S to the goal G without falling into a hole H; the ice is slippery, so a
move goes where it was meant only a third of the time. The only reward is 1 for reaching the goal.

Q-learning keeps a table ``Q[state, action]``, the expected discounted return of taking ``action`` in
``state`` and acting well afterwards, and after every step moves one entry towards
``reward + gamma * max Q[next state]``. While learning it explores: a random action with probability epsilon,
falling from 1 to 0.05 over the first half of the episodes (``rl.LinearDecay``).
"""
import os

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np

from fastnn import rl

QUICK = os.environ.get("FASTNN_EXAMPLES_QUICK") == "1"
episodes = 2000 if QUICK else 20000
checkpoints = 5 if QUICK else 10

env = gym.make("FrozenLake-v1")                   # slippery
agent = rl.QLearning.from_env(env, lr=0.1, gamma=0.99, epsilon=rl.LinearDecay(1.0, 0.05, 0.5), seed=0)

# %%
# Learning, with the greedy policy's success rate measured along the way
# ----------------------------------------------------------------------
evaluations = []


def measure(agent, episode, episode_return):
    if (episode + 1) % (episodes // checkpoints) == 0:
        rate = agent.evaluate(gym.make("FrozenLake-v1"), episodes=300, seed=episode)["mean_return"]
        evaluations.append((episode + 1, rate))
        print(f"after {episode + 1:6d} episodes: greedy policy reaches the goal in {rate:.1%} of 300 episodes")


agent.learn(env, episodes=episodes, callback=measure)
final = agent.evaluate(env, episodes=1000, seed=12345)["mean_return"]

# The best possible success rate, from the environment's own transition table (value iteration over the 100
# steps an episode may last): what a perfect policy would reach.
transitions = env.unwrapped.P                     # P[state][action] = [(probability, next state, reward, done)]
best = np.zeros(16)
for _ in range(100):
    best = np.array([max(sum(p * (r + (0 if done else best[s2])) for p, s2, r, done in transitions[s][a])
                         for a in range(4)) for s in range(16)])
print(f"final greedy policy: success rate {final:.3f} over 1000 episodes; the best possible: {best[0]:.3f}")

returns = np.asarray(agent.episode_returns)
window = max(1, episodes // 50)
moving = np.convolve(returns, np.ones(window) / window, mode="valid")
fig, ax = plt.subplots(figsize=(8, 4))
ax.plot(np.arange(window, len(returns) + 1), moving, lw=1, label=f"while learning (exploring), mean of {window} episodes")
ax.plot(*np.array(evaluations).T, "o-", label="greedy policy, 300 evaluation episodes")
ax.set(xlabel="episode", ylabel="success rate", ylim=(0, 1), title="Q-learning on slippery FrozenLake-v1")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# The learned values and policy on the grid
# -----------------------------------------
# Each cell shows ``max_a Q[s, a]`` (its colour and number) and the greedy action's arrow. Near the goal the
# values are high; beside the holes the policy often points *away* from the hole, accepting a longer way
# because a slip may go sideways.
lake = env.unwrapped.desc.astype(str)
values = agent.q_table.max(axis=1).reshape(4, 4)
policy = agent.q_table.argmax(axis=1).reshape(4, 4)
arrows = {0: (-0.25, 0), 1: (0, 0.25), 2: (0.25, 0), 3: (0, -0.25)}      # left, down, right, up
fig, ax = plt.subplots(figsize=(5, 5))
ax.imshow(values, cmap="Blues")
for r in range(4):
    for c in range(4):
        if lake[r, c] in "HG":
            ax.text(c, r, lake[r, c], ha="center", va="center", fontsize=20, color="red" if lake[r, c] == "H" else "green")
            continue
        dx, dy = arrows[policy[r, c]]
        ax.arrow(c - dx / 2, r - 0.1 - dy / 2, dx, dy, head_width=0.1, head_length=0.08, color="black")
        ax.text(c, r + 0.4, f"{values[r, c]:.2f}", ha="center", fontsize=8,
                color="white" if values[r, c] > values.max() * 0.75 else "black")
ax.set(xticks=[], yticks=[], title="max Q and the greedy action")
fig.tight_layout()
print("state values max_a Q[s, a]:")
print(np.round(values, 3))
plt.show()
