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


@pytest.mark.parametrize("module", [fastnn, fastnn.model, fastnn.layers, fastnn.optim, fastnn.preprocessing,
                                    fastnn.schedules, fastnn.callbacks, fastnn.losses, fastnn.cluster, fastnn.metrics,
                                    fastnn.autoencoder],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
