"""Language instructions for the ManiSkill3 tasks: the default first, then paraphrases.

The wording describes what the task's success check tests (see each task in
``mani_skill.envs.tasks.tabletop``), in words a vision-language reward model can ground in a
frame; colours are those ManiSkill draws (PickCube's green goal point is a hidden marker: the
render camera shows it, the sensor camera does not).
"""

from __future__ import annotations

INSTRUCTIONS: dict[str, tuple[str, ...]] = {
    "PickCube": (
        "pick up the red cube and move it to the green goal point",
        "grasp the red cube and carry it to the target position",
        "lift the red cube to the green marker",
    ),
    "PushCube": (
        "push the blue cube to the red and white target on the table",
        "slide the cube forward onto the goal region",
        "push the cube until it reaches the target",
    ),
    "PullCube": (
        "pull the blue cube back onto the red and white target",
        "drag the cube toward the robot until it is on the goal region",
        "pull the cube to the target",
    ),
    "StackCube": (
        "stack the red cube on top of the green cube",
        "pick up the red cube and place it on the green cube",
        "put the red cube onto the green one and let go",
    ),
    "PlaceSphere": (
        "place the blue sphere into the shallow bin",
        "pick up the ball and put it in the bin",
        "grasp the sphere and drop it inside the bin",
    ),
    "LiftPegUpright": (
        "lift the peg and stand it upright on the table",
        "turn the lying peg so that it stands up",
        "set the peg upright",
    ),
    "PegInsertionSide": (
        "insert the peg into the hole in the box from the side",
        "pick up the peg and push it into the side hole",
        "grasp the peg and insert it horizontally into the hole",
    ),
}


#: Sub-task instructions in order, the default ``stages`` of the ``stage_gated`` reward form: the
#: phases the task's dense reward scores (reach, grasp, carry/place), in words a model can check.
STAGES: dict[str, tuple[str, ...]] = {
    "PickCube": ("reach the red cube", "grasp the red cube", "move the red cube to the green goal point"),
    "PushCube": ("move the gripper behind the blue cube", "push the blue cube onto the red and white target"),
    "PullCube": ("move the gripper to the far side of the blue cube",
                 "pull the blue cube back onto the red and white target"),
    "StackCube": ("grasp the red cube", "lift the red cube above the green cube",
                  "place the red cube on the green cube and let go"),
    "PlaceSphere": ("grasp the blue sphere", "move the sphere above the bin", "put the sphere into the bin"),
    "LiftPegUpright": ("grasp the lying peg", "lift the peg and turn it upright", "stand the peg upright on the table"),
    "PegInsertionSide": ("grasp the peg", "line the peg up with the hole in the side of the box",
                         "insert the peg into the hole"),
}


def _lookup(table: dict[str, tuple[str, ...]], what: str, task: str) -> tuple[str, ...]:
    key = task.removesuffix("-v1")
    if key not in table:
        raise KeyError(f"no {what} for ManiSkill task {task!r}; known: {sorted(table)}")
    return table[key]


def stages_for(task: str) -> tuple[str, ...]:
    """The ``stage_gated`` stages of ``task`` (with or without the ``-v1`` suffix)."""
    return _lookup(STAGES, "stages", task)


def instructions_for(task: str) -> tuple[str, ...]:
    """All instructions of ``task`` (with or without the ``-v1`` suffix); the first is the default."""
    return _lookup(INSTRUCTIONS, "instructions", task)
