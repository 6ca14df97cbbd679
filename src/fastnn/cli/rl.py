"""``fastnn rl``: train a reinforcement-learning agent on a Gymnasium environment (DQN or tabular Q-learning),
with a progress bar, then evaluate its greedy policy."""
import argparse
import sys
import time

from ._args import epilog, non_negative_int, positive_int

EXAMPLES = """\
  fastnn rl --env CartPole-v1 --algo dqn --timesteps 50000   a Deep Q-Network (needs gymnasium)
  fastnn rl --env FrozenLake-v1 --algo qlearning        tabular Q-learning
  fastnn rl --env CartPole-v1 --save cartpole.fnn --plot returns.png   keep the agent, draw the returns
"""


def add_parser(sub):
    r = sub.add_parser("rl", help="train a DQN or Q-learning agent on a Gymnasium environment and evaluate it",
                       description="Train an agent on a Gymnasium environment: a Deep Q-Network (--algo dqn; a Box "
                                   "observation space and Discrete actions, e.g. CartPole-v1) or tabular "
                                   "Q-learning (--algo qlearning; Discrete states and actions, e.g. "
                                   "FrozenLake-v1), with a progress bar on a terminal (episodes, mean return of "
                                   "the last 100, steps/s), then the mean return of the greedy policy over "
                                   "evaluation episodes. "
                                   "Needs Gymnasium: pip install gymnasium.",
                       epilog=epilog(EXAMPLES, data_files=False),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--env", default="CartPole-v1", help="a Gymnasium environment id (default: CartPole-v1)")
    r.add_argument("--algo", choices=["dqn", "qlearning"], default="dqn", help="the agent (default: dqn)")
    r.add_argument("--timesteps", type=positive_int, default=50_000,
                   help="dqn: environment steps to learn from (default: 50000)")
    r.add_argument("--episodes", type=positive_int, default=20_000,
                   help="qlearning: episodes to learn from (default: 20000)")
    r.add_argument("--eval-episodes", type=positive_int, default=None, metavar="N",
                   help="evaluation episodes (default: 100 for dqn, 1000 for qlearning)")
    r.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    r.add_argument("--save", metavar="PATH", help="save the trained agent to PATH")
    r.add_argument("--plot", metavar="FILE", help="draw the episode returns and their moving average to FILE "
                                                  "(needs matplotlib: pip install matplotlib)")
    r.add_argument("--threads", type=positive_int, default=1, metavar="N", help="threads of the DQN update "
                                                                                "(default: 1)")
    r.add_argument("--quiet", action="store_true", help="no progress bar (there is none when the output is not a "
                                                        "terminal)")
    r.set_defaults(dataset=None)
    return r


def run(args, out):
    from .._core.progress import on_terminal
    from ..rl import DQN, QLearning, plot_returns
    from ..rl._common import gymnasium

    gym = gymnasium()
    if args.save:
        from .._core.validation import check_output_path

        check_output_path(args.save)
    if args.plot:
        from ..plotting import check_destination

        check_destination(args.plot)
    try:
        env = gym.make(args.env)
    except gym.error.Error as exc:
        raise ValueError(f"--env {args.env}: {exc}") from None
    t0 = time.perf_counter()
    bar = not args.quiet and on_terminal(sys.stderr)  # a live bar only on a terminal, as for 'fastnn train'
    if args.algo == "dqn":
        agent = DQN(env, seed=args.seed, n_threads=args.threads)
        out.write(f"DQN on {args.env}: {args.timesteps:,} steps, network "
                  f"{' -> '.join(map(str, agent.q_net.widths))}, seed {args.seed}\n")
        out.flush()
        agent.learn(args.timesteps, progress=bar)
        steps = f"{args.timesteps / max(time.perf_counter() - t0, 1e-9):,.0f} steps/s"
        result = agent.evaluate(args.eval_episodes or 100)
    else:
        space_s, space_a = env.observation_space, env.action_space
        if not (isinstance(space_s, gym.spaces.Discrete) and isinstance(space_a, gym.spaces.Discrete)):
            raise TypeError(f"--algo qlearning needs Discrete states and actions; {args.env} has {space_s} and "
                            f"{space_a} (use --algo dqn)")
        agent = QLearning.from_env(env, seed=args.seed)
        out.write(f"Q-learning on {args.env}: {args.episodes:,} episodes, {space_s.n} states x {space_a.n} actions, "
                  f"seed {args.seed}\n")
        out.flush()
        agent.learn(env, episodes=args.episodes, progress=bar)
        steps = f"{args.episodes / max(time.perf_counter() - t0, 1e-9):,.0f} episodes/s"
        result = agent.evaluate(env, episodes=args.eval_episodes or 1000)
    returns = agent.episode_returns
    last = returns[-100:]
    out.write(f"trained in {time.perf_counter() - t0:.1f}s ({steps}), {len(returns):,} episodes, mean return of the "
              f"last {len(last)}: {sum(last) / max(len(last), 1):.2f}\n")
    out.write(f"evaluation over {result['episodes']} episodes (greedy policy): mean return "
              f"{result['mean_return']:.2f} +- {result['std_return']:.2f}\n")
    if args.save:
        agent.save(args.save)
        out.write(f"saved the agent to {args.save}\n")
    if args.plot:
        plot_returns(returns, args.plot, title=f"{args.algo} on {args.env}")
        out.write(f"saved the returns to {args.plot}\n")
    env.close()
    return 0
