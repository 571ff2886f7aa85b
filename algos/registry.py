"""The algorithms the recipes run, one :class:`~vlmreward_rl.algos.common.records.Algorithm` record each.

A new algorithm is a module of its own under ``algos/`` that defines its ``Args``, ``train`` and an
``ALGORITHM`` record, and one entry in :data:`ALGORITHMS`; ``vlmreward train``, the studies, trials and
sweeps then run it (its presets, if it has any, go into a ``recipes/`` module listed in
:func:`vlmreward_rl.recipes.train.all_presets`).
"""

from __future__ import annotations

from typing import Any

from vlmreward_rl.algos import dsrl, filtered_bc, ppo_gae
from vlmreward_rl.algos.common.records import Algorithm

ALGORITHMS: dict[str, Algorithm] = {record.name: record for record in (
    ppo_gae.ALGORITHM, ppo_gae.INITIAL_POLICY, dsrl.ALGORITHM, filtered_bc.ALGORITHM)}


def algorithm_for(config: Any) -> Algorithm:
    """The record of the algorithm whose arguments ``config`` is (its exact type: a subclass is not its parent)."""
    for record in ALGORITHMS.values():
        if type(config) is record.args_type:
            return record
    raise TypeError(f"no algorithm takes a {type(config).__qualname__}: the registered ones take "
                    f"{', '.join(f'{r.args_type.__module__}.{r.args_type.__qualname__}' for r in ALGORITHMS.values())}")
