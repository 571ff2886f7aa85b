"""``mujoco_py.builder.MujocoException``, the one name robomimic 0.3.0 uses from mujoco-py."""


class MujocoException(Exception):
    """Raised by the real mujoco-py on simulator instability; never raised by robosuite >= 1.4."""
