"""Minimal stand-in for ``mujoco_py`` (see ``envs/_mujoco_py_shim/README.md``).

robomimic 0.3.0 imports ``mujoco_py`` only for ``mujoco_py.builder.MujocoException``; this module
provides exactly that and nothing else.
"""

from . import builder  # noqa: F401  (robomimic accesses mujoco_py.builder.MujocoException)

STANDIN = True  #: lets callers tell this stand-in from the real mujoco-py
