"""Privileged task progress in [0, 1] for the Robomimic tasks (the oracle protocol of
:mod:`vlmreward_gym.oracle`), computed from a live robosuite environment.

* **Can** (``PickPlaceCan``) and **Square** (``NutAssemblySquare``): robosuite's staged shaped
  reward, ``max(reach, grasp, lift, hover)``: reach in [0, 0.1] (gripper-object distance), grasp
  0.35, lift in [0.35, 0.5] (height while grasped), hover in [0.5, 0.7] (horizontal distance to the
  target bin / peg while lifted); 1.0 once the task succeeds.
* **Lift**: robosuite's Lift shaping has only reach + grasp before the 1.0 jump, so progress is
  ``0.4 * reach + 0.2 * grasp + 0.4 * height`` with reach = ``1 - tanh(10 * gripper-cube distance)``,
  grasp in {0, 1} and height = the cube's rise above its resting height as a fraction of the rise
  that counts as success (0.04 m above the table top minus the cube's half size); 1.0 at success.
"""

from __future__ import annotations

import numpy as np

#: Lift counts success when the cube's centre is this far above the table top (robosuite 1.4.1).
LIFT_SUCCESS_MARGIN_M = 0.04


def lift_progress(rs_env) -> float:
    """Progress of a robosuite ``Lift`` env in [0, 1] (see the module docstring)."""
    if rs_env._check_success():
        return 1.0
    sim = rs_env.sim
    cube_pos = sim.data.body_xpos[rs_env.cube_body_id]
    grip_pos = sim.data.site_xpos[rs_env.robots[0].eef_site_id]
    reach = 1.0 - np.tanh(10.0 * np.linalg.norm(grip_pos - cube_pos))
    grasp = float(rs_env._check_grasp(gripper=rs_env.robots[0].gripper, object_geoms=rs_env.cube))
    table_z = rs_env.model.mujoco_arena.table_offset[2]
    rest_z = table_z + rs_env.cube.size[2]  # the cube's centre when it lies on the table
    success_z = table_z + LIFT_SUCCESS_MARGIN_M
    height = np.clip((cube_pos[2] - rest_z) / (success_z - rest_z), 0.0, 1.0)
    return float(np.clip(0.4 * reach + 0.2 * grasp + 0.4 * height, 0.0, 1.0))


def staged_progress(rs_env) -> float:
    """Progress of a ``PickPlace*`` / ``NutAssembly*`` env: 1.0 on success, else the max staged reward."""
    if rs_env._check_success():
        return 1.0
    return float(np.clip(max(rs_env.staged_rewards()), 0.0, 1.0))


def oracle_progress(task: str, rs_env) -> float:
    """Progress in [0, 1] of the robosuite env behind ``task`` (``"Lift"``, ``"Can"`` or ``"Square"``)."""
    if task == "Lift":
        return lift_progress(rs_env)
    if task in ("Can", "Square"):
        return staged_progress(rs_env)
    raise ValueError(f"no oracle progress for task {task!r}; known: Lift, Can, Square")
