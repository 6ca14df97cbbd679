"""The examples in the docstrings run and show what they claim."""
import doctest

import pytest

import fastnn
import fastnn.layers
import fastnn.model
import fastnn.optim
import fastnn.preprocessing


@pytest.mark.parametrize("module", [fastnn, fastnn.model, fastnn.layers, fastnn.optim, fastnn.preprocessing],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
