"""``fastnn rl``: DQN and Q-learning from the command line, with files and a picture."""
import io
import re

import pytest

pytest.importorskip("gymnasium")

from fastnn import rl  # noqa: E402
from fastnn.cli import main  # noqa: E402


def run(argv):
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue()


def test_dqn_trains_saves_and_plots(tmp_path):
    path, picture = tmp_path / "cartpole.fnn", tmp_path / "returns.png"
    code, text = run(["rl", "--env", "CartPole-v1", "--algo", "dqn", "--timesteps", "2000", "--seed", "0",
                      "--eval-episodes", "3", "--quiet", "--save", str(path), "--plot", str(picture)])
    assert code == 0, text
    assert "DQN on CartPole-v1: 2,000 steps" in text
    assert re.search(r"evaluation over 3 episodes \(greedy policy\): mean return [0-9.]+", text)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import gymnasium as gym

    agent = rl.DQN.load(path, env=gym.make("CartPole-v1"))
    assert agent.num_timesteps == 2000


def test_qlearning_on_frozenlake(tmp_path):
    code, text = run(["rl", "--env", "FrozenLake-v1", "--algo", "qlearning", "--episodes", "300",
                      "--eval-episodes", "20", "--quiet", "--save", str(tmp_path / "q.fnn")])
    assert code == 0, text
    assert "Q-learning on FrozenLake-v1: 300 episodes, 16 states x 4 actions" in text
    assert rl.QLearning.load(tmp_path / "q.fnn").episodes_done == 300


def test_progress_bar_reports_episodes_and_speed(capsys):
    code, _ = run(["rl", "--timesteps", "1200", "--eval-episodes", "1"])
    assert code == 0
    err = capsys.readouterr().err
    assert "episodes=" in err and "mean_return=" in err and "steps_s=" in err


def test_bad_requests(tmp_path, capsys):
    code, _ = run(["rl", "--env", "NoSuchEnv-v0", "--quiet"])
    assert code == 1 and "NoSuchEnv" in capsys.readouterr().err
    code, _ = run(["rl", "--env", "CartPole-v1", "--algo", "qlearning", "--quiet"])
    assert code == 1 and "Discrete states" in capsys.readouterr().err
    code, _ = run(["rl", "--env", "FrozenLake-v1", "--algo", "dqn", "--quiet"])
    assert code == 1 and "Box observation" in capsys.readouterr().err
    code, _ = run(["rl", "--plot", str(tmp_path / "missing" / "p.png"), "--quiet"])
    assert code == 1
    with pytest.raises(SystemExit) as info:
        main(["rl", "--timesteps", "-5"])
    assert info.value.code == 2


@pytest.mark.parametrize("argv, algo, use", [
    (["--algo", "dqn", "--timesteps", "300"], "DQN",
     "fastnn.rl.DQN.load(path, env=gymnasium.make(ENV_ID)).evaluate(n_episodes=100)"),
    (["--env", "FrozenLake-v1", "--algo", "qlearning", "--episodes", "20"], "QLearning",
     "fastnn.rl.QLearning.load(path).evaluate(gymnasium.make(ENV_ID), episodes=1000)"),
])
def test_evaluate_names_an_agent_file_and_how_to_use_it(tmp_path, capsys, argv, algo, use):
    path = tmp_path / "agent.fnn"
    assert run(["rl", *argv, "--eval-episodes", "1", "--quiet", "--save", str(path)])[0] == 0
    capsys.readouterr()
    code, text = run(["evaluate", str(path), "--data", str(tmp_path / "unused.csv")])
    assert code == 1 and text == ""
    message = (f"fastnn: error: {path} is a reinforcement-learning agent file ({algo}, saved by 'fastnn rl --save'), "
               f"not a model that 'fastnn evaluate' scores: evaluate it in Python with {use}, or train and evaluate "
               "one with 'fastnn rl'\n")
    assert capsys.readouterr().err == message
    assert run(["evaluate", str(path)]) == (1, "")  # without data too
    assert capsys.readouterr().err == message
