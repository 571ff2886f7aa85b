"""The Robomimic task records (:class:`vlmreward_rl.envs.tasks.Task`), built by :mod:`vlmreward_rl.envs.robomimic`
(robosuite 1.4.1 with the robomimic datasets' settings)."""

from __future__ import annotations

from vlmreward_rl.envs.tasks import Simulator, Task

NAME = "Robomimic"
#: The scripted controller's failure variants (:mod:`vlmreward_rl.envs.robomimic_scripted` describes each).
FAILURE_KINDS = ("wrong_target", "near_miss", "drop", "shortcut", "stop_short", "knock")
#: Every kind :mod:`vlmreward_rl.envs.robomimic_demos` writes, in its order.
DEMO_KINDS = ("expert", "noisy", "early_stop", *FAILURE_KINDS)
FRAME_SIZE = 128
CAMERA = "agentview"  # a robosuite camera name
_STAGED = ("robosuite's staged shaped reward max(reach, grasp, lift, hover) with a place stage added, 1.0 on "
           "success (vlmreward_rl.envs.robomimic_oracle.staged_progress with {})")


def _task(name: str, instructions: tuple[str, ...], stages: tuple[str, ...], oracle: str) -> Task:
    return Task(name, NAME, instructions, stages, oracle, DEMO_KINDS, FAILURE_KINDS, FRAME_SIZE, CAMERA)


TASKS = (
    _task("Lift",
          ("lift the red cube", "pick up the red cube from the table", "grasp the cube and raise it"),
          ("reach the red cube", "grasp the red cube", "lift the red cube"),
          "0.4 * reach + grasp * (0.2 + 0.4 * height), 1.0 on success (vlmreward_rl.envs.robomimic_oracle.lift_progress)"),
    _task("Can",
          ("put the can in the bin", "pick up the red can and place it in its bin compartment",
           "move the soda can into the target bin"),
          ("grasp the can", "lift the can", "put the can in the bin"),
          _STAGED.format("can_place")),
    _task("Square",
          ("put the square nut on the square peg", "fit the square nut onto the square peg",
           "pick up the nut by its handle and place it around the square peg"),
          ("grasp the square nut by its handle", "lift the nut above the square peg",
           "put the square nut on the square peg"),
          _STAGED.format("square_place")),
)
ROBOMIMIC_TASKS = tuple(t.name for t in TASKS)

SIMULATOR = Simulator(NAME, TASKS, "vlmreward_rl.envs.robomimic:make_env", "vlmreward_rl.envs.robomimic_demos")
