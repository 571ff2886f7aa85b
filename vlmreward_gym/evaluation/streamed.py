"""A reward model asked as a dense reward asks it: at every kept frame, about the episode so far.

``vlmreward eval`` scores whole episodes (the final progress, the episode's success). A dense, potential-based
reward instead pays the change of the model's progress between consecutive queries, each on the clip from the
episode's start to now, and a terminating form ends the episode at the first query whose success probability
reaches a threshold. A model can rank whole episodes well and still pay little for the step that succeeds, or
call near misses successes on the way (docs/evaluation.md: the Lift specialist from ``agentview``). These are
the numbers that show it, over episodes with per-frame oracle labels (our demo format):

- ``progress_pearson``: Pearson r of the streamed progress with the oracle's, over all kept frames;
- ``progress_delta_pearson``: r of its change between consecutive frames with the oracle's change (what a
  potential-based reward pays, step by step);
- ``success_roc_auc``: the streamed success probability against the simulator's success flag, per frame;
- ``successes_called``: share of successful episodes with a frame at or above ``threshold`` (a terminating
  reward's recall per episode); ``failures_called``: share of failed episodes with one (its false successes);
- ``progress_at_success``: the mean streamed progress at each successful episode's first successful frame (what
  the potential pays for reaching success; the oracle's is 1), next to ``progress_before_success`` at the frame
  before it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from vlmreward_gym.evaluation.data import EvalEpisode
from vlmreward_gym.evaluation.scoring import prefix_answers
from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.types import Capability


def streamed_answers(model: RewardModel, episode: EvalEpisode, batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """The model's last-frame progress and success probability ``(F,)`` each, the query at kept frame ``t`` holding
    the frames ``0..t`` (the model subsamples as it does in a wrapper)."""
    want = model.info.capabilities & (Capability.PROGRESS | Capability.SUCCESS)
    if not want & Capability.PROGRESS:
        raise ValueError(f"reward model {model.info.name!r} gives no progress; a streamed evaluation needs it")
    return prefix_answers(model, episode, episode.instruction, True, batch_size, want)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:  # a constant: no correlation defined
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def streamed_metrics(episodes: Sequence[EvalEpisode], answers: Sequence[tuple[np.ndarray, np.ndarray]],
                     threshold: float = 0.5) -> dict[str, float]:
    """The module's metrics from :func:`streamed_answers` of each episode (episodes need per-frame oracle
    progress and success flags); ``nan`` where undefined (no successful or no failed episode, a constant answer)."""
    from sklearn.metrics import roc_auc_score

    if any(e.progress is None or e.success_flags is None for e in episodes):
        raise ValueError("a streamed evaluation needs per-frame oracle progress and success flags (our demo format)")
    model_p = np.concatenate([p for p, _ in answers])
    true_p = np.concatenate([e.progress for e in episodes])
    model_dp = np.concatenate([np.diff(p) for p, _ in answers])
    true_dp = np.concatenate([np.diff(e.progress) for e in episodes])
    model_s = np.concatenate([s for _, s in answers])
    true_s = np.concatenate([e.success_flags for e in episodes]).astype(bool)
    succeeded = [(e, a) for e, a in zip(episodes, answers) if e.success_flags.any()]
    failed = [(e, a) for e, a in zip(episodes, answers) if not e.success_flags.any()]
    first = [(int(np.argmax(e.success_flags)), p) for e, (p, _) in succeeded]
    both_classes = true_s.any() and (~true_s).any() and not np.isnan(model_s).any()
    return {
        "progress_pearson": _pearson(model_p, true_p),
        "progress_delta_pearson": _pearson(model_dp, true_dp),
        "success_roc_auc": float(roc_auc_score(true_s, model_s)) if both_classes else float("nan"),
        "successes_called": float(np.mean([(s >= threshold).any() for _, (_, s) in succeeded])) if succeeded
        else float("nan"),
        "failures_called": float(np.mean([(s >= threshold).any() for _, (_, s) in failed])) if failed
        else float("nan"),
        "progress_at_success": float(np.mean([p[t] for t, p in first])) if first else float("nan"),
        "progress_before_success": float(np.mean([p[t - 1] for t, p in first if t > 0])) if first else float("nan"),
        "episodes": float(len(episodes)), "successful_episodes": float(len(succeeded)),
    }


def streamed_evaluation(model: RewardModel, episodes: Sequence[EvalEpisode], threshold: float = 0.5,
                        batch_size: int = 16) -> dict[str, float]:
    """:func:`streamed_metrics` of ``model`` over ``episodes``."""
    return streamed_metrics(episodes, [streamed_answers(model, e, batch_size) for e in episodes], threshold)
