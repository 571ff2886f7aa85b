"""``vlmreward train dsrl-<preset> [--option value ...]``: DSRL over a BC-pretrained diffusion policy.

    vlmreward train dsrl-pointreach            # demos -> BC (weak on purpose) -> DSRL-NA, oracle dense reward
    vlmreward train dsrl-pointreach-noisy      # the same with the noisy-oracle at MAE 0.5
    vlmreward train dsrl-lift --policy DIR     # the paper's Robomimic Lift settings (needs a GPU-sized budget)
    vlmreward train dsrl-lift-cpu --policy DIR # Lift sized for a 2-core CPU
    vlmreward train dsrl-lift-sim-rm           # dsrl-lift-cpu with our learned reward model (frames at 64 px)
    vlmreward train dsrl-can-sim-rm            # the same on Can (-oracle: its oracle twin)
    python -m vlmreward_rl.recipes.dsrl lift-study [--out runs/dsrl_lift_study] [--total-timesteps N]
                                               # demos -> weak BC -> DSRL-NA oracle and noisy-oracle -> table

A preset is an :class:`vlmreward_rl.algos.dsrl.Args`. For the PointReach, Lift and Can presets, a missing
``--policy`` folder is created first (:mod:`vlmreward_rl.recipes.inputs`): a few noisy goal-seeking (PointReach)
or scripted expert (Robomimic) demos and a short BC run, which leave the base policy well below 100 % success.
``summary.json`` in the run dir holds the success before (base policy, N(0, I) noise; ``success_before_mean``: fed
w = 0, where the actor starts) and after (the noise actor,
its noise sampled; ``success_after_mean`` with its mean noise) on the same evaluation starts, the gain, the
learned reward's fidelity (``fidelity/``), env steps and minutes; ``fidelity.png`` plots the fidelity over env steps.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tyro

from vlmreward_rl.algos import dsrl
from vlmreward_rl.algos.common.chunks import Choose, NoisePolicy, run_episodes, zero_noise
from vlmreward_rl.algos.common.logger import write_json
from vlmreward_rl.algos.dsrl import Args
from vlmreward_rl.envs.tasks import task
from vlmreward_rl.recipes.inputs import POINTREACH, ensure_policy, robomimic_inputs
from vlmreward_rl.recipes.trials import train_and_report

LIFT = task("vlmreward/Lift-v1").instruction
CAN = task("vlmreward/Can-v1").instruction

# Table 5-6 of RoboReward (Wagenmaker et al. 2025's Robomimic settings); Lift uses UTD 30.
PAPER = Args(variant="na", action_magnitude=1.5, utd=20, noise_critic_updates=10, hidden=2048, layers=3,
             batch_size=256, learning_rate=3e-4, tau=0.005, gamma=0.99, target_entropy=0.0, learning_starts=2_000,
             total_timesteps=50_000)
# Lift ends on success, so a non-negative dense reward (progress per step) would make succeeding cost the
# reward the agent could linger for; the potential-based form (relative: the change in progress) does not.
_LIFT = replace(PAPER, env_id="vlmreward/Lift-v1", policy="runs/bc/lift", model="oracle", form="dense",
                reward_kwargs={"relative": True}, instruction=LIFT, utd=30)
_CPU = dict(hidden=256, utd=2, noise_critic_updates=1, batch_size=128, learning_starts=1_000)
# Lift on a 2-core CPU: 11 minutes for the 50k env steps, two seeds side by side (docs/training.md). Each choice, why:
# * nets 3x256 (LayerNorm+Tanh as the paper), batch 128, one gradient step and one Q^W distillation step a chunk
#   (12.5k critic updates in 50k env steps), the actor and temperature at 1e-4: a round of updates (JAX, one compiled
#   call) then costs ~10 ms against a 4-step chunk of robosuite's ~17 ms, run side by side (issue 23: python -m
#   vlmreward_rl.algos.bench_dsrl --task Lift, 0.77-0.82 of the raw env's steps/s on 2 idle cores; 0.56-0.61 at UTD 2,
#   0.24 at UTD 8 with 3 Q^W steps). Measured on the same base policy, seeds and evaluation starts, two runs side by
#   side: UTD 8 (3 Q^W steps, 1e-4 / 8) 0.14 -> 0.58 and 0.14 -> 0.72 (+44, +58) in 28 minutes; UTD 2 (1e-4 / 2)
#   +48, +54 in 13; UTD 1 0.14 -> 0.62 and 0.14 -> 0.70 (+48, +56) in 10.7. More updates make the training episodes
#   succeed sooner (last 10k env steps: UTD 8 0.77 / 0.83, UTD 2 0.58 / 0.59, UTD 1 0.54 / 0.46); the evaluations at
#   50k do not tell the three apart. Batch 64 at UTD 2 (0.76-0.79 of the raw env) gained +66 and +42 with seed 2's
#   mean noise at 0.24, below w = 0: less on the worse seed. The paper's UTD 20-30 with 2048-wide nets would cost
#   ~100x the env. (An older UTD 2 preset, with the actor stepped once a chunk at 3e-5, reached +28.)
# * 2,000 warm-up env steps of the base policy (the paper's 1.5-2k).
# * a 100-step horizon (about 3x the scripted expert's 32 steps; robomimic's 400 would spend most of the budget on
#   failed episodes).
# * temperature 0.001 at the start, auto-tuned to the paper's target entropy 0 (of the squashed noise on [-1, 1]^28,
#   the authors' convention): the relative (potential-based) progress reward pays ~0.01-0.05 a chunk and at most ~1
#   an episode, while the fresh actor's noise has an entropy of ~-4 nats in that convention (noise std ~0.32; entropy
#   0 is noise std ~0.37, a pre-squash std of 0.26); at 1 (the paper's start) or 0.01 (an earlier run) the entropy term
#   swamped the reward and the actor learnt nothing (README; runs whose entropy was counted with the magnitude 1.5,
#   i.e. whose target was -28 ln 1.5 = -11.4 nats in the authors' convention).
# * the critics fitted for 1,000 steps on the warm-up data before the actor's first update, and the actor's (and
#   temperature's) learning rate 1e-4 / UTD (1e-4 at UTD 1): measured at 1e-4 when the actor stepped once per chunk,
#   a third of the critics' rate; the actor (as in the authors' code) now steps in each of the UTD gradient steps of a
#   chunk, and 1e-4 / UTD keeps its Adam movement per chunk about what was measured. With the paper's rates and an
#   untrained critic, the actor left the base policy's mode (w ~ 0, where it starts, vlmreward_rl.algos.dsrl.Actor)
#   within the first 1k steps and training success fell to 0-10 % (a 50k run: 20 % at 25k).
# * 50k env steps (the budget), 50-episode evaluations at 25k and 50k: the base policy before (noise
#   N(0, I)), after the actor with its noise sampled (the DSRL authors' protocol) and with its mean.
# * the rounds of updates in a thread beside the env (async_env, issue 23): the env steps with the actor one round
#   older, the updates per env step unchanged, a run still deterministic; measured 188 env steps/s against 112
#   sequential (python -m vlmreward_rl.algos.bench_dsrl --task Lift, 2 idle cores).
_LIFT_CPU_UTD = 1
_LIFT_CPU = replace(_LIFT, **{**_CPU, "learning_starts": 2_000, "utd": _LIFT_CPU_UTD}, env_kwargs={"horizon": 100},
                    init_temperature=1e-3, critic_warmup_updates=1_000, actor_learning_rate=1e-4 / _LIFT_CPU_UTD,
                    total_timesteps=50_000, eval_every=25_000, eval_episodes=50, log_every=1_000, async_env=True)
# Learned reward (issue 24): our own video-language reward models, shipped in the package: sim-rm-lift on Lift (the
# Lift specialist, also trained on BC policies' rollouts: held-out policy rollouts ranked with ROC-AUC 0.99, against
# 0.91 for the three-task sim-rm-robomimic), sim-rm-robomimic on Can; the agentview camera at 64 px, the size they
# were trained on; RGB frames and the instruction only, no privileged state reaches the reward. Each choice, and why:
# * the potential-based change of its per-frame progress (relative), as the oracle presets pay: Lift and Can end on
#   success, so an absolute progress reward would pay the agent for lingering short of it;
# * its success detection on (terminate_on_success at probability 0.5, one query): a detected success ends the
#   episode, so the model's successes are what the agent is paid for. The simulator still ends an episode at its own
#   success, as in the oracle presets (the task's definition, and the evaluation's; that ending tells the learner when
#   it succeeded, which lift-sim-rm-side below avoids, see there); the model's recall on Lift is low
#   (~0.3 at precision 1.0, measured offline on an early checkpoint), so most detections come with a real success and
#   a missed one changes nothing, while a false success (logged as reward/false_successes) ends an episode early at
#   the potential it reached;
# * everything else as the oracle run it is compared with (dsrl-lift-cpu: the same base policy, seeds, budget and
#   evaluation starts); a query per env step costs a 64 px render (~12 ms measured here, against ~14 ms for a Lift
#   step) plus one new frame's CNN pass and the temporal head over the clip (~2-5 ms): estimated (not run) at about
#   1.2x the oracle run's minutes, the learner's updates unchanged.
_SIM_RM_REWARD = {"relative": True, "terminate_on_success": True, "success_threshold": 0.5}
_LIFT_SIM_RM = replace(_LIFT_CPU, model="sim-rm-lift", env_kwargs={"horizon": 100, "frame_size": 64},
                       reward_kwargs=_SIM_RM_REWARD)
# Can: the same settings over the Can base policy (built on first use: 10 scripted experts, 2,000 BC steps,
# recipes/inputs.py; success 0.02-0.04 with noise N(0, I), 0.40 at w = 0), 300-step episodes (about 3x the scripted
# expert's ~110, as Lift's 100 are of its 32). The oracle twin pays the oracle's progress change with the same options,
# seeds and budget. Measured at 24k env steps with the UTD 8 learner of then (_UTD8 below; docs/training.md): neither
# gains (learned -2 / -2, oracle -2 on seed 1): training success falls to ~0 once the actor acts (its noise std ~0.3
# about w = 0), leaving the critics no success to climb, and sim-rm-robomimic's progress change has r ~ 0.02 with the
# oracle's on these rollouts. No simulator-reward twin: robosuite's shaped reward is non-negative every step while Can
# ends on success (the trap the relative form avoids).
_CAN_SIM_RM = replace(_LIFT_SIM_RM, env_id="vlmreward/Can-v1", policy="runs/bc/can", instruction=CAN,
                      model="sim-rm-robomimic",
                      env_kwargs={"horizon": 300, "frame_size": 64})
# The main job's base (issue 24; the main job itself is lift-sim-rm-side below): dsrl-lift-sim-rm sized for 20 minutes
# on a 2-core CPU, from a fresh clone. Each choice, and why:
# * DSRL, not success-filtered BC: filtered BC on this base policy lost 6 points even with the oracle as its judge
#   (docs/training.md);
# * a discount of 0.9 a chunk (dsrl-lift-cpu: the paper's 0.99), as dsrl-pointreach (see there): over 12k env steps
#   the oracle twin went 0.22 -> 0.52 and 0.10 -> 0.46 (seeds 0 and 1, base policy with N(0, I); w = 0: 0.44) where
#   with 0.99 it went 0.18 -> 0.12 (before the cube-size fix) and 0.10 -> 0.18. With sim-rm-lift the runs did not
#   gain with either discount (0.99: 0.24 -> 0.22, 0.10 -> 0.08; 0.9: 0.22 -> 0.02, 0.10 -> 0.12), which is why the
#   main job reads the side model instead (docs/training.md has the table);
# * 12,000 env steps: the learner runs ~19 env steps/s on 2 idle cores, ~12-16 beside other jobs (its rounds, not the
#   env, are the bottleneck: the renders and reward-model queries happen in the env thread beside it), and the four
#   50-episode evaluations (base policy with N(0, I) and with w = 0, the actor sampled and its mean; in the bare
#   simulator, ~1 minute each) and the base policy's build (~10 s) take the rest: 12.9 minutes in all for the main
#   job from a fresh clone on 2 idle cores, which leaves room for a slower or busier machine;
# * evaluations at the end only (the training episodes' success, logged every 1,000 steps, is the curve);
# * the learner dsrl-lift-cpu had when this job was measured: UTD 8, 3 Q^W steps a chunk, the actor at 1e-4 / 8
#   (_UTD8). With UTD 2 (a faster learner, issue 23) three times the env steps fit the same minutes, and still do not
#   gain: 36k env steps, seeds 1 and 2, 0.14 -> 0.18 and 0.14 -> 0.08 (+18 at 24k on seed 2, then lost), 35 and 47
#   false successes paid, 17.4 minutes each two at a time (docs/training.md).
_UTD8 = dict(utd=8, noise_critic_updates=3, actor_learning_rate=1e-4 / 8)
_MAIN_JOB = replace(_LIFT_SIM_RM, total_timesteps=12_000, eval_every=0, gamma=0.9, **_UTD8)
# The main job (`vlmreward train` with no preset, recipes/train.py DEFAULT_PRESET; issue 24): sim-rm-lift-side, the
# same recipe as sim-rm-lift rendered from our lift_side camera (envs/robomimic.py), where a lifted cube shows a gap
# under it. Streamed over held-out policy rollouts as this reward asks (each prefix of the episode), sim-rm-lift paid
# a real success's frame a progress of 0.15-0.46 (so succeeding earned the agent little) and never called it
# (probabilities 0.02-0.13).
# * Nothing ends a training episode but its 100 steps: not the simulator's success (terminate_on_success=False; the
#   evaluations still end there, algos/common/envs.py TRAINING_ONLY_ENV_KWARGS) and not the model's detection. An
#   ending pays the potential reached (the shaped return telescopes to gamma^T P_T - P_0): the simulator's success
#   ending episodes tells the learner when it succeeded, a bit of privileged state the oracle twin may use and a
#   learned-reward run should not; and the model's detections, ending episodes, are paid when false.
#   Measured, seed 0, 12k env steps: with the model ending episodes at probability 0.9, 26 of 34 detections in
#   training were false (precision 0.24) and the actor's success went 0.22 -> 0.36 (mean noise 0.28; base at w = 0:
#   0.44); with nothing ending them (this preset) 0.22 -> 0.24 (mean 0.28): one seed each, within the noise of 50
#   episodes, so the choice rests on what each pays for, not on these numbers. A first try with both endings (model
#   at 0.5) was stopped at 8k, its training episodes at 0-17 % success, 7 of 7 detections false.
_MAIN_JOB_SIDE = replace(_MAIN_JOB, model="sim-rm-lift-side",
                         env_kwargs={"horizon": 100, "frame_size": 64, "camera": "lift_side",
                                     "terminate_on_success": False},
                         reward_kwargs={"relative": True})
# The main job's alternative that follows the oracle's working recipe (issue 24): dsrl-lift-cpu's learner and budget
# (UTD 1, gamma 0.99, 50k env steps; the oracle gains +48 / +56 with it) read by sim-rm-lift-side, the model's
# detected success (probability >= 0.5) ending training episodes as the simulator's does for the oracle, the
# simulator's success not. Measured (seeds 1 and 2, two side by side, stopped at 35k env steps): 0.14 -> 0.10 and
# 0.14 -> 0.04 at 25k, training success 0-0.3 a window throughout, 27 and 23 false successes paid (precision 0.48 /
# 0.57): an ending at a detection pays the potential reached there, so the actor learns to be detected, and it is,
# falsely, ever more often. At a 0.9 threshold (--reward-kwargs relative=true terminate_on_success=true
# success_threshold=0.9, the full 50k): 7 and 18 false successes (precision 0.89 / 0.85), and 0.14 -> 0.10 and
# 0.14 -> 0.30 (-4, +16). Not the main job; kept for the record (docs/training.md).
_MAIN_JOB_DETECT = replace(_LIFT_CPU, model=_MAIN_JOB_SIDE.model, env_kwargs=dict(_MAIN_JOB_SIDE.env_kwargs),
                           reward_kwargs=_SIM_RM_REWARD)
# PointReach: a discount of 0.9 a chunk and the temperature starting at 0.001, where the paper's settings (0.99, 1.0)
# are used elsewhere. Measured (`vlmreward train dsrl-pointreach --seed S`, oracle, 6k env steps, 30 evaluation
# episodes, the actor's noise sampled; base policy 0.30-0.37 with N(0, I), 0.27-0.30 at w = 0), seeds 0-3: with 0.9 and
# 0.001 the runs ended at 0.43, 0.60, 0.77, 0.67; with 0.99 and 0.001 at 0.07, 0.17, 0.27, 0.07; with 0.99 and 1.0
# (seed 0) at 0.13: the entropy bonus, at a temperature of 0.5-0.9 all run long, swamped a potential-based reward
# worth at most 1 an episode. Why 0.99 fails here: the potential-based reward's advantages are those of the sparse
# task (gamma * P(s') - P(s) telescopes), so with a horizon of ~100 chunks (1 / (1 - gamma)) a chunk's own progress
# hardly moves Q next to the state's potential; critics fitted offline on 6k base-policy steps ranked a state's
# candidate chunks uncorrelated with the progress they make (r ~ 0).
_POINTREACH = replace(PAPER, env_id="vlmreward/PointReach-v0", policy="runs/bc/pointreach", model="oracle",
                      form="dense", reward_kwargs={"relative": True}, instruction=POINTREACH,
                      total_timesteps=6_000, eval_every=1_000, eval_episodes=30, log_every=500, **_CPU,
                      gamma=0.9, init_temperature=1e-3)

PRESETS: dict[str, tuple[str, Args]] = {
    "dsrl-lift": ("DSRL-NA on Robomimic Lift with the paper's settings (2048-wide nets, UTD 30), oracle dense "
                  "reward; 50k env steps.", _LIFT),
    "dsrl-lift-cpu": ("DSRL-NA on Lift sized for a 2-core CPU (256-wide nets, UTD 1, 100-step episodes, 50k env "
                      "steps, temperature 0.001 auto-tuned; ~11 minutes).", _LIFT_CPU),
    "dsrl-lift-sac": ("DSRL-SAC on Lift with the paper's settings.", replace(_LIFT, variant="sac")),
    "dsrl-lift-sim-rm": ("dsrl-lift-cpu with our learned reward model sim-rm-lift (agentview frames at 64 px): "
                         "its progress change, its detected success ending episodes; the base policy built on first "
                         "use (5 scripted demos, short BC).", _LIFT_SIM_RM),
    "dsrl-can-sim-rm": ("dsrl-lift-sim-rm on Robomimic Can with sim-rm-robomimic (300-step episodes; base policy "
                        "built on first use: 10 "
                        "scripted demos, short BC).", _CAN_SIM_RM),
    "dsrl-can-sim-rm-oracle": ("dsrl-can-sim-rm with the oracle's progress change (same options, seeds, budget): the "
                               "learned reward's upper bound.", replace(_CAN_SIM_RM, model="oracle")),
    "lift-sim-rm": ("The main job read by sim-rm-lift (agentview frames, where the gripper hides a lifted cube; "
                    "episodes end at the simulator's success or the model's detection).", _MAIN_JOB),
    "lift-sim-rm-side": ("The main job: DSRL-NA on Robomimic Lift steering a BC diffusion policy (built on first use) "
                         "with our learned reward model sim-rm-lift-side (64 px frames from the lift_side camera and "
                         "the instruction only), 12k env steps, about 13 minutes on 2 idle CPU cores.", _MAIN_JOB_SIDE),
    "lift-sim-rm-oracle": ("The main job with the oracle's progress change (same seeds, budget and evaluation "
                           "starts): the learned reward's upper bound.", replace(_MAIN_JOB, model="oracle",
                                                                                 env_kwargs={"horizon": 100},
                                                                                 reward_kwargs={"relative": True})),
    "lift-env-reward": ("The main job learning the simulator's own reward (robosuite's staged shaped reward, in [0, 1] "
                        "a step; the oracle's progress still logged for fidelity), same seeds, budget, episodes and "
                        "evaluation starts: the baseline the learned reward is compared with.",
                        replace(_MAIN_JOB_SIDE, model="oracle", env_kwargs={"horizon": 100,
                                                                            "terminate_on_success": False},
                                train_on_env_reward=True)),
    "lift-sim-rm-side-detect": ("dsrl-lift-cpu read by sim-rm-lift-side, the model's detected success ending training "
                                "episodes (measured: it learns to be detected, falsely; not the main job).",
                                _MAIN_JOB_DETECT),
    "dsrl-pointreach": ("DSRL-NA on PointReach over a weak BC policy, oracle potential-based dense reward "
                        "(a few minutes on a CPU).", _POINTREACH),
    "dsrl-pointreach-noisy": ("dsrl-pointreach with the noisy-oracle at MAE 0.5.",
                              replace(_POINTREACH, model="noisy-oracle", model_kwargs={"mae": 0.5})),
    "dsrl-pointreach-sac": ("dsrl-pointreach with DSRL-SAC.", replace(_POINTREACH, variant="sac")),
}


@dataclass(frozen=True)
class LiftStudyArgs:
    """The CPU Lift study: a few scripted expert demos, a short BC run (a weak base policy), its success
    with noise N(0, I) and with w = 0 (:func:`zero_noise_success`), then the ``dsrl-lift-cpu`` preset
    with each reward model, same seed and budget, the runs side by side on ``workers`` processes; a
    results table."""

    out: str = "runs/dsrl_lift_study"
    """demos, base policy, runs and results.md / results.csv go under this folder"""
    demos: int = 5
    """scripted expert Lift demos (reset seeds 0 .. demos-1) the base policy clones"""
    non_expert: int = 0
    """scripted *noisy* Lift demos (expert actions plus N(0, 0.5^2) noise; they mostly fail) cloned with the
    experts: a multimodal base policy whose noise space holds both a good and a bad mode"""
    bc_steps: int = 1_000
    """BC gradient steps (short on purpose: the base policy stays well below 100 % success)"""
    models: tuple[str, ...] = ("oracle", "noisy-oracle")
    """reward models, one DSRL-NA run each; noisy-oracle runs at ``mae``"""
    mae: float = 0.5
    seed: int = 1
    total_timesteps: int | None = None
    """env steps per DSRL run (default: the dsrl-lift-cpu preset's)"""
    workers: int = 0
    """runs at once, one process (and one torch thread) each; 0: one per model, at most one per CPU core"""


def ensure_lift_policy(out: str | Path, demos: int = 5, bc_steps: int = 1_000, non_expert: int = 0) -> Path:
    """The weak Lift base policy under ``out``: ``demos`` scripted expert demos (state only), plus
    ``non_expert`` noisy ones when asked, in ``out/demos``, and a short BC run on all of them in ``out/bc``
    (:func:`~vlmreward_rl.recipes.inputs.robomimic_inputs`); each step is skipped when its output exists."""
    out = Path(out)
    return ensure_policy("vlmreward/Lift-v1", out / "bc", out / "demos",
                         robomimic_inputs("Lift", demos, non_expert, bc_steps))


def success_with_noise(args: Args, policy: NoisePolicy, choose: Choose | None) -> float:
    """Success rate of ``policy`` fed the noise ``choose(envs, obs)`` (None: N(0, I), unclipped) on the
    evaluation episodes of ``args`` (``eval_episodes``, reset seeds from ``10_000 + seed``, as before/after)."""
    runner = dsrl.make_eval_runner(args, policy)
    summary = run_episodes(runner, choose, args.eval_episodes, seed=10_000 + args.seed)
    runner.close()
    return summary["charts/success_rate"]


def base_success(args: Args, policy: NoisePolicy) -> float:
    """The base policy as it is (noise ~ N(0, I)): what ``train`` logs as ``base/``."""
    return success_with_noise(args, policy, None)


def zero_noise_success(args: Args, policy: NoisePolicy) -> float:
    """The base policy fed the noise w = 0 (the deterministic DDIM "mode").

    This is where DSRL's noise actor starts (its mean is ~0 and its spread small before training), so a
    gain over the N(0, I) base policy up to this number needs no learning from the reward at all."""
    return success_with_noise(args, policy, zero_noise(policy.noise_shape))


def _train_and_summarize(args: Args) -> dict[str, Any]:
    """One study run (in a worker process when the study runs several at once): train, write summary.json."""
    summary = dsrl.summarize(args, dsrl.train(args))
    write_json(args.run_path / "summary.json", summary)
    return summary


def lift_study(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the study end to end and write ``<out>/results.md`` and ``results.csv``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from vlmreward_rl.recipes.report import write_table

    study = tyro.cli(LiftStudyArgs, args=argv)
    out = Path(study.out)
    policy_dir = ensure_lift_policy(out, study.demos, study.bc_steps, study.non_expert)
    base = replace(PRESETS["dsrl-lift-cpu"][1], seed=study.seed)
    workers = study.workers or min(len(study.models), os.cpu_count() or 1)
    # The base policy's success does not depend on the reward model: measured once, here, for every run.
    policy = dsrl.load_policy(policy_dir)
    before, zero = base_success(base, policy), zero_noise_success(base, policy)
    runs = [replace(base, policy=str(policy_dir), model=model, run_dir=str(out / "runs"), eval_base=False,
                    model_kwargs={"mae": study.mae} if model == "noisy-oracle" else {},
                    total_timesteps=study.total_timesteps or base.total_timesteps, progress_bar=workers == 1)
            for model in study.models]
    if workers == 1:
        summaries = [_train_and_summarize(args) for args in runs]
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            summaries = list(pool.map(_train_and_summarize, runs))
    rows: list[dict[str, Any]] = []
    for args, summary in zip(runs, summaries):
        summary.update(success_before=before, success_zero_noise=zero)
        write_json(args.run_path / "summary.json", summary)
        rows.append({"reward": args.model + (f" (MAE {study.mae})" if args.model == "noisy-oracle" else ""),
                     "success_before": before, "success_zero_noise": zero,
                     "success_after": summary["success_after"], "success_after_mean": summary["success_after_mean"],
                     "gain_points": round(100 * (summary["success_after"] - before), 1),
                     "env_steps": summary["env_steps"], "minutes": summary["minutes"]})
    demos = f"{study.demos} scripted expert" + (f" + {study.non_expert} noisy" if study.non_expert else "")
    title = (f"DSRL-NA (dsrl-lift-cpu) on Lift over a BC diffusion policy from {demos} demos "
             f"({study.bc_steps} BC steps); success of {base.eval_episodes} episodes, seed {study.seed}: before = "
             f"noise N(0, I), after = noise sampled from the actor (after_mean: its mean)")
    table, _ = write_table(out, "results", title, list(rows[0]),
                           [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in r.values()] for r in rows], rows)
    print(table.read_text())
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["lift-study"]:
        return lift_study(argv[1:])
    return train_and_report(tyro.extras.overridable_config_cli(PRESETS, args=argv))


if __name__ == "__main__":
    main()
