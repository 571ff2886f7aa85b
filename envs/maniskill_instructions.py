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


def instructions_for(task: str) -> tuple[str, ...]:
    """All instructions of ``task`` (without the ``-v1`` suffix); the first is the default."""
    key = task.removesuffix("-v1")
    if key not in INSTRUCTIONS:
        raise KeyError(f"no instructions for ManiSkill task {task!r}; known: {sorted(INSTRUCTIONS)}")
    return INSTRUCTIONS[key]
