"""Success-filtered behaviour cloning: a BC policy improves on those of its own rollouts that a
reward model judges complete (LRM's trajectory filtering, Table VII, with any registered model).

    python -m vlmreward_rl.algos.filtered_bc --demos DIR --kinds noisy --env-id vlmreward/PointReach-v0 --model oracle \
        --instruction "move the red dot onto the green dot" --rounds 3 --rollouts 50

Round k = 1..K:

1. roll the current diffusion policy (:mod:`vlmreward_rl.algos.diffusion_policy`, noise ~ N(0, I), chunks executed
   in full) out ``rollouts`` times in the learned-reward env, reset seeds ``seed * 100_000 + k * 1_000 + i``;
2. judge each episode's end (``judge``). ``score`` (``form="episodic"``): the model's score of the whole
   clip on the unit scale (0 the lowest score, 1 the top: 5 on RoboReward's 1-5 rubric, 1 for
   ``lrm-completion``); ``success`` (``form="dense"``): the model's success probability, asked once, at the
   episode's last step; ``progress`` (``form="dense"``): its progress at the last step, asked the same way.
   Keep the episodes judged ``>= threshold`` (default 0.875: a 1-5 score that rounds to 5);
3. retrain the policy from scratch on the demos plus every episode kept so far.

The filter is the model's success call: it is scored against the simulator's success at the episode's end
(precision: kept episodes that succeeded; recall: successes that were kept; false successes paid: kept
episodes that failed, each cloned as if it were a demonstration) with the shared fidelity counts
(:class:`~vlmreward_rl.algos.common.fidelity.SuccessCounts`, logged per round under ``reward/`` as the other
algorithms log theirs, with the judgement's Pearson r with the episode's final oracle progress as
``reward/progress_pearson``). The success rate before (the policy cloned from the demos) and after the
rounds (every ``eval_every`` rounds, and after the last) is measured on ``eval_episodes`` other starts
(reset seeds from 1_000_000, the same base noise each time) in the bare simulator, so no reward-model call is
spent on evaluation.

Writes ``<run_dir>/<env>__filtered-bc__<model>-<form>__s<seed>/``: ``policy_<k>/`` (the policy after
round k; ``policy_0`` the start), ``round_<k>_kept/`` (the kept episodes, :mod:`vlmreward_gym.data` format,
kind ``filtered``), ``metrics.jsonl`` / TensorBoard (``filter/``, ``reward/``, ``charts/``, ``eval/``) and
``summary.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import tyro
from tqdm.auto import tqdm

from vlmreward_rl.algos.common.chunks import ChunkRunner, NoisePolicy, base_noise
from vlmreward_rl.algos.common.envs import RewardEnvArgs, make_vector_env
from vlmreward_rl.algos.common.fidelity import SuccessCounts, run_fidelity
from vlmreward_rl.algos.common.logger import RunLogger, write_json
from vlmreward_rl.algos.common.metrics import pearson, run_name
from vlmreward_rl.algos.common.records import Algorithm, Inputs
from vlmreward_rl.algos.common.summaries import fidelity_line, gain_points, success_line
from vlmreward_rl.algos.diffusion_policy import BCTraining, DiffusionPolicy
from vlmreward_gym.data import Trajectory, TrajectoryRecorder, load_trajectories, write_trajectories
from vlmreward_gym.models.base import RewardModel

JUDGED_FORMS = ("episodic", "dense")
JUDGES = {"score": "episodic", "success": "dense", "progress": "dense"}
"""what an episode is judged by -> the form that asks the model for it"""
EVAL_SEED = 1_000_000


@dataclass(frozen=True)
class Args(RewardEnvArgs):
    demos: str = ""
    """the BC demonstrations (vlmreward_gym.data folder)"""
    kinds: tuple[str, ...] = ("expert",)
    """trajectory kinds of the demos to clone"""
    policy: str | None = None
    """start from this trained diffusion policy instead of cloning the demos first"""
    form: str = "episodic"
    """how the model is asked about an episode: episodic (its episode score) | dense (at the episode's last step)"""
    judge: str = "auto"
    """what an episode is judged by: score (episodic form: the unit-scale episode score) | success (dense form: the
    success probability at the end) | progress (dense form: the progress at the end) | auto (the form's: score
    for episodic, success for dense)"""
    threshold: float = 0.875
    """keep an episode judged at least this (unit-scale score, success probability or progress)"""
    rounds: int = 3
    """K: filter-and-retrain rounds"""
    rollouts: int = 50
    """N: episodes rolled out per round"""
    num_envs: int = 8
    """envs stepped together: one batched reward-model call per env step, one batched policy call per chunk"""
    eval_episodes: int = 50
    eval_every: int = 1
    """rounds between evaluations (0: only before the first round and after the last, which is always evaluated)"""
    bc: BCTraining = field(default_factory=lambda: BCTraining(steps=2_000))
    """architecture and training of the cloned policy (every round retrains from scratch)"""
    seed: int = 0
    run_dir: str = "runs"
    tensorboard: bool = True
    progress_bar: bool = True
    """a bar over the run's episodes (evaluations and rollouts, with an ETA) and each BC fit's steps"""
    torch_threads: int = 1

    @property
    def run_name(self) -> str:
        return run_name(self.env_id, "filtered-bc", self.model, self.form, self.seed, self.model_kwargs,
                        self.reward_kwargs)

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir) / self.run_name

    @property
    def judged_by(self) -> str:
        """``judge`` resolved (:func:`resolve_judge`)."""
        return resolve_judge(self.form, self.judge)


def resolve_judge(form: str, judge: str) -> str:
    """What an episode is judged by (:data:`JUDGES`): ``judge``, or with ``auto`` the form's (score for episodic,
    success for dense); a judge the form cannot ask for raises."""
    if form not in JUDGED_FORMS:
        raise ValueError(f"filtered BC judges with form {JUDGED_FORMS}, got {form!r}")
    resolved = {"episodic": "score", "dense": "success"}[form] if judge == "auto" else judge
    if JUDGES.get(resolved) != form:
        raise ValueError(f"judge {judge!r} needs the form {JUDGES.get(resolved, '?')!r} (judges: "
                         f"{', '.join(f'{j} ({f})' for j, f in JUDGES.items())}, or auto), got form {form!r}")
    return resolved


@dataclass
class Episode:
    """One rollout: its trajectory and the model's judgement of its end (NaN when not judged)."""

    trajectory: Trajectory
    judgement: float


def filter_report(kept: Sequence[bool], success: Sequence[bool]) -> SuccessCounts:
    """Score the kept flags (the model's success calls) against the simulator's successes: rollouts
    (``episodes``), ``successes``, kept (``detected``), kept successes (``hits``), precision / recall (NaN when
    undefined) and the false successes paid."""
    return SuccessCounts.of(kept, success)


def judge_fn(form: str, judge: str = "auto") -> Callable[[float, dict[str, Any]], float]:
    """The judgement of an episode from its last step's (chunk-summed) reward and info (``judge`` as
    :attr:`Args.judge`, checked against ``form``)."""
    judge = resolve_judge(form, judge)
    if judge == "score":  # the reward is 0 before the last step, so the chunk's sum is the score
        return lambda reward, info: float(reward)
    key = "success_prob" if judge == "success" else "progress"
    return lambda reward, info: float(info["reward_model"][key])


def judge_reward_kwargs(args: Args) -> dict[str, Any]:
    """The form options that make the learned-reward env judge an episode once, at its end."""
    if args.reward_kwargs.get("scoring", "sync") != "sync":
        raise ValueError("filtered BC judges each episode as it ends: reward_kwargs scoring must be 'sync'")
    judge = args.judged_by
    if judge == "score":
        return {**args.reward_kwargs, "scale": "unit"}
    # one query, at the episode's end; detection at the last step ends nothing early
    kwargs = {**args.reward_kwargs, "every": None, "fill": "zero", "terminate_on_success": True}
    return {**kwargs, "success_threshold": args.threshold} if judge == "success" else kwargs


def rollout(policy: NoisePolicy, runner: ChunkRunner, episodes: int, seeds: Sequence[int],
            generator: torch.Generator, judge: Callable[[float, dict[str, Any]], float] | None = None,
            instruction: str = "", env_id: str = "", on_episode: Callable[[], Any] | None = None) -> list[Episode]:
    """Roll ``policy`` (noise ~ N(0, I) from ``generator``) out for ``episodes`` episodes from reset seeds
    ``seeds`` over the sub-envs of ``runner`` (each recording its episode, :class:`TrajectoryRecorder`), all
    stepped together: one batched decode for the chunks that start together and one reward-model call per
    env step. Returns the episodes in seed order; ``on_episode()`` is called as each ends (a progress bar). A
    sub-env left without an episode to run runs a throwaway one (seed None, never recorded) until the last real
    episode ends, since a vector env steps all its sub-envs."""
    if len(seeds) != episodes:
        raise ValueError(f"need one reset seed per episode, got {len(seeds)} for {episodes}")
    runner.policy = policy
    n = runner.num_envs
    out: list[Episode | None] = [None] * episodes
    running = np.full(n, -1)  # the episode each sub-env runs (-1: a throwaway one)
    started = min(n, episodes)
    running[:started] = np.arange(started)
    runner.reset(seed=[int(seeds[i]) if i < started else None for i in range(n)])
    choose = base_noise(runner.noise_shape, generator)
    sub_envs = runner.envs.unwrapped.envs
    while (running >= 0).any():
        restart, restart_seeds = np.zeros(n, bool), [None] * n
        for chunk in runner.step(choose):
            if not chunk.ended:
                continue
            i = chunk.env
            if running[i] >= 0:
                traj = sub_envs[i].trajectory(env_id, instruction, "filtered")
                out[running[i]] = Episode(traj, judge(chunk.reward, chunk.info) if judge else float("nan"))
                if on_episode is not None:
                    on_episode()
            restart[i], running[i] = True, started if started < episodes else -1
            if started < episodes:
                restart_seeds[i], started = int(seeds[started]), started + 1
        if restart.any() and (running >= 0).any():
            runner.reset(seed=restart_seeds, mask=restart)
    return out  # type: ignore[return-value]


def success_rate(episodes: Sequence[Episode]) -> float:
    return float(np.mean([e.trajectory.is_success for e in episodes])) if episodes else float("nan")


@dataclass
class TrainResult:
    run_path: Path
    rounds: list[dict[str, float]]
    success_before: float
    success_after: float
    precision: float
    """the filter's precision over all rounds' rollouts"""
    recall: float
    seconds: float
    policy: DiffusionPolicy
    fidelity: dict[str, float] = field(default_factory=dict)
    """the filter's success calls over all rounds and the judgement's mean Pearson r with final oracle progress
    (:func:`~vlmreward_rl.algos.common.fidelity.run_fidelity`, ``fidelity/`` keys)"""
    eval_episodes: int = 0

    def summary(self) -> dict[str, Any]:
        return {"success_before": self.success_before, "success_after": self.success_after,
                "gain_points": gain_points(self.success_before, self.success_after),
                "eval_episodes": self.eval_episodes, "precision": self.precision, "recall": self.recall,
                **self.fidelity, "seconds": round(self.seconds, 1), "rounds": self.rounds}


def round_metrics(episodes: Sequence[Episode], counts: SuccessCounts) -> dict[str, float]:
    """One round's rollouts as every algorithm logs its reward's fidelity (``reward/`` tags: the filter's success
    calls, ``counts`` from :func:`filter_report`; the mean judgement; its Pearson r with the episodes' final oracle
    progress) and the simulator's success of the rollouts (``charts/success_rate``)."""
    judgements = np.array([e.judgement for e in episodes], np.float64)
    final_progress = np.array([e.trajectory.oracle_progress[-1] for e in episodes], np.float64)
    return {**counts.metrics(), "charts/success_rate": counts.success_rate,
            "reward/mean": float(judgements.mean()) if len(episodes) else float("nan"),
            "reward/progress_pearson": pearson(judgements, final_progress)}


def make_runner(args: Args, policy: NoisePolicy, model: RewardModel | None) -> ChunkRunner:
    """``num_envs`` envs that record their episodes, under a :class:`ChunkRunner`: learned-reward ones set up to
    judge each episode at its end (``model``: the run's reward model, shared) or, with None, the bare simulator
    the evaluations run in (without training-only env options, ``RewardEnvArgs.evaluation_env_kwargs``)."""
    envs = make_vector_env(args.env_id, args.num_envs, model=model, form=args.form, instruction=args.instruction,
                           reward_kwargs=judge_reward_kwargs(args) if model is not None else None,
                           env_kwargs=args.env_kwargs if model is not None else args.evaluation_env_kwargs,
                           autoreset_mode="disabled", wrappers=[TrajectoryRecorder])
    return ChunkRunner(envs, policy)


def train(args: Args) -> TrainResult:
    """Run K filter-and-retrain rounds as configured. Returns the per-round metrics and the final policy."""
    if not args.demos:
        raise ValueError("filtered BC needs --demos (the BC data the kept rollouts are added to)")
    judge = judge_fn(args.form, args.judge)
    torch.set_num_threads(args.torch_threads)
    torch.manual_seed(args.seed)
    start_time = time.time()
    demos = load_trajectories(args.demos, args.kinds)
    if not demos:
        raise ValueError(f"no trajectories of kinds {list(args.kinds)} in {args.demos}")
    run_path = args.run_path
    run_path.mkdir(parents=True, exist_ok=True)
    bc_bar = "BC" if args.progress_bar else None
    policy = DiffusionPolicy.load(args.policy) if args.policy else args.bc.fit(demos, seed=args.seed,
                                                                               progress=bc_bar)[0]
    policy.save(run_path / "policy_0")
    reward_model = args.reward_model()  # built once, shared by the run's envs
    envs, eval_envs = make_runner(args, policy, reward_model), make_runner(args, policy, None)
    generator = torch.Generator().manual_seed(args.seed)
    logger = RunLogger(run_path, asdict(args), args.tensorboard)
    eval_seeds = EVAL_SEED + np.arange(args.eval_episodes)
    evaluated = [k for k in range(1, args.rounds + 1)
                 if k == args.rounds or (args.eval_every and k % args.eval_every == 0)]
    bar = tqdm(total=args.eval_episodes * (1 + len(evaluated)) + args.rounds * args.rollouts, unit="episode",
               desc=args.run_name, disable=not args.progress_bar)

    def evaluate() -> float:  # the same starts and base noise every time: an unchanged policy scores the same
        bar.set_postfix_str("evaluating")
        noise = torch.Generator().manual_seed(EVAL_SEED + args.seed)
        return success_rate(rollout(policy, eval_envs, args.eval_episodes, eval_seeds, noise, on_episode=bar.update))

    success_before = evaluate()
    logger.log({"eval/success_rate": success_before}, 0)
    data, rounds, overall, env_steps = list(demos), [], SuccessCounts(), 0
    for k in range(1, args.rounds + 1):
        bar.set_postfix_str(f"round {k}: rollouts")
        seeds = args.seed * 100_000 + k * 1_000 + np.arange(args.rollouts)
        episodes = rollout(policy, envs, args.rollouts, seeds, generator, judge, args.instruction, args.env_id,
                           on_episode=bar.update)
        env_steps += sum(e.trajectory.num_steps for e in episodes)
        kept = [e.judgement >= args.threshold for e in episodes]
        success = [e.trajectory.is_success for e in episodes]
        report = filter_report(kept, success)
        overall += report
        chosen = [e.trajectory for e, keep in zip(episodes, kept) if keep]
        if chosen:
            write_trajectories(run_path / f"round_{k}_kept", chosen, {"env_id": args.env_id, "round": k})
            data += chosen
            bar.set_postfix_str(f"round {k}: BC on {len(data)} trajectories")
            policy = args.bc.fit(data, seed=args.seed + k, progress=bc_bar)[0]
        policy.save(run_path / f"policy_{k}")
        row = {"round": k, "rollouts": report.episodes, "rollout_success": report.success_rate, "kept": report.detected,
               "kept_successes": report.hits, "false_successes": report.false_successes,
               "precision": report.precision, "recall": report.recall, "bc_trajectories": len(data),
               "eval_success": evaluate() if k in evaluated else float("nan")}
        rounds.append(row)
        logger.log({**round_metrics(episodes, report), "filter/kept": report.detected,
                    "filter/precision": report.precision, "filter/recall": report.recall,
                    "filter/bc_trajectories": len(data), "eval/success_rate": row["eval_success"]}, env_steps)
        tqdm.write(json.dumps(row))
    bar.close()
    envs.close()
    eval_envs.close()
    reward_model.close()
    logger.close()
    result = TrainResult(run_path, rounds, success_before, rounds[-1]["eval_success"] if rounds else success_before,
                         overall.precision, overall.recall, time.time() - start_time, policy,
                         run_fidelity(logger.history), args.eval_episodes)
    write_json(run_path / "summary.json", result.summary())
    return result


def summarize(args: Args, result: TrainResult) -> dict[str, Any]:
    """The run's ``summary.json`` (:meth:`TrainResult.summary`, which :func:`train` writes too)."""
    return result.summary()


def outcome(args: Args, result: TrainResult) -> dict[str, Any]:
    """A trial's metrics: the summary, and the success after the last round."""
    summary = result.summary()
    return {**summary, "success": summary["success_after"]}


def report(summary: dict[str, Any]) -> str:
    """What ``vlmreward train`` prints at the end: the simulator's success of the base policy and the last round's
    on the same evaluation starts, the gain, and the filter's fidelity as the learned reward's."""
    rounds = summary["rounds"]
    kept = sum(r["kept"] for r in rounds)
    return "\n".join([
        f"filtered BC: {len(rounds)} round(s), {sum(r['rollouts'] for r in rounds)} rollouts judged, {kept} kept; "
        f"{summary['seconds'] / 60:.1f} min",
        success_line(summary["success_before"], summary["success_after"], summary["eval_episodes"],
                     f"after round {len(rounds)}"),
        fidelity_line(summary, "progress_pearson", what="the filter's calls on the rollouts; r of the judgement")])


ALGORITHM = Algorithm("filtered-bc", Args, train, summarize, outcome, title=lambda args: "filtered BC",
                      report=report, curves={"rollouts (noise N(0, I))": "charts/success_rate",
                                             "evaluation (same starts)": "eval/success_rate"},
                      inputs=lambda args: Inputs(demos=args.demos, policy=args.policy))


def main(argv: list[str] | None = None) -> TrainResult:
    result = train(tyro.cli(Args, args=argv))
    print(ALGORITHM.report(result.summary()))
    return result


if __name__ == "__main__":
    main()
