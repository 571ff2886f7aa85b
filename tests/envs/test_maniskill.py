"""ManiSkill3 on the CPU: every listed task resets, steps and renders; oracle progress follows demos.

Cost: the first rendered frame in a process compiles shaders (10-40 s here), so envs are shared
through module-scoped fixtures and only the tests below render.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("mani_skill", reason="needs the maniskill extra: bash scripts/install_maniskill.sh .venv")

from vlmreward_gym.data import load_trajectories, read_metadata  # noqa: E402
from vlmreward_rl.envs.maniskill import MANISKILL_TASKS, make_env, make_vector_env, task_id  # noqa: E402
from vlmreward_rl.envs.maniskill_demos import (FAILURE_KINDS, Recorder, first_grasp, main as demos_main, parse_args,  # noqa: E402
                                  planner_for, record_episode)
from vlmreward_rl.envs.tasks import task as task_record  # noqa: E402

pytestmark = pytest.mark.maniskill

FRAME_HW = (72, 96)  # non-square, to catch a swapped H/W
DEMO_TASKS = ("PickCube", "PushCube", "PullCube", "StackCube", "LiftPegUpright")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def envs_by_task():
    """One rgb_array env per listed task, created on first use and shared by the module."""
    made: dict[str, gym.Env] = {}

    def get(task: str) -> gym.Env:
        if task not in made:
            made[task] = make_env(task, render_mode="rgb_array", frame_size=FRAME_HW)
        return made[task]

    yield get
    for env in made.values():
        env.close()


@pytest.fixture(scope="module")
def planner_envs():
    """Recorders around pd_joint_pos envs (the planners' action space), one per demo task, no frames."""
    made: dict[str, Recorder] = {}

    def get(task: str) -> Recorder:
        if task not in made:
            env = make_env(task, control_mode="pd_joint_pos", max_episode_steps=300)
            made[task] = Recorder(env, task_id(task), frame_stride=0, rng=np.random.default_rng(0))
        return made[task]

    yield get
    for env in made.values():
        env.close()


def _check_oracle(info: dict) -> float:
    progress = info["oracle_progress"]
    assert isinstance(progress, float) and 0.0 <= progress <= 1.0
    assert isinstance(info["success"], bool)
    if info["success"]:
        assert progress == 1.0
    return progress


@pytest.mark.parametrize("task", MANISKILL_TASKS)
def test_task_resets_steps_renders(envs_by_task, task):
    env = envs_by_task(task)
    obs, info = env.reset(seed=0)
    assert isinstance(obs, np.ndarray) and obs.dtype == np.float32 and obs.shape == env.observation_space.shape
    _check_oracle(info)
    env.action_space.seed(0)
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert obs.shape == env.observation_space.shape
        assert isinstance(reward, float) and isinstance(terminated, bool) and isinstance(truncated, bool)
        progress = _check_oracle(info)
        if not info["success"]:
            assert reward == pytest.approx(progress)  # the bare reward is the normalized dense reward
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape == (*FRAME_HW, 3)
    assert frame.std() > 5  # a scene, not a blank image
    assert len(task_record(task).instructions) >= 3


def test_sensor_frames_differ_from_render_camera(envs_by_task):
    render_cam = envs_by_task("PickCube")
    sensor = make_env("PickCube", render_mode="rgb_array", frame_source="sensor", frame_size=(64, 80))
    try:
        render_cam.reset(seed=3)
        sensor.reset(seed=3)
        a, b = sensor.render(), render_cam.render()
        assert a.shape == (64, 80, 3) and a.dtype == np.uint8 and a.std() > 5
        assert b.shape == (*FRAME_HW, 3)
        # Frames follow the state: after moving the arm the sensor frame changes.
        sensor.action_space.seed(1)
        for _ in range(10):
            sensor.step(sensor.action_space.sample())
        assert np.abs(sensor.render().astype(int) - a.astype(int)).mean() > 0.5
    finally:
        sensor.close()


def _red_pixels(frame: np.ndarray) -> int:
    """Pixels of ManiSkill's red cube: strongly red, little green or blue (the table is orange, R > G > B)."""
    r, g, b = (frame[..., i].astype(int) for i in range(3))
    return int(((r > 120) & (g < 60) & (b < 60)).sum())


def test_workspace_view_shows_the_cube_larger_than_the_render_camera():
    """The ``workspace`` frame source is the render camera moved close: at one reset state and frame size the
    red cube covers at least twice the pixels it covers from ManiSkill's render camera, and is in view."""
    size = 64
    counts = {}
    for source in ("render_camera", "workspace"):
        env = make_env("PickCube", render_mode="rgb_array", frame_source=source, frame_size=size)
        try:
            env.reset(seed=5)
            frame = env.render()
        finally:
            env.close()
        assert frame.shape == (size, size, 3) and frame.dtype == np.uint8
        counts[source] = _red_pixels(frame)
    assert counts["render_camera"] >= 2  # the cube is found from the default view too (the colour test works)
    assert counts["workspace"] >= 2 * counts["render_camera"], counts  # measured 27 against 9


def test_truncation_and_termination_flags():
    env = make_env("PushCube", max_episode_steps=4)
    try:
        env.reset(seed=0)
        flags = [env.step(np.zeros(env.action_space.shape, np.float32))[3] for _ in range(4)]
        assert flags == [False, False, False, True]
    finally:
        env.close()


def test_gym_make_lengthens_the_tasks_limit_by_horizon():
    """``gym.make`` keeps ``max_episode_steps`` for its own outer TimeLimit, which cannot lengthen PickCube's 50
    steps; ``horizon`` reaches the env, as Robomimic's does (a cloned planner policy needs 50-90 steps)."""
    import vlmreward_gym  # noqa: F401  (registers the ids)

    def episode_length(**kwargs) -> int:
        env = gym.make("vlmreward/PickCube-v1", **kwargs)
        try:
            env.reset(seed=0)
            steps, done = 0, False
            while not done:
                _, _, terminated, truncated, _ = env.step(np.zeros(env.action_space.shape, np.float32))
                steps, done = steps + 1, terminated or truncated
            return steps
        finally:
            env.close()

    assert episode_length() == 50
    assert episode_length(horizon=60) == 60
    with pytest.raises(ValueError, match="name one limit"):
        make_env("PickCube", horizon=60, max_episode_steps=70)


@pytest.mark.parametrize("task", DEMO_TASKS)
def test_oracle_progress_rises_along_a_planned_demo(planner_envs, task):
    env = planner_envs(task)
    args = parse_args(["--env", task, "--out", "unused", "--frame-stride", "0"])
    record_episode(env, "expert", seed=0, args=args)
    progress = np.asarray(env.progress)
    assert env.success[-1] and progress[-1] == 1.0
    assert not env.success[0] and progress[0] < 0.5
    T = len(progress)
    assert np.corrcoef(np.arange(T), progress)[0, 1] > 0.5
    assert progress[-T // 4:].mean() > progress[: T // 4].mean() + 0.2


def test_reset_after_a_grasp_reports_no_stale_grasp(planner_envs):
    """PhysX keeps the last step's contacts: a reset right after a grasping demo must not report the grasp."""
    env = planner_envs("PickCube")
    args = parse_args(["--env", "PickCube", "--out", "unused", "--frame-stride", "0"])
    record_episode(env, "expert", seed=0, args=args)
    assert env.unwrapped.get_info()["is_grasped"].item()  # the demo ends holding the cube
    after_grasp = env.reset(seed=0)
    env.step(np.append(env.unwrapped.agent.robot.get_qpos()[0, :7].numpy(), 1.0))  # one step, gripper open
    after_open = env.reset(seed=0)
    assert not after_grasp[1]["is_grasped"]
    np.testing.assert_array_equal(after_grasp[0], after_open[0])
    assert after_grasp[1]["oracle_progress"] == after_open[1]["oracle_progress"]


def test_noisy_planner_does_worse_than_the_expert(planner_envs):
    env = planner_envs("PickCube")
    args = parse_args(["--env", "PickCube", "--out", "unused", "--frame-stride", "0", "--noise", "0.02"])
    record_episode(env, "noisy", seed=0, args=args)
    assert not env.success[-1] and max(env.progress) < 1.0


def test_failure_kinds_fail_the_way_they_are_labelled(planner_envs):
    """PickCube from seed 0: each failure made from the plan fails; the hand without the cube (shortcut)
    earns less than a cube dropped half way, and a stop short holds its progress to the end."""
    env = planner_envs("PickCube")
    args = parse_args(["--env", "PickCube", "--out", "unused", "--frame-stride", "0"])
    record_episode(env, "expert", seed=0, args=args)
    plan = np.asarray(env.actions)
    runs = {}
    for kind in FAILURE_KINDS:
        record_episode(env, kind, seed=0, args=args)
        assert not any(env.success), kind
        runs[kind] = (np.asarray(env.actions), np.asarray(env.progress))
    grasp = first_grasp(list(plan))
    shortcut_actions, shortcut = runs["shortcut"]
    assert grasp is not None and np.all(shortcut_actions[:, -1] == 1.0)  # the gripper never closes
    assert shortcut.max() < runs["drop"][1].max() and runs["drop"][1][-1] < 0.5
    held_actions, held = runs["stop_short"]
    assert np.all(held_actions[-1] == held_actions[-5]) and held[-1] > 0.5  # still, holding the cube
    near_actions, _ = runs["near_miss"]
    assert first_grasp(list(near_actions)) is not None and near_actions[-1, -1] == 1.0  # grasped, then let go


def test_failure_kinds_refused_for_a_task_that_never_grasps(tmp_path):
    with pytest.raises(SystemExit, match="PushCube-v1 plan never closes the gripper"):
        demos_main(["--env", "PushCube-v1", "-n", "0", "--failures", "1", "--frame-stride", "0",
                    "--out", str(tmp_path / "push")])


def test_demos_written_and_read_back(tmp_path, planner_envs):
    out = tmp_path / "demos"
    summary = demos_main(["--env", "PickCube-v1", "-n", "2", "--noisy", "1", "--early-stop", "1", "--random", "1",
                          "--out", str(out), "--frame-stride", "10", "--frame-size", "48", "64",
                          "--random-steps", "12"])
    trajs = load_trajectories(out)
    assert [t.kind for t in trajs] == ["expert", "expert", "noisy", "early_stop", "random"]
    assert summary["expert"] == {"total": 2, "success": 2}
    assert read_metadata(out)["counts"]["expert"] == {"total": 2, "success": 2}
    for t in trajs:
        assert t.env_id == "PickCube-v1" and t.instruction == task_record("PickCube").instruction
        assert t.frames.shape[1:] == (48, 64, 3) and t.frames.std() > 5
        assert t.frame_steps[0] == 0 and t.frame_steps[-1] == t.num_steps
        assert np.all(np.diff(t.frame_steps[:-1]) == 10)
        assert t.actions.shape == (t.num_steps, 8) and t.obs.shape[0] == t.num_steps + 1
    expert, early, rand = trajs[0], trajs[3], trajs[4]
    assert expert.is_success and expert.oracle_progress[-1] == 1.0
    full = planner_envs("PickCube")
    record_episode(full, "expert", seed=early.seed, args=parse_args(["--env", "PickCube", "--out", "x", "--frame-stride", "0"]))
    assert not early.is_success and 1 <= early.num_steps <= 0.8 * len(full.actions)
    np.testing.assert_allclose(early.actions, np.asarray(full.actions)[: early.num_steps])  # a prefix of the plan
    assert rand.num_steps == 12 and not rand.is_success
    assert len({t.seed for t in trajs}) == len(trajs)


def test_vector_env_spawn():
    env = make_vector_env("PickCube", 2)
    try:
        obs, info = env.reset(seed=[0, 1])
        assert obs.shape == (2, *env.single_observation_space.shape)
        assert not np.allclose(obs[0], obs[1])  # different seeds, different scenes
        assert info["oracle_progress"].shape == (2,) and info["success"].dtype == bool
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert reward.shape == (2,) and info["oracle_progress"].shape == (2,)
        np.testing.assert_allclose(np.where(info["success"], 1.0, reward), info["oracle_progress"], rtol=1e-5)
    finally:
        env.close()


def test_clear_errors():
    with pytest.raises(ValueError, match="PickCube"):
        task_id("OpenCabinetDrawer-v1")
    with pytest.raises(ValueError, match="frame_source"):
        make_env("PickCube", frame_source="wrist")
    with pytest.raises(ValueError, match="reward_mode"):
        make_env("PickCube", reward_mode="sparse")
    with pytest.raises(RuntimeError, match="CUDA"):
        make_env("PickCube", sim_backend="gpu")
    with pytest.raises(ValueError, match="no motion-planning solution"):
        planner_for("PokeCube-v1")


def test_render_needs_rgb_array_mode(planner_envs):
    with pytest.raises(RuntimeError, match="rgb_array"):
        planner_envs("PickCube").render()


def test_registered_id_gives_bare_env_with_oracle():
    from vlmreward_gym.registration import register_envs

    register_envs()
    env = gym.make("vlmreward/PickCube-v1", render_mode="rgb_array", frame_size=32)
    try:
        _, info = env.reset(seed=0)
        _check_oracle(info)
        assert env.render().shape == (32, 32, 3)
    finally:
        env.close()


def test_driver_found_without_exported_variables():
    """A fresh process with none of the variables set finds the project's lavapipe and asset folder."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VK_ICD_FILENAMES", "MS_ASSET_DIR", "MS_SKIP_ASSET_DOWNLOAD_PROMPT", "VLMREWARD_DEPS_DIR")}
    code = ("import os, vlmreward_rl.envs.maniskill, sapien; sapien.render.RenderSystem(sapien.Device('cpu')); "
            "import mani_skill; print(os.environ['VK_ICD_FILENAMES']); print(mani_skill.ASSET_DIR)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    icd, assets = out.stdout.split()[-2:]
    assert Path(icd).is_file() and Path(icd).name == "lvp_icd.json"
    assert Path(assets).parent.name == "maniskill_assets"


class _FrameSpy:
    """A frame-reading reward model (progress = 0) that records the frame shapes it is sent."""

    @staticmethod
    def make():
        from vlmreward_gym.models.base import ModelInfo, RewardModel
        from vlmreward_gym.types import Capability, RewardOutput

        class Spy(RewardModel):
            def __init__(self):
                self.info = ModelInfo(name="frame-spy", capabilities=Capability.PROGRESS | Capability.SUCCESS)
                self.shapes: list[tuple[int, ...]] = []

            def _predict(self, query):
                self.shapes += [f.shape for f in query.frames]
                return RewardOutput(progress=tuple(np.zeros(len(f)) for f in query.frames),
                                    success=np.zeros(query.batch_size))

        return Spy()


FORM_KWARGS = {"dense": {"every": 5}, "episodic": {}, "contrastive": {"delta": 5}, "stage_gated": {"stages": ["grasp the red cube", "move it to the goal"]}}


@pytest.mark.parametrize("form", list(FORM_KWARGS))
def test_wrapped_env_runs_an_episode_in_every_form(form):
    import vlmreward_gym  # noqa: F401  (registers the ids)

    env = gym.make("vlmreward/PickCube-v1", reward_model="oracle", reward_form=form, render_mode="rgb_array",
                   reward_kwargs=FORM_KWARGS[form], max_episode_steps=12)
    try:
        _, info = env.reset(seed=0)
        env.action_space.seed(0)
        steps, done = 0, False
        while not done:
            _, reward, terminated, truncated, info = env.step(env.action_space.sample())
            steps, done = steps + 1, terminated or truncated
            assert np.isfinite(reward) and "env_reward" in info
        assert steps <= 12 and (truncated or terminated)
    finally:
        env.close()


def test_gym_make_takes_wraps_names_and_gives_stage_gated_the_tasks_stages():
    import vlmreward_gym  # noqa: F401  (registers the ids)
    env = gym.make("vlmreward/PickCube-v1", model="oracle", form="stage_gated", max_episode_steps=3)
    try:
        assert env.get_wrapper_attr("form").stages == list(task_record("PickCube").stages)
        env.reset(seed=0)
        assert np.isfinite(env.step(env.action_space.sample())[1])
    finally:
        env.close()


def test_learned_reward_renders_only_when_it_needs_a_frame():
    import vlmreward_gym as vrg

    spy = _FrameSpy.make()
    bare = make_env("PickCube", render_mode="rgb_array", frame_size=(40, 56), max_episode_steps=20)
    renders = []
    original = bare.render
    bare.render = lambda: renders.append(1) or original()
    env = vrg.wrap(bare, model=spy, form="dense", instruction=task_record("PickCube").instruction, every=5)
    try:
        env.reset(seed=0)
        env.action_space.seed(0)
        rewards, env_rewards = [], []
        for _ in range(20):
            _, reward, terminated, truncated, info = env.step(env.action_space.sample())
            rewards.append(reward)
            env_rewards.append(info["env_reward"])
            if terminated or truncated:
                break
        assert spy.shapes and all(s[1:] == (40, 56, 3) for s in spy.shapes)
        assert 0 < len(renders) < 20  # frames only on scoring steps, not on every step
        assert np.allclose(rewards, 0.0) and max(env_rewards) > 0.0  # the sim reward stays in info only
    finally:
        env.close()


def test_demos_take_the_camera_under_either_name():
    """``--camera`` (the Robomimic generator's name, used by the reward-model recipes) sets the frame source."""
    for flag in ("--camera", "--frame-source"):
        args = parse_args(["--env", "PickCube", "--out", "unused", flag, "workspace"])
        assert args.frame_source == "workspace"
    assert parse_args(["--env", "PickCube", "--out", "unused"]).frame_source == "render_camera"  # the task's
