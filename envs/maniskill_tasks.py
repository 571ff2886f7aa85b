"""The ManiSkill3 task records (:class:`vlmreward_rl.envs.tasks.Task`), built by :mod:`vlmreward_rl.envs.maniskill`.

These are the ManiSkill3 tasks that need no asset download and run on the CPU. Instruction wording
describes what the task's success check tests (see each task in ``mani_skill.envs.tasks.tabletop``),
in words a vision-language reward model can ground in a frame; colours are those ManiSkill draws
(PickCube's green goal point is a hidden marker: the render camera shows it, the sensor camera does
not). The stages are the phases the task's dense reward scores (reach, grasp, carry/place).
"""

from __future__ import annotations

from vlmreward_rl.envs.tasks import Simulator, Task

NAME = "ManiSkill3"
#: The failures reward models over-reward, made from the motion planner's plan (:mod:`vlmreward_rl.envs.maniskill_demos`).
FAILURE_KINDS = ("near_miss", "drop", "shortcut", "stop_short")
#: Every kind :mod:`vlmreward_rl.envs.maniskill_demos` writes, in its order.
DEMO_KINDS = ("expert", "noisy", "early_stop", *FAILURE_KINDS, "random")
#: Frame sources of :func:`vlmreward_rl.envs.maniskill.make_env`; the first is the default.
FRAME_SOURCES = ("render_camera", "sensor", "workspace")
#: The ``workspace`` frame source: ManiSkill's render camera (goal markers shown) moved close to the tabletop
#: tasks' workspace, as (eye xyz, target xyz, vertical field of view in radians), metres in the task's frame.
#: The tabletop tasks place their objects and goals within about 0.1 m of the origin in x and y and up to 0.3 m
#: above the table; ManiSkill's own render camera looks from about 1.1 m with a 1-radian field of view, where a
#: 4 cm cube spans 2-3 pixels of a 64 px frame; from here it spans about 5, with PickCube's highest goals in view.
WORKSPACE_VIEW = ((0.42, 0.34, 0.45), (0.0, 0.0, 0.14), 0.85)
ORACLE = ("ManiSkill's normalized dense reward of the state clipped to [0, 1], 1.0 when the task's own success "
          "check holds (vlmreward_rl.envs.maniskill.ManiSkillOracleEnv)")


def _task(name: str, instructions: tuple[str, ...], stages: tuple[str, ...]) -> Task:
    return Task(name, NAME, instructions, stages, ORACLE, DEMO_KINDS, FAILURE_KINDS, frame_size=128,
                camera=FRAME_SOURCES[0])


TASKS = (
    _task("PickCube",
          ("pick up the red cube and move it to the green goal point",
           "grasp the red cube and carry it to the target position",
           "lift the red cube to the green marker"),
          ("reach the red cube", "grasp the red cube", "move the red cube to the green goal point")),
    _task("PushCube",
          ("push the blue cube to the red and white target on the table",
           "slide the cube forward onto the goal region",
           "push the cube until it reaches the target"),
          ("move the gripper behind the blue cube", "push the blue cube onto the red and white target")),
    _task("PullCube",
          ("pull the blue cube back onto the red and white target",
           "drag the cube toward the robot until it is on the goal region",
           "pull the cube to the target"),
          ("move the gripper to the far side of the blue cube",
           "pull the blue cube back onto the red and white target")),
    _task("StackCube",
          ("stack the red cube on top of the green cube",
           "pick up the red cube and place it on the green cube",
           "put the red cube onto the green one and let go"),
          ("grasp the red cube", "lift the red cube above the green cube",
           "place the red cube on the green cube and let go")),
    _task("PlaceSphere",
          ("place the blue sphere into the shallow bin",
           "pick up the ball and put it in the bin",
           "grasp the sphere and drop it inside the bin"),
          ("grasp the blue sphere", "move the sphere above the bin", "put the sphere into the bin")),
    _task("LiftPegUpright",
          ("lift the peg and stand it upright on the table",
           "turn the lying peg so that it stands up",
           "set the peg upright"),
          ("grasp the lying peg", "lift the peg and turn it upright", "stand the peg upright on the table")),
    _task("PegInsertionSide",
          ("insert the peg into the hole in the box from the side",
           "pick up the peg and push it into the side hole",
           "grasp the peg and insert it horizontally into the hole"),
          ("grasp the peg", "line the peg up with the hole in the side of the box", "insert the peg into the hole")),
)
MANISKILL_TASKS = tuple(t.name for t in TASKS)

SIMULATOR = Simulator(NAME, TASKS, "vlmreward_rl.envs.maniskill:make_env", "vlmreward_rl.envs.maniskill_demos")
