"""The task registry: every simulator task the RL side knows, as a :class:`Task` record, without importing any
simulator; the Gymnasium registration of ``vlmreward/<Task>-v1`` from it.

Each simulator adapter owns its records in a light module of its own (no simulator import):

* :mod:`vlmreward_rl.envs.maniskill_tasks`: ManiSkill3 (PickCube, ...), built by :mod:`vlmreward_rl.envs.maniskill`;
* :mod:`vlmreward_rl.envs.robomimic_tasks`: Robomimic (Lift, Can, Square), built by :mod:`vlmreward_rl.envs.robomimic`;
* :mod:`vlmreward_rl.envs.point_reach_tasks`: the plugin's built-in ``vlmreward/PointReach-v0`` (its instructions
  are the plugin's own, :mod:`vlmreward_gym.point_reach`; the plugin registers its id).

This module lists them (:func:`simulators`) and answers :func:`task`; env factories, demo generators, recipes and
studies read a task's instruction, stages, demo kinds and frame settings from here, so none is written twice.

The plugin finds this module through the ``vlmreward_gym.envs`` entry point (``pyproject.toml``) and calls
:func:`register_envs` when it is imported, so ``gym.make("vlmreward/PickCube-v1", ...)`` works after
``import vlmreward_gym`` while the plugin itself imports nothing of the RL side.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym

#: The namespace of the ids (``vlmreward_gym.registration.NAMESPACE``, checked by the tests). Not imported
#: from there: the plugin loads this module while it is being imported itself, through the entry point.
NAMESPACE = "vlmreward"


@dataclass(frozen=True)
class Task:
    """What the RL side knows of one simulator task; its id is ``vlmreward/<name>-v<version>``."""

    name: str
    """``"PickCube"``"""
    simulator: str
    """the name of the :class:`Simulator` that provides it"""
    instructions: tuple[str, ...]
    """the language instructions: the default first, then paraphrases"""
    stages: tuple[str, ...]
    """the default sub-task instructions, in order, of the ``stage_gated`` reward form"""
    oracle: str
    """how ``info["oracle_progress"]`` and ``info["success"]`` are computed (in words, naming the function)"""
    demo_kinds: tuple[str, ...]
    """the ``Trajectory.kind`` values its demo generator writes, in the order it writes them"""
    failure_kinds: tuple[str, ...]
    """the kinds among ``demo_kinds`` that script a failure reward models tend to over-reward"""
    frame_size: int
    """the default side of a rendered frame, in pixels"""
    camera: str
    """the default camera (or frame source) frames are rendered from"""
    version: int = 1

    def __post_init__(self) -> None:
        if not self.instructions or not self.stages:
            raise ValueError(f"task {self.name}: needs at least one instruction and one stage")
        if not set(self.failure_kinds) <= set(self.demo_kinds):
            raise ValueError(f"task {self.name}: failure kinds {self.failure_kinds} not all in {self.demo_kinds}")

    @property
    def env_id(self) -> str:
        """``vlmreward/PickCube-v1``."""
        return f"{NAMESPACE}/{self.name}-v{self.version}"

    @property
    def instruction(self) -> str:
        """The default instruction (the first)."""
        return self.instructions[0]


@dataclass(frozen=True)
class Simulator:
    """One simulator adapter: its tasks and where their env factory and demo generator live."""

    name: str
    tasks: tuple[Task, ...]
    make_env: str | None
    """``"module:function"`` building one task's env (Gymnasium entry-point syntax), called with ``task=<name>``;
    None: the ids are registered elsewhere (the plugin's PointReach)"""
    demos: str
    """the module whose ``main(argv)`` writes a task's demonstrations (``vlmreward demos --env TASK``)"""

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks)


_SIMULATORS: tuple[Simulator, ...] | None = None


def simulators() -> tuple[Simulator, ...]:
    """Every simulator adapter with its task records (their modules are imported on the first call)."""
    global _SIMULATORS
    if _SIMULATORS is None:
        # The plugin first: importing it calls register_envs (through the entry point), which calls this
        # function again; that inner call then finds the plugin already in sys.modules and does the work.
        import vlmreward_gym  # noqa: F401
        from vlmreward_rl.envs import maniskill_tasks, point_reach_tasks, robomimic_tasks

        _SIMULATORS = (maniskill_tasks.SIMULATOR, robomimic_tasks.SIMULATOR, point_reach_tasks.SIMULATOR)
    return _SIMULATORS


def all_tasks() -> tuple[Task, ...]:
    """Every task record, simulator by simulator."""
    return tuple(t for simulator in simulators() for t in simulator.tasks)


def _name(task: str) -> str:
    """``"vlmreward/PickCube-v1"``, ``"PickCube-v1"`` or ``"PickCube"`` -> ``"PickCube"``."""
    name = task.removeprefix(f"{NAMESPACE}/")
    stem, _, version = name.rpartition("-v")
    return stem if stem and version.isdigit() else name


def task(name: str) -> Task:
    """The record of ``name``: ``"PickCube"``, ``"PickCube-v1"`` or ``"vlmreward/PickCube-v1"``.

    Raises:
        ValueError: no simulator has the task; the message lists every task.
    """
    key = _name(name)
    for record in all_tasks():
        if record.name == key:
            return record
    raise ValueError(f"unknown task {name!r}; {describe_tasks()}")


def simulator_of(name: str) -> Simulator:
    """The simulator providing task ``name`` (any form :func:`task` takes).

    Raises:
        ValueError: no simulator has the task; the message lists every task.
    """
    record = task(name)
    return next(s for s in simulators() if s.name == record.simulator)


def describe_tasks() -> str:
    """One line per simulator naming its tasks."""
    return "; ".join(f"{s.name} tasks: {', '.join(s.task_names)}" for s in simulators())


def register_envs() -> None:
    """Register every ``vlmreward/<Task>-v1`` id with a string entry point (idempotent; imports no simulator)."""
    for simulator in simulators():
        for record in simulator.tasks:
            if simulator.make_env is not None and record.env_id not in gym.registry:
                gym.register(record.env_id, entry_point=simulator.make_env, kwargs={"task": record.name})
