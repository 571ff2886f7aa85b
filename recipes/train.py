"""``vlmreward train [PRESET] [--option value ...]``: RL (PPO, DSRL, filtered BC) with a learned reward, by preset.

    vlmreward train                          # the main job: DSRL on Robomimic Lift with our learned reward model
                                             # sim-rm-lift-side (the lift-sim-rm-side preset, recipes/dsrl.py)
    vlmreward train pointreach               # the built-in PointReach env (about 20 s)
    vlmreward train pickcube-oracle --seed 2 # any field of vlmreward_rl.algos.ppo_gae.Args can be overridden
    vlmreward train --help                   # every preset (PPO, DSRL, filtered BC); PRESET --help: its options
    vlmreward train dsrl-pointreach          # DSRL presets (recipes/dsrl.py): BC diffusion policy + DSRL-NA/SAC
    vlmreward train filtered-bc-pointreach   # success-filtered BC presets (recipes/filtered_bc.py)
    vlmreward train lift-sim-rm-oracle       # the main job with the oracle's reward: the learned reward's upper bound
    vlmreward train pickcube                 # PPO on ManiSkill3 PickCube, noisy-oracle dense reward

A preset is an :class:`vlmreward_rl.algos.ppo_gae.Args`; its ``env_id`` is the config string of the env (any
Gymnasium id, e.g. ``vlmreward/PickCube-v1``), so a new simulator task is one entry. At the end
the run prints the success rate and the reward fidelity and writes ``success.png`` (success
rate vs env steps), ``fidelity.png`` (the learned reward's success calls, false successes and
correlation with oracle progress vs env steps) and ``summary.json`` into the run dir.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from typing import Any

import tyro

from vlmreward_rl.algos.ppo_gae import Args
from vlmreward_rl.envs.tasks import task
from vlmreward_rl.recipes.trials import train_and_report
from vlmreward_gym.options import format_kwargs, parse_value

POINTREACH = task("vlmreward/PointReach-v0").instruction
PICKCUBE = task("vlmreward/PickCube-v1").instruction

# ManiSkill's PPO settings for state PickCube (gamma 0.8, 3x256 tanh nets, initial log std -0.5, bootstrap at
# every episode end: PickCube terminates on success while the dense reward pays up to 1 a step), with far
# fewer envs and smaller batches than its 1024 GPU envs, for a 2-core CPU.
_PICKCUBE = Args(env_id="vlmreward/PickCube-v1", vectorization="async", model="noisy-oracle", model_kwargs={"mae": 0.5},
                 form="dense", instruction=PICKCUBE, total_timesteps=120_000, num_envs=8, num_steps=50, gamma=0.8,
                 gae_lambda=0.9, num_minibatches=8, update_epochs=4, learning_rate=3e-4, target_kl=0.1, hidden=256,
                 layers=3, init_logstd=-0.5, bootstrap_terminations=True, eval_every=25, eval_episodes=16,
                 num_eval_envs=2, checkpoint_every=25)
# ManiSkill's own CPU-simulation PPO recipe for PickCube (examples/baselines/ppo/ppo_cpu.py in haosulab/ManiSkill:
# 16 envs x 200 steps, 8 epochs of 8 minibatches, no LR annealing, unclipped value loss, 1.5M steps).
_PICKCUBE_BENCH = replace(_PICKCUBE, model="oracle", model_kwargs={}, vectorization="sync", num_envs=16, num_steps=200,
                          update_epochs=8, num_minibatches=8, anneal_lr=False, clip_vloss=False,
                          total_timesteps=1_500_000, eval_every=5, checkpoint_every=1)
_POINTREACH = Args(env_id="vlmreward/PointReach-v0", model="oracle", form="dense", reward_kwargs={"relative": True},
                   instruction=POINTREACH, total_timesteps=16_384, learning_rate=1e-3, eval_every=8, eval_episodes=16)

PRESETS: dict[str, tuple[str, Args]] = {
    "pickcube": ("PPO on ManiSkill3 PickCube (state observations), dense noisy-oracle reward (MAE 0.5 on the 1-5 "
                 "scale), about 15 minutes on a CPU (the main job before issue 24; it ends at 0.00 success: PPO "
                 "needs ~290k steps here).", _PICKCUBE),
    "pickcube-oracle": ("Benchmark: pickcube with the oracle dense reward (the reward-model upper bound).",
                        replace(_PICKCUBE, model="oracle", model_kwargs={})),
    "pickcube-env-reward": ("Baseline: pickcube trained on the simulator's own reward (info['env_reward']; pass "
                            "the env's reward mode in --env-kwargs); the oracle reward's fidelity is still logged.",
                            replace(_PICKCUBE, model="oracle", model_kwargs={}, train_on_env_reward=True)),
    "pickcube-bench": ("The PickCube benchmark run (recipes/pickcube_benchmark.py): ManiSkill's CPU PPO recipe "
                       "with the oracle dense reward, one process, 1.5M env steps, resumable.", _PICKCUBE_BENCH),
    "pointreach": ("PPO on the built-in PointReach env with the oracle's potential-based dense reward "
                   "(high success in about 16k steps, well under a minute).", _POINTREACH),
    "pointreach-noisy": ("PointReach with the main job's noisy-oracle (MAE 0.5) potential-based dense reward.",
                         replace(_POINTREACH, model="noisy-oracle", model_kwargs={"mae": 0.5})),
    "pointreach-sim-rm": ("PointReach with our own learned reward model's potential-based dense reward, from the "
                          "checkpoint `vlmreward rm-train` writes (default ckpt/sim-rm, as in the README; "
                          "--model-kwargs path=DIR).",
                          replace(_POINTREACH, model="sim-rm", model_kwargs={"path": "ckpt/sim-rm"})),
}
DEFAULT_PRESET = "lift-sim-rm-side"
"""the main job (``vlmreward train`` with no preset): DSRL-NA steering a BC diffusion policy on Robomimic Lift with our
shipped learned reward model ``sim-rm-lift-side``; the preset and why each of its settings is what it is live in
:mod:`vlmreward_rl.recipes.dsrl`, what it measured in docs/training.md"""


def all_presets() -> dict[str, tuple[str, Any]]:
    """Every ``vlmreward train`` preset: PPO (here), DSRL (recipes/dsrl.py) and filtered BC (recipes/filtered_bc.py)."""
    from vlmreward_rl.recipes import dsrl, filtered_bc

    return {**PRESETS, **dsrl.PRESETS, **filtered_bc.PRESETS}


_DOTTED_KWARGS = re.compile(r"--(env|model|reward)-kwargs\.(.+)")


def undot_kwargs(argv: list[str], preset: Any) -> list[str]:
    """``argv`` with the older ``--model-kwargs.KEY VALUE`` (one option of the preset's changed) written as
    ``--model-kwargs`` with all of the preset's options and that one changed (likewise env and reward kwargs)."""
    changed: dict[str, dict[str, Any]] = {}
    rest, tokens = [], iter(argv)
    for token in tokens:
        match = _DOTTED_KWARGS.fullmatch(token)
        if match is None:
            rest.append(token)
            continue
        field = f"{match[1]}_kwargs"
        changed.setdefault(field, dict(getattr(preset, field)))[match[2]] = parse_value(next(tokens, ""))
    for field, kwargs in changed.items():
        rest += [f"--{field.replace('_', '-')}", *format_kwargs(kwargs)]
    return rest


def parse(argv: list[str]) -> Any:
    """The preset named first in ``argv`` (default: the main job) with the options that follow applied: the
    arguments of a registered algorithm (:mod:`vlmreward_rl.algos.registry`): PPO's, DSRL's or filtered BC's."""
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = [DEFAULT_PRESET, *argv]
    presets = all_presets()
    if argv[0] in presets:
        argv = [argv[0], *undot_kwargs(argv[1:], presets[argv[0]][1])]
    return tyro.extras.overridable_config_cli(presets, args=argv, prog="vlmreward train",
                                              description=__doc__.split("\n\n")[0])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run a preset (default: the main job) through its algorithm's record: print its summary (PPO: success and
    reward fidelity), write ``summary.json`` (PPO: and the success plot). Returns the summary."""
    return train_and_report(parse(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    main()
