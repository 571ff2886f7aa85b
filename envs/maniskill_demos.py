"""Expert and non-expert ManiSkill3 trajectories in the shared dataset format (:mod:`vlmreward_gym.data`).

    python -m vlmreward_rl.envs.maniskill_demos --env PickCube-v1 -n 10 --out DIR [--noisy 5 --random 3 --early-stop 3 --failures 3]
    vlmreward demos --env PickCube-v1 -n 100 --out DIR ...      (the core CLI dispatches here)

Kinds (the ``kind`` attribute of each trajectory):

``expert``
    ManiSkill's own motion planner (``mani_skill.examples.motionplanning.panda.solutions``).
    Every attempt is written, failed plans too (``success`` says which); ``-n`` counts attempts.
``noisy``
    The same planner with each arm joint target offset by a per-episode Gaussian random walk
    (``--noise`` rad per step), so grasps slip and placements miss; success is whatever happens.
``early_stop``
    The planner cut after a uniformly drawn 20-80 % of its own (first, unrecorded) run's length.
    The next four kinds are the failures reward models over-reward (LRM's and RoboReward's false
    successes); like ``early_stop`` they depart from a dry run of the plan at a point in it.
``near_miss``
    The planner with the gripper forced open for the last 10 % of its plan: the object is let go
    next to the goal (PickCube: under the goal point; StackCube: just above the other cube).
``drop``
    The planner with the gripper forced open half way between its first grasp and the plan's end.
``shortcut``
    The planner with the gripper forced open throughout: the hand makes the whole trip to the goal
    pose without the object.
``stop_short``
    The planner's actions after 70 % of the way from its first grasp to its end replaced by the action
    there: the arm stops short of the goal with the object and holds still.
``random``
    A random policy: arm joint targets follow a Gaussian random walk (``--noise`` x 5 rad per
    step) from the initial joint configuration, the gripper opens or closes at random; the task's
    own episode length.

All kinds use the planner's action space, ``control_mode="pd_joint_pos"``: actions are (A,) float32
absolute Panda joint targets (7 arm joints in rad, then the gripper, -1 closed .. 1 open).
Observations are ManiSkill's flat ``obs_mode="state"`` vectors, ``env_rewards`` the normalized
dense reward, ``oracle_progress``/``success`` the oracle protocol of :mod:`vlmreward_rl.envs.maniskill`.
Frames (uint8, ``--frame-size``, from ``--frame-source``) show states 0, ``stride``, 2 ``stride``, ...
and the final state. Expert plans run past the RL limit (PickCube: 49-88 steps vs 50), so demo
episodes are capped at ``--max-steps`` instead.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from vlmreward_gym.data import Trajectory, TrajectoryWriter
from vlmreward_rl.envs.maniskill import FRAME_SOURCES, make_env, task_id, task_record
from vlmreward_rl.envs.maniskill_tasks import DEMO_KINDS as KINDS, FAILURE_KINDS

CONTROL_MODE = "pd_joint_pos"
NUM_ARM_JOINTS = 7
#: Kinds that need the plan's length (and its first grasp) from a dry run before the recorded one.
PLAN_KINDS = ("early_stop", *FAILURE_KINDS)
GRIPPER_KINDS = ("near_miss", "drop", "shortcut")  # failures made by opening the gripper
GRIPPER_OPEN = 1.0  # pd_joint_pos gripper target: -1 closed .. 1 open


class _StopEpisode(Exception):
    """Raised inside a planner's step loop to end an episode early."""


class Recorder(gym.Wrapper):
    """Records every reset/step of one episode, frames at a stride, and optionally perturbs or cuts it.

    ``action_noise`` (rad): std of the per-step increment of a random-walk offset added to the
    arm joint targets. ``stop_at``: raise :class:`_StopEpisode` once this many actions were taken.
    ``open_from``: from this action on, the gripper is commanded open. ``hold_from``: from this
    action on, the action taken there is repeated whatever the planner asks.
    """

    def __init__(self, env: gym.Env, env_id: str, frame_stride: int, rng: np.random.Generator):
        super().__init__(env)
        self.env_id = env_id
        self.frame_stride = frame_stride
        self.rng = rng
        self.action_noise = 0.0
        self.stop_at: int | None = None
        self.open_from: int | None = None
        self.hold_from: int | None = None
        self.record_frames = True
        self._clear()

    def _clear(self) -> None:
        self.obs, self.actions, self.rewards, self.progress, self.success = [], [], [], [], []
        self.frames, self.frame_steps = [], []
        self._offset = np.zeros(NUM_ARM_JOINTS)

    def _observe(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        self.obs.append(np.asarray(obs, np.float32).reshape(-1))
        self.progress.append(info["oracle_progress"])
        self.success.append(info["success"])
        t = len(self.obs) - 1
        if self.record_frames and t % self.frame_stride == 0:
            self.frames.append(self.env.render())
            self.frame_steps.append(t)

    def reset(self, **kwargs):
        self._clear()
        obs, info = self.env.reset(**kwargs)
        self._observe(obs, info)
        return obs, info

    def step(self, action):
        if self.stop_at is not None and len(self.actions) >= self.stop_at:
            raise _StopEpisode
        action = np.array(action, np.float32).reshape(-1)
        if self.action_noise > 0:
            self._offset += self.rng.normal(0.0, self.action_noise, NUM_ARM_JOINTS)
            action[:NUM_ARM_JOINTS] += self._offset
        t = len(self.actions)
        if self.open_from is not None and t >= self.open_from:
            action[-1] = GRIPPER_OPEN
        action = np.clip(action, self.action_space.low, self.action_space.high).astype(np.float32)
        if self.hold_from is not None and t > self.hold_from:
            action = self.actions[self.hold_from]
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.actions.append(action)
        self.rewards.append(reward)
        self._observe(obs, info)
        return obs, reward, terminated, truncated, info

    def trajectory(self, env_id: str, instruction: str, kind: str, seed: int) -> Trajectory:
        """The recorded episode; renders the final state too if the stride skipped it."""
        T = len(self.actions)
        if self.record_frames and (not self.frame_steps or self.frame_steps[-1] != T):
            self.frames.append(self.env.render())
            self.frame_steps.append(T)
        frames = np.stack(self.frames) if self.frames else np.zeros((0, 1, 1, 3), np.uint8)
        return Trajectory(env_id=env_id, instruction=instruction, kind=kind, seed=seed,
                          obs=np.stack(self.obs), actions=np.asarray(self.actions, np.float32).reshape(T, -1),
                          env_rewards=np.asarray(self.rewards, np.float32), oracle_progress=self.progress,
                          success=self.success, frames=frames, frame_steps=self.frame_steps)


def planner_for(env_id: str) -> Callable[..., Any]:
    """ManiSkill's motion-planning solution ``solve(env, seed, debug, vis)`` for a task.

    Raises:
        ValueError: ManiSkill ships no planner for the task.
    """
    from mani_skill.examples.motionplanning.panda import solutions

    solve = getattr(solutions, "solve" + env_id.removesuffix("-v1"), None)
    if solve is None:
        raise ValueError(f"ManiSkill has no motion-planning solution for {env_id}; expert, noisy and early_stop "
                         f"demos need one (random works for every task)")
    return solve


def _run_planner(solve: Callable[..., Any], env: Recorder, seed: int) -> None:
    """Run the planner for one episode; a failed plan or an early stop just ends the episode."""
    try:
        solve(env, seed=seed, debug=False, vis=False)
    except _StopEpisode:
        pass
    except Exception as error:  # mplib raises plain exceptions when no plan exists
        if not env.obs:
            raise
        print(f"  seed {seed}: motion planning failed ({type(error).__name__}: {error})")


def _run_random(env: Recorder, seed: int, steps: int, scale: float) -> None:
    env.reset(seed=seed)
    qpos = env.unwrapped.agent.robot.get_qpos()[0, :NUM_ARM_JOINTS].cpu().numpy()
    for _ in range(steps):
        qpos = qpos + env.rng.normal(0.0, scale, NUM_ARM_JOINTS)
        gripper = env.rng.choice([-1.0, 1.0])
        env.step(np.append(qpos, gripper))


def first_grasp(actions: list[np.ndarray]) -> int | None:
    """Index of the first action that closes an open gripper (None if the plan never does)."""
    return next((i for i in range(1, len(actions)) if actions[i - 1][-1] > 0 > actions[i][-1]), None)


def record_episode(env: Recorder, kind: str, seed: int, args: argparse.Namespace) -> None:
    """Drive ``env`` through one episode of ``kind`` (results stay in the recorder)."""
    env.action_noise, env.stop_at, env.open_from, env.hold_from = 0.0, None, None, None
    env.record_frames = args.frame_stride > 0
    if kind == "random":
        _run_random(env, seed, args.random_steps, args.noise * 5)
        return
    solve = planner_for(env.env_id)
    if kind == "noisy":
        env.action_noise = args.noise
    elif kind in PLAN_KINDS:
        env.record_frames = False  # a dry run measures the plan: its length and its first grasp
        _run_planner(solve, env, seed)
        length, grasp = len(env.actions), first_grasp(env.actions)
        if grasp is None and kind in GRIPPER_KINDS:
            raise ValueError(f"the {env.env_id} plan never closes the gripper on an object, so a {kind} episode "
                             f"would be an expert one; {', '.join(GRIPPER_KINDS)} need a grasping task "
                             f"(e.g. PickCube, StackCube, LiftPegUpright)")
        if kind == "early_stop":
            env.stop_at = max(1, int(length * env.rng.uniform(0.2, 0.8)))
        elif kind == "near_miss":
            env.open_from = int(0.9 * length)
        elif kind == "drop":
            env.open_from = (grasp + length) // 2
        elif kind == "shortcut":
            env.open_from = 0
        else:  # stop_short
            start = grasp or 0
            env.hold_from = start + int(0.7 * (length - start))
        env.record_frames = args.frame_stride > 0
    _run_planner(solve, env, seed)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="vlmreward demos", description=__doc__.split("\n\n")[0])
    p.add_argument("--env", required=True, help="ManiSkill task, e.g. PickCube-v1")
    p.add_argument("-n", "--num-expert", type=int, default=10, help="expert (motion-planner) attempts")
    p.add_argument("--noisy", type=int, default=None, help="noisy-planner episodes (default n/2)")
    p.add_argument("--early-stop", type=int, default=None, help="early-stopped planner episodes (default n/4)")
    p.add_argument("--random", type=int, default=None, help="random-policy episodes (default n/4)")
    p.add_argument("--failures", type=int, default=0,
                   help="episodes of each failure kind (near_miss, drop, shortcut: grasping tasks; stop_short)")
    p.add_argument("--out", required=True, help="new dataset folder")
    p.add_argument("--seed", type=int, default=0, help="first reset seed; episode i uses seed + i")
    p.add_argument("--frame-stride", type=int, default=5, help="a frame every this many states; 0: no frames")
    p.add_argument("--frame-size", type=int, nargs="+", default=None, help="frame side, or H W (default: task's)")
    p.add_argument("--frame-source", "--camera", dest="frame_source", choices=FRAME_SOURCES, default=None,
                   help="default: the task's (--camera: the same option, as the Robomimic generator names it)")
    p.add_argument("--max-steps", type=int, default=300, help="episode cap for planner episodes")
    p.add_argument("--random-steps", type=int, default=None, help="random-policy length (default: task limit)")
    p.add_argument("--noise", type=float, default=0.004, help="random-walk std of joint-target noise, rad/step")
    p.add_argument("--instruction", default=None, help="instruction stored with every episode (default: task's)")
    args = p.parse_args(argv)
    record = task_record(args.env)
    args.frame_size = args.frame_size or [record.frame_size]
    args.frame_source = args.frame_source or record.camera
    n = args.num_expert
    args.noisy = n // 2 if args.noisy is None else args.noisy
    args.early_stop = n // 4 if args.early_stop is None else args.early_stop
    args.random = n // 4 if args.random is None else args.random
    if min(n, args.noisy, args.early_stop, args.random, args.failures) < 0 or args.frame_stride < 0:
        p.error("counts and --frame-stride must be >= 0")
    return args


def main(argv: list[str] | None = None) -> dict[str, dict[str, int]]:
    """Generate the dataset described by ``argv``; print and return per-kind counts ``{kind: {total, success}}``."""
    args = parse_args(argv)
    env_id = task_id(args.env)
    counts = {"expert": args.num_expert, "noisy": args.noisy, "early_stop": args.early_stop, "random": args.random,
              **{kind: args.failures for kind in FAILURE_KINDS}}

    if any(counts[k] for k in KINDS if k != "random"):
        planner_for(env_id)  # fail before any work
    frame_size = args.frame_size[0] if len(args.frame_size) == 1 else tuple(args.frame_size)
    render_mode = "rgb_array" if args.frame_stride > 0 else None
    base = make_env(env_id, render_mode=render_mode, frame_source=args.frame_source, frame_size=frame_size,
                    control_mode=CONTROL_MODE, max_episode_steps=args.max_steps)
    if args.random_steps is None:
        args.random_steps = int(gym.spec(env_id).max_episode_steps)
    env = Recorder(base, env_id, args.frame_stride, np.random.default_rng(args.seed))
    if args.failures:  # fail before any work: one dry run shows whether the task's plan grasps
        env.record_frames = False
        _run_planner(planner_for(env_id), env, args.seed)
        if first_grasp(env.actions) is None:
            env.close()
            raise SystemExit(f"--failures: the {env_id} plan never closes the gripper on an object, so "
                             f"{', '.join(GRIPPER_KINDS)} episodes would be expert ones; use a grasping task "
                             f"(e.g. PickCube, StackCube, LiftPegUpright)")
    instruction = args.instruction or task_record(env_id).instruction
    metadata = {"env_id": env_id, "simulator": "maniskill3", "control_mode": CONTROL_MODE, "obs_mode": "state",
                "frame_source": args.frame_source, "frame_size": list(np.atleast_1d(frame_size).tolist()),
                "frame_stride": args.frame_stride, "max_steps": args.max_steps, "noise_rad_per_step": args.noise,
                "planner": "mani_skill.examples.motionplanning.panda.solutions", "seed": args.seed}
    seed, summary = args.seed, {}
    with TrajectoryWriter(args.out, metadata) as writer:
        for kind in KINDS:
            t0, done = time.perf_counter(), 0
            for _ in range(counts[kind]):
                record_episode(env, kind, seed, args)
                if env.actions:
                    traj = env.trajectory(env_id, instruction, kind, seed)
                    writer.add(traj)
                    done += int(traj.is_success)
                seed += 1
            if counts[kind]:
                summary[kind] = {"total": counts[kind], "success": done}
                print(f"{env_id} {kind}: {done}/{counts[kind]} successful, "
                      f"{(time.perf_counter() - t0) / counts[kind]:.2f} s/episode")
    env.close()
    return summary


if __name__ == "__main__":
    main()
