"""The simulator tasks the RL side provides, without importing any simulator: their ids, the modules that
build them and write their demonstrations, and the Gymnasium registration of ``vlmreward/<Task>-v1``.

The plugin finds this module through the ``vlmreward_gym.envs`` entry point (``pyproject.toml``) and
calls :func:`register_envs` when it is imported, so ``gym.make("vlmreward/PickCube-v1", ...)`` works
after ``import vlmreward_gym`` while the plugin itself imports nothing of the RL side.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym

#: The namespace of the ids (``vlmreward_gym.registration.NAMESPACE``, checked by the tests). Not imported
#: from there: the plugin loads this module while it is being imported itself, through the entry point.
NAMESPACE = "vlmreward"


@dataclass(frozen=True)
class Simulator:
    """One simulator adapter: its tasks and where their env factory and demo generator live."""

    name: str
    tasks: tuple[str, ...]
    make_env: str  # "module:function" building one task's env (Gymnasium entry-point syntax)
    demos: str  # module whose ``main(argv)`` writes a task's demonstrations

    def env_id(self, task: str) -> str:
        return f"{NAMESPACE}/{task}-v1"


SIMULATORS = (
    # ManiSkill3 tasks that need no asset download and run on the CPU (envs/maniskill.py).
    Simulator("ManiSkill3", ("PickCube", "PushCube", "PullCube", "StackCube", "PlaceSphere", "LiftPegUpright",
                             "PegInsertionSide"), "vlmreward_rl.envs.maniskill:make_env",
              "vlmreward_rl.envs.maniskill_demos"),
    Simulator("Robomimic", ("Lift", "Can", "Square"), "vlmreward_rl.envs.robomimic:make_env",
              "vlmreward_rl.envs.robomimic_demos"),
)
MANISKILL_TASKS, ROBOMIMIC_TASKS = (simulator.tasks for simulator in SIMULATORS)


def simulator_of(task: str) -> Simulator:
    """The simulator providing ``task`` (``"PickCube"``, ``"PickCube-v1"`` or ``"vlmreward/PickCube-v1"``).

    Raises:
        ValueError: no simulator has the task; the message lists every task.
    """
    name = task.removeprefix(f"{NAMESPACE}/").removesuffix("-v1")
    for simulator in SIMULATORS:
        if name in simulator.tasks:
            return simulator
    raise ValueError(f"unknown task {task!r}; {describe_tasks()}")


def describe_tasks() -> str:
    """One line per simulator naming its tasks."""
    return "; ".join(f"{s.name} tasks: {', '.join(s.tasks)}" for s in SIMULATORS)


def register_envs() -> None:
    """Register every ``vlmreward/<Task>-v1`` id with a string entry point (idempotent; imports no simulator)."""
    for simulator in SIMULATORS:
        for task in simulator.tasks:
            if simulator.env_id(task) not in gym.registry:
                gym.register(simulator.env_id(task), entry_point=simulator.make_env, kwargs={"task": task})
