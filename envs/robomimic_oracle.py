"""Privileged task progress in [0, 1] for the Robomimic tasks (the oracle protocol of
:mod:`vlmreward_gym.oracle`), computed from a live robosuite environment.

* **Can** (``PickPlaceCan``) and **Square** (``NutAssemblySquare``): robosuite's staged shaped
  reward, ``max(reach, grasp, lift, hover)``: reach in [0, 0.1] (gripper-object distance), grasp
  0.35, lift in [0.35, 0.5] (height while grasped), hover in [0.5, 0.7] (horizontal distance to the
  target bin / peg while lifted); 1.0 once the task succeeds. robosuite's stages end at hover, and
  its lift term *falls* while the object is lowered into place, so we add a **place** stage: while
  the object is above its target (Can: within a quarter bin of its compartment centre; Square:
  within 3 cm of the square peg's axis), progress is at least ``0.7 + 0.25 * descent``, with
  descent in [0, 1] the fraction of the way from the carrying height (Can: 25 cm above the bin
  floor; Square: 15 cm above the table, just over the peg top) down to the success height.
* **Lift**: robosuite's Lift shaping has only reach + grasp before the 1.0 jump, so progress is
  ``0.4 * reach + grasp * (0.2 + 0.4 * height)`` with reach = ``1 - tanh(10 * gripper-cube
  distance)``, grasp in {0, 1} and height = the cube's rise above its resting height as a fraction
  of the rise that counts as success (0.04 m above the table top minus the cube's half size); 1.0
  at success. Height counts only while grasped (robosuite drops the cube from 1 cm at reset).
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
    # The cube's centre when it lies on the table. Its size is random per model; read it from the
    # simulator, not from robosuite's Python object, so a scene reloaded from XML is measured right.
    half_height = sim.model.geom_size[sim.model.geom_name2id(rs_env.cube.contact_geoms[0])][2]
    rest_z = table_z + half_height
    success_z = table_z + LIFT_SUCCESS_MARGIN_M
    height = np.clip((cube_pos[2] - rest_z) / (success_z - rest_z), 0.0, 1.0)
    return float(np.clip(0.4 * reach + grasp * (0.2 + 0.4 * height), 0.0, 1.0))


def _place(over_target: bool, z: float, z_carry: float, z_success: float) -> float:
    """The place stage: 0.7 + 0.25 * descent from ``z_carry`` to ``z_success`` (m) when over the target, else 0."""
    if not over_target:
        return 0.0
    return 0.7 + 0.25 * float(np.clip((z_carry - z) / (z_carry - z_success), 0.0, 1.0))


def can_place(rs_env) -> float:
    """Place stage of ``PickPlaceCan``: the can over its compartment of the target bin."""
    obj = rs_env.objects[rs_env.object_id]
    pos = rs_env.sim.data.body_xpos[rs_env.obj_body_id[obj.name]]
    goal = rs_env.target_bin_placements[rs_env.object_id]
    over = bool(np.all(np.abs(pos[:2] - goal[:2]) < np.asarray(rs_env.bin_size[:2]) / 4.0))
    floor = rs_env.bin2_pos[2]
    return _place(over, pos[2], floor + 0.25, floor + 0.1)


def square_place(rs_env) -> float:
    """Place stage of ``NutAssemblySquare``: the square nut over (or around) the square peg."""
    pos = rs_env.sim.data.body_xpos[rs_env.obj_body_id[rs_env.nuts[rs_env.nut_id].name]]
    peg = rs_env.sim.data.body_xpos[rs_env.peg1_body_id]
    table = rs_env.table_offset[2]
    return _place(bool(np.all(np.abs(pos[:2] - peg[:2]) < 0.03)), pos[2], table + 0.15, table + 0.05)


def staged_progress(rs_env, place) -> float:
    """1.0 on success, else the max of robosuite's staged rewards and the ``place(rs_env)`` stage."""
    if rs_env._check_success():
        return 1.0
    return float(np.clip(max(*rs_env.staged_rewards(), place(rs_env)), 0.0, 1.0))


def oracle_progress(task: str, rs_env) -> float:
    """Progress in [0, 1] of the robosuite env behind ``task`` (``"Lift"``, ``"Can"`` or ``"Square"``)."""
    if task == "Lift":
        return lift_progress(rs_env)
    if task == "Can":
        return staged_progress(rs_env, can_place)
    if task == "Square":
        return staged_progress(rs_env, square_place)
    raise ValueError(f"no oracle progress for task {task!r}; known: Lift, Can, Square")
