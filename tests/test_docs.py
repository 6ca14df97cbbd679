"""The examples in the docstrings run and show what they claim; messages and docs name the right packages."""
import doctest
import os

import pytest

import fastnn
import fastnn.callbacks
import fastnn.cluster.kmeans
import fastnn.cluster.spectral
import fastnn.data.preprocessing
import fastnn.losses
import fastnn.metrics
import fastnn.models.autoencoder
import fastnn.models.container
import fastnn.models.sequential
import fastnn.nn.conv
import fastnn.nn.dense
import fastnn.nn.dropout
import fastnn.nn.normalization
import fastnn.nn.pooling
import fastnn.nn.reshaping
import fastnn.optim.adam
import fastnn.optim.rmsprop
import fastnn.optim.schedules
import fastnn.optim.sgd
import fastnn.training.lr_finder


def _rl_modules():
    """fastnn.rl's modules with examples (they need Gymnasium and matplotlib)."""
    try:
        import gymnasium  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError:
        return []
    import fastnn.rl._common
    import fastnn.rl.dqn
    import fastnn.rl.evaluation
    import fastnn.rl.plotting
    import fastnn.rl.qlearning
    import fastnn.rl.replay

    return [fastnn.rl._common, fastnn.rl.dqn, fastnn.rl.evaluation, fastnn.rl.qlearning, fastnn.rl.replay,
            fastnn.rl.plotting]


@pytest.mark.parametrize("module", [fastnn, fastnn.models.sequential, fastnn.models.autoencoder, fastnn.models.container, fastnn.nn.dense,
                                    fastnn.nn.conv, fastnn.nn.pooling, fastnn.nn.reshaping, fastnn.nn.dropout,
                                    fastnn.nn.normalization,
                                    fastnn.optim.sgd, fastnn.optim.adam, fastnn.optim.rmsprop, fastnn.optim.schedules,
                                    fastnn.data.preprocessing, fastnn.callbacks, fastnn.losses, fastnn.cluster.kmeans,
                                    fastnn.cluster.spectral, fastnn.metrics, fastnn.training.lr_finder] + _rl_modules(),
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_no_message_or_doc_says_pip_install_fastnn_extras():
    """PyPI's "fastnn" is an unrelated project: hints name the packages to install, never fastnn[...]."""
    found = []
    paths = [os.path.join(_ROOT, "README.md")]
    for folder, _, files in os.walk(os.path.join(_ROOT, "src")):
        paths += [os.path.join(folder, f) for f in files if f.endswith((".py", ".pyx", ".pxd", ".build", ".md"))]
    assert len(paths) > 20
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if "fastnn[" in line:
                    found.append(f"{os.path.relpath(path, _ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_readme_names_gymnasium_environments_by_registered_ids():
    """Every Gymnasium environment the README names comes with a version that Gymnasium registers (Taxi-v4: newer
    Gymnasium refuses Taxi-v3)."""
    import re

    gym = pytest.importorskip("gymnasium")
    with open(os.path.join(_ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    names = {env_id.rsplit("-v", 1)[0] for env_id in gym.registry if "/" not in env_id and "-v" in env_id}
    named, wrong = set(), []
    for name in names:
        for m in re.finditer(rf"(?<![\w/-]){re.escape(name)}(-v\d+)?(?![\w])", text):
            named.add(m.group(0))
            if m.group(0) not in gym.registry:
                wrong.append(m.group(0))
    assert {"CartPole-v1", "FrozenLake-v1", "Taxi-v4"} <= named
    assert not wrong, wrong
