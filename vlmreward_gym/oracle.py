"""The oracle protocol: how an environment exposes privileged task progress and success.

A simulator adapter that wants to support the ``oracle`` and ``noisy-oracle`` reward models
(and the success/fidelity logging of the RL recipes) puts two keys into the ``info`` dict it
returns from **both** ``reset()`` and ``step()``:

``info["oracle_progress"]``
    float in [0, 1]: how far the task is done in the current state (0 = nothing done,
    1 = done), computed from privileged simulator state. It should rise along a successful
    demonstration and reach 1.0 at success.
``info["success"]``
    bool: the simulator's own success flag for the current state.

Gymnasium vector envs gather these keys into arrays automatically, so the same protocol
serves single and vector envs. Nothing else is required; in particular the reward model
never calls into the simulator.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

PROGRESS_KEY = "oracle_progress"
SUCCESS_KEY = "success"


class OracleProtocolError(KeyError):
    """The environment does not expose the oracle protocol keys a reward model needs."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly.
        return str(self.args[0])


def read_oracle(info: Mapping[str, Any]) -> tuple[float, bool]:
    """Return ``(progress, success)`` from one (single-env) info dict.

    Raises:
        OracleProtocolError: a key is missing, or progress is not a finite number in [0, 1].
    """
    missing = [k for k in (PROGRESS_KEY, SUCCESS_KEY) if k not in info]
    if missing:
        raise OracleProtocolError(
            f"the environment's info dict lacks {missing}; a reward model that needs privileged "
            f"progress (oracle, noisy-oracle) requires an env that implements the oracle protocol "
            f"(see vlmreward_gym.oracle): info[{PROGRESS_KEY!r}] in [0, 1] and info[{SUCCESS_KEY!r}]"
        )
    progress = float(np.asarray(info[PROGRESS_KEY]).reshape(()))
    if not (0.0 <= progress <= 1.0):
        raise OracleProtocolError(
            f"info[{PROGRESS_KEY!r}] must be a finite number in [0, 1], got {progress!r}"
        )
    return progress, bool(np.asarray(info[SUCCESS_KEY]).reshape(()))
