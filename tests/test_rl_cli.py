"""``fastnn rl``: DQN and Q-learning from the command line, with files and a picture."""
import io
import re
import sys

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


def test_progress_bar_reports_episodes_and_speed_on_a_terminal_only(capsys, monkeypatch):
    code, _ = run(["rl", "--timesteps", "1200", "--eval-episodes", "1"])
    assert code == 0
    assert capsys.readouterr().err == ""  # not a terminal: no bar, as 'fastnn train'
    code, _ = run(["rl", "--env", "FrozenLake-v1", "--algo", "qlearning", "--episodes", "300", "--eval-episodes",
                   "1"])
    assert code == 0 and capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _ = run(["rl", "--timesteps", "1200", "--eval-episodes", "1"])
    assert code == 0
    err = capsys.readouterr().err
    assert "episodes=" in err and "mean_return=" in err and "steps_s=" in err
    code, _ = run(["rl", "--env", "FrozenLake-v1", "--algo", "qlearning", "--episodes", "300", "--eval-episodes",
                   "1"])
    assert code == 0 and "episodes_s=" in capsys.readouterr().err
    code, _ = run(["rl", "--timesteps", "1200", "--eval-episodes", "1", "--quiet"])
    assert code == 0 and capsys.readouterr().err == ""
