"""``vlmreward/PointReach-v0``: a tiny built-in rendering env that implements the oracle protocol.

A point in the square [-1, 1]^2 moves by its action (a velocity, clipped to 0.1 per step) toward
a goal. It exists so the plugin can be demonstrated, tested and benchmarked without a simulator:
rendering costs about as much as a small image op, stepping almost nothing.

- observation: float32 (4,) ``[x, y, goal_x, goal_y]``
- action: float32 (2,) in [-1, 1], scaled by ``max_speed``
- reward (the "simulator's" own): ``-distance`` to the goal
- oracle: ``progress = clip(1 - distance / initial distance, 0, 1)`` (1.0 on success),
  ``success = distance < goal_radius``; success terminates the episode.
- render: uint8 (size, size, 3): grey background, green goal disc, red agent disc.

Its instructions and sub-task stages are here, the plugin's own; the RL side's task registry reads them.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

#: Language instructions of the task: the default first, then paraphrases.
INSTRUCTIONS = ("move the red dot onto the green dot", "move the red dot to the green dot",
                "bring the red disc onto the green disc")
#: Sub-task instructions in order, the default ``stages`` of the ``stage_gated`` reward form.
STAGES = ("move the red dot toward the green dot", INSTRUCTIONS[0])
#: The default side of a rendered frame, in pixels.
FRAME_SIZE = 64


class PointReachEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None, size: int = FRAME_SIZE, max_speed: float = 0.1,
                 goal_radius: float = 0.05):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode, self.size = render_mode, int(size)
        self.max_speed, self.goal_radius = float(max_speed), float(goal_radius)
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._pos = np.zeros(2)
        self._goal = np.zeros(2)
        self._start_dist = 1.0
        grid = (np.arange(self.size) + 0.5) / self.size * 2.0 - 1.0
        self._ys, self._xs = np.meshgrid(grid[::-1], grid, indexing="ij")

    def _obs(self) -> np.ndarray:
        return np.concatenate([self._pos, self._goal]).astype(np.float32)

    def _oracle(self) -> dict[str, Any]:
        dist = float(np.linalg.norm(self._pos - self._goal))
        success = dist < self.goal_radius
        progress = 1.0 if success else float(np.clip(1.0 - dist / self._start_dist, 0.0, 1.0))
        return {"oracle_progress": progress, "success": success, "distance": dist}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._pos = self.np_random.uniform(-0.9, 0.9, size=2)
        self._goal = self.np_random.uniform(-0.9, 0.9, size=2)
        while np.linalg.norm(self._pos - self._goal) < 0.5:
            self._goal = self.np_random.uniform(-0.9, 0.9, size=2)
        self._start_dist = float(np.linalg.norm(self._pos - self._goal))
        return self._obs(), self._oracle()

    def step(self, action: Any):
        action = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        self._pos = np.clip(self._pos + self.max_speed * action, -1.0, 1.0)
        info = self._oracle()
        return self._obs(), -info["distance"], bool(info["success"]), False, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        frame = np.full((self.size, self.size, 3), 96, dtype=np.uint8)
        for center, color, radius in ((self._goal, (40, 200, 60), 0.12), (self._pos, (220, 40, 40), 0.08)):
            disc = (self._xs - center[0]) ** 2 + (self._ys - center[1]) ** 2 <= radius**2
            frame[disc] = color
        return frame
