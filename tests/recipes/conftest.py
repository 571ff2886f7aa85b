"""Fixtures of the recipe tests."""

from dataclasses import replace

import pytest

from vlmreward_rl.algos.registry import ALGORITHMS


@pytest.fixture
def fake_algorithm(monkeypatch):
    """``fake_algorithm(name, train, outcome=None)``: the registered algorithm ``name`` trains with ``train``; with
    no ``outcome`` its trials' metrics are what ``train`` returns (the record is restored after the test)."""
    def fake(name, train, outcome=None):
        changes = {"train": train, "outcome": outcome or (lambda config, metrics: metrics)}
        monkeypatch.setitem(ALGORITHMS, name, replace(ALGORITHMS[name], **changes))

    return fake
