"""The record (:class:`vlmreward_rl.envs.tasks.Task`) of the plugin's built-in ``vlmreward/PointReach-v0``.

The env, its instructions and stages are the plugin's (:mod:`vlmreward_gym.point_reach`, which also registers
the id); the RL side adds its demo generator, :mod:`vlmreward_rl.envs.point_reach_demos`.
"""

from __future__ import annotations

from vlmreward_gym import point_reach
from vlmreward_rl.envs.tasks import Simulator, Task

NAME = "built-in"  # the plugin's own envs
#: Every kind :mod:`vlmreward_rl.envs.point_reach_demos` writes, in its order.
DEMO_KINDS = ("expert", "early_stop", "random")

TASK = Task("PointReach", NAME, point_reach.INSTRUCTIONS, point_reach.STAGES,
            oracle="clip(1 - distance / initial distance, 0, 1), 1.0 on success = distance below the goal radius "
                   "(vlmreward_gym.point_reach.PointReachEnv._oracle)",
            demo_kinds=DEMO_KINDS, failure_kinds=(), frame_size=point_reach.FRAME_SIZE, camera="top-down view",
            version=0)

SIMULATOR = Simulator(NAME, (TASK,), None, "vlmreward_rl.envs.point_reach_demos")
