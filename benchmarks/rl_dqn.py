"""DQN on CartPole-v1: fastnn.rl.DQN beside Stable-Baselines3's DQN, and the update alone beside PyTorch.

    flock /tmp/fastnn-bench.lock python benchmarks/rl_dqn.py [--seeds 0 1 2] [--timesteps 50000] [--repeats 5]

1. Learning: both libraries train the same agent (network 4-64-64-2 with ReLU, Adam lr 1e-3, Huber loss
   (smooth L1), batch 64, buffer 50,000, learning_starts 1,000, train_freq 4, one gradient step, hard target
   update every 500 steps, exploration from 1.0 to 0.05 over the first 20% of the steps, gradient norm clipped
   at 10, gamma 0.99) for ``--timesteps`` steps per seed, on one thread each, taking turns seed by seed. The
   table shows the wall clock of ``learn``, steps per second, and the mean return of the deterministic policy
   over 100 evaluation episodes of a fresh environment (475 solves CartPole-v1). Then fastnn alone with its
   default settings (the recipe that solves CartPole-v1), for the same seeds.
2. The update alone: one DQN step on a filled replay buffer (sample 64 transitions, target network's max over
   the next states, Huber loss on the taken actions, backward, clipping, Adam) as fastnn's compiled call and as
   the same step in PyTorch (Stable-Baselines3's ``DQN.train`` written out, the buffer held as tensors), and a
   one-row greedy action; microseconds per call, minimum over ``--repeats`` interleaved runs.
"""
import argparse
import platform
import time
import warnings

import numpy as np

SETTINGS = dict(lr=1e-3, buffer_size=50_000, learning_starts=1_000, batch_size=64, gamma=0.99, train_freq=4,
                gradient_steps=1, target_update_interval=500, tau=1.0, exploration_fraction=0.2,
                exploration_final_eps=0.05, max_grad_norm=10.0)


def fastnn_run(seed, timesteps, defaults=False):
    import gymnasium as gym
    from fastnn import rl

    settings = {} if defaults else dict(SETTINGS, hidden=(64, 64), loss="huber")
    agent = rl.DQN(gym.make("CartPole-v1"), seed=seed, n_threads=1, **settings)
    t0 = time.perf_counter()
    agent.learn(total_timesteps=timesteps)
    seconds = time.perf_counter() - t0
    return seconds, agent.evaluate(n_episodes=100)["mean_return"]


def sb3_run(seed, timesteps):
    import gymnasium as gym
    from stable_baselines3 import DQN
    from stable_baselines3.common.evaluation import evaluate_policy

    s = dict(SETTINGS)
    model = DQN("MlpPolicy", gym.make("CartPole-v1"), learning_rate=s.pop("lr"), policy_kwargs=dict(net_arch=[64, 64]),
                seed=seed, device="cpu", **s)
    t0 = time.perf_counter()
    model.learn(total_timesteps=timesteps)
    seconds = time.perf_counter() - t0
    mean, _ = evaluate_policy(model, gym.make("CartPole-v1"), n_eval_episodes=100, deterministic=True)
    return seconds, float(mean)


def learning_table(seeds, timesteps):
    rows = []
    for seed in seeds:
        for name, run in (("fastnn", fastnn_run), ("Stable-Baselines3", sb3_run)):
            seconds, ret = run(seed, timesteps)
            rows.append((name, seed, seconds, timesteps / seconds, ret))
            print(f"  {name:18s} seed {seed}: {seconds:7.2f} s  {timesteps / seconds:9,.0f} steps/s  "
                  f"evaluation return {ret:6.1f}", flush=True)
    print()
    print("| library | seed | learn (s) | steps/s | evaluation return (100 episodes) |")
    print("|---|---|---|---|---|")
    for name, seed, seconds, sps, ret in rows:
        print(f"| {name} | {seed} | {seconds:.2f} | {sps:,.0f} | {ret:.1f} |")
    for name in ("fastnn", "Stable-Baselines3"):
        mine = [r for r in rows if r[0] == name]
        print(f"| {name} | mean | {np.mean([r[2] for r in mine]):.2f} | {np.mean([r[3] for r in mine]):,.0f} | "
              f"{np.mean([r[4] for r in mine]):.1f} (solved {sum(r[4] >= 475 for r in mine)} of {len(mine)}) |")
    fast = np.mean([r[3] for r in rows if r[0] == "fastnn"])
    slow = np.mean([r[3] for r in rows if r[0] != "fastnn"])
    print(f"\nfastnn runs {fast / slow:.1f}x Stable-Baselines3's steps per second")


def defaults_table(seeds, timesteps):
    """fastnn.rl.DQN with its own defaults (the recipe that solves CartPole-v1), for the same seeds."""
    import inspect

    from fastnn import rl

    params = inspect.signature(rl.DQN).parameters
    shown = ", ".join(f"{k}={params[k].default!r}" for k in ("hidden", "lr", "gamma", "batch_size", "train_freq",
                                                               "gradient_steps", "target_update_interval",
                                                               "double_q"))
    print(f"fastnn.rl.DQN with its defaults ({shown}):")
    print("| seed | learn (s) | steps/s | evaluation return (100 episodes) |")
    print("|---|---|---|---|")
    results = []
    for seed in seeds:
        seconds, ret = fastnn_run(seed, timesteps, defaults=True)
        results.append(ret)
        print(f"| {seed} | {seconds:.2f} | {timesteps / seconds:,.0f} | {ret:.1f} |", flush=True)
    print(f"solved (>= 475) in {sum(r >= 475 for r in results)} of {len(results)} seeds")


def filled_agent():
    import gymnasium as gym
    from fastnn import rl

    agent = rl.DQN(gym.make("CartPole-v1"), hidden=(64, 64), seed=0, n_threads=1,
                   **dict(SETTINGS, gradient_steps=0))
    agent.learn(5_000)
    return agent


def torch_step_factory(agent):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)

    def net():
        return torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                                   torch.nn.Linear(64, 2))
    q, q_target = net(), net()
    q_target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=1e-3)
    rb = agent.replay_buffer
    n = len(rb)
    obs, next_obs = torch.as_tensor(rb.observations[:n]), torch.as_tensor(rb.next_observations[:n])
    actions = torch.as_tensor(rb.actions[:n]).reshape(-1, 1)
    rewards, dones = torch.as_tensor(rb.rewards[:n]).reshape(-1, 1), torch.as_tensor(rb.dones[:n]).reshape(-1, 1)

    def step():  # Stable-Baselines3's DQN.train, one gradient step
        idx = torch.randint(0, n, (64,))
        with torch.no_grad():
            next_q = q_target(next_obs[idx]).max(dim=1)[0].reshape(-1, 1)
            target_q = rewards[idx] + (1 - dones[idx]) * 0.99 * next_q
        current_q = torch.gather(q(obs[idx]), dim=1, index=actions[idx].long())
        loss = F.smooth_l1_loss(current_q, target_q)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(q.parameters(), 10.0)
        opt.step()

    row = torch.as_tensor(rb.observations[:1])

    def act():
        with torch.no_grad():
            return int(q(row).argmax(dim=1)[0])
    return step, act


def micro(repeats, n=2000):
    from fastnn import _kernels

    agent = filled_agent()
    agent._nt = 1
    torch_step, torch_act = torch_step_factory(agent)
    row = agent.replay_buffer.observations[0].copy()
    engine = agent._engine

    def fastnn_step():
        agent._train(1, len(agent.replay_buffer))

    def fastnn_act():
        return _kernels.dqn_act(engine, row, 0.0, 0, 0)

    best = {}
    for _ in range(repeats):
        for name, f in (("fastnn update", fastnn_step), ("PyTorch update", torch_step),
                        ("fastnn one-row action", fastnn_act), ("PyTorch one-row action", torch_act)):
            f()
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            best[name] = min(best.get(name, np.inf), (time.perf_counter() - t0) / n * 1e6)
    print("| call | fastnn (us) | PyTorch (us) | PyTorch / fastnn |")
    print("|---|---|---|---|")
    for what in ("update", "one-row action"):
        f, t = best[f"fastnn {what}"], best[f"PyTorch {what}"]
        print(f"| DQN {what} (4-64-64-2, batch 64) | {f:.1f} | {t:.1f} | {t / f:.1f}x |"
              if what == "update" else f"| {what} (4-64-64-2) | {f:.1f} | {t:.1f} | {t / f:.1f}x |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--timesteps", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-learning", action="store_true", help="only the update micro-benchmark")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    import stable_baselines3
    import torch
    from threadpoolctl import threadpool_limits

    import fastnn

    torch.set_num_threads(1)
    print(f"CartPole-v1, 1 thread; {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"fastnn {fastnn.__version__}, Stable-Baselines3 {stable_baselines3.__version__}, PyTorch "
          f"{torch.__version__}\n")
    with threadpool_limits(1):
        if not args.skip_learning:
            learning_table(args.seeds, args.timesteps)
            print()
            defaults_table(args.seeds, args.timesteps)
            print()
        micro(args.repeats)


if __name__ == "__main__":
    main()
