"""The reward-model protocol every backend implements.

A backend subclasses :class:`RewardModel`, fills :attr:`RewardModel.info` and implements
:meth:`RewardModel._predict`; its class-level :attr:`RewardModel.card` says what it can do before
it is built (``vlmreward models -v``, and capability checks before any weights load). Callers use ``model(query)``, which checks the query against the
model's declared capabilities and needs, runs the model and checks the output, so every backend
gets the same errors for the same mistakes. Models are stateless: wrappers own per-episode state.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from vlmreward_gym.types import Capability, CapabilityError, RewardInputError, RewardOutput, RewardOutputError, RewardQuery


@dataclass(frozen=True)
class ModelInfo:
    """What a reward model can do and what it needs.

    Attributes:
        name: registry name, e.g. ``"robometer-4b"``.
        capabilities: the :class:`Capability` flags it answers.
        num_frames: preferred frames per clip (wrappers subsample longer clips to this, first and
            last frame kept); None = any number.
        frame_size: preferred ``(height, width)`` in pixels, or None.
        fps: frame rate the model was trained on, or None.
        needs_frames: whether queries must carry frames (False for control models: no rendering).
        needs_oracle: whether queries must carry privileged oracle progress and success.
        score_range: ``(low, high)`` of the episode score, e.g. ``(1, 5)`` for the RoboReward rubric.
        uses_anchor: for COMPARE, whether the model reads the episode's first frame as an anchor
            (wrappers then send ``[first, reference, current]`` instead of ``[reference, current]``).
        device: where it runs (``"cpu"``, ``"cuda:0"``, a URL for remote models).
    """

    name: str
    capabilities: Capability
    num_frames: int | None = None
    frame_size: tuple[int, int] | None = None
    fps: float | None = None
    needs_frames: bool = True
    needs_oracle: bool = False
    score_range: tuple[float, float] = (1.0, 5.0)
    uses_anchor: bool = False
    device: str = "cpu"


@dataclass(frozen=True)
class ModelCard:
    """What a backend is, known without building it (no weights loaded): a class attribute of the
    backend (or an attribute ``card`` of its factory function), read by the registry.

    Attributes:
        capabilities: the :class:`Capability` flags it answers with its default options.
        summary: one line on what it is.
        num_frames: frames per clip it reads by default; None = any number (or set by its checkpoint).
        needs_frames: whether it reads frames (the env must render).
        needs_oracle: whether it reads the env's privileged oracle progress and success.
        weights: what it loads: the default hub id, or ``"path=..."`` for a required checkpoint; None = nothing.
    """

    capabilities: Capability
    summary: str = ""
    num_frames: int | None = None
    needs_frames: bool = True
    needs_oracle: bool = False
    weights: str | None = None


def capability_error(name: str, offered: Capability, wanted: Capability, purpose: str = "") -> CapabilityError | None:
    """The error for model ``name`` offering ``offered`` when asked for ``wanted``; None if nothing is missing."""
    missing = wanted & ~offered
    if not missing:
        return None
    why = f" for {purpose}" if purpose else ""
    return CapabilityError(f"reward model {name!r} cannot answer {missing.names()}{why}; it offers {offered.names()}")


class RewardModel(abc.ABC):
    """Base class of reward-model backends. Subclasses set ``self.info`` and implement ``_predict``."""

    info: ModelInfo
    card: ClassVar[ModelCard | None] = None
    """what the backend is before it is built (None: known only once built, e.g. a remote server's model)"""

    def __call__(self, query: RewardQuery) -> RewardOutput:
        """Score a batch of clips; the output is validated against the query and ``info``."""
        self.check_query(query)
        output = self._predict(query)
        if not output.raw:
            output = RewardOutput(output.progress, output.success, output.comparison, output.score,
                                  tuple({} for _ in range(query.batch_size)))
        validate_output(output, query, self.info)
        return output

    def check_query(self, query: RewardQuery) -> None:
        """Raise :class:`CapabilityError` or :class:`RewardInputError` if this model cannot answer ``query``."""
        self.require(query.want)
        if self.info.needs_frames and query.frames is None:
            raise RewardInputError(f"reward model {self.info.name!r} needs frames but the query has none")
        if self.info.needs_oracle and (query.oracle_progress is None or query.oracle_success is None):
            raise RewardInputError(
                f"reward model {self.info.name!r} needs privileged oracle progress and success, but the query "
                f"has none: the env must implement the oracle protocol (see vlmreward_gym.oracle)")

    def require(self, wanted: Capability, purpose: str = "") -> None:
        """Raise :class:`CapabilityError` if the model lacks any of ``wanted``."""
        error = capability_error(self.info.name, self.info.capabilities, wanted, purpose)
        if error is not None:
            raise error

    @abc.abstractmethod
    def _predict(self, query: RewardQuery) -> RewardOutput:
        """Answer at least the capabilities in ``query.want`` (shapes as in :class:`RewardOutput`)."""

    def close(self) -> None:
        """Release resources (GPU memory, server connections). Default: nothing."""

    def __deepcopy__(self, memo: dict) -> "RewardModel":
        # Models are stateless, so copies share one instance: gymnasium's RecordConstructorArgs
        # deep-copies wrapper arguments, which would otherwise duplicate (or fail to copy) weights.
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.info.name!r})"


def _check_range(name: str, values: np.ndarray, low: float, high: float, model: str) -> None:
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return
    smallest, largest = values.min(), values.max()  # NaN propagates into both
    if not (np.isfinite(smallest) and np.isfinite(largest)):
        raise RewardOutputError(f"reward model {model!r} returned non-finite {name}: {values}")
    if smallest < low - 1e-6 or largest > high + 1e-6:
        raise RewardOutputError(f"reward model {model!r} returned {name} outside [{low}, {high}]: {values}")


def validate_output(output: RewardOutput, query: RewardQuery, info: ModelInfo) -> None:
    """Raise :class:`RewardOutputError` if ``output`` does not answer ``query`` within the contract."""
    B, name = query.batch_size, info.name
    fields = {Capability.PROGRESS: "progress", Capability.SUCCESS: "success",
              Capability.COMPARE: "comparison", Capability.EPISODE_SCORE: "score"}
    for cap, field_name in fields.items():
        if cap in query.want and getattr(output, field_name) is None:
            raise RewardOutputError(f"reward model {name!r} was asked for {field_name} but returned none")
    if len(output.raw) != B:
        raise RewardOutputError(f"reward model {name!r} returned {len(output.raw)} raw entries for {B} clips")
    if output.progress is not None:
        if len(output.progress) != B:
            raise RewardOutputError(f"reward model {name!r} returned progress for {len(output.progress)} of {B} clips")
        for i, (p, n) in enumerate(zip(output.progress, query.lengths)):
            if np.ndim(p) != 1 or len(p) not in (1, n):
                raise RewardOutputError(
                    f"reward model {name!r} returned progress of shape {np.shape(p)} for clip {i}; expected ({n},) or (1,)")
        try:
            _check_range("progress", np.concatenate(output.progress), 0.0, 1.0, name)
        except RewardOutputError:  # name the first offending clip
            for i, p in enumerate(output.progress):
                _check_range(f"progress of clip {i}", p, 0.0, 1.0, name)
    for field_name, (low, high) in (("success", (0.0, 1.0)), ("comparison", (-1.0, 1.0)), ("score", info.score_range)):
        value = getattr(output, field_name)
        if value is None:
            continue
        if np.shape(value) != (B,):
            raise RewardOutputError(f"reward model {name!r} returned {field_name} of shape {np.shape(value)}, expected ({B},)")
        _check_range(field_name, value, low, high, name)
