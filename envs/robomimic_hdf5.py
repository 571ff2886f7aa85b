"""Read datasets in the **official robomimic HDF5 layout** (e.g. ``lift/ph/low_dim_v141.hdf5``).

Layout (robomimic v0.3 / robosuite 1.4 datasets)::

    data                    attrs: total (int), env_args (JSON: env_name, type, env_kwargs)
    data/demo_k             attrs: num_samples (N), optional model_file (MJCF xml of the episode)
    data/demo_k/actions     (N, A) float
    data/demo_k/rewards     (N,)   float (sparse success reward in the released datasets)
    data/demo_k/dones       (N,)   0/1
    data/demo_k/states      (N, S) flattened MuJoCo states (optional for obs-only files)
    data/demo_k/obs/<key>   (N, ...) observation *before* action t; image keys are uint8 (N, H, W, 3)
    data/demo_k/next_obs/<key>  (N, ...) observation *after* action t (optional)
    mask/<filter>           (M,) demo names, e.g. "train", "valid" (optional)

:func:`read_robomimic_hdf5` turns each demo into an :class:`vlmreward_gym.data.Trajectory` (T = N
actions and N + 1 observations when ``next_obs`` exists, else the last action is dropped), with
the same flat observation layout as :class:`vlmreward_rl.envs.robomimic.RobomimicEnv`. Oracle progress and
success come from replaying ``states`` in the simulator (``oracle="replay"``, the default when
states exist; ``states[t]`` precedes action t, so the final state's values come from the last
reward: 1.0 / success when it is positive) or, without a simulator, from the file's reward
(``oracle="rewards"``: progress = success = reward > 0, a sparse stand-in). :func:`load_bc_arrays` gives BC-ready arrays.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import h5py
import numpy as np

from vlmreward_gym.data import DatasetFormatError, Trajectory

#: robomimic dataset obs keys in the order RobomimicEnv flattens them.
DEFAULT_OBS_KEYS = ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos", "object")
#: robosuite env names of robomimic datasets -> our task names.
ENV_NAME_TO_TASK = {"Lift": "Lift", "PickPlaceCan": "Can", "NutAssemblySquare": "Square"}


def read_env_args(path: str | Path) -> dict[str, Any]:
    """The ``data.attrs["env_args"]`` JSON of a robomimic file (env_name, type, env_kwargs)."""
    with h5py.File(path, "r") as f:
        if "data" not in f or "env_args" not in f["data"].attrs:
            raise DatasetFormatError(f"{path} is not a robomimic dataset: no data.attrs['env_args']")
        return json.loads(f["data"].attrs["env_args"])


def task_of(env_args: dict[str, Any]) -> str:
    """Our task name (``Lift``, ``Can``, ``Square``) for a robomimic ``env_args`` dict."""
    name = env_args.get("env_name")
    if name not in ENV_NAME_TO_TASK:
        raise ValueError(f"robomimic env {name!r} is not supported; supported: {sorted(ENV_NAME_TO_TASK)}")
    return ENV_NAME_TO_TASK[name]


def demo_names(f: h5py.File, filter_key: str | None = None) -> list[str]:
    """Demo group names in numeric order (``demo_2`` before ``demo_10``), optionally only those of ``mask/<filter_key>``."""
    if filter_key is not None:
        if "mask" not in f or filter_key not in f["mask"]:
            have = sorted(f["mask"]) if "mask" in f else []
            raise KeyError(f"no filter key mask/{filter_key!r} in {f.filename}; available: {have}")
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["mask"][filter_key][()]]
    else:
        names = list(f["data"].keys())
    return sorted(names, key=lambda n: int(n.split("_")[-1]))


def _flat_obs(group: h5py.Group, keys: Iterable[str], name: str) -> np.ndarray:
    missing = [k for k in keys if k not in group]
    if missing:
        raise DatasetFormatError(f"{name} lacks obs keys {missing}; it has {sorted(group)}")
    return np.concatenate([group[k][()].reshape(group[k].shape[0], -1).astype(np.float32) for k in keys], axis=1)


class _Replayer:
    """Sets a RobomimicEnv to recorded flattened MuJoCo states and reads progress and success."""

    def __init__(self, task: str):
        from vlmreward_rl.envs.robomimic import RobomimicEnv

        self.env = RobomimicEnv(task)
        self.task = task

    def __call__(self, states: np.ndarray, model_xml: str | None) -> tuple[np.ndarray, np.ndarray]:
        from vlmreward_rl.envs.robomimic_oracle import oracle_progress

        rs_env = self.env.rs_env
        if model_xml is not None:  # the episode's own scene (object sizes, placements) as robomimic does
            rs_env.reset_from_xml_string(rs_env.edit_model_xml(model_xml))
            rs_env.sim.reset()
        progress, success = [], []
        for state in states:
            rs_env.sim.set_state_from_flattened(state)
            rs_env.sim.forward()
            progress.append(oracle_progress(self.task, rs_env))
            success.append(bool(rs_env._check_success()))
        return np.asarray(progress, np.float32), np.asarray(success, bool)

    def close(self) -> None:
        self.env.close()


def read_robomimic_hdf5(path: str | Path, *, obs_keys: Iterable[str] = DEFAULT_OBS_KEYS, image_key: str | None = None,
                        filter_key: str | None = None, oracle: str | None = None, instruction: str | None = None,
                        kind: str = "expert", max_demos: int | None = None) -> list[Trajectory]:
    """Read a robomimic HDF5 file into trajectories.

    Args:
        obs_keys: obs keys concatenated (in order) into ``Trajectory.obs``.
        image_key: an image obs key (e.g. ``"agentview_image"``) to store as frames, one per state.
        filter_key: read only the demos listed in ``mask/<filter_key>``.
        oracle: ``"replay"`` (needs ``states`` and the robomimic extra) or ``"rewards"``; default
            replay when the demos have states, else rewards.
        instruction: default the task's (``vlmreward_rl.envs.tasks.task(task).instruction``).
        kind: ``Trajectory.kind`` for every demo (robomimic's ``ph``/``mh`` data is human expert data).
        max_demos: read at most this many demos.
    """
    obs_keys = tuple(obs_keys)
    env_args = read_env_args(path)
    task = task_of(env_args)
    if instruction is None:
        from vlmreward_rl.envs.tasks import task as task_record  # no simulator import

        instruction = task_record(task).instruction
    trajectories: list[Trajectory] = []
    replayer = None
    with h5py.File(path, "r") as f:
        names = demo_names(f, filter_key)[:max_demos]
        has_states = all("states" in f["data"][n] for n in names)
        mode = oracle or ("replay" if has_states else "rewards")
        if mode not in ("replay", "rewards"):
            raise ValueError(f"oracle must be 'replay' or 'rewards', got {oracle!r}")
        if mode == "replay" and not has_states:
            raise DatasetFormatError(f"oracle='replay' needs data/demo_k/states, which {path} lacks")
        try:
            for name in names:
                demo = f["data"][name]
                actions = demo["actions"][()].astype(np.float32)
                obs = _flat_obs(demo["obs"], obs_keys, f"{name}/obs")
                if "next_obs" in demo:
                    obs = np.concatenate([obs, _flat_obs(demo["next_obs"], obs_keys, f"{name}/next_obs")[-1:]])
                else:  # no observation after the last action: drop that action
                    actions = actions[:-1]
                T = actions.shape[0]
                rewards = demo["rewards"][()].astype(np.float32)[:T]
                if mode == "replay":
                    replayer = replayer or _Replayer(task)
                    states = demo["states"][()]
                    model_xml = demo.attrs.get("model_file")
                    progress, success = replayer(states, model_xml)
                    if progress.shape[0] == T:  # states[t] precede action t: the final state is not stored;
                        done = bool(rewards[-1] > 0)  # robomimic's sparse reward says if it succeeded
                        progress = np.r_[progress, 1.0 if done else progress[-1]]
                        success = np.r_[success, done or success[-1]]
                    progress, success = progress[: T + 1], success[: T + 1]
                else:
                    hit = np.r_[0.0, rewards] > 0
                    progress, success = hit.astype(np.float32), hit
                frames = np.zeros((0, 1, 1, 3), np.uint8)
                frame_steps = np.zeros((0,), np.int64)
                if image_key is not None:
                    frames = demo["obs"][image_key][()][: T + 1]
                    if "next_obs" in demo and frames.shape[0] == T:
                        frames = np.concatenate([frames, demo["next_obs"][image_key][-1:]])
                    frame_steps = np.arange(frames.shape[0], dtype=np.int64)
                trajectories.append(Trajectory(env_id=f"{task}-v1", instruction=instruction, kind=kind,
                                               seed=int(name.split("_")[-1]), obs=obs, actions=actions,
                                               env_rewards=rewards, oracle_progress=progress, success=success,
                                               frames=frames.astype(np.uint8), frame_steps=frame_steps))
        finally:
            if replayer is not None:
                replayer.close()
    return trajectories


def load_bc_arrays(path: str | Path, *, obs_keys: Iterable[str] = DEFAULT_OBS_KEYS,
                   filter_key: str | None = None) -> dict[str, np.ndarray]:
    """(obs, action) pairs for behaviour cloning, without a simulator.

    Returns:
        ``obs`` (N, D) float32 (the observation before each action), ``actions`` (N, A) float32,
        ``episode_starts`` (E,) int64 row index of each demo's first pair, over all N pairs of
        the selected demos.
    """
    obs_keys = tuple(obs_keys)
    obs, actions, starts, n = [], [], [], 0
    with h5py.File(path, "r") as f:
        for name in demo_names(f, filter_key):
            demo = f["data"][name]
            obs.append(_flat_obs(demo["obs"], obs_keys, f"{name}/obs"))
            actions.append(demo["actions"][()].astype(np.float32))
            starts.append(n)
            n += actions[-1].shape[0]
    if not obs:
        raise DatasetFormatError(f"{path} has no demos")
    return {"obs": np.concatenate(obs), "actions": np.concatenate(actions), "episode_starts": np.asarray(starts, np.int64)}
