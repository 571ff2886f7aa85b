"""``vlmreward train filtered-bc-<preset> [--option value ...]``: success-filtered BC (:mod:`vlmreward_rl.algos.filtered_bc`).

    vlmreward train filtered-bc-pointreach               # weak BC policy on 5 noisy demos, oracle judge, 3 rounds
    vlmreward train filtered-bc-pointreach-noisy         # the same judged by the noisy-oracle at MAE 1.0

A missing PointReach demo folder is created first (:func:`vlmreward_rl.recipes.inputs.pointreach_demos`).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

import tyro

from vlmreward_rl.algos import filtered_bc
from vlmreward_rl.algos.diffusion_policy import BCTraining
from vlmreward_rl.recipes.inputs import POINTREACH
from vlmreward_rl.recipes.trials import train_and_report

_POINTREACH = filtered_bc.Args(env_id="vlmreward/PointReach-v0", instruction=POINTREACH, model="oracle",
                               demos="runs/bc/pointreach_demos", kinds=("noisy",), rounds=3, rollouts=50,
                               eval_episodes=100, bc=BCTraining(steps=1_000))

PRESETS: dict[str, tuple[str, filtered_bc.Args]] = {
    "filtered-bc-pointreach": ("Filtered BC on PointReach: BC on 5 noisy demos, then 3 rounds of 50 rollouts judged "
                               "by the oracle's episode score (about 2 minutes).", _POINTREACH),
    "filtered-bc-pointreach-noisy": ("filtered-bc-pointreach judged by the noisy-oracle at MAE 1.0.",
                                     replace(_POINTREACH, model="noisy-oracle", model_kwargs={"mae": 1.0})),
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    return train_and_report(tyro.extras.overridable_config_cli(PRESETS, args=argv))


if __name__ == "__main__":
    main()
