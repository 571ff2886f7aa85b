"""The reward models that ship inside the package: they load by name with no path, are small, and judge
freshly rendered episodes of their simulators (reset seeds no training or evaluation data used): an expert
episode is paid more progress than a failure, is more likely a success, and no failure is called a success."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="needs the 'torch' extra")
pytest.importorskip("safetensors", reason="needs the 'torch' extra")

import vlmreward_gym as vrg  # noqa: E402
from vlmreward_gym.models.registry import reward_model_card  # noqa: E402
from vlmreward_gym.models.sim_rm import SHIPPED, shipped_checkpoint  # noqa: E402
from vlmreward_gym.types import Capability, RewardQuery  # noqa: E402

ALL = Capability.PROGRESS | Capability.SUCCESS | Capability.COMPARE | Capability.EPISODE_SCORE
FRESH_SEED = 500_000  # training data starts at 0, held-out evaluation data at 100000


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_loads_by_name_and_is_small(name):
    folder = shipped_checkpoint(name)
    assert (folder / "model.safetensors").stat().st_size <= 10 * 2**20
    assert name in vrg.list_reward_models()
    assert reward_model_card(name).capabilities == ALL
    model = vrg.make_reward_model(name)
    assert model.info.name == name and model.info.capabilities == ALL and model.info.frame_size == (64, 64)
    assert model.config.encoder == "cnn" and model.config.training["validation_episodes"] > 0


def test_a_missing_shipped_checkpoint_names_the_retrain_command(monkeypatch, tmp_path):
    import importlib.resources

    monkeypatch.setattr(importlib.resources, "files", lambda package: tmp_path)
    with pytest.raises(FileNotFoundError, match="recipes.reward_models train sim-rm-robomimic"):
        shipped_checkpoint("sim-rm-robomimic")
    with pytest.raises(KeyError, match="shipped"):
        shipped_checkpoint("sim-rm-elsewhere")


def _judge(name, trajectories):
    model = vrg.make_reward_model(name)
    out = model(RewardQuery(instructions=[t.instruction for t in trajectories], want=ALL,
                            frames=[t.frames for t in trajectories]))
    return np.array([p[-1] for p in out.progress]), out.success


def _check(name, expert, failures, never_called=None):
    """Every expert is paid more final progress, and given a higher success probability, than every failure
    (a ranking, not a 0.5 threshold: on Lift the model's success probability is low even on real successes,
    its measured recall there is the weakness docs/evaluation.md reports), and no failure of the kinds
    ``never_called`` (default: every failure) is called a success."""
    progress, success = _judge(name, expert + failures)
    n = len(expert)
    assert progress[:n].min() > progress[n:].max(), (progress, [t.kind for t in failures])
    assert success[:n].min() > success[n:].max(), success
    called = [t.kind for t, p in zip(failures, success[n:])
              if p >= 0.5 and (never_called is None or t.kind in never_called)]
    assert not called, (called, success)


@pytest.mark.parametrize("name, camera", [("sim-rm-robomimic", "agentview"), ("sim-rm-lift", "agentview"),
                                          ("sim-rm-lift-side", "lift_side")])
def test_shipped_robomimic_models_judge_fresh_lift_episodes(name, camera, tmp_path):
    pytest.importorskip("robosuite", reason="needs the robomimic extra (bash scripts/install_robomimic.sh VENV)")
    from vlmreward_rl.envs.robomimic_demos import main as demos
    from vlmreward_gym.data import load_trajectories

    demos(["--env", "Lift", "-n", "2", "--non-expert", "1", "--kinds", "shortcut,wrong_target", "--frame-size", "64",
           "--frame-stride", "2", "--camera", camera, "--seed", str(FRESH_SEED), "--out", str(tmp_path / "lift")])
    trajectories = load_trajectories(tmp_path / "lift")
    _check(name, [t for t in trajectories if t.kind == "expert"],
           [t for t in trajectories if t.kind != "expert"])


@pytest.mark.maniskill
def test_shipped_pickcube_model_judges_fresh_pickcube_episodes(tmp_path):
    """sim-rm-pickcube on freshly planned PickCube episodes from its workspace view: the experts against every
    episode that never succeeds (random, near miss, drop, shortcut, stop short; a noisy plan or a drop that still
    reaches the goal is a success, not a failure, so kinds are sorted by the simulator's flag, not by name). None
    of the kinds it never paid on its held-out data is called a success; stop-short and shortcut episodes may be
    (1 of 8 and 1 of 9 held-out ones were, on two of three training seeds: docs/evaluation.md)."""
    pytest.importorskip("mani_skill", reason="needs the maniskill extra (bash scripts/install_maniskill.sh VENV)")
    from vlmreward_rl.envs.maniskill_demos import main as demos
    from vlmreward_gym.data import load_trajectories

    demos(["--env", "PickCube", "-n", "2", "--noisy", "0", "--early-stop", "0", "--random", "1", "--failures", "1",
           "--frame-size", "64", "--frame-stride", "2", "--camera", "workspace", "--seed", str(FRESH_SEED),
           "--out", str(tmp_path / "pickcube")])
    trajectories = load_trajectories(tmp_path / "pickcube")
    experts = [t for t in trajectories if t.kind == "expert" and t.success[-1]]
    failures = [t for t in trajectories if not t.success.any()]
    assert len(experts) == 2 and len(failures) >= 3, [(t.kind, bool(t.success.any())) for t in trajectories]
    _check("sim-rm-pickcube", experts, failures, never_called=("near_miss", "drop", "random"))
