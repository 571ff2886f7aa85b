"""Packaging and layering: nothing generic at the top of site-packages, the plugin imports nothing of the
RL side, recipes -> algos -> envs, and the RL side's commands and env ids arrive through entry points."""

import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _source_packages() -> set[str]:
    """Import names of every package folder in the repository, as pyproject's package-dir maps them."""
    folders = {folder: name for name, folder in SETUPTOOLS["package-dir"].items()}
    folders["vlmreward_gym"] = "vlmreward_gym"
    found = set()
    for folder, name in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            if "_mujoco_py_shim" not in parts:  # a stand-in put on sys.path, shipped as package data
                found.add(".".join((name, *parts)))
    return found


def _python(code: str) -> str:
    """What a fresh interpreter prints running ``code`` (it must exit 0)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_pyproject_lists_every_package_folder():
    assert set(SETUPTOOLS["packages"]) == _source_packages()


def test_the_layering_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_a_built_wheel_holds_only_the_projects_own_top_level_names(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")} == {
        "vlmreward_gym", "vlmreward_rl"}
    assert "vlmreward_rl/envs/_mujoco_py_shim/mujoco_py/__init__.py" in names
    assert "vlmreward_rl/algos/common/gae.py" in names and "vlmreward_gym/data.py" in names


@pytest.mark.parametrize("group, name", [("vlmreward_gym.commands", "train"), ("vlmreward_gym.commands", "studies"),
                                         ("vlmreward_gym.commands", "demos"), ("vlmreward_gym.envs", "vlmreward_rl")])
def test_the_rl_side_registers_through_entry_points(group, name):
    assert name in {entry_point.name for entry_point in entry_points(group=group)}


def test_the_plugin_alone_registers_no_simulator_task():
    """Importing vlmreward_gym with its entry points stubbed out leaves only the built-in PointReach id."""
    assert _python("import importlib.metadata as m; m.entry_points = lambda **kw: []\n"
                   "import gymnasium as gym, vlmreward_gym\n"
                   "print(sorted(k for k in gym.registry if k.startswith('vlmreward/')))") == "['vlmreward/PointReach-v0']"


def test_the_task_table_imports_first_and_shares_the_plugins_namespace():
    """The plugin loads envs/tasks.py through its entry point while it is itself being imported: importing the
    task table first must not meet a half-initialised module."""
    assert _python("import vlmreward_rl.envs.tasks as tasks, vlmreward_gym.registration as registration\n"
                   "assert tasks.NAMESPACE == registration.NAMESPACE\n"
                   "import gymnasium as gym; print('vlmreward/Lift-v1' in gym.registry)") == "True"
