"""Rollout metrics a learned-reward researcher looks at, shared by our PPO and the SB3 callback.

Per episode: the return under the learned reward (and the simulator's), the simulator's success
at the episode's last step (``success_rate``) and at any step (``success_once``), both from
``info["success"]``. Reward fidelity: the reward model's detected success
(``info["reward_model"]["success"]``, sticky within an episode) against the simulator's
success-once, episode by episode (precision, recall, the false successes paid and the counts behind them:
:class:`~vlmreward_rl.algos.common.fidelity.SuccessCounts`), and the Pearson correlation of the paid
learned reward with ``info["oracle_progress"]`` over every step of the rollout
(``progress_pearson``, the right yardstick for absolute progress rewards) and with the step's
change in oracle progress (``progress_delta_pearson``, for potential-based / relative rewards).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Mapping, Sequence

import numpy as np

from vlmreward_rl.algos.common.fidelity import SuccessCounts
from vlmreward_gym.options import format_kwargs

MAX_OPTIONS_CHARS = 80  # longer reward options are cut and end in a hash of the whole


def reward_options(*kwargs: Mapping[str, Any]) -> str:
    """``{"mae": 0.5}, {"relative": True}`` -> ``"mae=0.5-relative=true"``: the reward settings of a run as
    a file-name-safe text (each mapping's keys sorted; characters other than letters, digits and ``.=+_``
    become ``_``; over :data:`MAX_OPTIONS_CHARS`, cut and ended by a hash of the whole)."""
    text = "-".join(re.sub(r"[^A-Za-z0-9.=+_]+", "_", token)
                    for options in kwargs for token in format_kwargs(dict(sorted(options.items()))))
    if len(text) > MAX_OPTIONS_CHARS:
        text = f"{text[:MAX_OPTIONS_CHARS - 9]}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"
    return text


def run_name(env_id: str, algo: str, model: str, form: str, seed: int, model_kwargs: Mapping[str, Any] | None = None,
             reward_kwargs: Mapping[str, Any] | None = None) -> str:
    """Run name (its folder and TensorBoard name) ``<env>__<algo>__<model>-<form>[-<options>]__s<seed>``:
    the env without its namespace; ``<options>`` the model's and the form's keyword options
    (:func:`reward_options`), so runs that differ in their reward settings never share a folder."""
    options = reward_options(model_kwargs or {}, reward_kwargs or {})
    return f"{env_id.split('/')[-1]}__{algo}__{model}-{form.replace('_', '-')}{'-' * bool(options)}{options}__s{seed}"


def precision_recall(predicted: Sequence[bool], actual: Sequence[bool]) -> tuple[float, float]:
    """``(precision, recall)`` of boolean predictions; NaN where the denominator is 0."""
    counts = SuccessCounts.of(predicted, actual)
    return counts.precision, counts.recall


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation of two equally long series; NaN with fewer than 2 points or a constant series."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"pearson needs equal shapes, got {x.shape} and {y.shape}")
    if x.size < 2:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    denom = np.sqrt(np.sum(dx * dx) * np.sum(dy * dy))
    return float(np.sum(dx * dy) / denom) if denom > 1e-12 else float("nan")


def _masked(container: Mapping[str, Any], key: str, n: int, fill: float) -> np.ndarray:
    """``container[key]`` as a float (n,) array, ``fill`` where absent or masked out by ``_key``."""
    if key not in container:
        return np.full(n, fill)
    values = np.asarray(container[key], np.float64).reshape(n)
    mask = container.get(f"_{key}")
    return values if mask is None else np.where(np.asarray(mask, bool), values, fill)


def fields_from_vector_info(info: Mapping[str, Any], num_envs: int) -> dict[str, np.ndarray]:
    """The per-step fields :meth:`RolloutStats.add` reads, from a Gymnasium vector info dict.

    Missing values are NaN: ``env_reward``, ``success`` (simulator), ``detected`` (reward model's
    success), ``progress`` (oracle progress), each float (num_envs,).
    """
    rm = info.get("reward_model", {})
    rm_mask = np.asarray(info.get("_reward_model", np.ones(num_envs, bool)), bool)
    detected = np.where(rm_mask, _masked(rm, "success", num_envs, np.nan), np.nan) if rm else np.full(num_envs, np.nan)
    out = {"env_reward": _masked(info, "env_reward", num_envs, np.nan),
           "success": _masked(info, "success", num_envs, np.nan),
           "detected": detected,
           "progress": _masked(info, "oracle_progress", num_envs, np.nan)}
    if "final_info" in info:  # SAME_STEP autoreset: an ended sub-env's own info is under final_info
        ended = np.asarray(info["_final_info"], bool)
        for field, key in (("success", "success"), ("progress", "oracle_progress")):
            out[field] = np.where(ended, _masked(info["final_info"], key, num_envs, np.nan), out[field])
    return out


def fields_from_infos(infos: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Same as :func:`fields_from_vector_info` from one info dict per env (SB3's VecEnv infos)."""
    def get(d: Mapping[str, Any], key: str) -> float:
        return float(np.asarray(d[key]).reshape(())) if key in d else np.nan

    return {"env_reward": np.array([get(i, "env_reward") for i in infos]),
            "success": np.array([get(i, "success") for i in infos]),
            "detected": np.array([get(i.get("reward_model", {}), "success") for i in infos]),
            "progress": np.array([get(i, "oracle_progress") for i in infos])}


class RolloutStats:
    """Accumulates steps of ``num_envs`` envs and summarises finished episodes and reward fidelity.

    Call :meth:`add` once per vector step, :meth:`summary` to read, :meth:`clear` to start a new
    window (episodes in progress carry over).
    """

    def __init__(self, num_envs: int):
        self.num_envs = num_envs
        zeros = lambda dtype: np.zeros(num_envs, dtype)  # noqa: E731
        self._ret, self._env_ret, self._len = zeros(np.float64), zeros(np.float64), zeros(np.int64)
        self._once, self._detected, self._has_detector = zeros(bool), zeros(bool), zeros(bool)
        self._last_progress = np.full(num_envs, np.nan)  # oracle progress before the step, NaN if unknown
        self.clear()

    def clear(self) -> None:
        self.episodes: list[dict[str, float]] = []
        self._rewards: list[np.ndarray] = []
        self._progress: list[np.ndarray] = []
        self._delta: list[np.ndarray] = []

    def add(self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, fields: Mapping[str, np.ndarray],
            valid: np.ndarray | None = None) -> None:
        """One vector step: learned ``rewards`` (num_envs,), episode ends, and ``fields`` from
        :func:`fields_from_vector_info`. ``valid`` False marks steps that belong to no episode
        (a NEXT_STEP autoreset's reset step); they are ignored."""
        valid = np.ones(self.num_envs, bool) if valid is None else np.asarray(valid, bool)
        rewards = np.asarray(rewards, np.float64)
        self._rewards.append(rewards[valid])
        self._progress.append(fields["progress"][valid])
        self._delta.append((fields["progress"] - self._last_progress)[valid])
        ended = np.asarray(terminated, bool) | np.asarray(truncated, bool)
        self._last_progress = np.where(ended & valid, np.nan, fields["progress"])
        success, detected = fields["success"], fields["detected"]
        self._ret += np.where(valid, rewards, 0.0)
        self._env_ret += np.where(valid, np.nan_to_num(fields["env_reward"]), 0.0)
        self._len += valid
        self._once |= valid & (success == 1.0)
        self._detected |= valid & (detected == 1.0)
        self._has_detector |= valid & ~np.isnan(detected)
        for i in np.flatnonzero(valid & ended):
            self.episodes.append({"return": self._ret[i], "env_return": self._env_ret[i], "length": self._len[i],
                                  "success": float(success[i] == 1.0), "success_once": float(self._once[i]),
                                  "detected": float(self._detected[i]) if self._has_detector[i] else np.nan})
            self._ret[i] = self._env_ret[i] = self._len[i] = 0
            self._once[i] = self._detected[i] = self._has_detector[i] = False

    def summary(self) -> dict[str, float]:
        """Scalars keyed by their TensorBoard tag; NaN where there is no data yet."""
        rewards = np.concatenate(self._rewards) if self._rewards else np.zeros(0)
        out = {"reward/mean": float(rewards.mean()) if rewards.size else np.nan}
        progress = np.concatenate(self._progress) if self._progress else np.zeros(0)
        known = ~np.isnan(progress)
        out["reward/progress_pearson"] = pearson(rewards[known], progress[known])
        delta = np.concatenate(self._delta) if self._delta else np.zeros(0)
        known = ~np.isnan(delta)
        out["reward/progress_delta_pearson"] = pearson(rewards[known], delta[known])
        eps = self.episodes
        column = lambda key: np.array([e[key] for e in eps], np.float64)  # noqa: E731
        for tag, key in (("charts/episodic_return", "return"), ("charts/episodic_env_return", "env_return"),
                         ("charts/episodic_length", "length"), ("charts/success_rate", "success"),
                         ("charts/success_once", "success_once")):
            out[tag] = float(column(key).mean()) if eps else np.nan
        out["charts/episodes"] = float(len(eps))
        detected = column("detected") if eps else np.zeros(0)
        judged = ~np.isnan(detected)
        once = column("success_once") if eps else np.zeros(0)
        out.update(SuccessCounts.of(detected[judged] == 1.0, once[judged] == 1.0).metrics())
        return out
