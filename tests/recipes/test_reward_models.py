"""The shipped-reward-model recipe end to end on a tiny budget (Robomimic Lift, two kinds, a few steps):
data -> train -> quality table (minimum over seeds) -> install; a killed step is not redone."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("robosuite", reason="needs the robomimic extra (bash scripts/install_robomimic.sh VENV)")
pytest.importorskip("torch", reason="needs the 'torch' extra")

from vlmreward_gym.data import load_trajectories, read_metadata  # noqa: E402
from vlmreward_rl.recipes import reward_models as R  # noqa: E402

TINY = ("-n", "2", "--non-expert", "1", "--kinds", "near_miss", "--frame-size", "32", "--frame-stride", "4")


@pytest.fixture()
def tiny(monkeypatch):
    policies = (("Lift", (R.DataPolicy(1, 300, bc_steps=5),), (R.DataPolicy(1, 400, bc_steps=5),)),)
    r = dataclasses.replace(R.RECIPES["sim-rm-robomimic"], tasks=("Lift",), train_demos=TINY, eval_demos=TINY,
                            steps=4, policies=policies, policy_episodes=(2, 1), policy_horizon=6)
    monkeypatch.setitem(R.RECIPES, r.name, r)
    return r


def test_recipe_builds_trains_measures_and_resumes(tiny, tmp_path, monkeypatch):
    root = tmp_path / "rm"
    table = R.main(["quality", tiny.name, "--root", str(root), "--seeds", "0", "1"])
    for split, rollouts in (("train", 2), ("eval", 1)):
        assert (root / "data" / split / "Lift" / "metadata.json").is_file()
        policy_data = read_metadata(root / "data" / split / "Lift-policy")
        assert policy_data["counts"]["policy"]["total"] == rollouts  # the data policies' rollouts, kind "policy"
        assert policy_data["frame_size"] == 64 and policy_data["horizon"] == 6
    assert {p.name for p in (root / "ckpt").iterdir()} == {"full-s0", "full-s1"}
    lines = table.splitlines()
    assert lines[0].startswith("| run | voc_expert_pearson") and len(lines) == 2 + 2 + 2  # header, 2 seeds, worst, bar
    worst = lines[-2].split("|")[2:-1]
    seeds = [line.split("|")[2:-1] for line in lines[2:4]]
    for col, key in enumerate(R.BARS):  # the worst row is the minimum (maximum for the false-success rate)
        values = [float(s[col]) for s in seeds if s[col].strip() != "n/a"]
        if values:
            expected = max(values) if R.BARS[key][0] == "<=" else min(values)
            assert float(worst[col]) == pytest.approx(expected, abs=1e-3)
    assert (root / "quality.md").read_text().strip() == table
    # resumes: nothing is retrained or regenerated
    monkeypatch.setattr(R, "demos_main", lambda argv: pytest.fail(f"regenerated {argv}"))
    monkeypatch.setattr(R, "write_policy_rollouts", lambda *a, **k: pytest.fail("regenerated the policy rollouts"))
    import vlmreward_gym.rm.train as train_module

    monkeypatch.setattr(train_module, "train", lambda cfg: pytest.fail("retrained"))
    assert R.main(["quality", tiny.name, "--root", str(root), "--seeds", "0", "1"]) == table


def test_policy_rollouts_train_their_own_variant_and_are_measured_apart(tiny, tmp_path, monkeypatch):
    """``full`` (the shipped recipe) trains on the scripted demos alone; ``with-policy`` adds the data policies'
    rollouts; ``policies`` measures both on the held-out policies' rollouts only."""
    import vlmreward_gym.rm.train as train_module

    root, trained, real_train = tmp_path / "rm", {}, train_module.train

    def recording_train(cfg):
        trained[Path(cfg.out).name] = [Path(folder).name for folder in cfg.data]
        return real_train(cfg)

    monkeypatch.setattr(train_module, "train", recording_train)
    table = R.main(["policies", tiny.name, "--root", str(root), "--seeds", "0"])
    assert trained == {"full-s0": ["Lift"], "with-policy-s0": ["Lift", "Lift-policy"]}
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:]] == ["full seed 0", "with-policy seed 0"]
    for ckpt in ("full-s0", "with-policy-s0"):
        results = json.loads((root / "eval" / f"{ckpt}-policy-rollouts" / "results.json").read_text())
        assert results["episodes"] == 1 and Path(results["data"]).name == "Lift-policy"  # the held-out rollout only


def test_failure_kinds_of_a_recipe_come_from_its_tasks():
    assert set(R.RECIPES["sim-rm-robomimic"].failure_kinds()) == {"wrong_target", "near_miss", "drop", "shortcut",
                                                                   "stop_short", "knock"}
    with pytest.raises(SystemExit, match="unknown shipped"):
        R.recipe("sim-rm-nothing")


def test_a_recipe_camera_renders_all_its_data_and_stream_asks_its_checkpoint_as_a_dense_reward(tiny, tmp_path,
                                                                                                 monkeypatch):
    """sim-rm-lift-side's recipe: every dataset (scripted and policies') rendered from its camera; ``stream``
    measures the shipped variant on the held-out policy rollouts, asked at every frame, and caches the numbers."""
    side = dataclasses.replace(tiny, name="sim-rm-tiny-side", camera="lift_side", shipped_variant="with-policy")
    monkeypatch.setitem(R.RECIPES, side.name, side)
    root = tmp_path / "rm"
    table = R.main(["stream", side.name, "--root", str(root), "--seeds", "0"])
    for split in ("train", "eval"):
        for folder in ("Lift", "Lift-policy"):
            assert read_metadata(root / "data" / split / folder)["camera"] == "lift_side"
    header, _, row = table.splitlines()
    assert header.split("|")[2:-1] == [f" {k} " for k in R.STREAMED_METRICS] and row.startswith("| with-policy seed 0 |")
    cached = json.loads((root / "eval" / "with-policy-s0-streamed-0.5.json").read_text())
    assert cached["episodes"] == 1.0 and -1.0 <= cached["progress_pearson"] <= 1.0
    assert R.RECIPES["sim-rm-lift-side"].camera == "lift_side"


def test_actor_rollouts_come_from_dsrl_runs_paid_by_the_recipes_own_checkpoint(tiny, tmp_path, monkeypatch):
    """``with-actors``: DSRL actors trained on the recipe's driver checkpoint, rolled out as kind ``actor`` (train and
    held-out), added to the with-policy data; a killed data step resumes without retraining an actor."""
    import vlmreward_gym.rm.train as train_module
    from vlmreward_rl.algos import dsrl

    actor = R.DataActor(R.DataPolicy(1, 300, bc_steps=5), 101, env_steps=12)
    r = dataclasses.replace(tiny, actors=(("Lift", (actor,), (dataclasses.replace(actor, seed=103),)),),
                            actor_driver=("with-policy", 0), actor_episodes=(2, 1),
                            actor_overrides=(("learning_starts", 4), ("eval_episodes", 1), ("progress_bar", False),
                                             ("env_kwargs", {"horizon": 6, "frame_size": 64, "camera": "lift_side",
                                                             "terminate_on_success": False})))
    monkeypatch.setitem(R.RECIPES, r.name, r)
    root, trained, real_train = tmp_path / "rm", {}, train_module.train

    def recording_train(cfg):
        trained[Path(cfg.out).name] = [Path(folder).name for folder in cfg.data]
        return real_train(cfg)

    monkeypatch.setattr(train_module, "train", recording_train)
    R.main(["train", r.name, "--root", str(root), "--variant", "with-actors", "--seed", "0"])
    assert trained == {"with-policy-s0": ["Lift", "Lift-policy"],  # the driver first
                       "with-actors-s0": ["Lift", "Lift-policy", "Lift-actor"]}
    runs = sorted((root / "actors").glob("*/*/config.json"))  # the two actors trained side by side, in processes
    assert [p.parent.parent.name for p in runs] == ["eval", "train"]
    for path in runs:  # paid by the driver, through the RL preset with the recipe's overrides
        args = json.loads(path.read_text())
        assert args["model"] == "sim-rm" and args["model_kwargs"] == {"path": str(root / "ckpt" / "with-policy-s0")}
        assert args["seed"] == (103 if path.parent.parent.name == "eval" else 101)
        assert args["total_timesteps"] == 12 and args["learning_starts"] == 4 and args["env_kwargs"]["horizon"] == 6
        assert (path.parent / dsrl.AGENT_FILE).is_file()
    for split, episodes, first_seed in (("train", 2, R.ACTOR_SEEDS["train"]), ("eval", 1, R.ACTOR_SEEDS["eval"])):
        meta = read_metadata(root / "data" / split / "Lift-actor")
        assert meta["counts"]["actor"]["total"] == episodes and meta["driver"].endswith("with-policy-s0")
        assert [t.seed for t in load_trajectories(root / "data" / split / "Lift-actor")] == list(
            range(first_seed, first_seed + episodes))
    # a killed data step resumes: the actors' saved agents and base policies are reloaded, not retrained or recloned
    from vlmreward_rl.recipes import actor_rollouts

    shutil.rmtree(root / "data" / "eval" / "Lift-actor")
    monkeypatch.setattr(dsrl, "train", lambda *a, **k: pytest.fail("retrained an actor"))
    monkeypatch.setattr(actor_rollouts, "clone_policy", lambda *a, **k: pytest.fail("recloned a base policy"))
    R.main(["data", r.name, "--root", str(root)])
    assert read_metadata(root / "data" / "eval" / "Lift-actor")["counts"]["actor"]["total"] == 1
