"""Scripted OSC_POSE controllers for Lift, Can and Square, reading privileged simulator state.

Each controller is a small phase machine over end-effector waypoints: move above the object,
descend, close the gripper, lift, carry over the target, lower, release. Actions follow
:class:`envs.robomimic.RobomimicEnv`: (7,) float32 in [-1, 1] = delta position (1 = 5 cm), delta
axis-angle rotation in the world frame (1 = 0.5 rad), gripper (-1 open, +1 close). The gripper is
kept pointing down, and its yaw is aligned with the object where that matters (cube faces, nut handle).

``variant="expert"`` solves the task; ``variant="wrong_target"`` runs the same motions towards a
wrong goal (Lift: grasps 6 cm beside the cube; Can: another bin compartment; Square: the round
peg), giving plausible-looking failures for reward-model evaluation.
"""

from __future__ import annotations

import numpy as np

POS_SCALE_M = 0.05  # OSC_POSE: action 1.0 = 5 cm
ROT_SCALE_RAD = 0.5  # OSC_POSE: action 1.0 = 0.5 rad
VARIANTS = ("expert", "wrong_target")


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

    def _phase_action(self) -> np.ndarray:
        env = self.rs_env
        cube = env.sim.data.body_xpos[env.cube_body_id].copy()
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
            return self.close_gripper()
        return self.action(self.memory["grasp"] + [0, 0, 0.15], 1)  # lift


class CanController(_Controller):
    """Pick the can from the left bin and drop it into its compartment of the right bin."""

    def _phase_action(self) -> np.ndarray:
        env = self.rs_env
        obj = env.objects[env.object_id]
        can = env.sim.data.body_xpos[env.obj_body_id[obj.name]].copy()
        goal_id = env.object_id if self.variant == "expert" else (env.object_id + 1) % len(env.objects)
        # Aim 4 cm short of the compartment centre (still well inside it): the far compartments
        # are at the edge of the Panda's reach.
        goal = env.target_bin_placements[goal_id] - [0.04, 0.0, 0.0]
        carry_z = env.bin2_pos[2] + 0.18
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
            return self.close_gripper()
        if self.phase == 3:  # lift straight up
            target = np.r_[self.memory["grasp"][:2], carry_z]
            if self.eef[2] > carry_z - 0.03 or self.phase_steps > 60:
                self.next_phase()
            return self.action(target, 1)
        if self.phase == 4:  # carry over the goal compartment
            target = np.r_[goal[:2] + (self.eef[:2] - can[:2]), carry_z]
            if np.linalg.norm(target[:2] - self.eef[:2]) < 0.02 or self.phase_steps > 100:
                self.next_phase()
            return self.action(target, 1, gain=3.0)
        if self.phase == 5:  # lower into the bin
            target = np.r_[goal[:2] + (self.eef[:2] - can[:2]), env.bin2_pos[2] + 0.12]
            if self.reached(target, 0.03) or self.phase_steps > 40:
                self.next_phase()
            return self.action(target, 1)
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
        peg = sim.data.body_xpos[env.peg1_body_id if self.variant == "expert" else env.peg2_body_id].copy()
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
            return self.close_gripper()
        carry_z = table_z + 0.20
        if self.phase == 3:  # lift clear of the peg top (table + 0.13 m)
            target = np.r_[self.memory["grasp"][:2], carry_z]
            if self.eef[2] > carry_z - 0.02 or self.phase_steps > 60:
                self.next_phase()
            return self.action(target, 1)
        # Square the nut to the peg's axes with its handle not pointing away from the robot (+x),
        # which would put the gripper beyond the arm's reach, and centre it over the peg.
        yaw_err = min((_wrap(c - nut_yaw, 2 * np.pi) for c in (np.pi / 2, np.pi, -np.pi / 2)), key=abs)
        over_peg = self.eef[:2] + (peg[:2] - nut_pos[:2])
        if self.phase == 4:
            target = np.r_[over_peg, carry_z]
            if (self.reached(target, 0.006) and abs(yaw_err) < 0.03) or self.phase_steps > 120:
                self.next_phase()
            return self.action(target, 1, yaw_err)
        if self.phase == 5:  # hold the nut level while lowering it all the way down the peg
            target = np.r_[over_peg, self.eef[2] + (table_z + 0.01 - nut_pos[2])]
            if nut_pos[2] < table_z + 0.035 or self.phase_steps > 60:
                self.next_phase()
            return self.action(target, 1, yaw_err)
        target = self.eef + [0, 0, 0.03 if self.phase_steps > 6 else 0.0]  # release and retreat
        return self.action(target, -1)


CONTROLLERS = {"Lift": LiftController, "Can": CanController, "Square": SquareController}


def make_controller(task: str, rs_env, variant: str = "expert") -> _Controller:
    """A fresh controller for one episode of ``task`` on the (already reset) robosuite env ``rs_env``."""
    if task not in CONTROLLERS:
        raise ValueError(f"no scripted controller for {task!r}; known: {sorted(CONTROLLERS)}")
    return CONTROLLERS[task](rs_env, variant)
