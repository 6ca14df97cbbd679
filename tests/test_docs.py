"""The examples in the docstrings run and show what they claim."""
import doctest

import pytest

import fastnn
import fastnn.autoencoder
import fastnn.callbacks
import fastnn.cluster
import fastnn.layers
import fastnn.losses
import fastnn.metrics
import fastnn.model
import fastnn.optim
import fastnn.preprocessing
import fastnn.schedules


def _rl_modules():
    """fastnn.rl's modules with examples (they need Gymnasium and matplotlib)."""
    try:
        import gymnasium  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError:
        return []
    import fastnn.rl._common
    import fastnn.rl.dqn
    import fastnn.rl.plotting
    import fastnn.rl.qlearning
    import fastnn.rl.replay

    return [fastnn.rl._common, fastnn.rl.dqn, fastnn.rl.qlearning, fastnn.rl.replay, fastnn.rl.plotting]


@pytest.mark.parametrize("module", [fastnn, fastnn.model, fastnn.layers, fastnn.optim, fastnn.preprocessing,
                                    fastnn.schedules, fastnn.callbacks, fastnn.losses, fastnn.cluster, fastnn.metrics,
                                    fastnn.autoencoder] + _rl_modules(),
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
