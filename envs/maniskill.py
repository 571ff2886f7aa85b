"""ManiSkill3 tasks on the CPU as plain Gymnasium envs with the oracle protocol and lazy frames.

``make_env("PickCube")`` returns a single env (numpy observations, Gymnasium 1.x 5-tuple):

* reward: the task's **normalized dense reward**, a float in [0, 1] (ManiSkill's
  ``reward_mode="normalized_dense"``; 1.0 at success). It is the only place the simulator's
  reward appears: ``obs_mode="state"`` observations hold robot and object state, not the reward.
  Under a learned reward (``model=...``) the core wrapper replaces it and keeps it in
  ``info["env_reward"]``.
* ``info["oracle_progress"]`` (float in [0, 1]) and ``info["success"]`` (bool) in both
  ``reset()`` and ``step()`` (see :mod:`vlmreward_gym.oracle`). Progress is the normalized dense
  reward of the current state clipped to [0, 1] and set to 1.0 when ``success`` holds.
* ``terminated`` on success (ManiSkill's rule), ``truncated`` after ``max_episode_steps``
  (the task's own limit unless given: 50 for most tasks, 100 for PegInsertionSide).
* ``render()`` (``render_mode="rgb_array"``) returns a uint8 (H, W, 3) RGB frame of
  ``frame_size`` from ``frame_source``:

  - ``"render_camera"`` (default): ManiSkill's human render camera, a third-person view that
    also shows goal markers (PickCube's green goal point);
  - ``"sensor"``: the task's observation camera ``base_camera``, as a policy would see it
    (goal markers hidden);
  - ``"workspace"``: the render camera moved close to the workspace (goal markers shown;
    :data:`~vlmreward_rl.envs.maniskill_tasks.WORKSPACE_VIEW`), where a cube's side spans about twice
    the pixels it spans from the render camera (its area about three times).

  Frames are rendered only inside ``render()``: with a state ``obs_mode`` stepping never renders
  (a 128x128 frame costs ~50 ms on 2 CPU cores, the first one in a process 10-18 s).

``make_vector_env(task, n)`` runs ``n`` such envs in ``AsyncVectorEnv(context="spawn")``
subprocesses: ManiSkill's CPU backend holds one env per process and ``fork`` hangs.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Iterator, Sequence

import gymnasium as gym
import numpy as np

from vlmreward_gym.oracle import PROGRESS_KEY, SUCCESS_KEY
from vlmreward_gym.registration import reward_options, wrap_if_requested
from vlmreward_rl.envs import maniskill_setup
from vlmreward_rl.envs.maniskill_tasks import FRAME_SOURCES, MANISKILL_TASKS, WORKSPACE_VIEW
from vlmreward_rl.envs.tasks import Task, task

# Before mani_skill / sapien are imported anywhere in this process.
maniskill_setup.configure()

__all__ = ["make_env", "make_vector_env", "ManiSkillOracleEnv", "MANISKILL_TASKS", "FRAME_SOURCES", "task_id",
           "task_record"]

RENDER_CAMERA = "render_camera"
SENSOR_CAMERA = "base_camera"


def task_id(task: str) -> str:
    """The ManiSkill id (``"PickCube-v1"``) of a supported task given as ``PickCube`` or ``PickCube-v1``.

    Raises:
        ValueError: the task is not one of :data:`MANISKILL_TASKS`.
    """
    name = task.removeprefix("vlmreward/").removesuffix("-v1")
    if name not in MANISKILL_TASKS:
        raise ValueError(f"unknown or unsupported ManiSkill task {task!r}; supported on CPU: "
                         f"{', '.join(MANISKILL_TASKS)}")
    return f"{name}-v1"


def task_record(name: str) -> Task:
    """The registry's record of a supported task given as ``PickCube`` or ``PickCube-v1`` (see :func:`task_id`)."""
    return task(task_id(name))


def _frame_hw(frame_size: int | Sequence[int]) -> tuple[int, int]:
    """``frame_size`` as (H, W): an int means a square frame."""
    hw = (int(frame_size), int(frame_size)) if np.isscalar(frame_size) else tuple(int(s) for s in frame_size)
    if len(hw) != 2 or min(hw) < 8:
        raise ValueError(f"frame_size must be an int or (H, W) with sides >= 8 pixels, got {frame_size!r}")
    return hw


@contextlib.contextmanager
def _fresh_contacts(base: Any) -> Iterator[None]:
    """Within the block, ``base.agent.is_grasping`` reports False (used around ``reset()``).

    PhysX keeps the contacts of the previous episode's last physics step until the next step, so
    right after a reset ManiSkill reports the old grasp in ``info`` (``is_grasped``), in the state
    observation (PickCube's ``is_grasped`` entry) and in grasp reward terms. A reset robot is at
    rest with its gripper open, so nothing is grasped.
    """
    import torch

    agent = base.agent
    agent.is_grasping = lambda *args, **kwargs: torch.zeros(base.num_envs, dtype=torch.bool, device=base.device)
    try:
        yield
    finally:
        del agent.is_grasping  # the class method again


class ManiSkillOracleEnv(gym.Wrapper):
    """Adds the oracle protocol and a lazy single-camera ``render()`` to a CPU ManiSkill env.

    ``env`` must be a ManiSkill env made with ``reward_mode="normalized_dense"`` and wrapped in
    ManiSkill's ``CPUGymWrapper`` (numpy, unbatched).
    """

    def __init__(self, env: gym.Env, frame_source: str, frame_hw: tuple[int, int], render_mode: str | None):
        super().__init__(env)
        self.frame_source = frame_source
        self.frame_hw = frame_hw
        self._render_mode = render_mode
        self.metadata = {"render_modes": ["rgb_array"],
                         "render_fps": int(round(env.unwrapped.control_freq))}

    @property
    def render_mode(self) -> str | None:
        return self._render_mode

    # ----------------------------------------------------------------- oracle
    def _oracle(self, reward: float, success: bool) -> dict[str, Any]:
        progress = 1.0 if success else float(np.clip(reward, 0.0, 1.0))
        return {PROGRESS_KEY: progress, SUCCESS_KEY: bool(success)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        base = self.env.unwrapped
        with _fresh_contacts(base):
            obs, info = self.env.reset(seed=seed, options=options)
            # ManiSkill's reset info holds the task evaluation but no reward; compute it for the oracle.
            zero_action = np.zeros((1, *self.action_space.shape), np.float32)
            reward = float(base.compute_normalized_dense_reward(obs=None, action=zero_action, info=base.get_info())[0])
        info.update(self._oracle(reward, bool(info.get("success", False))))
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        reward = float(reward)
        info.update(self._oracle(reward, bool(info.get("success", False))))
        return obs, reward, bool(terminated), bool(truncated), info

    # ----------------------------------------------------------------- frames
    def render(self) -> np.ndarray:
        """The current state as a uint8 (H, W, 3) RGB frame from ``frame_source`` (see module doc)."""
        if self._render_mode != "rgb_array":
            raise RuntimeError(f"render() needs render_mode='rgb_array' at make_env time, got {self._render_mode!r}")
        base = self.env.unwrapped
        if self.frame_source == "sensor":
            for obj in base._hidden_objects:
                obj.hide_visual()
            base.scene.update_render(update_sensors=True, update_human_render_cameras=False)
            camera = base.scene.sensors[SENSOR_CAMERA]
            camera.capture()
            image = camera.get_obs(rgb=True, depth=False, position=False, segmentation=False)["rgb"]
        else:
            for obj in base._hidden_objects:
                obj.show_visual()
            base.scene.update_render(update_sensors=False, update_human_render_cameras=True)
            image = base.scene.get_human_render_camera_images(RENDER_CAMERA)[RENDER_CAMERA]
            for obj in base._hidden_objects:
                obj.hide_visual()
        frame = np.ascontiguousarray(image[0].cpu().numpy())
        if frame.shape != (*self.frame_hw, 3) or frame.dtype != np.uint8:
            raise ValueError(f"{self.frame_source} rendered a {frame.dtype} frame of shape {frame.shape}, "
                             f"expected uint8 {(*self.frame_hw, 3)}")
        return frame


def _check_backend(sim_backend: str) -> None:
    if sim_backend == "cpu":
        return
    if sim_backend != "gpu":
        raise ValueError(f"sim_backend must be 'cpu' or 'gpu', got {sim_backend!r}")
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("sim_backend='gpu' needs a CUDA GPU (torch.cuda.is_available() is False); "
                           "use sim_backend='cpu' and make_vector_env for several envs on this machine")
    raise NotImplementedError("ManiSkill's GPU-batched tensor env is not wrapped by vlmreward_gym yet; use "
                              "mani_skill.vector.wrappers.gymnasium.ManiSkillVectorEnv directly")


def _workspace_camera() -> dict[str, Any]:
    """The render camera's pose and field of view for the ``workspace`` frame source."""
    from mani_skill.utils import sapien_utils

    eye, target, fov = WORKSPACE_VIEW
    return {"pose": sapien_utils.look_at(list(eye), list(target)), "fov": fov}


def make_env(task: str, *, render_mode: str | None = None, obs_mode: str = "state",
             frame_source: str | None = None, frame_size: int | Sequence[int] | None = None,
             max_episode_steps: int | None = None, control_mode: str | None = None, sim_backend: str = "cpu",
             horizon: int | None = None, **kwargs: Any) -> gym.Env:
    """One ManiSkill3 task as a single Gymnasium env (see the module docstring for its contract).

    Args:
        task: ``"PickCube"`` or ``"PickCube-v1"``, one of :data:`MANISKILL_TASKS`.
        render_mode: ``"rgb_array"`` to allow ``render()``; None for state-only use.
        obs_mode: ManiSkill observation mode; ``"state"`` (flat float32 vector) or
            ``"state_dict"``. Visual modes render on every step.
        frame_source: ``"render_camera"``, ``"sensor"`` or ``"workspace"``; default the task's (``render_camera``).
        frame_size: frame side in pixels, or (H, W); default the task's (128).
        max_episode_steps: truncation limit; the task's own when None. Through ``gym.make`` pass ``horizon``
            instead: ``gym.make`` keeps a ``max_episode_steps`` argument for itself (an outer TimeLimit, which can
            shorten the task's limit but never lengthen it, and ends episodes outside the reward wrapper).
        horizon: the same limit under the name that reaches this function through ``gym.make`` (and the
            name Robomimic's envs use), e.g. ``gym.make("vlmreward/PickCube-v1", horizon=100)``.
        control_mode: ManiSkill controller, default ``pd_joint_delta_pos`` for the Panda tasks
            (the motion-planned demos use ``pd_joint_pos``).
        sim_backend: ``"cpu"`` only (see :func:`_check_backend`).
        **kwargs: the reward keywords ``model``, ``form``, ``model_kwargs``, ``instruction``,
            ``reward_kwargs`` (see :mod:`vlmreward_gym.registration`: with ``model`` the env is wrapped
            by ``vlmreward_gym.wrap``, with the task's default instruction and, for ``stage_gated``,
            its default stages); the rest goes to ManiSkill's ``gym.make`` (e.g. ``robot_uids``).
    """
    env_id = task_id(task)
    record = task_record(env_id)
    frame_source = record.camera if frame_source is None else frame_source
    frame_size = record.frame_size if frame_size is None else frame_size
    reward = reward_options(kwargs)
    if frame_source not in FRAME_SOURCES:
        raise ValueError(f"frame_source must be one of {FRAME_SOURCES}, got {frame_source!r}")
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
    if "reward_mode" in kwargs:
        raise ValueError("reward_mode is fixed to 'normalized_dense' (it defines oracle_progress); "
                         "use model=... for another reward")
    _check_backend(sim_backend)
    if horizon is not None:
        if max_episode_steps is not None and int(max_episode_steps) != int(horizon):
            raise ValueError(f"horizon={horizon} and max_episode_steps={max_episode_steps} name one limit; "
                             f"pass one of them")
        max_episode_steps = horizon
    h, w = _frame_hw(frame_size)

    import mani_skill.envs  # noqa: F401  (registers the ManiSkill ids)
    from mani_skill.utils.wrappers.gymnasium import CPUGymWrapper

    camera = {"width": w, "height": h}
    render_camera = dict(camera, **_workspace_camera()) if frame_source == "workspace" else dict(camera)
    make_kwargs = dict(obs_mode=obs_mode, reward_mode="normalized_dense", render_mode=render_mode,
                       sim_backend="cpu", num_envs=1, sensor_configs=dict(camera),
                       human_render_camera_configs=render_camera, **kwargs)
    make_kwargs.setdefault("render_backend", "cpu")  # the default asks for CUDA first and warns
    if control_mode is not None:
        make_kwargs["control_mode"] = control_mode
    if max_episode_steps is not None:
        make_kwargs["max_episode_steps"] = int(max_episode_steps)
    try:
        env = gym.make(env_id, **make_kwargs)
    except RuntimeError as error:
        if "vulkan" in str(error).lower() or "physical device" in str(error).lower():
            raise RuntimeError(maniskill_setup.missing_vulkan_message(error)) from error
        raise
    env = ManiSkillOracleEnv(CPUGymWrapper(env), frame_source, (h, w), render_mode)
    return wrap_if_requested(env, record.instruction, record.stages, **reward)


def make_vector_env(task: str, num_envs: int, **make_env_kwargs: Any) -> gym.vector.VectorEnv:
    """``num_envs`` copies of :func:`make_env` in spawned subprocesses (CPU backend).

    Infos carry ``oracle_progress`` (float64 (num_envs,)) and ``success`` (bool (num_envs,)).
    Each subprocess pays the first-frame cost once. ``sim_backend="gpu"`` is refused (see
    :func:`_check_backend`).
    """
    _check_backend(make_env_kwargs.get("sim_backend", "cpu"))
    task_id(task)
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    fn = functools.partial(make_env, task, **make_env_kwargs)
    return gym.vector.AsyncVectorEnv([fn] * num_envs, context="spawn")
