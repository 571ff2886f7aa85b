"""Scripted OSC_POSE controllers for Lift, Can and Square, reading privileged simulator state.

Each controller is a small phase machine over end-effector waypoints: move above the object,
descend, close the gripper, lift, carry over the target, lower, release. Actions follow
:class:`vlmreward_rl.envs.robomimic.RobomimicEnv`: (7,) float32 in [-1, 1] = delta position (1 = 5 cm), delta
axis-angle rotation in the world frame (1 = 0.5 rad), gripper (-1 open, +1 close). The gripper is
kept pointing down, and its yaw is aligned with the object where that matters (cube faces, nut handle).

``variant="expert"`` solves the task. The other variants are the failures that reward models are
known to over-reward (RoboReward's and LRM's false successes, the bad-data paper's failure data);
each runs the expert's motions and departs from them at one point:

* ``wrong_target``: the same motions towards a wrong goal (Lift: grasps 6 cm beside the cube; Can:
  another bin compartment; Square: the round peg).
* ``near_miss``: the object is carried (almost) all the way and let go next to the goal (Lift:
  released 6 mm under the success height; Can: released in the neighbouring compartment, 4 cm past
  the divider; Square: released 7 cm beside the square peg).
* ``drop``: the gripper opens half way through the carry and the object falls (Lift: at half the
  success height).
* ``shortcut``: the gripper makes the whole trip to the goal pose without closing on the object.
* ``stop_short``: the object is carried to just short of the goal and held there (Lift: 1.2 cm
  under the success height; Can and Square: a few cm above the place height), never released.
* ``knock``: the closed gripper comes down behind the object and sweeps through it, knocking it away.
"""

from __future__ import annotations

import numpy as np

from vlmreward_rl.envs.robomimic_tasks import FAILURE_KINDS

POS_SCALE_M = 0.05  # OSC_POSE: action 1.0 = 5 cm
ROT_SCALE_RAD = 0.5  # OSC_POSE: action 1.0 = 0.5 rad
VARIANTS = ("expert", *FAILURE_KINDS)
#: How far (m) the closed gripper starts behind the object and sweeps past it in a ``knock``.
KNOCK_FROM_M, KNOCK_TO_M = 0.10, 0.12


def _wrap(angle: float, period: float) -> float:
    """``angle`` wrapped to [-period / 2, period / 2)."""
    return (angle + period / 2) % period - period / 2


class _Controller:
    """Shared geometry and action helpers; subclasses implement ``_phase_action``."""

    def __init__(self, rs_env, variant: str = "expert"):
        if variant not in VARIANTS:
            raise ValueError(f"unknown scripted variant {variant!r}; choose one of {VARIANTS}")
        self.rs_env = rs_env
        self.variant = variant
        sim = rs_env.sim
        self._left = sim.model.body_name2id("gripper0_leftfinger")
        self._right = sim.model.body_name2id("gripper0_rightfinger")
        self.phase = 0
        self.phase_steps = 0
        self.memory: dict[str, np.ndarray] = {}

    # --- state ---------------------------------------------------------------------------
    @property
    def eef(self) -> np.ndarray:
        return self.rs_env.sim.data.site_xpos[self.rs_env.robots[0].eef_site_id].copy()

    def gripper_yaw(self) -> float:
        """World yaw (rad) of the fingers' closing axis."""
        d = self.rs_env.sim.data.body_xpos[self._right] - self.rs_env.sim.data.body_xpos[self._left]
        return float(np.arctan2(d[1], d[0]))

    def body_yaw(self, body_id: int) -> float:
        x_axis = self.rs_env.sim.data.body_xmat[body_id].reshape(3, 3)[:, 0]
        return float(np.arctan2(x_axis[1], x_axis[0]))

    # --- actions -------------------------------------------------------------------------
    def action(self, target: np.ndarray, grip: float, yaw_error: float = 0.0, gain: float = 1.5) -> np.ndarray:
        """Action moving the grip site towards ``target`` (m), turning by ``yaw_error`` (rad) about z."""
        a = np.zeros(7, np.float32)
        a[:3] = np.clip(gain * (target - self.eef) / POS_SCALE_M, -1, 1)
        approach = self.rs_env.sim.data.site_xmat[self.rs_env.robots[0].eef_site_id].reshape(3, 3)[:, 2]
        tilt = np.cross(approach, [0.0, 0.0, -1.0])  # axis-angle that points the gripper down
        a[3:6] = np.clip(2.0 * tilt / ROT_SCALE_RAD, -1, 1)
        a[5] = np.clip(2.0 * yaw_error / ROT_SCALE_RAD, -1, 1)
        a[6] = grip
        return a

    def reached(self, target: np.ndarray, tol: float = 0.01) -> bool:
        return bool(np.linalg.norm(target - self.eef) < tol)

    def close_gripper(self, steps: int = 8) -> np.ndarray:
        """Hold the pose where closing began for ``steps`` steps while closing, then go to the next phase."""
        self.memory.setdefault("grasp", self.eef)
        if self.phase_steps > steps:
            self.next_phase()
        return self.action(self.memory["grasp"], 1)

    def grasp(self, steps: int = 8) -> np.ndarray:
        """:meth:`close_gripper`, except that a ``shortcut`` keeps the fingers open and grasps nothing."""
        if self.variant != "shortcut":
            return self.close_gripper(steps)
        self.memory.setdefault("grasp", self.eef)
        if self.phase_steps > steps:
            self.next_phase()
        return self.action(self.memory["grasp"], -1)

    @property
    def carry_grip(self) -> float:
        """The gripper command while carrying: closed, or open in a ``shortcut``."""
        return -1.0 if self.variant == "shortcut" else 1.0

    def knock(self, obj: np.ndarray, z: float) -> np.ndarray:
        """The ``knock`` variant's whole episode: come down ``KNOCK_FROM_M`` behind ``obj`` (along -x,
        towards the robot) with the gripper closed, then sweep at height ``z`` (m) to ``KNOCK_TO_M`` past it."""
        self.memory.setdefault("start", obj.copy())
        start = self.memory["start"]
        behind = np.r_[start[0] - KNOCK_FROM_M, start[1], z]
        if self.phase == 0:  # above the point behind the object
            if self.reached(behind + [0, 0, 0.08]) or self.phase_steps > 60:
                self.next_phase()
            return self.action(behind + [0, 0, 0.08], 1)
        if self.phase == 1:  # down beside it
            if self.reached(behind, 0.01) or self.phase_steps > 40:
                self.next_phase()
            return self.action(behind, 1)
        return self.action(np.r_[start[0] + KNOCK_TO_M, start[1], z], 1)  # sweep through

    def halfway(self, key: str, remaining: float) -> bool:
        """Whether a carry has covered half its distance: ``remaining`` (m) against the first value seen."""
        first = self.memory.setdefault(key, np.array([remaining]))[0]
        return remaining < 0.5 * first

    def next_phase(self) -> None:
        self.phase += 1
        self.phase_steps = 0

    def __call__(self) -> np.ndarray:
        a = self._phase_action()
        self.phase_steps += 1
        return a

    def _phase_action(self) -> np.ndarray:
        raise NotImplementedError


class LiftController(_Controller):
    """Grasp the cube (fingers square to its faces) and raise it 15 cm."""

    #: Lift's cube counts as lifted this far (m) above the table top (robosuite 1.4.1).
    SUCCESS_MARGIN_M = 0.04

    def _phase_action(self) -> np.ndarray:
        env = self.rs_env
        cube = env.sim.data.body_xpos[env.cube_body_id].copy()
        if self.variant == "knock":
            return self.knock(cube, cube[2] + 0.005)
        if self.variant == "wrong_target":
            cube[1] += 0.06
        yaw_err = _wrap(self.body_yaw(env.cube_body_id) - self.gripper_yaw(), np.pi / 2)
        if self.phase == 0:  # above the cube, fingers aligned
            target = cube + [0, 0, 0.06]
            if self.reached(target) and abs(yaw_err) < 0.05 or self.phase_steps > 60:
                self.next_phase()
            return self.action(target, -1, yaw_err)
        if self.phase == 1:  # descend
            target = cube
            if self.reached(target, 0.006) or self.phase_steps > 30:
                self.next_phase()
            return self.action(target, -1, yaw_err)
        if self.phase == 2:
            self.memory.setdefault("cube_z", np.array([cube[2]]))
            return self.grasp()
        if self.variant not in ("near_miss", "drop", "stop_short"):
            return self.action(self.memory["grasp"] + [0, 0, 0.15], self.carry_grip)  # lift
        # Lift the cube's centre to a height short of success, then hold it there or let it go.
        success_z = env.model.mujoco_arena.table_offset[2] + self.SUCCESS_MARGIN_M
        short = {"near_miss": 0.006, "stop_short": 0.012, "drop": 0.5 * (success_z - self.memory["cube_z"][0])}
        rise = success_z - short[self.variant] - self.memory["cube_z"][0]
        target = self.memory["grasp"] + [0, 0, rise]
        if self.phase == 3:
            if self.reached(target, 0.004) or self.phase_steps > 40:
                self.next_phase()
            return self.action(target, 1)
        return self.action(target, 1 if self.variant == "stop_short" else -1)


class CanController(_Controller):
    """Pick the can from the left bin and drop it into its compartment of the right bin."""

    def _phase_action(self) -> np.ndarray:
        env = self.rs_env
        obj = env.objects[env.object_id]
        can = env.sim.data.body_xpos[env.obj_body_id[obj.name]].copy()
        if self.variant == "knock":
            return self.knock(can, can[2] + 0.02)
        goal_id = (env.object_id + 1) % len(env.objects) if self.variant == "wrong_target" else env.object_id
        # Aim 4 cm short of the compartment centre (still well inside it): the far compartments
        # are at the edge of the Panda's reach.
        goal = env.target_bin_placements[goal_id] - [0.04, 0.0, 0.0]
        if self.variant == "near_miss":  # over the divider towards the bin's other half
            goal = goal + [0.0, np.sign(env.bin2_pos[1] - goal[1]) * (env.bin_size[1] / 4 + 0.04), 0.0]
        carry_z = env.bin2_pos[2] + 0.18
        # The hand's offset from the can's centre, fixed at the grasp (no can in hand in a shortcut).
        held = np.zeros(2) if self.variant == "shortcut" else self.eef[:2] - can[:2]
        if self.phase == 0:  # above the can
            target = can + [0, 0, 0.08]
            if self.reached(target) or self.phase_steps > 60:
                self.next_phase()
            return self.action(target, -1)
        if self.phase == 1:  # descend around it
            target = can + [0, 0, 0.01]
            if self.reached(target, 0.006) or self.phase_steps > 30:
                self.next_phase()
            return self.action(target, -1)
        if self.phase == 2:
            return self.grasp()
        if self.phase == 3:  # lift straight up
            target = np.r_[self.memory["grasp"][:2], carry_z]
            if self.eef[2] > carry_z - 0.03 or self.phase_steps > 60:
                self.next_phase()
            return self.action(target, self.carry_grip)
        if self.phase == 4:  # carry over the goal compartment
            target = np.r_[goal[:2] + held, carry_z]
            remaining = float(np.linalg.norm(target[:2] - self.eef[:2]))
            if self.variant == "drop" and self.halfway("carry", remaining):
                self.phase = 6  # let go mid-air
            elif remaining < 0.02 or self.phase_steps > 100:
                self.next_phase()
            return self.action(target, self.carry_grip, gain=3.0)
        if self.phase == 5:  # lower into the bin (stop_short: to 8 cm above the place height, and hold)
            target = np.r_[goal[:2] + held, env.bin2_pos[2] + (0.20 if self.variant == "stop_short" else 0.12)]
            if self.variant != "stop_short" and (self.reached(target, 0.03) or self.phase_steps > 40):
                self.next_phase()
            return self.action(target, self.carry_grip)
        target = self.eef + [0, 0, 0.02 if self.phase_steps > 10 else 0.0]  # release, then back off
        return self.action(target, -1)


class SquareController(_Controller):
    """Grasp the square nut by its handle, carry it over the square peg, square it up, drop it on."""

    def _phase_action(self) -> np.ndarray:
        env = self.rs_env
        sim = env.sim
        nut = env.nuts[env.nut_id]
        nut_body = env.obj_body_id[nut.name]
        nut_pos = sim.data.body_xpos[nut_body].copy()
        handle = sim.data.site_xpos[sim.model.site_name2id(nut.important_sites["handle"])].copy()
        if self.variant == "knock":
            return self.knock(nut_pos, nut_pos[2] + 0.01)
        peg = sim.data.body_xpos[env.peg2_body_id if self.variant == "wrong_target" else env.peg1_body_id].copy()
        if self.variant == "near_miss":  # beside the peg rather than around it
            peg[1] += 0.07
        table_z = env.table_offset[2]
        nut_yaw = self.body_yaw(nut_body)
        # Grasp 1.2 cm outboard of the handle's centre, clear of the nut's wall.
        handle += 0.012 * np.array([np.cos(nut_yaw), np.sin(nut_yaw), 0.0])
        if self.phase in (0, 1):  # fingers across the handle: closing axis along the nut's y axis
            yaw_err = _wrap(nut_yaw + np.pi / 2 - self.gripper_yaw(), np.pi)
            target = handle + ([0, 0, 0.06] if self.phase == 0 else [0, 0, 0.0])
            tol = 0.01 if self.phase == 0 else 0.005
            if self.reached(target, tol) and abs(yaw_err) < 0.05 or self.phase_steps > 60:
                self.next_phase()
            return self.action(target, -1, yaw_err)
        if self.phase == 2:
            return self.grasp()
        carry_z = table_z + 0.20
        if self.phase == 3:  # lift clear of the peg top (table + 0.13 m)
            target = np.r_[self.memory["grasp"][:2], carry_z]
            if self.eef[2] > carry_z - 0.02 or self.phase_steps > 60:
                self.next_phase()
            return self.action(target, self.carry_grip)
        # Square the nut to the peg's axes with its handle not pointing away from the robot (+x),
        # which would put the gripper beyond the arm's reach, and centre it over the peg.
        yaw_err = min((_wrap(c - nut_yaw, 2 * np.pi) for c in (np.pi / 2, np.pi, -np.pi / 2)), key=abs)
        if self.variant == "shortcut":  # the hand goes where the nut's handle would be
            held = self.memory["grasp"][:2] - self.memory.setdefault("nut_at_grasp", nut_pos.copy())[:2]
            over_peg, yaw_err = peg[:2] + held, 0.0
        else:
            over_peg = self.eef[:2] + (peg[:2] - nut_pos[:2])
        if self.phase == 4:
            target = np.r_[over_peg, carry_z]
            if self.variant == "drop" and self.halfway("carry", float(np.linalg.norm(target[:2] - self.eef[:2]))):
                self.phase = 6  # let go mid-air
            elif (self.reached(target, 0.006) and abs(yaw_err) < 0.03) or self.phase_steps > 120:
                self.next_phase()
            return self.action(target, self.carry_grip, yaw_err)
        if self.phase == 5:  # hold the nut level while lowering it all the way down the peg
            # (stop_short: to 4 cm above the peg top, and hold it there)
            bottom = table_z + (0.17 if self.variant == "stop_short" else 0.01)
            target = np.r_[over_peg, self.eef[2] + (bottom - nut_pos[2])]
            if self.variant != "stop_short" and (nut_pos[2] < table_z + 0.035 or self.phase_steps > 60):
                self.next_phase()
            return self.action(target, self.carry_grip, yaw_err)
        target = self.eef + [0, 0, 0.03 if self.phase_steps > 6 else 0.0]  # release and retreat
        return self.action(target, -1)


CONTROLLERS = {"Lift": LiftController, "Can": CanController, "Square": SquareController}


def make_controller(task: str, rs_env, variant: str = "expert") -> _Controller:
    """A fresh controller for one episode of ``task`` on the (already reset) robosuite env ``rs_env``."""
    if task not in CONTROLLERS:
        raise ValueError(f"no scripted controller for {task!r}; known: {sorted(CONTROLLERS)}")
    return CONTROLLERS[task](rs_env, variant)
