"""The task registry (envs/tasks.py): one record per registered id, read by env factories, demo generators and
recipes, and each instruction written once in the source tree. Imports no simulator (runs without the extras)."""

import ast
import difflib
import subprocess
import sys
import tomllib
from pathlib import Path

import gymnasium as gym
import pytest

import vlmreward_gym  # noqa: F401  (registers the ids)
from vlmreward_rl.envs import maniskill_tasks, robomimic_tasks
from vlmreward_rl.envs.tasks import NAMESPACE, Task, all_tasks, register_envs, simulator_of, simulators, task

ROOT = Path(__file__).resolve().parents[2]
#: The files that write instructions and stages: each simulator adapter's records, and the plugin's PointReach.
OWNERS = {ROOT / "envs" / "maniskill_tasks.py", ROOT / "envs" / "robomimic_tasks.py",
          ROOT / "vlmreward_gym" / "point_reach.py"}


def test_every_registered_id_has_a_record_and_every_record_an_id():
    register_envs()
    ids = {key for key in gym.registry if key.startswith(f"{NAMESPACE}/")}
    assert ids == {t.env_id for t in all_tasks()}
    for record in all_tasks():
        assert task(record.env_id) is record
        if simulator_of(record.name).make_env is not None:  # PointReach's entry point is the plugin's own
            assert gym.spec(record.env_id).kwargs == {"task": record.name}


def test_lookup_takes_every_spelling_and_lists_the_tasks_when_it_fails():
    assert task("PickCube") is task("PickCube-v1") is task("vlmreward/PickCube-v1")
    assert task("PointReach-v0") is task("vlmreward/PointReach-v0")
    assert simulator_of("Lift-v1").name == "Robomimic" and simulator_of("PickCube").name == "ManiSkill3"
    with pytest.raises(ValueError, match="unknown task 'Pickcube'.*ManiSkill3 tasks: PickCube.*Robomimic tasks: Lift"):
        task("Pickcube")


def test_records_are_complete():
    names = [t.name for t in all_tasks()]
    assert len(names) == len(set(names))
    for record in all_tasks():
        assert record.instruction == record.instructions[0] and len(record.instructions) >= 2, record.name
        assert len(set(record.instructions)) == len(record.instructions) and len(record.stages) >= 2, record.name
        assert record.oracle and record.camera and record.frame_size >= 8 and "expert" in record.demo_kinds
        assert simulator_of(record.name).name == record.simulator
    assert maniskill_tasks.MANISKILL_TASKS == simulators()[0].task_names
    with pytest.raises(ValueError, match="failure kinds"):
        Task("X", "S", ("a",), ("b",), "o", demo_kinds=("expert",), failure_kinds=("drop",), frame_size=64, camera="c")


def test_demo_generators_take_their_kinds_from_the_registry():
    from vlmreward_rl.envs import maniskill_demos, point_reach_demos, robomimic_scripted

    pick, lift, reach = task("PickCube"), task("Lift"), task("PointReach")
    assert maniskill_demos.FAILURE_KINDS == pick.failure_kinds and maniskill_demos.KINDS == pick.demo_kinds
    assert robomimic_scripted.VARIANTS == ("expert", *lift.failure_kinds)
    assert robomimic_tasks.FAILURE_KINDS == lift.failure_kinds
    assert point_reach_demos.KINDS == reach.demo_kinds and point_reach_demos.TASKS["reach"] == reach.instruction


def _package_files() -> list[Path]:
    """The .py files of the installed packages (the plugin and the RL side's folders; not tests, docs, examples)."""
    folders = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].values()
    return sorted(path for folder in ("vlmreward_gym", *folders) for path in (ROOT / folder).rglob("*.py"))


def _string_values(path: Path) -> set[str]:
    """The string constants of a module's code: docstrings (any string standing alone as a statement) left out."""
    tree = ast.parse(path.read_text(), str(path))
    prose = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose}


def test_no_instruction_is_written_twice():
    """Each instruction appears as a string in the code of exactly one file, the one owning its task's record;
    stages only in those files (tasks may share a stage's words). Docstrings, tests and docs may quote them."""
    strings = {path: _string_values(path) for path in _package_files()}
    assert OWNERS <= set(strings)
    for record in all_tasks():
        for text in record.instructions:
            where = {path.relative_to(ROOT).as_posix() for path, values in strings.items() if text in values}
            assert len(where) == 1 and ROOT / next(iter(where)) in OWNERS, f"{record.name}: {text!r} in {where}"
        for text in record.stages:
            where = {path for path, values in strings.items() if text in values}
            assert where and where <= OWNERS, f"{record.name} stage {text!r} in {where - OWNERS}"


def test_no_instruction_is_restated_in_other_words():
    """No string in the code outside the owners is a near copy of an instruction (the old PickCube preset's
    'pick up the red cube and move it to the green goal' against the task's '... green goal point')."""
    instructions = {text for record in all_tasks() for text in (*record.instructions, *record.stages)}
    for path in set(_package_files()) - OWNERS:
        for value in _string_values(path):
            for text in instructions:
                matcher = difflib.SequenceMatcher(None, value, text)
                if matcher.real_quick_ratio() >= 0.9 and matcher.quick_ratio() >= 0.9:
                    assert matcher.ratio() < 0.9, f"{path.relative_to(ROOT)}: {value!r} restates {text!r}"


def test_importing_the_plugin_imports_no_simulator():
    code = ("import sys, vlmreward_gym\n"
            "from vlmreward_rl.envs.tasks import all_tasks; all_tasks()\n"
            "heavy = ('mani_skill', 'sapien', 'robosuite', 'robomimic', 'mujoco', 'torch')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in ("
            "'vlmreward_rl.envs.maniskill', 'vlmreward_rl.envs.robomimic')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
