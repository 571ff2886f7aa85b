"""The public API's docstring examples run as written, as Gymnasium checks its wrappers' examples.

``vrg.wrap``, the generic wrappers, every registered form (whose docstring the named wrappers
``DenseReward``, ... carry), ``make_reward_model`` and ``list_reward_models`` show a short example;
this runs them with the rest of ``python -m pytest -q``.
"""

import doctest
import importlib

import pytest

import vlmreward_gym as vrg
from vlmreward_gym.wrappers import FORMS, LearnedRewardWrapper
from vlmreward_gym.wrappers.vector import LearnedRewardVectorWrapper

MODULES = ["vlmreward_gym.api", "vlmreward_gym.models.registry", "vlmreward_gym.wrappers.single",
           "vlmreward_gym.wrappers.vector", *sorted({form.__module__ for form in FORMS.values()})]


@pytest.mark.filterwarnings("ignore::UserWarning")  # an example may show a warned configuration
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, capsys):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0, capsys.readouterr().out


@pytest.mark.parametrize("obj", [vrg.wrap, vrg.make_reward_model, vrg.list_reward_models, LearnedRewardWrapper,
                                 LearnedRewardVectorWrapper, *FORMS.values()],
                         ids=lambda obj: obj.__name__)
def test_the_public_api_shows_an_example(obj):
    assert ">>> " in obj.__doc__
