"""Shared fixtures of the sim-rm tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
def dataset(tmp_path_factory):
    """Rendered PointReach demos at 32 px (2 seeds of each task and kind): tiny training and evaluation data."""
    from vlmreward_rl.envs.point_reach_demos import generate

    return generate(tmp_path_factory.mktemp("rm") / "pr", seeds=2, size=32)
