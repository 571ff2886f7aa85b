"""Robomimic's Lift, Can and Square (robosuite 1.4.1 on MuJoCo 3) as Gymnasium 1.x environments.

The robosuite settings are those of the robomimic datasets (Panda, OSC_POSE, 20 Hz control), so
policies trained on robomimic's ``low_dim`` data run here with the same observation layout:

* observation: float32 (D,) = ``robot0_eef_pos`` (3) + ``robot0_eef_quat`` (4, xyzw) +
  ``robot0_gripper_qpos`` (2) + ``object`` (Lift 10, Can 14, Square 14), i.e. D = 19 / 23 / 23.
* action: float32 (7,) in [-1, 1]: end-effector delta position (1 = 5 cm), delta rotation as an
  axis-angle in the world frame (1 = 0.5 rad), gripper (-1 open, +1 close).
* reward (bare env): robosuite's staged shaped reward (``reward_shaping=True``) in [0, 1]; see
  :mod:`vlmreward_rl.envs.robomimic_oracle` for the stages. Wrap with a reward model to replace it.
* ``info["oracle_progress"]`` (float in [0, 1]) and ``info["success"]`` (bool, robomimic's
  ``is_success()["task"]``) in every ``reset()`` and ``step()`` info.
* termination on success (``terminate_on_success=True``), truncation at the task's horizon
  (robomimic's rollout horizon, 400 steps).
* ``render()``: uint8 (H, W, 3) RGB from ``camera``, rendered only when called, through MuJoCo's
  offscreen EGL context with MSAA and reflections off (about 3x faster on CPU Mesa).

Importing this module sets ``MUJOCO_GL=egl`` unless the variable is already set (an explicit
value such as ``osmesa`` wins) and makes robomimic's env modules importable without mujoco-py
(see ``envs/_mujoco_py_shim/README.md``).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")


def _ensure_mujoco_py_importable() -> None:
    """Append the ``mujoco_py`` stand-in to ``sys.path`` when no real mujoco-py is installed."""
    if importlib.util.find_spec("mujoco_py") is None:
        sys.path.append(str(Path(__file__).resolve().parent / "_mujoco_py_shim"))


_ensure_mujoco_py_importable()

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

from vlmreward_gym.oracle import PROGRESS_KEY, SUCCESS_KEY  # noqa: E402
from vlmreward_gym.registration import reward_options, wrap_if_requested  # noqa: E402

from vlmreward_rl.envs.robomimic_oracle import oracle_progress  # noqa: E402
from vlmreward_rl.envs.tasks import task as task_record  # noqa: E402


@dataclass(frozen=True)
class TaskSpec:
    """How a task maps onto robosuite: env class name and constructor kwargs, horizon in steps."""

    robosuite_env: str
    horizon: int


TASKS: dict[str, TaskSpec] = {
    "Lift": TaskSpec("Lift", 400),
    "Can": TaskSpec("PickPlaceCan", 400),
    "Square": TaskSpec("NutAssemblySquare", 400),
}
#: Robomimic dataset env names (``env_args["env_name"]``) -> task.
ROBOSUITE_TO_TASK = {spec.robosuite_env: task for task, spec in TASKS.items()}

#: Low-dimensional observation keys, in order: (robosuite key, robomimic dataset key).
OBS_KEYS: tuple[tuple[str, str], ...] = (
    ("robot0_eef_pos", "robot0_eef_pos"),
    ("robot0_eef_quat", "robot0_eef_quat"),
    ("robot0_gripper_qpos", "robot0_gripper_qpos"),
    ("object-state", "object"),
)


#: The seed of numpy's global generator while robosuite builds a task's model (what it randomises per model).
MODEL_SEED = 0


def robosuite_kwargs(task: str) -> dict[str, Any]:
    """The robosuite constructor kwargs of the robomimic datasets, with the fast CPU settings."""
    from robosuite import load_controller_config

    return dict(
        robots=["Panda"], controller_configs=load_controller_config(default_controller="OSC_POSE"),
        control_freq=20, use_object_obs=True, use_camera_obs=False, has_renderer=False,
        # We render ourselves, lazily, with MSAA and reflections off (see RobomimicEnv.render).
        has_offscreen_renderer=False, reward_shaping=True, ignore_done=True,
        hard_reset=False,  # hard resets rebuild the model: 0.6-2 s each instead of 3 ms
    )


@dataclass(frozen=True)
class CameraView:
    """A camera pose of our own, placed over one of robosuite's cameras of the env it renders (that env renders
    only its one ``camera``, so nothing else sees the move).

    Attributes:
        replaces: the robosuite camera whose slot it takes.
        position: camera position (3,), m, world frame.
        target: the point it looks at (3,), m; the image's up is the world's +z.
        fovy: vertical field of view, degrees.
    """

    replaces: str
    position: tuple[float, float, float]
    target: tuple[float, float, float]
    fovy: float

    def quaternion(self) -> np.ndarray:
        """MuJoCo's camera orientation (w, x, y, z): it looks along its -z axis with +y up."""
        from scipy.spatial.transform import Rotation

        forward = np.subtract(self.target, self.position, dtype=np.float64)
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, (0.0, 0.0, 1.0))
        right /= np.linalg.norm(right)
        x, y, z, w = Rotation.from_matrix(np.stack([right, np.cross(right, forward), -forward], 1)).as_quat()
        return np.array([w, x, y, z])


#: Named views of our own (``camera=<name>``). ``lift_side``: Lift's cube from the side at the table's height, 60 cm
#: away, 28 degrees of field, looking 5 cm above the table: at 64 px a lift to the success height (2 cm) opens a ~4 px gap
#: which in ``agentview`` the gripper hides (issue 24: the learned reward could not call a success from agentview at
#: 64 px). It frames Lift's cube start (within 3 cm of the table centre), not the other tasks' objects.
CAMERA_VIEWS: dict[str, CameraView] = {
    "lift_side": CameraView("sideview", (0.0, 0.6, 0.84), (0.0, 0.0, 0.89), 28.0),
}


_LIVE_RENDERERS: "weakref.WeakSet[RobomimicEnv]" = weakref.WeakSet()


def _free_render_contexts() -> None:
    """Free every live env's GL context before robosuite's EGL module terminates the display at exit
    (registered after that module's own atexit hook, so it runs first; avoids EGL_NOT_INITIALIZED noise)."""
    for env in list(_LIVE_RENDERERS):
        env.close()


def _check_task(task: str) -> TaskSpec:
    if task not in TASKS:
        raise ValueError(f"unknown Robomimic task {task!r}; choose one of {sorted(TASKS)}")
    return TASKS[task]


class RobomimicEnv(gym.Env):
    """One robosuite task as a Gymnasium env (see the module docstring for spaces and infos).

    Args:
        task: ``"Lift"``, ``"Can"`` or ``"Square"``.
        render_mode: ``"rgb_array"`` or None (then ``render()`` raises).
        frame_size: rendered frame size, an int (square) or (height, width), in pixels; default the task's (128).
        camera: robosuite camera name, e.g. ``"agentview"``, ``"frontview"``, ``"robot0_eye_in_hand"``, or one of
            our :data:`CAMERA_VIEWS` (``"lift_side"``); default the task's (``agentview``).
        horizon: steps before truncation; default the task's robomimic horizon (400).
        terminate_on_success: end the episode (terminated=True) on the first successful state.
        **kwargs: override robosuite constructor kwargs (e.g. ``controller_configs``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, task: str, *, render_mode: str | None = None, frame_size: int | tuple[int, int] | None = None,
                 camera: str | None = None, horizon: int | None = None, terminate_on_success: bool = True,
                 **kwargs: Any):
        spec = _check_task(task)
        record = task_record(task)
        frame_size = record.frame_size if frame_size is None else frame_size
        camera = record.camera if camera is None else camera
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        import robosuite

        self.task = task
        self.render_mode = render_mode
        self.frame_hw = (frame_size, frame_size) if isinstance(frame_size, int) else tuple(frame_size)
        if len(self.frame_hw) != 2 or min(self.frame_hw) < 1:
            raise ValueError(f"frame_size must be a positive int or (height, width), got {frame_size!r}")
        self.camera = camera
        self.horizon = spec.horizon if horizon is None else int(horizon)
        self.terminate_on_success = terminate_on_success
        # With hard_reset off the model is built once, here, and robosuite draws what it randomises per model (Lift's
        # cube size, 4.0-4.4 cm) from numpy's global generator: left to that generator's state, two envs of one task
        # differed (the cube's height by 0.7 mm), so the "same" seeded evaluation starts gave 0.18 in one process and
        # 0.26 in another. A fixed seed for the build makes every env of a task the same env; the caller's global
        # state is put back.
        state = np.random.get_state()
        np.random.seed(MODEL_SEED)
        try:
            self.rs_env = robosuite.make(spec.robosuite_env, **{**robosuite_kwargs(task), **kwargs})
        finally:
            np.random.set_state(state)
        self._render_camera = self._place_camera(camera)
        obs = self.rs_env.reset()
        dim = self._flatten(obs).shape[0]
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (dim,), np.float32)
        low, high = self.rs_env.action_spec
        self.action_space = gym.spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
        self._steps = 0

    def _place_camera(self, camera: str) -> str:
        """The robosuite camera ``render()`` reads for ``camera``: itself, or the slot a :data:`CAMERA_VIEWS` view
        is placed in (its pose and field written into this env's model, which is built once: hard_reset is off)."""
        model = self.rs_env.sim.model
        if camera in CAMERA_VIEWS:
            view = CAMERA_VIEWS[camera]
            slot = model.camera_name2id(view.replaces)
            model._model.cam_pos[slot] = view.position
            model._model.cam_quat[slot] = view.quaternion()
            model._model.cam_fovy[slot] = view.fovy
            self.rs_env.sim.forward()
            return view.replaces
        if camera not in model.camera_names:
            raise ValueError(f"camera {camera!r} not in {self.task}; available: {list(model.camera_names)} and our "
                             f"views {sorted(CAMERA_VIEWS)}")
        return camera

    @staticmethod
    def _flatten(obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(obs[k], np.float32).ravel() for k, _ in OBS_KEYS])

    def _info(self) -> dict[str, Any]:
        return {PROGRESS_KEY: oracle_progress(self.task, self.rs_env), SUCCESS_KEY: bool(self.rs_env._check_success())}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset; ``seed`` seeds numpy's global generator, which robosuite 1.4.1 samples placements from."""
        super().reset(seed=seed)
        if seed is not None:
            np.random.seed(seed)
        obs = self.rs_env.reset()
        self._steps = 0
        return self._flatten(obs), self._info()

    def step(self, action):
        action = np.asarray(action, dtype=np.float64).reshape(self.action_space.shape)
        obs, reward, _, _ = self.rs_env.step(action)
        # mj_step leaves positions one substep behind qpos; recompute them so progress is a function
        # of the state alone (a replay of recorded states gives the same values). No physics change.
        self.rs_env.sim.forward()
        self._steps += 1
        info = self._info()
        terminated = self.terminate_on_success and info[SUCCESS_KEY]
        truncated = self._steps >= self.horizon and not terminated
        return self._flatten(obs), float(reward), bool(terminated), bool(truncated), info

    def _render_context(self):
        """The offscreen context, created on the first render with MSAA and reflections off."""
        sim = self.rs_env.sim
        if sim._render_context_offscreen is None:
            import mujoco
            from robosuite.utils.binding_utils import MjRenderContextOffscreen

            sim.model._model.vis.quality.offsamples = 0  # must precede the context's framebuffer
            ctx = MjRenderContextOffscreen(sim, device_id=-1, max_width=max(640, self.frame_hw[1]),
                                           max_height=max(480, self.frame_hw[0]))
            ctx.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
            ctx.vopt.geomgroup[0] = 0  # collision meshes off, visual meshes on
            ctx.vopt.geomgroup[1] = 1
            if not _LIVE_RENDERERS:
                atexit.register(_free_render_contexts)
            _LIVE_RENDERERS.add(self)
        return sim._render_context_offscreen

    def render(self) -> np.ndarray:
        """uint8 (H, W, 3) RGB frame of the current state from ``camera`` at ``frame_size``."""
        if self.render_mode != "rgb_array":
            raise RuntimeError(f"{self.task}: render() needs render_mode='rgb_array' (got {self.render_mode!r})")
        self._render_context()
        h, w = self.frame_hw
        frame = self.rs_env.sim.render(width=w, height=h, camera_name=self._render_camera)
        return np.ascontiguousarray(frame[::-1])  # OpenGL rows run bottom-up

    def close(self) -> None:
        """Free the GL context and the simulator (idempotent)."""
        _LIVE_RENDERERS.discard(self)
        sim = getattr(self.rs_env, "sim", None)
        ctx = None if sim is None else sim._render_context_offscreen
        if ctx is not None:
            ctx.gl_ctx.free()
        self.rs_env.close()


def make_env(task: str, *, render_mode: str | None = None, frame_size: int | tuple[int, int] | None = None,
             camera: str | None = None, horizon: int | None = None, **kwargs: Any) -> gym.Env:
    """Build ``task`` (Lift, Can, Square), wrapped with a reward model when ``model`` is given.

    The reward keywords ``model``, ``form``, ``model_kwargs``, ``instruction``, ``reward_kwargs`` go
    to ``vlmreward_gym.wrap`` (see :mod:`vlmreward_gym.registration`; the default instruction and the
    default ``stages`` of the ``stage_gated`` form are the task's record's, :mod:`vlmreward_rl.envs.robomimic_tasks`);
    the rest to :class:`RobomimicEnv`.
    """
    _check_task(task)
    reward = reward_options(kwargs)
    env = RobomimicEnv(task, render_mode=render_mode, frame_size=frame_size, camera=camera, horizon=horizon, **kwargs)
    record = task_record(task)
    return wrap_if_requested(env, record.instruction, record.stages, **reward)
